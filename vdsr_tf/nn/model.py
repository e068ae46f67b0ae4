"""The VDSR network (Kim et al., CVPR 2016) as a pure function of its hyperparameters,
and what follows from a built network's layers: its receptive radius, its cost per pixel,
and a bfloat16 twin.

Keras is imported inside the functions, so that :data:`DEPTH` (read by the tiling and the
backends) costs no TensorFlow start-up.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from vdsr_tf.core.checks import check_int

if TYPE_CHECKING:
    import keras

DEPTH = 20
"""The paper's depth: 20 3x3 convolutions, so an output pixel sees DEPTH pixels each way
(a 41x41 receptive field), the halo tiles of an unknown network get."""
FILTERS = 64
"""The paper's width of the hidden convolutions."""
BFLOAT16_POLICY = "mixed_bfloat16"
"""Keras' dtype policy of the hidden convolutions in bfloat16 (float32 weights, bfloat16 maths)."""
BFLOAT16_NAMES = ("bfloat16", BFLOAT16_POLICY)
"""One precision, two names: inference calls it "bfloat16", training (after Keras' policy)
"mixed_bfloat16". Both take either; each keeps its own in what it writes."""
_CONV_NAME = re.compile(r"conv_(\d+)")


def conv_name(i: int) -> str:
    """The name of the network's ``i``-th convolution, counted from 1: ``conv_01`` .. ``conv_20``.
    Weight files, warm starts and the int8 export find layers by it."""
    return f"conv_{check_int(i, 'layer', minimum=1):02d}"


def conv_index(name: str) -> int | None:
    """The ``i`` of a layer named :func:`conv_name` (i), else None."""
    m = _CONV_NAME.fullmatch(name)
    return int(m.group(1)) if m else None


def build_vdsr(
    *,
    depth: int = DEPTH,
    filters: int = FILTERS,
    residual: bool = True,
    dtype_policy: str | None = None,
    name: str = "vdsr",
) -> keras.Model:
    """Builds VDSR as a Keras functional model.

    Input ``input``: float32 (batch, H, W, 1) bicubic-upscaled luminance in [0, 1];
    H and W are unknown, so one model serves every image size and scale.
    Output: float32 (batch, H, W, 1), ``input + residual`` when ``residual`` is True
    (the paper's network), else the last convolution alone (the paper's
    non-residual baseline).

    Layers ``conv_01`` .. ``conv_{depth}``: 3x3 "same" convolutions with He normal
    initialisation; ReLU after all but the last, which has one filter.
    ``dtype_policy`` (for example ``"mixed_bfloat16"``) applies to the hidden
    convolutions; the last convolution and ``residual_add`` stay float32 so the
    small residual is not rounded to bfloat16 precision.
    The receptive field is (2 * depth + 1) pixels wide: tiles need a halo of
    ``depth`` pixels to be exact.
    """
    from vdsr_tf.nn.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()  # however the caller got here, TensorFlow starts without its C++ lines
    import keras

    depth = check_int(depth, "depth", 2)
    filters = check_int(filters, "filters", 1)
    if dtype_policy is not None:
        keras.dtype_policies.get(dtype_policy)  # fails early, naming the policy

    inputs = keras.Input(shape=(None, None, 1), dtype="float32", name="input")
    x = inputs
    for i in range(1, depth + 1):
        last = i == depth
        x = keras.layers.Conv2D(
            1 if last else filters,
            3,
            padding="same",
            activation=None if last else "relu",
            kernel_initializer="he_normal",
            bias_initializer="zeros",
            dtype="float32" if last else dtype_policy,
            name=conv_name(i),
        )(x)
    if residual:
        x = keras.layers.Add(dtype="float32", name="residual_add")([inputs, x])
    return keras.Model(inputs, x, name=name)


def receptive_radius(model) -> int:
    """How many pixels away an output pixel can see: the sum of the conv kernels' radii.

    Tiles need a halo at least this wide to be exact.
    """
    import keras

    radius = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw = layer.kernel_size
            dh, dw = layer.dilation_rate
            radius += max((kh - 1) // 2 * dh, (kw - 1) // 2 * dw)
    return radius


def flops_per_pixel(model) -> int:
    """Exact floating-point operations per output pixel of a fully convolutional model.

    Each Conv2D costs 2 * kh * kw * c_in * c_out (multiply + add) plus c_out bias adds
    per pixel; each Add layer one add per output channel. ReLUs are not counted.
    For the default VDSR (depth 20, 64 filters) this is 1,330,626 (~1.33 MFLOP).
    """
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw = layer.kernel_size
            c_in = layer.input.shape[-1]
            c_out = layer.filters
            total += 2 * kh * kw * c_in * c_out + (c_out if layer.use_bias else 0)
        elif isinstance(layer, keras.layers.Add):
            total += layer.output.shape[-1] * (len(layer.input) - 1)
    return int(total)


def bfloat16_twin(model):
    """A copy of ``model`` whose hidden convolutions compute in bfloat16.

    Every Conv2D but the last gets Keras' mixed_bfloat16 policy (float32 weights, bfloat16
    maths); the last convolution and the residual add stay float32, as in
    ``build_vdsr(dtype_policy="mixed_bfloat16")``. Weights are copied, not shared.
    """
    import keras

    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if not convs:
        raise ValueError(f"precision='bfloat16' needs a model with Conv2D layers; "
                         f"{model.name!r} has none")
    last = convs[-1]

    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, keras.layers.Conv2D) and layer is not last:
            config["dtype"] = BFLOAT16_POLICY
        return layer.__class__.from_config(config)

    twin = keras.models.clone_model(model, clone_function=clone)
    twin.set_weights(model.get_weights())
    return twin
