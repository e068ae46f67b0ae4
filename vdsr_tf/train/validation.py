"""Validation during training: the project's evaluation (vdsr_tf.evaluation.scoring) on a benchmark folder."""
from __future__ import annotations

import os


def validation_scales(scales, folder: str | None = None) -> list[int]:
    """The integer scales of ``scales`` (benchmarks are scored at integer scales only) that
    ``folder`` can be scored at (a Huang-layout folder only at its ``image_SRF_<s>`` scales)."""
    out = [int(s) for s in scales if float(s).is_integer()]
    if folder is not None and os.path.isdir(folder):
        huang = {n for n in os.listdir(folder) if n.startswith("image_SRF_")}
        if huang:
            out = [s for s in out if f"image_SRF_{s}" in huang]
    return out


def score_on(model, folder: str, scales, degradation=None) -> dict[int, dict[str, float]]:
    """Mean PSNR/SSIM per scale on a benchmark folder, by the project's evaluation.

    ``model``: a keras.Model (any Keras backend), or "bicubic" for the baseline. Uses
    :func:`vdsr_tf.evaluation.scoring.evaluate` (super_resolve + metrics.score: the full protocol of
    docs/protocol.md, Huang layout with shipped LR or a plain HR folder), so the numbers are the
    ones tools/evaluate.py prints. ``degradation``: a vdsr_tf.core.degradation.Degradation of the
    LR (None: lossless). Returns {scale: {"psnr": dB, "ssim": ...}}.
    """
    from vdsr_tf.evaluation import scoring

    rows = scoring.evaluate(folder, validation_scales(scales, folder), weights=model,
                               degradations=None if degradation is None else (degradation,))
    return {int(r["scale"]): {"psnr": float(r["psnr"]), "ssim": float(r["ssim"])} for r in rows}
