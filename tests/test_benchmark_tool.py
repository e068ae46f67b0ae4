"""tools/benchmark.py --sections=training: one row per backend and precision, from child processes."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_training_section_times_each_backend_and_precision(tmp_path):
    pytest.importorskip("jax")
    out = tmp_path / "bench.json"
    r = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "benchmark.py"), "--sections=training",
         "--training_backends=tensorflow,jax", "--training_precisions=float32,mixed_bfloat16",
         "--training_depth=3", "--training_filters=8", "--training_steps=2", "--training_batch_size=8",
         "--training_pipeline_batches=5", f"--json={out}"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    training = json.loads(out.read_text())["training"]
    assert sorted(training) == ["jax", "tensorflow"]
    for backend, row in training.items():
        assert row["backend"] == backend and row["depth"] == 3 and row["batch_size"] == 8
        assert row["input"]["patches_per_s"] > 0
        for precision in ("float32", "mixed_bfloat16"):
            assert row[precision]["backend"] == backend and row[precision]["precision"] == precision
            assert row[precision]["patches_per_s"] > 0
    assert "jax        mixed_bfloat16" in r.stdout  # the summary table
