#!/usr/bin/env bash
# The JPEG fine-tune's weights as they stand (issue 21): copies the newest checkpoint of
# runs/vdsr_jpeg into runs/jpeg_s<STEP>/ (runs/branch_copy.sh) and has the trainer validate and
# write that copy's weight average, training nothing (a minute or two; runs/vdsr_jpeg is left
# alone and may keep training). Then score and bundle it:
#   runs/snapshot_jpeg.sh                 ->  runs/jpeg_s<STEP>/vdsr.weights.h5
set -euo pipefail
cd "$(dirname "$0")/.."
read -r dst step < <(runs/branch_copy.sh jpeg_s runs/vdsr_jpeg) || exit 1
echo "snapshot_jpeg.sh: the weight average of runs/vdsr_jpeg at step $step -> $dst"
exec runs/train_jpeg.sh --workdir "$dst" --steps "$step"
