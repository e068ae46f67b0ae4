"""aarch64 LiteRT under qemu-user gives x86 LiteRT's outputs (vdsr_tf.export.arm64) on tiny conv nets."""
import numpy as np
import pytest

from vdsr_tf.export.arm64 import DEFAULT_CPU, arm64_root, default_root, run_tflite_arm64

needs_arm64 = pytest.mark.skipif(
    arm64_root() is None,
    reason=f"no aarch64 LiteRT folder at {default_root()} or no qemu-aarch64: run tools/arm64_sysroot.sh")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """{"dynamic": (1, -1, -1, 1) input, "static": (1, 16, 12, 1) input}: two 3x3 convs, TFLite files."""
    import keras
    import tensorflow as tf

    tmp, files = tmp_path_factory.mktemp("arm64"), {}
    for name, shape in [("dynamic", (None, None, 1)), ("static", (16, 12, 1))]:
        keras.utils.set_random_seed(5)
        model = keras.Sequential([keras.Input(shape, batch_size=1),
                                  keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
                                  keras.layers.Conv2D(1, 3, padding="same")])
        files[name] = tmp / f"{name}.tflite"
        files[name].write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return files


def _x86(path, x, num_threads=1):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=num_threads)
    d = it.get_input_details()[0]
    if -1 in list(d["shape_signature"]):
        it.resize_tensor_input(d["index"], list(x.shape))
    it.allocate_tensors()
    it.set_tensor(d["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def _assert_same(outs, xs, path, num_threads=1):
    assert outs.machine == "aarch64"
    assert len(outs) == len(xs)
    for out, x in zip(outs, xs):
        ref = _x86(path, x, num_threads)
        assert out.shape == ref.shape and out.dtype == np.float32
        assert np.max(np.abs(out - ref)) <= 1e-5, np.max(np.abs(out - ref))


def test_a_missing_folder_is_refused_in_one_line_naming_the_build_script(tmp_path):
    assert arm64_root(tmp_path) is None
    with pytest.raises(RuntimeError, match=r"no complete aarch64 LiteRT folder at .*tools/arm64_sysroot\.sh"):
        run_tflite_arm64(tmp_path / "model.tflite", [np.zeros((1, 4, 4, 1), np.float32)], root=tmp_path)


@pytest.mark.slow
@needs_arm64
@pytest.mark.parametrize("cpu", [DEFAULT_CPU, "cortex-a53"])
def test_dynamic_model_matches_x86_across_resizes(models, cpu):
    rng = np.random.default_rng(0)
    xs = [rng.random(s, dtype=np.float32) for s in [(1, 16, 16, 1), (1, 23, 17, 1), (1, 16, 16, 1)]]
    # a bare array and a one-item list both mean "this run's only input"
    outs = run_tflite_arm64(models["dynamic"], [xs[0], [xs[1]], (xs[2],)], cpu=cpu)
    _assert_same(outs, xs, models["dynamic"])


@pytest.mark.slow
@needs_arm64
def test_static_model_matches_x86_on_two_threads(models):
    xs = [np.random.default_rng(1).random((1, 16, 12, 1), dtype=np.float32)]
    _assert_same(run_tflite_arm64(models["static"], xs, num_threads=2), xs, models["static"], num_threads=2)


@pytest.mark.slow
@needs_arm64
def test_an_error_in_the_emulated_process_is_one_line(models):
    x = np.zeros((1, 16, 12, 1), np.float32)
    with pytest.raises(RuntimeError, match=r"^aarch64 LiteRT on static\.tflite failed: the model has 1 inputs"):
        run_tflite_arm64(models["static"], [[x, x]])
    with pytest.raises(RuntimeError, match=r"^aarch64 LiteRT on static\.tflite failed: ValueError: .*mismatch"):
        run_tflite_arm64(models["static"], [np.zeros((1, 8, 8, 1), np.float32)])
