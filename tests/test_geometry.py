"""vdsr_tf.data.geometry: the one rule for training-plane sizes, shared by the pipeline and preflight."""
import math

import numpy as np
import pytest

from vdsr_tf.core import matlab
from vdsr_tf.data import geometry
from vdsr_tf.data import patches as data_lib
from vdsr_tf.train import preflight
from vdsr_tf.train.config import TrainConfig


@pytest.mark.parametrize("hs", [0.5, 0.55, 0.7])
def test_hr_size_is_what_imresize_makes(hs):
    # Every height under 2000: the size preflight predicts is the size the pipeline's resize makes.
    # (math.ceil(h * hs), the old preflight rule, is 56 for h=100, hs=0.55, where imresize makes 55.)
    for h in range(1, 2000):
        assert geometry.hr_size(h, 2, hs)[0] == matlab.imresize(np.zeros((h, 2), np.uint8), hs).shape[0], h
    assert any(math.ceil(h * hs) != geometry.hr_size(h, 1, hs)[0] for h in range(1, 2000)) == (hs == 0.55)


def test_scale_size_and_crop_agree():
    img = np.zeros((47, 53), np.uint8)
    for s in (2, 3, 4, 2.5, 3.7):
        assert geometry.crop_to_scale(img, s).shape == geometry.scale_size(47, 53, s)
    assert geometry.scale_size(47, 53, 4) == (44, 52)
    assert geometry.scale_size(47, 53, 2.5) == (47, 53)


@pytest.mark.parametrize("size, hr_scales, scales, patch", [
    ((100, 100), (0.55,), (2.0,), 56),  # 55 -> mod-crop 54 holds no 56-patch; ceil's 56 would
    ((100, 100), (0.55,), (2.0,), 54),
    ((90, 61), (1.0, 0.7, 0.5), (2.0, 3.0, 4.0), 41),
    ((83, 41), (1.0,), (2.0, 3.0, 4.0), 41),
    ((60, 60), (1.0, 0.7), (2.5, 3.0), 41),
])
def test_preflight_and_pipeline_agree(tmp_path, size, hr_scales, scales, patch):
    from PIL import Image

    h, w = size
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).save(tmp_path / "a.png")
    files = [str(tmp_path / "a.png")]
    cfg = TrainConfig(data=(str(tmp_path),), scales=scales, hr_scales=hr_scales, patch_size=patch)
    predicted = preflight.usable_planes(w, h, cfg)
    counted = data_lib.count_patches(files, scales, patch_size=patch, stride=patch, hr_scales=hr_scales)
    if predicted == 0:
        assert counted == 0
        with pytest.raises(ValueError, match=f"{patch}x{patch}"):
            data_lib.build_patch_set(files, scales, patch_size=patch, stride=patch, hr_scales=hr_scales)
        return
    ps = data_lib.build_patch_set(files, scales, patch_size=patch, stride=patch, hr_scales=hr_scales)
    assert len(ps.offsets) == predicted
    assert len(ps.grid) == counted
    assert sorted(zip(ps.heights.tolist(), ps.widths.tolist())) == sorted(
        geometry.plane_sizes(h, w, hr_scales, scales, patch))


def test_steps_per_epoch_shows_every_patch():
    assert geometry.steps_per_epoch(640, 64) == 10
    assert geometry.steps_per_epoch(641, 64) == 11  # round() gave 10: one patch never seen
    assert geometry.steps_per_epoch(0, 64) == 1
