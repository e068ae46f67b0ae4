"""vdsr_tf.nn.model: parameter count, names, unknown spatial size, residual path, precision policy,
receptive radius, FLOPs and the bfloat16 twin."""
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


@pytest.mark.parametrize("kwargs, message", [
    ({"depth": 1}, "depth must be an int >= 2, got 1"),
    ({"depth": 2.5}, "depth must be an int >= 2, got 2.5"),
    ({"depth": True}, "depth must be an int >= 2, got True"),
    ({"filters": 0}, "filters must be an int >= 1, got 0"),
    ({"dtype_policy": "nope"}, "nope"),  # Keras' own message, raised before any layer is built
])
def test_bad_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_vdsr(**kwargs)


def test_network_properties():
    from vdsr_tf.nn import model as model_lib

    assert model_lib.flops_per_pixel(build_vdsr()) == 1_330_626  # the paper's network
    assert model_lib.receptive_radius(build_vdsr(depth=7, filters=4)) == 7

    tiny = build_vdsr(depth=4, filters=3)
    assert model_lib.receptive_radius(tiny) == 4
    # conv_01: 2*9*1*3 + 3, conv_02-03: 2*9*3*3 + 3, conv_04: 2*9*3*1 + 1, residual_add: 1
    assert model_lib.flops_per_pixel(tiny) == 57 + 2 * 165 + 55 + 1
    twin = model_lib.bfloat16_twin(tiny)
    assert [l.compute_dtype for l in twin.layers if l.name.startswith("conv_")] == [
        "bfloat16", "bfloat16", "bfloat16", "float32"]
    for a, b in zip(twin.get_weights(), tiny.get_weights()):
        np.testing.assert_array_equal(a, b)
    twin.get_layer("conv_01").kernel.assign(np.zeros((3, 3, 1, 3), "float32"))
    assert np.any(tiny.get_layer("conv_01").kernel.numpy() != 0)  # copied, not shared


def test_layer_names_have_one_home():
    from vdsr_tf.nn.model import conv_index, conv_name

    net = build_vdsr(depth=12, filters=2)
    convs = [layer.name for layer in net.layers if conv_index(layer.name) is not None]
    assert convs == [conv_name(i) for i in range(1, 13)] and convs[0] == "conv_01"
    assert [conv_index(n) for n in convs] == list(range(1, 13))
    assert conv_index("residual_add") is None and conv_index("conv_01_1") is None
    with pytest.raises(ValueError, match="layer must be an int >= 1"):
        conv_name(0)


def test_bfloat16_has_two_names_and_both_work_everywhere():
    import numpy as np

    from vdsr_tf.infer.upscaler import super_resolve
    from vdsr_tf.train.config import TrainConfig

    assert TrainConfig(precision="bfloat16").precision == "mixed_bfloat16"  # training keeps Keras' name
    net = build_vdsr(depth=3, filters=4)
    a = np.random.default_rng(0).random((12, 12)).astype(np.float32)
    np.testing.assert_array_equal(super_resolve(a, 2, model=net, precision="mixed_bfloat16"),
                                  super_resolve(a, 2, model=net, precision="bfloat16"))
