"""vdsr_tf.data.geometry: the size of every training plane, from an image's size alone.

A training image of height x width is used downsized by each HR scale (Matlab ``imresize``),
then, at each integer scale, mod-cropped to a multiple of it (fractional scales keep the full
size). The plane is kept when it holds one patch. The pipeline (:mod:`vdsr_tf.data.patches`)
and the run's preflight (:mod:`vdsr_tf.train.preflight`) both ask here.
"""

from __future__ import annotations

import math

import numpy as np

from vdsr_tf.core import matlab

__all__ = ["crop_to_scale", "grid_positions", "holds_patch", "hr_size", "plane_sizes", "scale_size",
           "steps_per_epoch"]


def hr_size(height: int, width: int, hr_scale: float) -> tuple[int, int]:
    """(height, width) of an image downsized by ``hr_scale`` in (0, 1], as ``matlab.imresize`` makes it."""
    if float(hr_scale) == 1.0:
        return int(height), int(width)
    return matlab.output_length(int(height), hr_scale), matlab.output_length(int(width), hr_scale)


def scale_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """(height, width) of a plane prepared for ``scale``: integer scales mod-crop, others keep it."""
    if float(scale).is_integer():
        s = int(scale)
        return int(height) - int(height) % s, int(width) - int(width) % s
    return int(height), int(width)


def crop_to_scale(img: np.ndarray, scale: float) -> np.ndarray:
    """``img`` cropped to :func:`scale_size` (top-left kept)."""
    return matlab.modcrop(img, int(scale)) if float(scale).is_integer() else img


def holds_patch(height: int, width: int, scale: float, patch_size: int) -> bool:
    """Whether a plane of height x width at ``scale`` is kept: it holds one patch, and its LR has a pixel."""
    return min(height, width) >= max(patch_size, scale)


def plane_sizes(height: int, width: int, hr_scales, scales, patch_size: int) -> list[tuple[int, int]]:
    """(height, width) of every plane kept from a height x width image, HR scale by scale."""
    sizes = []
    for hs in hr_scales:
        h, w = hr_size(height, width, hs)
        for s in scales:
            hh, ww = scale_size(h, w, s)
            if holds_patch(hh, ww, s, patch_size):
                sizes.append((hh, ww))
    return sizes


def grid_positions(h: int, w: int, patch_size: int, stride: int) -> list[tuple[int, int]]:
    """Top-left corners of the patch grid (Matlab ``1:stride:h-size+1``), 0-based."""
    return [(t, l) for t in range(0, h - patch_size + 1, stride) for l in range(0, w - patch_size + 1, stride)]


def steps_per_epoch(num_patches: int, batch_size: int) -> int:
    """Steps that show every patch once: the last batch of an epoch may be short of patches."""
    return max(1, math.ceil(num_patches / batch_size))
