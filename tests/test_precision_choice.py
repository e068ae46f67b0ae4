"""precision="auto": timed once per CPU model, remembered in the cache folder, then obeyed."""
import json
import time

import numpy as np
import pytest

from vdsr_tf.infer import precision_choice, upscaler


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(precision_choice.CACHE_ENV, str(tmp_path))
    return tmp_path / "precision.json"


def slow_for(slow):
    made = []

    def make(precision):
        made.append(precision)

        def run(x):
            time.sleep(0.02 if precision == slow else 0.0)
            return x
        return run
    return make, made


def test_the_faster_precision_is_chosen_and_remembered(cache):
    make, made = slow_for("float32")
    assert precision_choice.auto_precision(make) == "bfloat16" and sorted(made) == ["bfloat16", "float32"]
    entry = json.loads(cache.read_text())[precision_choice.cpu_key()]
    assert entry["precision"] == "bfloat16" and entry["seconds_per_run"]["float32"] >= 0.02
    make, made = slow_for("bfloat16")  # the answer is read, not measured again
    assert precision_choice.auto_precision(make) == "bfloat16" and made == []


def test_a_damaged_cache_is_measured_again(cache):
    cache.write_text("{not json")
    make, made = slow_for("bfloat16")
    assert precision_choice.auto_precision(make) == "float32" and made


@pytest.mark.parametrize("remembered", ["float32", "bfloat16"])
def test_super_resolve_auto_runs_the_remembered_precision(cache, remembered):
    cache.write_text(json.dumps({precision_choice.cpu_key(): {"precision": remembered}}))
    a = np.random.default_rng(0).integers(0, 256, (24, 20, 3), dtype=np.uint8)
    np.testing.assert_array_equal(upscaler.super_resolve(a, 2, precision="auto"),
                                  upscaler.super_resolve(a, 2, precision=remembered))


def test_auto_means_float32_where_the_file_fixes_the_precision(cache):
    assert upscaler._resolve_precision("auto", "tflite", None) == "float32"
    assert upscaler._resolve_precision("auto", "keras", lambda x: x) == "float32"
    assert not cache.exists()
