"""What the integrity checks can and cannot see (vdsr_tf.core.integrity; README, "Damaged files are refused")."""
import re
from pathlib import Path

import numpy as np
import pytest

from vdsr_tf import build_vdsr
from vdsr_tf.infer import upscaler
from vdsr_tf.nn import weights

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("factor", [2.0, 0.5])
def test_a_user_weights_file_with_one_layer_scaled_loads_as_the_readme_says(tmp_path, factor):
    """Issue 22, item 5: inherent (a user's file has no recorded hash, and the numbers stay
    plausible), so README says exactly what is and is not detected."""
    import keras

    keras.utils.set_random_seed(5)
    model = build_vdsr(depth=3, filters=8)
    kernel, bias = model.get_layer("conv_02").get_weights()
    model.save_weights(tmp_path / "intact.weights.h5")
    model.get_layer("conv_02").set_weights([kernel * factor, bias * factor])
    model.save_weights(tmp_path / "scaled.weights.h5")
    scaled = weights.load_model(tmp_path / "scaled.weights.h5")  # accepted: nothing to tell it from a trained file
    np.testing.assert_allclose(scaled.get_layer("conv_02").get_weights()[0], kernel * factor)
    img = np.random.default_rng(0).integers(0, 256, (24, 24), dtype=np.uint8)
    a = upscaler.super_resolve(img, 2, weights=tmp_path / "intact.weights.h5")
    b = upscaler.super_resolve(img, 2, weights=tmp_path / "scaled.weights.h5")
    assert not np.array_equal(a, b)  # a different picture, and no error

    readme = re.sub(r"\s+", " ", (ROOT / "README.md").read_text())
    assert ("Not detected, inherently: your own `.weights.h5` or `.mat` has no recorded hash, so damage that "
            "leaves plausible numbers (one layer's weights scaled x2 or x0.5, say) loads and gives a wrong "
            "picture") in readme
