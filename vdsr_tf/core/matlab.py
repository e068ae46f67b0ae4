"""Matlab-compatible numerics: the only place where the project resizes or converts colour.

VDSR's published numbers come from Matlab's ``imresize(..., 'bicubic')`` and
``rgb2ycbcr``. PIL, OpenCV and ``tf.image.resize`` disagree with them at the image
borders (and PIL/OpenCV YCbCr is a different colour space), which costs 0.3 to
2 dB against the paper. Everything here follows Matlab's definitions:

* ``imresize``: Keys cubic kernel (a = -0.5); when shrinking, the kernel is
  stretched by 1/scale (antialiasing); output index x (1-based) samples the input
  at u = x / scale + 0.5 * (1 - 1 / scale); ceil(kernel width) + 2 taps starting
  at floor(u - width / 2), weights normalised to sum 1; borders mirror
  symmetrically with the edge pixel repeated; one dimension at a time, the
  dimension with the smaller scale first (height first on ties).
* ``rgb2ycbcr`` / ``ycbcr2rgb``: ITU-R BT.601 studio swing, Y in [16, 235].

Everything here is numpy (float64 maths). The TensorFlow twins that exported graphs need
live in :mod:`vdsr_tf.nn.matlab_tf` and agree with these to 1e-5 on [0, 1] data.
"""
from __future__ import annotations

import math
from numbers import Real

import numpy as np

from vdsr_tf.core.checks import check_int

# Matlab's rgb2ycbcr matrix, applied to RGB in [0, 1], giving YCbCr in [0, 255].
_YCBCR_MATRIX = np.array(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ],
    dtype=np.float64,
)
_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0], dtype=np.float64)
_RGB_MATRIX = np.linalg.inv(_YCBCR_MATRIX)

_KERNEL_WIDTH = 4.0


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5, as Matlab's ``cubic``."""
    ax = np.abs(np.asarray(x, dtype=np.float64))
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


def _check_scale(scale) -> float:
    if isinstance(scale, bool) or not isinstance(scale, Real):
        raise TypeError(f"scale must be a positive real number, got {scale!r}")
    scale = float(scale)
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    return scale


def output_length(in_length: int, scale: float) -> int:
    """Matlab's output length ``ceil(in_length * scale)``.

    A product within 1e-9 of an integer is taken as that integer, so that
    ``imresize(x, 1/3)`` of 255 rows gives 85 whatever the rounding of 1/3.
    """
    product = in_length * scale
    nearest = round(product)
    if abs(product - nearest) < 1e-9:
        return max(int(nearest), 1)
    return max(int(math.ceil(product)), 1)


