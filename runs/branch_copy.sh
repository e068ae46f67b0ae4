#!/usr/bin/env bash
# Copies an open run's newest checkpoint (SRC, default runs/vdsr_long) into runs/<PREFIX><STEP>/
# (once; a re-run finds the copy and leaves it) and prints "<dir> <step>". The branch scripts
# (branch_decay.sh, branch_lr.sh) resume that copy with other settings, leaving the open run
# untouched. Pause the open run first (SIGTERM) so that its newest checkpoint is the one copied.
# (snapshot_jpeg.sh copies runs/vdsr_jpeg the same way).
#   runs/branch_copy.sh PREFIX [SRC]
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${1:?usage: runs/branch_copy.sh PREFIX [SRC]}
src=${2:-runs/vdsr_long}
ckpt=$(sed -n 's/^model_checkpoint_path: "\(.*\)"$/\1/p' "$src/checkpoints/checkpoint")
[ -n "$ckpt" ] || { echo "branch_copy.sh: no checkpoint in $src/checkpoints" >&2; exit 1; }
step=${ckpt#ckpt-}
dst=runs/$prefix$step
if [ ! -d "$dst" ]; then
  mkdir -p "$dst.tmp/checkpoints"
  cp "$src/config.json" "$src/history.json" "$dst.tmp/"
  cp "$src/checkpoints/$ckpt".* "$dst.tmp/checkpoints/"
  printf 'model_checkpoint_path: "%s"\nall_model_checkpoint_paths: "%s"\n' "$ckpt" "$ckpt" \
    > "$dst.tmp/checkpoints/checkpoint"
  mv "$dst.tmp" "$dst"
fi
if [ ! -f "$dst/checkpoints/checkpoint" ]; then
  echo "branch_copy.sh: $dst has no checkpoint (retired from the tree once its weights were recorded)" >&2
  exit 1
fi
echo "$dst $step"
