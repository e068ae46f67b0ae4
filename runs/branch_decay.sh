#!/usr/bin/env bash
# Decay branch of the open weights run (issue 9): copies the newest checkpoint of
# runs/vdsr_long into runs/branch_d<STEP>/ (runs/branch_copy.sh) and resumes that copy with the
# lr decaying linearly to 0 over DECAY_STEPS (default 2000) steps, leaving runs/vdsr_long
# untouched. Pause the open run first (SIGTERM) unless both are meant to share the CPU.
# Re-running resumes the branch.
# DECAY_STEPS 0 trains nothing: it validates and writes the open run's weight average as it
# stands (a minute). A decay branch ships its decayed weights, not an average (--ema_decay 0).
#   runs/branch_decay.sh [DECAY_STEPS]   ->  runs/branch_d<STEP>/vdsr.weights.h5
set -euo pipefail
cd "$(dirname "$0")/.."
decay=${1:-2000}
keep=${2:-}
[ -z "$keep" ] || [ "$keep" = average ] || { echo "branch_decay.sh: second argument must be 'average', got '$keep'" >&2; exit 2; }
prefix=branch_d; ema=(--ema_decay 0)
[ "$keep" = average ] && { prefix=branch_da; ema=(); }
read -r dst step < <(runs/branch_copy.sh "$prefix") || exit 1
echo "branch_decay.sh: $dst decays from step $step over $decay steps (0: the weight average at $step)"
if [ "$decay" = 0 ]; then
  exec runs/train_long.sh --workdir "$dst" --steps "$step"
fi
exec runs/train_long.sh --workdir "$dst" --steps $((step + decay)) --decay_steps "$decay" "${ema[@]}"
