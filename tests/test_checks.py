"""vdsr_tf.core.checks: one whole-number check, one message."""
import re

import numpy as np
import pytest

from vdsr_tf.core.checks import check_int


def test_whole_numbers_pass_as_int():
    assert check_int(3, "depth", 2) == 3 and type(check_int(np.int64(3), "depth", 2)) is int
    assert check_int(2, "depth", 2) == 2  # the minimum itself


@pytest.mark.parametrize("value", [1, True, 2.0, 2.5, "3", None, np.float32(3)])
def test_others_are_refused_naming_the_argument(value):
    with pytest.raises(ValueError, match="^depth must be an int >= 2, got " + re.escape(repr(value)) + "$"):
        check_int(value, "depth", 2)
