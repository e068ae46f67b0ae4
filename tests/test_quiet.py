"""The library and the tools start TensorFlow without its C++ log lines, and training prints
its own lines without absl's prefix (issue 26 item 4). Each case runs in a fresh process with
TensorFlow's log level left at its default."""
import os
import re
import subprocess
import sys

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPSCALE = """
import numpy as np, vdsr_tf
a = np.zeros((20, 20, 3), np.uint8)
vdsr_tf.super_resolve(a, 2)
vdsr_tf.super_resolve(a, 2, backend="tflite", weights={tflite!r})
print("ok")
"""


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "VDSR_TF_DEBUG")}
    return {**env, "PYTHONPATH": ROOT, **extra}


def _upscale(**extra):
    code = UPSCALE.format(tflite=os.path.join(ROOT, "exports", "vdsr_int8.tflite"))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(**extra),
                          timeout=300, cwd=ROOT)


def test_super_resolve_prints_nothing_on_stderr():
    quiet = _upscale()
    assert quiet.returncode == 0 and quiet.stdout.strip() == "ok", quiet.stderr
    assert quiet.stderr == ""
    loud = _upscale(VDSR_TF_DEBUG="1")  # the same without the silencing: what users saw before
    assert loud.returncode == 0
    assert "XNNPACK" in loud.stderr or "oneDNN" in loud.stderr or "cuda" in loud.stderr.lower(), loud.stderr


def test_training_lines_are_the_time_and_the_message(tmp_path):
    data = tmp_path / "img"
    data.mkdir()
    for i in range(2):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (60, 60, 3), dtype=np.uint8)).save(data / f"{i}.png")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "train.py"), f"--workdir={tmp_path / 'run'}",
                           f"--data={data}", "--depth=3", "--filters=4", "--steps=2", "--batch_size=4",
                           "--val_data=none", "--log_every=1"],
                          capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert any(" step 2/2 " in line for line in lines), lines
    assert all(re.match(r"\d\d:\d\d:\d\d \S", line) for line in lines), lines
