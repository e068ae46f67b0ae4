"""vdsr_tf.export.gpu_analyzer: dynamic-shape listing, the verdict's rules, the canary guard, and
(slow, with tools/gpu_analyzer_env.sh's side venv) TensorFlow 2.17's analyzer on tiny models."""
import stat

import pytest

from vdsr_tf.export import gpu_analyzer
from vdsr_tf.export.gpu_analyzer import ANALYZER_ENV, analyze_gpu, analyzer_python, default_venv, static_shape_problems


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """TFLite files from TF 2.21's converter: "dynamic" (1, -1, -1, 1) and "static" (1, 16, 16, 1)
    conv nets; "masked" a static CONV_2D/MUL/ADD net with a (1, 16, 16, 1) mask broadcast over 8
    channels; "topk" a TOPK_V2, an op the GPU delegate lacks."""
    import keras
    import tensorflow as tf

    tmp, files = tmp_path_factory.mktemp("gpu_analyzer"), {}
    for name, shape in [("dynamic", (None, None, 1)), ("static", (16, 16, 1))]:
        keras.utils.set_random_seed(5)
        x = keras.Input(shape, batch_size=1)
        out = keras.layers.Add()([x, keras.layers.Conv2D(1, 3, padding="same")(
            keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x))])
        files[name] = tmp / f"{name}.tflite"
        files[name].write_bytes(tf.lite.TFLiteConverter.from_keras_model(keras.Model(x, out)).convert())

    x, mask = keras.Input((16, 16, 1), batch_size=1), keras.Input((16, 16, 1), batch_size=1)
    h = keras.layers.Multiply()([keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x), mask])
    out = keras.layers.Add()([x, keras.layers.Conv2D(1, 3, padding="same")(h)])
    files["masked"] = tmp / "masked.tflite"
    files["masked"].write_bytes(tf.lite.TFLiteConverter.from_keras_model(keras.Model([x, mask], out)).convert())

    topk = tf.function(lambda v: tf.math.top_k(v, 3).values, input_signature=[tf.TensorSpec([1, 8], tf.float32)])
    files["topk"] = tmp / "topk.tflite"
    files["topk"].write_bytes(
        tf.lite.TFLiteConverter.from_concrete_functions([topk.get_concrete_function()], topk).convert())
    return files


def test_static_shape_problems_lists_the_dynamic_tensors(models):
    problems = static_shape_problems(models["dynamic"])
    assert problems and all("shape_signature" in line and "-1" in line for line in problems)
    assert problems[0].startswith("T#") and problems[0].endswith("[1, -1, -1, 1]")


def test_static_shape_problems_is_empty_for_a_static_model(models):
    assert static_shape_problems(models["static"]) == []
    assert static_shape_problems(models["masked"]) == []


TOOL = "vdsr_tf gpu_analyzer tool: tensorflow-cpu 2.17.1"
OK = "Your model looks compatible with GPU delegate on TFLite runtime version 2.17.1."


@pytest.mark.parametrize("text, compatible, flagged", [
    (f"{TOOL}\n  Op#0 CONV_2D(T#0, T#1, T#2) -> [T#3]\n  Op#1 ADD(T#0, T#3) -> [T#4]\n{OK}\n", True, 0),
    (f"{TOOL}\n  Op#0 TOPK_V2(T#0, T#1[3]) -> [T#2, T#3]\nGPU COMPATIBILITY WARNING: Not supported op TOPK_V2\n"
     "GPU COMPATIBILITY WARNING: Subgraph#0 has GPU delegate compatibility issues at nodes 0\n", False, 2),
    (f"{TOOL}\n  Op#0 CONV_2D(T#0, T#1, T#2) -> [T#3]\n", False, 0),  # no "looks compatible": no pass
])
def test_verdict_rules(text, compatible, flagged):
    verdict = gpu_analyzer._verdict(text, "tensorflow-cpu 2.17.1")
    assert verdict["compatible"] is compatible and len(verdict["flagged"]) == flagged
    assert verdict["tool"] == "tensorflow-cpu 2.17.1 ModelAnalyzer, gpu_compatibility=True"
    assert all(line.startswith("GPU COMPATIBILITY WARNING") for line in verdict["flagged"])
    assert sum(verdict["ops"].values()) == text.count("Op#")


def _fake_python(folder, body):
    """An executable that stands for the side venv's python and prints ``body`` for any command."""
    fake = folder / "python"
    fake.write_text(f"#!/bin/sh\ncat <<'EOF'\n{body}\nEOF\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    return fake


def test_an_analyzer_that_does_not_check_raises(tmp_path, models):
    """TF 2.18+'s analyzer passes everything; the canary turns that into an error, not a pass."""
    fake = _fake_python(tmp_path, f"{TOOL}\n  Op#0 TOPK_V2(T#0, T#1[3]) -> [T#2, T#3]\n{OK}")
    gpu_analyzer._canary_checked.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="does not check GPU compatibility"):
            analyze_gpu(models["static"], python=fake)
    finally:
        gpu_analyzer._canary_checked.cache_clear()


def test_a_file_the_analyzer_cannot_read_raises(tmp_path, models):
    fake = _fake_python(tmp_path, f"{TOOL}\nGPU COMPATIBILITY WARNING: Not supported op TOPK_V2\n"
                                  "Failed to mmap model")  # flags the canary, dumps no graph
    gpu_analyzer._canary_checked.cache_clear()
    try:
        with pytest.raises(ValueError, match="could not read .*Failed to mmap model"):
            analyze_gpu(models["static"], python=fake)
    finally:
        gpu_analyzer._canary_checked.cache_clear()


def test_analyzer_python_sources(tmp_path, monkeypatch):
    fake = _fake_python(tmp_path, TOOL)
    assert analyzer_python(fake) == fake
    assert analyzer_python(tmp_path / "missing") is None
    monkeypatch.setenv(ANALYZER_ENV, str(fake))
    assert analyzer_python() == fake
    monkeypatch.delenv(ANALYZER_ENV)
    monkeypatch.setenv("VDSR_TF_CACHE", str(tmp_path / "cache"))
    assert default_venv() == tmp_path / "cache" / "gpu-analyzer"
    assert analyzer_python() is None  # nothing built there
    with pytest.raises(RuntimeError, match="gpu_analyzer_env.sh"):
        analyze_gpu(fake)


needs_analyzer = pytest.mark.skipif(
    analyzer_python() is None,
    reason=f"no GPU analyzer venv at {default_venv()} (or ${ANALYZER_ENV}): run tools/gpu_analyzer_env.sh")


@pytest.mark.slow
@needs_analyzer
def test_a_static_conv_mul_add_model_passes(models):
    verdict = analyze_gpu(models["masked"])
    assert verdict["tool"].startswith("tensorflow")
    assert verdict["compatible"], verdict["flagged"]
    assert verdict["flagged"] == [] and set(verdict["ops"]) == {"CONV_2D", "MUL", "ADD"}


@pytest.mark.slow
@needs_analyzer
def test_an_op_the_gpu_delegate_lacks_is_flagged(models):
    # TOPK_V2, not CUMSUM: the GPU delegate supports CUMSUM, and TF 2.17.1's analyzer passes it.
    verdict = analyze_gpu(models["topk"])
    assert not verdict["compatible"]
    assert "GPU COMPATIBILITY WARNING: Not supported op TOPK_V2" in verdict["flagged"]
    assert any("has GPU delegate compatibility issues at nodes 0" in line for line in verdict["flagged"])
    assert verdict["ops"] == {"TOPK_V2": 1}
