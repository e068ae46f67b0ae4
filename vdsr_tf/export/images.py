"""The pictures exports are measured on: a benchmark folder read as the evaluation reads it,
or synthetic RGB pictures when there is none."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from vdsr_tf.core import matlab

__all__ = ["fit_to", "measurement_images"]


def measurement_images(data=None, scales: Iterable[int] = (2, 3, 4), *, synthetic_size: int = 96,
                       synthetic_count: int = 3) -> tuple[list[tuple[int, str, np.ndarray, np.ndarray]], str]:
    """(scale, name, HR uint8, LR uint8) tuples for measuring, and a description.

    ``data``: a benchmark folder (Huang layout or plain HR images), listed by
    :func:`vdsr_tf.evaluation.scoring.list_pairs` and read by :func:`vdsr_tf.evaluation.scoring.read_pair`
    (LR made with Matlab bicubic when absent; a shipped LR of the wrong size refused).
    When None or missing, small synthetic RGB pictures (:func:`vdsr_tf.data.patches.synthetic_luma`
    per channel) are used.
    """
    from vdsr_tf.data import patches as data_mod
    from vdsr_tf.evaluation import scoring

    scales = [int(s) for s in scales]
    out = []
    if data is not None and Path(data).is_dir():
        for s in scales:
            for pair in scoring.list_pairs(data, s):
                out.append((s, pair.name, *scoring.read_pair(pair, s)))
        return out, Path(data).resolve().name
    for s in scales:
        for i in range(synthetic_count):
            grey = [data_mod.synthetic_luma(synthetic_size, 100 + 3 * i + c) for c in range(3)]
            hr = matlab.modcrop(np.stack(grey, axis=-1), s)
            out.append((s, f"synthetic_{i}", hr, matlab.imresize(hr, 1.0 / s)))
    return out, f"synthetic ({synthetic_count} RGB {synthetic_size}x{synthetic_size} per scale)"


def fit_to(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Crops (centre) or mirror-pads an image to exactly ``size`` (the end-to-end model's
    fixed input); grey becomes RGB."""
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    h, w = size
    out = img
    for axis, n in ((0, h), (1, w)):
        m = out.shape[axis]
        if m >= n:
            start = (m - n) // 2
            out = np.take(out, np.arange(start, start + n), axis=axis)
        else:
            pad = [(0, 0)] * out.ndim
            pad[axis] = (0, n - m)
            out = np.pad(out, pad, mode="symmetric")
            while out.shape[axis] < n:  # tiny images: repeat mirroring
                pad[axis] = (0, n - out.shape[axis])
                out = np.pad(out, pad, mode="symmetric")
    return np.ascontiguousarray(out)