def contributions(in_length: int, out_length: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Matlab's ``contributions`` for the bicubic kernel with antialiasing.

    Returns ``(weights, indices)``, both (out_length, taps): output sample i is
    ``sum_k weights[i, k] * input[indices[i, k]]`` with 0-based indices already
    mirrored into [0, in_length). Matlab drops all-zero tap columns; keeping
    them changes nothing and gives a fixed tap count (static shapes for TF).
    """
    in_length, out_length = int(in_length), int(out_length)
    if scale < 1:
        width = _KERNEL_WIDTH / scale

        def kernel(d):
            return scale * cubic(scale * d)

    else:
        width = _KERNEL_WIDTH
        kernel = cubic
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    weights = kernel(u[:, None] - indices)
    weights /= weights.sum(axis=1, keepdims=True)
    # Symmetric padding with the edge repeated: 1..n, n..1, periodic (1-based).
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    idx = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    return weights, idx.astype(np.int64)


def resize_matrix(in_length: int, out_length: int) -> np.ndarray:
    """The dense (out_length, in_length) float64 matrix of Matlab's bicubic resize along one
    axis to ``out_length`` samples (the factor out / in, as ``imresize(..., output_shape)``).

    ``M @ plane`` resizes the rows of a plane and ``plane @ M.T`` its columns, so a window
    of a resized image is ``M_r[rows] @ plane @ M_c[cols].T`` without resizing the rest
    (training cuts patches of freshly degraded images this way). Equal to :func:`imresize`
    to float rounding (1e-15): the same taps, summed in another order.
    """
    in_length, out_length = int(in_length), int(out_length)
    weights, indices = contributions(in_length, out_length, out_length / in_length)
    m = np.zeros((out_length, in_length), np.float64)
    np.add.at(m, (np.repeat(np.arange(out_length), weights.shape[1]), indices.ravel()), weights.ravel())
    return m


def _resolve_sizes(in_hw: tuple[int, int], scale, output_shape) -> tuple[tuple[int, int], tuple[float, float]]:
    if (scale is None) == (output_shape is None):
        raise ValueError("imresize needs exactly one of scale or output_shape")
    if scale is not None:
        s = _check_scale(scale)
        out_hw = (output_length(in_hw[0], s), output_length(in_hw[1], s))
        return out_hw, (s, s)
    try:
        out_hw = tuple(int(v) for v in output_shape)
    except (TypeError, ValueError):
        raise TypeError(f"output_shape must be (height, width) integers, got {output_shape!r}") from None
    if len(out_hw) != 2 or min(out_hw) < 1:
        raise ValueError(f"output_shape must be two positive integers, got {output_shape!r}")
    return out_hw, (out_hw[0] / in_hw[0], out_hw[1] / in_hw[1])


def _dimension_order(scales: tuple[float, float]) -> list[int]:
    # Matlab sorts dimensions by scale (stable): shrink first, height first on ties.
    return [0, 1] if scales[0] <= scales[1] else [1, 0]


def imresize(img: np.ndarray, scale: float | None = None, *, output_shape=None) -> np.ndarray:
    """Matlab ``imresize(img, scale, 'bicubic')`` (antialiased when shrinking).

    Args:
      img: (H, W) or (H, W, C) array. uint8 is computed in float64 and returned
        rounded and clipped to uint8; uint16 likewise; float arrays are computed in
        float64 and returned in the input's float dtype, unclipped.
      scale: a positive factor (fractional allowed); output size ceil(n * scale).
      output_shape: (height, width) instead of scale; the factor per dimension
        is then out / in, as in Matlab.
    """
    img = np.asarray(img)
    if img.ndim not in (2, 3):
        raise ValueError(f"imresize expects an (H, W) or (H, W, C) array, got shape {img.shape}")
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"imresize got an empty image of shape {img.shape}")
    if img.dtype == np.bool_ or not (np.issubdtype(img.dtype, np.number)):
        raise TypeError(f"imresize expects a numeric array, got dtype {img.dtype}")
    out_hw, scales = _resolve_sizes(img.shape[:2], scale, output_shape)
    x = img.astype(np.float64)
    for axis in _dimension_order(scales):
        weights, indices = contributions(x.shape[axis], out_hw[axis], scales[axis])
        # Accumulate tap by tap: memory stays at the output size, not taps times it.
        shape = [1] * x.ndim
        shape[axis] = weights.shape[0]
        out = np.take(x, indices[:, 0], axis=axis) * weights[:, 0].reshape(shape)
        for k in range(1, weights.shape[1]):
            out += np.take(x, indices[:, k], axis=axis) * weights[:, k].reshape(shape)
        x = out
    if np.issubdtype(img.dtype, np.integer):
        info = np.iinfo(img.dtype)
        # Matlab rounds half away from zero; values are clipped to >= 0 first.
        return np.floor(np.clip(x, info.min, info.max) + 0.5).astype(img.dtype)
    return x.astype(img.dtype)


def _as_float_rgb(img: np.ndarray, name: str) -> tuple[np.ndarray, bool]:
    img = np.asarray(img)
    if img.ndim < 1 or img.shape[-1] != 3:
        raise ValueError(f"{name} expects (..., 3) channels last, got shape {img.shape}")
    if img.dtype == np.uint8:
        return img.astype(np.float64) / 255.0, True
    if np.issubdtype(img.dtype, np.floating):
        return img.astype(np.float64), False
    raise TypeError(f"{name} expects uint8 or float in [0, 1], got dtype {img.dtype}")


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.floor(np.clip(x, 0.0, 255.0) + 0.5).astype(np.uint8)


def rgb2ycbcr(img: np.ndarray) -> np.ndarray:
    """Matlab ``rgb2ycbcr``: uint8 -> uint8 (rounded); float [0, 1] -> float [0, 1].

    Y = 16/255 + (65.481 R + 128.553 G + 24.966 B) / 255 for R, G, B in [0, 1].
    """
    x, is_uint8 = _as_float_rgb(img, "rgb2ycbcr")
    ycc = x @ _YCBCR_MATRIX.T + _YCBCR_OFFSET  # in [0, 255]
    if is_uint8:
        return _to_uint8(ycc)
    return (ycc / 255.0).astype(np.asarray(img).dtype)


def luma_uint8(img: np.ndarray, *, alpha: bool = False) -> np.ndarray:
    """Y of a uint8 image as the paper's Matlab code takes it: ``rgb2ycbcr`` on uint8, rounded.

    (H, W) and (H, W, 1) are grey and returned as they are; (H, W, 3) is RGB; (H, W, 4) is
    RGBA (alpha ignored) only when ``alpha`` is True. Returns uint8 (H, W).
    """
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got dtype {img.dtype}")
    if img.ndim == 2:
        return img
    channels = (3, 4) if alpha else (3,)
    if img.ndim == 3 and img.shape[-1] == 1:
        return img[..., 0]
    if img.ndim == 3 and img.shape[-1] in channels:
        return rgb2ycbcr(np.ascontiguousarray(img[..., :3]))[..., 0]
    allowed = ", ".join(["(H, W)", "(H, W, 1)"] + [f"(H, W, {c})" for c in channels])
    raise ValueError(f"expected an image of shape {allowed}, got {img.shape}")


def ycbcr2rgb(img: np.ndarray) -> np.ndarray:
    """Matlab ``ycbcr2rgb``: uint8 -> uint8 (rounded, clipped); float -> float, unclipped."""
    x, is_uint8 = _as_float_rgb(img, "ycbcr2rgb")
    rgb = (x * 255.0 - _YCBCR_OFFSET) @ _RGB_MATRIX.T
    if is_uint8:
        return _to_uint8(rgb * 255.0)
    return rgb.astype(np.asarray(img).dtype)


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crops height and width down to multiples of an integer ``scale`` (top-left kept)."""
    scale = check_int(scale, "modcrop scale", 1)
    img = np.asarray(img)
    if img.ndim < 2:
        raise ValueError(f"modcrop expects an image of at least 2 dimensions, got shape {img.shape}")
    h, w = img.shape[0] - img.shape[0] % scale, img.shape[1] - img.shape[1] % scale
    return img[:h, :w]


def shave(img: np.ndarray, border: int) -> np.ndarray:
    """Drops ``border`` pixels off every side of height and width."""
    border = check_int(border, "shave border", 0)
    img = np.asarray(img)
    if img.ndim < 2:
        raise ValueError(f"shave expects an image of at least 2 dimensions, got shape {img.shape}")
    if 2 * border >= min(img.shape[0], img.shape[1]):
        raise ValueError(f"shave border {border} leaves nothing of a {img.shape[0]}x{img.shape[1]} image")
    if border == 0:
        return img
    return img[border:-border, border:-border]
