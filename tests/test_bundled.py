"""The weights shipped in the package: they load by default and beat bicubic on a picture."""
import pathlib

import numpy as np
import pytest
from PIL import Image

from vdsr_tf.core import matlab, metrics
from vdsr_tf.infer.upscaler import bicubic_upscale, super_resolve
from vdsr_tf.nn import weights

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "example.png"

pytestmark = pytest.mark.skipif(not weights.BUNDLED_WEIGHTS.is_file(),
                                reason="no bundled weights in this checkout")


def test_bundled_weights_load_as_full_vdsr():
    model = weights.load_model()
    assert model.count_params() == 665_921
    assert model is weights.load_model()  # cached, not rebuilt per call


@pytest.mark.parametrize("scale", [2, 3])
def test_bundled_weights_beat_bicubic(scale):
    hr = matlab.modcrop(np.asarray(Image.open(EXAMPLE).convert("RGB")), scale)
    lr = matlab.imresize(hr, 1 / scale)
    sr_psnr = metrics.psnr(metrics.scoring_luma(super_resolve(lr, scale)),
                           metrics.scoring_luma(hr), shave=scale)
    bic_psnr = metrics.psnr(metrics.scoring_luma(bicubic_upscale(lr, scale)),
                            metrics.scoring_luma(hr), shave=scale)
    assert sr_psnr > bic_psnr + 0.3, (sr_psnr, bic_psnr)
