"""The device install: numpy, Pillow, LiteRT (tifffile, imagecodecs), no TensorFlow or Keras
(README, "On a device").

.ci/run builds such a venv and runs this module in it. There, super_resolve, Upscaler and
`vdsr-tf upscale` run the bundled sets' TFLite twins by themselves; the results are compared
with the Keras result kept beside this file (tests/test_device_reference.py checks that file
against Keras in the main suite). Where TensorFlow is installed these tests are skipped.
"""
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.skipif(find_spec("tensorflow") is not None or find_spec("keras") is not None,
                                reason="the device install has no TensorFlow or Keras; this one has")
HERE = Path(__file__).resolve().parent
PICTURE, KERAS_X2 = HERE / "picture.png", HERE / "picture_x2_keras.png"


def _psnr(a, b):
    mse = np.mean((np.asarray(a, float) - np.asarray(b, float)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def test_super_resolve_runs_the_bundled_tflite_models_without_tensorflow():
    import vdsr_tf
    from vdsr_tf.infer.upscaler import Upscaler

    keras_x2 = np.asarray(Image.open(KERAS_X2), dtype=int)
    plain = np.asarray(vdsr_tf.super_resolve(Image.open(PICTURE), 2, weights="paper"), dtype=int)
    assert np.abs(plain - keras_x2).max() <= 1  # float32 twin: the Keras result to rounding
    fast = vdsr_tf.super_resolve(Image.open(PICTURE), 2, weights="paper", speed="fast")
    assert _psnr(fast, keras_x2) > 45  # int8: measured 51.6 dB against Keras here
    assert Upscaler().weights_label == "paper tflite"
    assert "tensorflow" not in sys.modules and "keras" not in sys.modules


def test_the_cli_upscales_without_tensorflow(tmp_path):
    out = tmp_path / "x2.png"
    proc = subprocess.run([sys.executable, "-m", "vdsr_tf.cli", "upscale", str(PICTURE), "-o", str(out), "-s", "2",
                           "--weights", "paper"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(HERE.parents[1])})
    assert proc.returncode == 0, proc.stderr
    assert "weights paper tflite" in proc.stderr
    assert np.abs(np.asarray(Image.open(out), dtype=int) - np.asarray(Image.open(KERAS_X2), dtype=int)).max() <= 1


def test_weights_files_need_tensorflow_and_say_so(tmp_path):
    import vdsr_tf

    mine = tmp_path / "mine.weights.h5"
    mine.write_bytes(b"\x89HDF\r\n\x1a\n")
    with pytest.raises(ValueError, match="need TensorFlow and Keras, which are not installed here"):
        vdsr_tf.super_resolve(Image.open(PICTURE), 2, weights=str(mine))


def test_the_saved_model_backend_needs_tensorflow_and_says_so():
    import vdsr_tf

    with pytest.raises(ValueError, match="backend='saved_model' runs a TensorFlow SavedModel, and TensorFlow is "
                                         "not installed here"):
        vdsr_tf.super_resolve(Image.open(PICTURE), 2, backend="saved_model",
                              weights=str(HERE.parents[1] / "exports" / "saved_model"))
    assert "tensorflow" not in sys.modules


def test_commands_that_need_tensorflow_say_so_in_one_line():
    proc = subprocess.run([sys.executable, "-m", "vdsr_tf.cli", "train", "--help"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(HERE.parents[1])})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "needs the full install" in proc.stderr


def test_the_reference_device_pipeline_runs_the_tile_model_without_tensorflow():
    """vdsr_tf.device.reference with exports/vdsr_tile256_float32.tflite: the Keras result (one
    256x256 tile reaching past a 128x96 picture, the mask 0 there)."""
    from vdsr_tf.device import reference

    model = reference.TileModel(HERE.parents[1] / "exports" / "vdsr_tile256_float32.tflite", num_threads=1)
    rgb = np.asarray(Image.open(PICTURE).convert("RGB"), np.float64) / 255.0
    out = np.floor(np.clip(reference.upscale(rgb, 2, model), 0, 1) * 255 + 0.5)
    assert np.abs(out - np.asarray(Image.open(KERAS_X2), dtype=int)).max() <= 1
    assert "tensorflow" not in sys.modules and "keras" not in sys.modules
