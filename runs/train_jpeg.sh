#!/usr/bin/env bash
# The JPEG-robust weights (issue 21): the bundled lossless weights fine-tuned on a mix of
# lossless LR (a quarter of the patches) and LR saved as JPEG at a quality drawn uniformly
# from 20 to 95 for each patch's picture (the whole LR picture compressed, 4:2:0; see
# vdsr_tf.core.degradation), at x2/x3/x4, Adam 1e-4 held constant, with a moving average of the
# weights (the long run's recipe, runs/train_long.sh). Validation: Set5, lossless and q75.
# Re-running resumes from runs/vdsr_jpeg/checkpoints. It takes the CPU ahead of the
# lossless long run until its weights are bundled.
# Start it in the background: setsid nohup runs/train_jpeg.sh >> runs/vdsr_jpeg/train.log 2>&1 < /dev/null &
# Pause it (checkpoint, then stop), in the precision timing too:
#   pkill -TERM -f "runs/train_jpeg.sh$|--workdir runs/vdsr_jpeg "
# Uses $PYTHON, else .venv/bin/python when README's set-up made it, else python on PATH.
cd "$(dirname "$0")/.."
mkdir -p runs/vdsr_jpeg
py=${PYTHON:-python}
[ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ] && py=.venv/bin/python
if [ -z "${PRECISION:-}" ]; then
  PRECISION=$(runs/pick_precision.sh "$py") || { echo "train_jpeg.sh: stopped before training"; exit 143; }
  echo "train_jpeg.sh: training in $PRECISION (the faster of the two on this CPU)"
fi
. runs/yield_session.sh
exec nice -n 19 "$py" tools/train.py --workdir runs/vdsr_jpeg --precision "$PRECISION" \
  --init_weights vdsr_tf/weights/vdsr_x234.weights.h5 --degradation clean:0.25,jpeg:20-95 \
  --optimizer adam --lr 1e-4 --theta 0 --weight_decay 0 --lr_schedule wsd --warmup_steps 200 \
  --steps 1000000 --decay_steps 10000 --random_crop --hr_scales 1,0.7,0.5 --ema_decay 0.999 \
  --checkpoint_every 250 --keep_checkpoints 2 --val_every 1000 --val_degradations jpeg:75 \
  --cache_dir runs/cache "$@"
