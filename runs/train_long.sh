#!/usr/bin/env bash
# The open-ended weights run (issue 9): Adam at a constant lr after a warm-up (a "wsd"
# schedule whose decay is kept out of reach), warm-started from the paper-recipe weights.
# Re-running resumes from runs/vdsr_long/checkpoints. To get decayed weights, branch a copy:
#   cp -r runs/vdsr_long runs/branch && runs/train_long.sh --workdir runs/branch \
#     --steps $((STEP + 5000)) --decay_steps 5000
# Uses $PYTHON, else .venv/bin/python when README's set-up made it, else python on PATH.
cd "$(dirname "$0")/.."
py=${PYTHON:-python}
[ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ] && py=.venv/bin/python
exec nice -n 19 "$py" tools/train.py --workdir runs/vdsr_long --precision mixed_bfloat16 \
  --init_weights vdsr_tf/weights/vdsr_x234.weights.h5 \
  --optimizer adam --lr 1e-4 --theta 0 --weight_decay 0 --lr_schedule wsd --warmup_steps 500 \
  --steps 1000000 --decay_steps 10000 --random_crop --hr_scales 1,0.7,0.5 \
  --checkpoint_every 250 --keep_checkpoints 2 --val_every 1000 --cache_dir runs/cache "$@"
