"""TensorFlow twins of :mod:`vdsr_tf.core.matlab` (float32) for graphs that are exported:
the end-to-end TFLite model runs Matlab bicubic and YCbCr inside the graph. They agree with
the numpy versions to 1e-5 on [0, 1] data (tests/test_matlab.py)."""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from vdsr_tf.core.matlab import (
    _KERNEL_WIDTH,
    _RGB_MATRIX,
    _YCBCR_MATRIX,
    _YCBCR_OFFSET,
    _check_scale,
    _dimension_order,
    contributions,
    output_length,
)


def imresize_tf(img, scale: float | None = None, *, output_shape=None):
    """TensorFlow-ops version of :func:`imresize` for float data.

    Args:
      img: float tensor (H, W), (H, W, C) or (N, H, W, C); H and W may be
        unknown at trace time (tf.data), in which case the tap tables are
        computed at run time by the same numpy code (via ``tf.numpy_function``).
        With static H and W the tables are graph constants, so the op exports
        to SavedModel and TFLite (GATHER, MUL, ADD).
      scale: a python float; or output_shape: (height, width) python ints.
    Returns float32 with the input's rank.
    """
    x = tf.convert_to_tensor(img)
    if not x.dtype.is_floating:
        raise TypeError(f"imresize_tf expects a float tensor, got {x.dtype.name}")
    x = tf.cast(x, tf.float32)
    rank = x.shape.rank
    if rank not in (2, 3, 4):
        raise ValueError(f"imresize_tf expects rank 2, 3 or 4, got shape {x.shape}")
    if rank == 2:
        x4 = x[None, :, :, None]
    elif rank == 3:
        x4 = x[None]
    else:
        x4 = x
    hw_axes = (1, 2)
    static_hw = [x4.shape[a] for a in hw_axes]
    if scale is not None and output_shape is not None or scale is None and output_shape is None:
        raise ValueError("imresize_tf needs exactly one of scale or output_shape")
    if scale is not None:
        s = _check_scale(scale)
        scales = (s, s)
    else:
        out_hw = tuple(int(v) for v in output_shape)
        if None in static_hw:
            raise ValueError("imresize_tf with output_shape needs a static input height and width")
        scales = (out_hw[0] / static_hw[0], out_hw[1] / static_hw[1])

    for dim in _dimension_order(scales):
        axis = hw_axes[dim]
        s = scales[dim]
        n = x4.shape[axis]
        if n is not None:
            out_len = out_hw[dim] if output_shape is not None else output_length(n, s)
            weights, indices = contributions(n, out_len, s)
            weights = tf.constant(weights, tf.float32)
            indices = tf.constant(indices, tf.int32)
        else:
            n_dyn = tf.shape(x4)[axis]

            def _table(length, s=s):
                w, i = contributions(int(length), output_length(int(length), s), s)
                return w.astype(np.float32), i.astype(np.int32)

            weights, indices = tf.numpy_function(_table, [n_dyn], [tf.float32, tf.int32], stateful=False)
            taps = int(math.ceil(_KERNEL_WIDTH / min(s, 1.0))) + 2
            weights.set_shape([None, taps])
            indices.set_shape([None, taps])
        bshape = [1, 1, 1, 1]
        bshape[axis] = -1
        out = None
        for k in range(weights.shape[1]):
            term = tf.gather(x4, indices[:, k], axis=axis) * tf.reshape(weights[:, k], bshape)
            out = term if out is None else out + term
        x4 = out

    if rank == 2:
        return x4[0, :, :, 0]
    if rank == 3:
        return x4[0]
    return x4


def rgb2ycbcr_tf(img):
    """TensorFlow :func:`rgb2ycbcr` for float32 RGB in [0, 1], channels last."""
    x = tf.cast(img, tf.float32)
    m = tf.constant(_YCBCR_MATRIX.T / 255.0, tf.float32)
    return tf.tensordot(x, m, axes=[[-1], [0]]) + tf.constant(_YCBCR_OFFSET / 255.0, tf.float32)


def ycbcr2rgb_tf(img):
    """TensorFlow :func:`ycbcr2rgb` for float32 YCbCr in [0, 1], channels last; unclipped."""
    x = tf.cast(img, tf.float32) - tf.constant(_YCBCR_OFFSET / 255.0, tf.float32)
    m = tf.constant(255.0 * _RGB_MATRIX.T, tf.float32)
    return tf.tensordot(x, m, axes=[[-1], [0]])
