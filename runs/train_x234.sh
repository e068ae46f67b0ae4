#!/usr/bin/env bash
# The bundled-weights run (issue 4), paper recipe; re-running resumes from runs/vdsr_x234/checkpoints
# (finished; its checkpoint left the tree in session 6: git checkout 5345b4e -- runs/vdsr_x234/checkpoints).
# Uses $PYTHON, else .venv/bin/python when README's set-up made it, else python on PATH.
cd "$(dirname "$0")/.."
py=${PYTHON:-python}
[ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ] && py=.venv/bin/python
exec nice -n 19 "$py" tools/train.py --workdir runs/vdsr_x234 --precision mixed_bfloat16 \
  --steps 9960 --lr_decay_every 2490 --theta 1e-4 --checkpoint_every 250 --val_every 830 "$@"
