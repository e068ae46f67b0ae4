#!/usr/bin/env bash
# The open-ended weights run (issue 9): Adam at a constant lr after a warm-up (a "wsd"
# schedule whose decay is kept out of reach), warm-started from the paper-recipe weights.
# Re-running resumes from runs/vdsr_long/checkpoints. Since step 16274 (session 6) it keeps a
# moving average of its weights (--ema_decay 0.999), which averaging the run's committed
# checkpoints showed to be worth what a 1000-step decay branch was (BUILD_NOTES, "Weight
# averaging"). Weights to bundle: runs/branch_decay.sh 0 (the average as it stands) or
# runs/branch_decay.sh N (an N-step decay of the raw weights).
# Other lrs are probed with runs/branch_lr.sh; lr 2e-4 gained nothing over 1e-4 from step 22378 to
# 25000 (session 7, BUILD_NOTES "Learning-rate probe").
# The JPEG fine-tune (runs/train_jpeg.sh) has the CPU first until its weights are bundled.
# Uses $PYTHON, else .venv/bin/python when README's set-up made it, else python on PATH.
# Start it in the background: setsid nohup runs/train_long.sh >> runs/vdsr_long/train.log 2>&1 < /dev/null &
# Pause it (checkpoint, then stop), in the precision timing too:
#   pkill -TERM -f "runs/train_long.sh$|--workdir runs/vdsr_long "
cd "$(dirname "$0")/.."
py=${PYTHON:-python}
[ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ] && py=.venv/bin/python
if [ -z "${PRECISION:-}" ]; then
  PRECISION=$(runs/pick_precision.sh "$py") || { echo "train_long.sh: stopped before training"; exit 143; }
  echo "train_long.sh: training in $PRECISION (the faster of the two on this CPU)"
fi
exec nice -n 19 "$py" tools/train.py --workdir runs/vdsr_long --precision "$PRECISION" \
  --init_weights vdsr_tf/weights/vdsr_x234.weights.h5 \
  --optimizer adam --lr 1e-4 --theta 0 --weight_decay 0 --lr_schedule wsd --warmup_steps 500 \
  --steps 1000000 --decay_steps 10000 --random_crop --hr_scales 1,0.7,0.5 --ema_decay 0.999 \
  --checkpoint_every 250 --keep_checkpoints 2 --val_every 1000 --cache_dir runs/cache "$@"
