"""Which bundled weights a picture gets when the caller names none.

The rule (measured; BUILD_NOTES.md, "JPEG photos"): a JPEG whose quality, estimated from its
quantisation tables (:func:`vdsr_tf.core.degradation.estimate_quality`), is at most the limit
of its scale (:data:`JPEG_QUALITY_LIMITS`: the jpeg set's lead over the paper set shrinks as
the quality rises, and at x4 it ends two steps sooner) gets the ``"jpeg"`` weights, when this
installation ships them; every other picture gets the ``"paper"`` weights. A JPEG is recognised
by its content, not its name: a file starting with the JPEG signature, or a PIL image whose
``format`` is ``"JPEG"`` (as ``Image.open`` returns it; a converted or transposed copy has no
format and counts as lossless). Arrays carry no file format and get the paper weights.
"""
from __future__ import annotations

import math
import os

from PIL import Image

from vdsr_tf.core.degradation import column_quality

__all__ = ["JPEG_QUALITY_LIMIT", "JPEG_QUALITY_LIMITS", "TOLERANCE_DB", "choose", "jpeg_quality",
           "quality_limit", "quality_limit_for", "set_for_quality"]

JPEG_QUALITY_LIMITS = {2: 94, 3: 94, 4: 92}
"""Per measured scale, the highest estimated JPEG quality that still gets the JPEG weights:
:func:`quality_limit` of the bundled JPEG card's evaluation rows at that scale (a test keeps the
two equal; BUILD_NOTES.md, "Which set a picture gets", has the table that set them)."""

JPEG_QUALITY_LIMIT = min(JPEG_QUALITY_LIMITS.values())
"""The limit when the scale is not known (a device app choosing which export to ship): the
lowest of :data:`JPEG_QUALITY_LIMITS`, :func:`quality_limit` of all the card's rows."""

TOLERANCE_DB = 0.05
"""How far under the paper weights the JPEG weights may be on a cell and still be chosen."""

_JPEG_SIGNATURE = b"\xff\xd8\xff"


def jpeg_quality(source) -> int | None:
    """The estimated quality of ``source`` if it is a JPEG (a path to a file starting with the
    JPEG signature, or a PIL image whose format is JPEG), else None. Unreadable files give
    None: reading them is the pipeline's job, and it reports them."""
    from vdsr_tf.core.degradation import estimate_quality

    if isinstance(source, Image.Image):
        return estimate_quality(source) if source.format == "JPEG" else None
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as f:
                if f.read(3) != _JPEG_SIGNATURE:
                    return None
            with Image.open(source) as im:
                return estimate_quality(im)
        except (OSError, ValueError, SyntaxError):
            return None
    return None


def choose(source, scale=None) -> tuple[str, int | None]:
    """(bundled set name, estimated JPEG quality or None) for a picture given without weights,
    to be enlarged by ``scale`` (None: not known, the lowest limit applies)."""
    from vdsr_tf.nn.weights import PAPER, is_bundled

    quality = jpeg_quality(source)
    name = set_for_quality(quality, scale)
    return (name if is_bundled(name) else PAPER), quality


def quality_limit_for(scale=None) -> int:
    """The quality limit of a picture enlarged by ``scale``: that scale's in
    :data:`JPEG_QUALITY_LIMITS`; between measured scales the lower of the two around it (x2.5
    gets min(x2, x3)); below or above them the nearest one's; None gives :data:`JPEG_QUALITY_LIMIT`."""
    if scale is None:
        return JPEG_QUALITY_LIMIT
    measured = sorted(JPEG_QUALITY_LIMITS)
    s = min(max(float(scale), measured[0]), measured[-1])
    around = [k for k in measured if math.floor(s) <= k <= math.ceil(s)]
    return min(JPEG_QUALITY_LIMITS[k] for k in around)


def set_for_quality(quality: int | None, scale=None) -> str:
    """The bundled set the rule gives a picture of estimated JPEG ``quality`` (None: not a
    JPEG) enlarged by ``scale`` when both sets ship: what the README's JPEG table shows in bold."""
    from vdsr_tf.nn.weights import JPEG, PAPER

    return JPEG if quality is not None and quality <= quality_limit_for(scale) else PAPER


def quality_limit(rows, jpeg: str = "jpeg", paper: str = "paper",
                  tolerance: float = TOLERANCE_DB, scale=None) -> int | None:
    """The highest JPEG quality q measured in ``rows`` (``tools/evaluate.py --json`` rows with
    methods ``jpeg`` and ``paper`` at ``jpeg:Q`` degradations) such that at q and at every
    lower measured quality the JPEG set scores at most ``tolerance`` dB under the paper set on
    every (dataset, scale) cell, or every cell of ``scale`` when given; None when even the
    lowest fails."""
    psnr = {(r["method"], r["degradation"], r["dataset"], r["scale"]): r["psnr"] for r in rows
            if scale is None or r["scale"] == scale}
    cells: dict[int, list[float]] = {}
    for (method, degradation, dataset, s), value in psnr.items():
        if method != jpeg or (paper, degradation, dataset, s) not in psnr:
            continue
        q = column_quality(degradation)
        if q is not None:
            cells.setdefault(q, []).append(value - psnr[(paper, degradation, dataset, s)])
    limit = None
    for q in sorted(cells):
        if min(cells[q]) < -tolerance:
            break
        limit = q
    return limit
