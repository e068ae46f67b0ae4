"""Side-by-side sheets: crops of one picture upscaled by several methods, next to the HR.

What a person looks at instead of a table (docs/side_by_side_x3.png, docs/jpeg_x2.png). Each
panel is labelled with the method and its PSNR on the whole image (Y, shave = scale, as
:mod:`vdsr_tf.evaluation.scoring` scores).
"""
from __future__ import annotations

import numpy as np

__all__ = ["side_by_side"]

_LABEL_HEIGHT = 18
_GAP = 8


def side_by_side(hr: np.ndarray, lr, scale: int, methods, *, crop=None, zoom: int = 2):
    """The sheet and the scores.

    Args:
      hr: uint8 (H, W) or (H, W, 3) HR image, mod-cropped to ``scale``.
      lr: its LR picture: a uint8 array or a PIL image (e.g. a JPEG as its file opens, so that
        the default weights choose as they would for a user).
      methods: (label, weights) pairs; weights is ``"bicubic"`` or anything the ``weights=``
        argument of :func:`vdsr_tf.super_resolve` takes (None: the default choice).
      crop: (top, left, size) in HR pixels; default the centre square of a third of the side.
      zoom: nearest-neighbour enlargement of the crops.

    Returns (PIL RGB image, [(label, PSNR dB)]). Raises ValueError when the crop does not fit.
    """
    from PIL import Image, ImageDraw

    from vdsr_tf.core import metrics
    from vdsr_tf.infer.upscaler import bicubic_upscale, super_resolve

    h, w = hr.shape[:2]
    if crop is None:
        size = min(h, w) // 3
        top, left = (h - size) // 2, (w - size) // 2
    else:
        top, left, size = (int(v) for v in crop)
    if top < 0 or left < 0 or size < 8 or top + size > h or left + size > w:
        raise ValueError(f"crop {top},{left},{size} does not fit a {h}x{w} image")
    hr_y = metrics.scoring_luma(hr)
    panels, scores = [], []
    for label, weights in methods:
        out = bicubic_upscale(lr, scale) if weights == "bicubic" else super_resolve(lr, scale, weights=weights)
        out = np.asarray(out)
        db = metrics.psnr(metrics.scoring_luma(out), hr_y, shave=scale)
        scores.append((label, db))
        panels.append((f"{label} {db:.2f} dB", out))
    panels.append(("HR", hr))
    tiles = []
    for text, img in panels:
        part = Image.fromarray(np.ascontiguousarray(img[top:top + size, left:left + size])).convert("RGB")
        part = part.resize((size * zoom, size * zoom), Image.NEAREST)
        tile = Image.new("RGB", (part.width, part.height + _LABEL_HEIGHT), "white")
        tile.paste(part, (0, _LABEL_HEIGHT))
        ImageDraw.Draw(tile).text((4, 3), text, fill="black")
        tiles.append(tile)
    sheet = Image.new("RGB", (sum(t.width for t in tiles) + _GAP * (len(tiles) - 1), tiles[0].height), "white")
    x = 0
    for t in tiles:
        sheet.paste(t, (x, 0))
        x += t.width + _GAP
    return sheet, scores
