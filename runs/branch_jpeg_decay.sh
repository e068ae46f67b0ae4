#!/usr/bin/env bash
# The JPEG fine-tune's decay phase (issue 21): its validation on q75 has been flat at constant lr
# since step 7000, so the steps left before the issue's exit point (2,000,000 patch passes =
# step 31250 at batch 64) are spent decaying the lr linearly to 0 instead of at constant lr.
# Copies the newest checkpoint of runs/vdsr_jpeg into runs/jpeg_d<STEP>/ (runs/branch_copy.sh)
# and resumes that copy with --steps END --decay_steps END-STEP, keeping the weight average.
# runs/vdsr_jpeg is left as it stands. Pause it first (SIGTERM). Re-running resumes the branch.
#   runs/branch_jpeg_decay.sh [END]      ->  runs/jpeg_d<STEP>/vdsr.weights.h5 at step END
set -euo pipefail
cd "$(dirname "$0")/.."
end=${1:-31250}
read -r dst step < <(runs/branch_copy.sh jpeg_d runs/vdsr_jpeg) || exit 1
[ "$end" -gt "$step" ] || { echo "branch_jpeg_decay.sh: END $end is not after step $step" >&2; exit 1; }
echo "branch_jpeg_decay.sh: $dst decays the lr from step $step to 0 at step $end"
exec runs/train_jpeg.sh --workdir "$dst" --steps "$end" --decay_steps $((end - step))
