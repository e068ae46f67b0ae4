"""The tree passes ruff (ruff.toml: pyflakes, import order, line length), so lint runs in CI."""

import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("ruff", reason="ruff comes with the [test] extras")

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_ruff_check_passes():
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", str(ROOT)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
