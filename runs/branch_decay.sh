#!/usr/bin/env bash
# Decay branch of the open weights run (issue 9): copies the newest checkpoint of
# runs/vdsr_long into runs/branch_d<STEP>/ and resumes that copy with the lr decaying linearly
# to 0 over DECAY_STEPS (default 2000) steps, leaving runs/vdsr_long untouched. Pause the open run
# first (SIGTERM) unless both are meant to share the CPU. Re-running resumes the branch.
# DECAY_STEPS 0 trains nothing: it validates and writes the open run's weight average as it
# stands (a minute). A decay branch ships its decayed weights, not an average (--ema_decay 0).
#   runs/branch_decay.sh [DECAY_STEPS]   ->  runs/branch_d<STEP>/vdsr.weights.h5
set -euo pipefail
cd "$(dirname "$0")/.."
decay=${1:-2000}
src=runs/vdsr_long
ckpt=$(sed -n 's/^model_checkpoint_path: "\(.*\)"$/\1/p' "$src/checkpoints/checkpoint")
[ -n "$ckpt" ] || { echo "branch_decay.sh: no checkpoint in $src/checkpoints" >&2; exit 1; }
step=${ckpt#ckpt-}
dst=runs/branch_d$step
if [ ! -d "$dst" ]; then
  mkdir -p "$dst.tmp/checkpoints"
  cp "$src/config.json" "$src/history.json" "$dst.tmp/"
  cp "$src/checkpoints/$ckpt".* "$dst.tmp/checkpoints/"
  printf 'model_checkpoint_path: "%s"\nall_model_checkpoint_paths: "%s"\n' "$ckpt" "$ckpt" \
    > "$dst.tmp/checkpoints/checkpoint"
  mv "$dst.tmp" "$dst"
fi
if [ ! -f "$dst/checkpoints/checkpoint" ]; then
  echo "branch_decay.sh: $dst has no checkpoint (retired from the tree once its weights were recorded)" >&2
  exit 1
fi
echo "branch_decay.sh: $dst decays from step $step over $decay steps (0: the weight average at $step)"
if [ "$decay" = 0 ]; then
  exec runs/train_long.sh --workdir "$dst" --steps "$step"
fi
exec runs/train_long.sh --workdir "$dst" --steps $((step + decay)) --decay_steps "$decay" --ema_decay 0
