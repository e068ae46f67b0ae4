"""build_vdsr: parameter count, names, unknown spatial size, residual path, precision policy."""
import numpy as np
import pytest

from vdsr_tf import build_vdsr


def test_paper_parameter_count_and_names():
    model = build_vdsr()
    assert model.count_params() == 665_921
    names = [layer.name for layer in model.layers]
    assert names[0] == "input"
    assert names[1:21] == [f"conv_{i:02d}" for i in range(1, 21)]
    assert names[-1] == "residual_add"


@pytest.mark.parametrize("hw", [(7, 9), (16, 5)])
def test_unknown_spatial_size(hw):
    model = build_vdsr(depth=3, filters=8)
    x = np.random.default_rng(0).random((2, *hw, 1)).astype("float32")
    assert model(x).shape == (2, *hw, 1)


def test_residual_adds_input():
    model = build_vdsr(depth=3, filters=8)
    last = model.get_layer("conv_03")
    last.set_weights([np.zeros_like(w) for w in last.get_weights()])
    x = np.random.default_rng(1).random((1, 6, 6, 1)).astype("float32")
    np.testing.assert_allclose(model(x).numpy(), x, atol=1e-7)
    plain = build_vdsr(depth=3, filters=8, residual=False)
    assert "residual_add" not in [layer.name for layer in plain.layers]


def test_mixed_precision_keeps_output_float32():
    model = build_vdsr(depth=3, filters=8, dtype_policy="mixed_bfloat16")
    assert model.get_layer("conv_01").compute_dtype == "bfloat16"
    assert model.get_layer("conv_03").compute_dtype == "float32"
    assert model(np.zeros((1, 5, 5, 1), "float32")).dtype == "float32"


@pytest.mark.parametrize("kwargs", [{"depth": 1}, {"depth": 2.5}, {"filters": 0}, {"dtype_policy": "nope"}])
def test_bad_hyperparameters(kwargs):
    with pytest.raises((ValueError, TypeError)):
        build_vdsr(**kwargs)
