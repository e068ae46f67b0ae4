"""Atomic writing: the destination is either untouched or complete, never partial."""
import json
import os

import pytest

from vdsr_tf import atomic


def test_write_json_and_permissions(tmp_path):
    path = tmp_path / "card.json"
    atomic.write_json(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600
    assert os.listdir(tmp_path) == ["card.json"]


def test_failure_leaves_old_file_and_no_temporaries(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(path, suffix=".bin") as tmp:
            with open(tmp, "wb") as f:
                f.write(b"half")
            raise RuntimeError("killed halfway")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["weights.bin"]


def test_suffix_is_kept_for_format_sniffing_writers(tmp_path):
    with atomic.atomic_path(tmp_path / "x.weights.h5", suffix=".weights.h5") as tmp:
        assert tmp.endswith(".weights.h5")
        assert os.path.dirname(tmp) == str(tmp_path)  # same folder: rename is atomic
        open(tmp, "wb").close()
    assert (tmp_path / "x.weights.h5").exists()
