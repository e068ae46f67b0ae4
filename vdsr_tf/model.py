"""The VDSR network (Kim et al., CVPR 2016) as a pure function of its hyperparameters."""
from __future__ import annotations

import keras


def build_vdsr(
    *,
    depth: int = 20,
    filters: int = 64,
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
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 2:
        raise ValueError(f"depth must be an int >= 2, got {depth!r}")
    if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
        raise ValueError(f"filters must be an int >= 1, got {filters!r}")
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
            name=f"conv_{i:02d}",
        )(x)
    if residual:
        x = keras.layers.Add(dtype="float32", name="residual_add")([inputs, x])
    return keras.Model(inputs, x, name=name)
