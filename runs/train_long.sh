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
# The run warm-started (step 0, 2026-11-27) from the paper recipe's weights as bundled in 96b586d;
# the bundled file has been replaced since. Resumes never read --init_weights, so they keep the
# path config.json records; a fresh start takes those weights out of history and checks them.
init=vdsr_tf/weights/vdsr_x234.weights.h5
case " $* " in *" --init_weights"*) given=1 ;; *) given= ;; esac
if [ ! -e runs/vdsr_long/checkpoints/checkpoint ] && [ -z "$given" ]; then
  init=runs/cache/vdsr_x234_step9960.weights.h5
  want=9be4634557666f9a0d1608ab9b3a0d4a057a2343c6b53fbe27b48feaf7dbb629
  if [ ! -e "$init" ]; then
    mkdir -p runs/cache
    git show 96b586d:vdsr_tf/weights/vdsr_x234.weights.h5 > "$init.part" 2>/dev/null && mv "$init.part" "$init" \
      || { rm -f "$init.part"; echo "train_long.sh: a fresh start needs the weights of commit 96b586d (a full clone has them), or pass --init_weights FILE"; exit 2; }
  fi
  [ "$(sha256sum "$init" | cut -d' ' -f1)" = "$want" ] \
    || { echo "train_long.sh: $init is not the paper recipe's step-9960 weights (sha256 differs)"; exit 2; }
fi
. runs/yield_session.sh
exec nice -n 19 "$py" tools/train.py --workdir runs/vdsr_long --precision "$PRECISION" \
  --init_weights "$init" \
  --optimizer adam --lr 1e-4 --theta 0 --weight_decay 0 --lr_schedule wsd --warmup_steps 500 \
  --steps 1000000 --decay_steps 10000 --random_crop --hr_scales 1,0.7,0.5 --ema_decay 0.999 \
  --checkpoint_every 250 --keep_checkpoints 2 --val_every 1000 --cache_dir runs/cache "$@"
