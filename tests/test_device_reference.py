"""tests/device/picture_x2_keras.png is what Keras makes of tests/device/picture.png with the
bundled paper weights, so the TensorFlow-free device test compares against the truth."""
from pathlib import Path

import numpy as np
from PIL import Image

from vdsr_tf.infer.upscaler import super_resolve

DEVICE = Path(__file__).resolve().parent / "device"


def test_the_device_reference_is_the_keras_result():
    made = np.asarray(super_resolve(Image.open(DEVICE / "picture.png"), 2, weights="paper"), dtype=int)
    kept = np.asarray(Image.open(DEVICE / "picture_x2_keras.png"), dtype=int)
    assert made.shape == kept.shape and np.abs(made - kept).max() <= 1  # other CPUs may round one level apart
