#!/usr/bin/env bash
# The bundled-weights run (issue 4), paper recipe; re-running resumes from runs/vdsr_x234/checkpoints.
cd "$(dirname "$0")/.."
exec nice -n 19 python tools/train.py --workdir runs/vdsr_x234 --precision mixed_bfloat16 \
  --steps 9960 --lr_decay_every 2490 --theta 1e-4 --checkpoint_every 250 --val_every 830 "$@"
