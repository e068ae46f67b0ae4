"""Reference Set5 PSNR (dB, Y, shave = scale, docs/protocol.md) the run's plot draws as lines.

official: the authors' released weights (VDSR_Official.mat) scored by tools/evaluate.py under
this project's protocol (docs/protocol.md, "Training protocol": 37.47/33.64/31.33).
paper: Kim et al., CVPR 2016, Table 3, VDSR column (vdsr_tf.evaluation.scoring.PAPER_TABLE3).
"""
from __future__ import annotations

OFFICIAL_SET5_PSNR = {2: 37.47, 3: 33.64, 4: 31.33}


def set5_references() -> dict[str, dict[int, float]]:
    """{label: {scale: PSNR}} for the plot's reference lines."""
    from vdsr_tf.evaluation.scoring import PAPER_TABLE3

    paper = {s: PAPER_TABLE3["VDSR"][("Set5", s)][0] for s in (2, 3, 4)}
    return {"official weights": dict(OFFICIAL_SET5_PSNR), "paper (Table 3)": paper}
