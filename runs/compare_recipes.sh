#!/usr/bin/env bash
# Issue 9's short recipe comparison: equal patch budgets (300 steps x 64 = 19.2k patch passes),
# each warm-started from the bundled paper-recipe weights, each with its own short decay so the
# end point is comparable; Set5 validation at 150 and 300. Re-running resumes/skips finished runs.
cd "$(dirname "$0")/.."
py=${PYTHON:-python}
[ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ] && py=.venv/bin/python
common=(--precision mixed_bfloat16 --init_weights vdsr_tf/weights/vdsr_x234.weights.h5
  --lr_schedule wsd --warmup_steps 50 --steps 300 --decay_steps 100 --random_crop --hr_scales 1,0.7,0.5
  --checkpoint_every 50 --keep_checkpoints 1 --val_every 150 --cache_dir runs/cache)
run() { name=$1; shift; nice -n 19 "$py" tools/train.py --workdir "runs/cmp/$name" "${common[@]}" "$@"; }
run adam_1e-4 --optimizer adam --lr 1e-4 --theta 0 --weight_decay 0
run adam_3e-5 --optimizer adam --lr 3e-5 --theta 0 --weight_decay 0
run sgd_1e-3 --optimizer sgd --lr 1e-3 --theta 1e-4 --weight_decay 1e-4
