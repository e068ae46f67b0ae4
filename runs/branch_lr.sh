#!/usr/bin/env bash
# Learning-rate probe of the open weights run (issue 9): copies its newest checkpoint into
# runs/branch_lr<LR>_<STEP>/ (runs/branch_copy.sh) and resumes the copy at constant lr LR, with
# everything else as the open run (Adam state, weight average, data), up to global step UNTIL.
# The open run, resumed afterwards to the same step, is the control: both validate on Set5 at
# the same multiples of 1000 steps (history.json, "ema" = the weight average).
#   runs/branch_lr.sh LR UNTIL   e.g. runs/branch_lr.sh 2e-4 25000
set -euo pipefail
cd "$(dirname "$0")/.."
lr=${1:?usage: runs/branch_lr.sh LR UNTIL}
until_step=${2:?usage: runs/branch_lr.sh LR UNTIL}
read -r dst step < <(runs/branch_copy.sh "branch_lr${lr}_") || exit 1
[ "$until_step" -gt "$step" ] || { echo "branch_lr.sh: UNTIL ($until_step) must be past the checkpoint's step $step" >&2; exit 1; }
echo "branch_lr.sh: $dst trains at lr $lr from step $step to $until_step"
# --decay_steps 0: the open run's 10000-step decay would otherwise start 10000 steps before UNTIL.
exec runs/train_long.sh --workdir "$dst" --steps "$until_step" --lr "$lr" --decay_steps 0
