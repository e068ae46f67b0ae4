"""Which bundled weights a picture gets when the caller names none.

The rule (measured; BUILD_NOTES.md, "JPEG photos"): a JPEG whose quality, estimated from its
quantisation tables (:func:`vdsr_tf.degradation.estimate_quality`), is at most
:data:`JPEG_QUALITY_LIMIT` gets the ``"jpeg"`` weights, when this installation ships them;
every other picture gets the ``"paper"`` weights. A JPEG is recognised by its content, not
its name: a file starting with the JPEG signature, or a PIL image whose ``format`` is
``"JPEG"`` (as ``Image.open`` returns it; a converted or transposed copy has no format and
counts as lossless). Arrays carry no file format and get the paper weights.
"""
from __future__ import annotations

import os

from PIL import Image

__all__ = ["JPEG_QUALITY_LIMIT", "choose", "jpeg_quality"]

JPEG_QUALITY_LIMIT = 95
"""Highest estimated JPEG quality that still gets the JPEG weights (BUILD_NOTES.md, "JPEG
photos": the table of both sets at q 30-95 that set it)."""

_JPEG_SIGNATURE = b"\xff\xd8\xff"


def jpeg_quality(source) -> int | None:
    """The estimated quality of ``source`` if it is a JPEG (a path to a file starting with the
    JPEG signature, or a PIL image whose format is JPEG), else None. Unreadable files give
    None: reading them is the pipeline's job, and it reports them."""
    from vdsr_tf.degradation import estimate_quality

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


def choose(source) -> tuple[str, int | None]:
    """(bundled set name, estimated JPEG quality or None) for a picture given without weights."""
    from vdsr_tf.weights import JPEG, PAPER, is_bundled

    quality = jpeg_quality(source)
    if quality is not None and quality <= JPEG_QUALITY_LIMIT and is_bundled(JPEG):
        return JPEG, quality
    return PAPER, quality
