"""Validation during training: the project's evaluation (vdsr_tf.evaluation.scoring) on a benchmark folder."""
from __future__ import annotations

from vdsr_tf.evaluation import scoring


def validation_scales(scales, folder: str | None = None) -> list[int]:
    """The integer scales of ``scales`` (benchmarks are scored at integer scales only) that
    ``folder`` can be scored at (a Huang-layout folder only at the scales it has pairs for)."""
    out = [int(s) for s in scales if float(s).is_integer()]
    huang = scoring.huang_folders(folder) if folder is not None else []
    return [s for s in out if scoring.huang_folder(s) in huang] if huang else out


def score_on(model, folder: str, scales, degradation=None) -> dict[int, dict[str, float]]:
    """Mean PSNR/SSIM per scale on a benchmark folder, by the project's evaluation.

    ``model``: a keras.Model (any Keras backend), or "bicubic" for the baseline. Uses
    :func:`vdsr_tf.evaluation.scoring.evaluate` (super_resolve + metrics.score: the full protocol of
    docs/protocol.md, Huang layout with shipped LR or a plain HR folder), so the numbers are the
    ones tools/evaluate.py prints. ``degradation``: a vdsr_tf.core.degradation.Degradation of the
    LR (None: lossless). Returns {scale: {"psnr": dB, "ssim": ...}}.
    """
    rows = scoring.evaluate(folder, validation_scales(scales, folder), weights=model,
                               degradations=None if degradation is None else (degradation,))
    return {int(r["scale"]): {"psnr": float(r["psnr"]), "ssim": float(r["ssim"])} for r in rows}
