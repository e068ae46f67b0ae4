"""Validation during training: the project's evaluation (vdsr_tf.evaluation.scoring) on a
benchmark folder, or on the images a run holds out of its training data (vdsr_tf.train.holdout)."""
from __future__ import annotations

import os

from vdsr_tf.evaluation import scoring

HELD_OUT = "held-out"
"""The name of a run's held-out images as a validation set (history's ``val_set``, the card)."""


def validation_source(val_data: str | None, held_out=()):
    """What a run validates on: the folder ``val_data``, else the ``held_out`` image files (a
    :class:`vdsr_tf.evaluation.scoring.ImageFiles` named :data:`HELD_OUT`), else None."""
    if val_data:
        return val_data
    return scoring.ImageFiles(HELD_OUT, tuple(held_out)) if held_out else None


def source_name(source) -> str:
    """The validation set's name: the folder's (e.g. Set5), or :data:`HELD_OUT`."""
    return source.name if isinstance(source, scoring.ImageFiles) else os.path.basename(os.path.normpath(source))


def validation_scales(scales, folder=None) -> list[int]:
    """The integer scales of ``scales`` (benchmarks are scored at integer scales only) that
    ``folder`` can be scored at (a Huang-layout folder only at the scales it has pairs for)."""
    out = [int(s) for s in scales if float(s).is_integer()]
    huang = scoring.huang_folders(folder) if folder is not None else []
    return [s for s in out if scoring.huang_folder(s) in huang] if huang else out


def score_on(model, folder, scales, degradation=None) -> dict[int, dict[str, float]]:
    """Mean PSNR/SSIM per scale on a benchmark folder (or the image files of a
    :class:`vdsr_tf.evaluation.scoring.ImageFiles`), by the project's evaluation.

    ``model``: a keras.Model (any Keras backend), or "bicubic" for the baseline. Uses
    :func:`vdsr_tf.evaluation.scoring.evaluate` (super_resolve + metrics.score: the full protocol of
    docs/protocol.md, Huang layout with shipped LR or a plain HR folder), so the numbers are the
    ones tools/evaluate.py prints. ``degradation``: a vdsr_tf.core.degradation.Degradation of the
    LR (None: lossless). Returns {scale: {"psnr": dB, "ssim": ...}}.
    """
    rows = scoring.evaluate(folder, validation_scales(scales, folder), weights=model,
                               degradations=None if degradation is None else (degradation,))
    return {int(r["scale"]): {"psnr": float(r["psnr"]), "ssim": float(r["ssim"])} for r in rows}
