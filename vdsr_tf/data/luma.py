"""A training picture as the trainer takes it: the file read to uint8 grey or RGB
(:func:`load_uint8`), then its Matlab Y plane (:func:`load_luma`)."""
from __future__ import annotations

import os

import numpy as np

from vdsr_tf.core import imageio, matlab


def load_uint8(path: str) -> np.ndarray:
    """Reads an image file as the training data takes it: uint8 (H, W) grey or (H, W, 3) RGB.

    The file is read by :func:`vdsr_tf.core.imageio.read_pixels` (EXIF orientation applied; 16-bit
    colour kept, then rounded to 8 bits like Matlab's im2uint8, as 16-bit grey is); modes it
    refuses (CMYK, YCbCr, ...) are refused here too. Grey stays grey; alpha is dropped;
    palette, bilevel and grey+alpha go through RGB.
    Raises a one-line ValueError naming the file when it is missing, unreadable, truncated,
    corrupt or of a refused mode.
    """
    name = os.fspath(path)
    try:
        pixels = imageio.read_pixels(name)
        if isinstance(pixels, np.ndarray):  # 16-bit RGB(A)
            arr = _im2uint8(pixels)
        else:
            imageio.check_mode(pixels.mode, f"image file {name!r}")
            if pixels.mode in ("L", "RGB", "RGBA"):
                arr = np.asarray(pixels)
            elif pixels.mode.startswith("I;16") or pixels.mode == "I":
                arr = _im2uint8(np.asarray(pixels))
            else:
                arr = np.asarray(pixels.convert("RGB"))
    except ValueError as e:  # imageio.ImageError included; its messages name the file already
        reason = str(e).removeprefix(f"cannot read image file {name!r}: ")
        raise ValueError(f"cannot read training image {name!r}: {reason}") from None
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    return np.ascontiguousarray(arr[..., :3] if arr.ndim == 3 else arr)


def load_luma(path: str) -> np.ndarray:
    """The Matlab Y channel of an image file (:func:`load_uint8`), uint8 (H, W):
    ``matlab.luma_uint8`` (``rgb2ycbcr`` on uint8, rounded); grey is used as it is."""
    return matlab.luma_uint8(load_uint8(path))


def _im2uint8(a: np.ndarray) -> np.ndarray:
    """16-bit values to 8 bits, rounding like Matlab's im2uint8."""
    return np.floor(np.clip(a.astype(np.float64) / 257.0, 0, 255) + 0.5).astype(np.uint8)
