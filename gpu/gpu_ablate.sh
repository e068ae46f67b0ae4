#!/usr/bin/env bash
# One of the paper's analyses (tools/ablate.py) on a GPU machine with JAX and no TensorFlow,
# Keras or network: the setup of gpu/gpu_job.sh (gpu/gpu_env.sh), then the study.
#
#   gpu/gpu_ablate.sh --study residual|depth|scales --budget PATCH_PASSES [--name NAME] [--out DIR] \
#       [--carry DIR] [--workdir DIR] [--allow_cpu] [tools/ablate.py flags, passed through:
#       --depth 10 --filters 32 --only plain_lr0.1 --precision float32 --batch_size ...]
#
# Run from a checkout's root with the carry folder made by gpu/prepare_gpu_job.sh (default
# gpu_carry/). It installs the carried wheels and checks for a GPU (--allow_cpu: go on without
# one), then runs tools/ablate.py --backend jax with the archive as training data and the Set5
# copy as validation and evaluation data, every cell for --budget patch passes. The study's
# folder (cells' checkpoints, cache) is --workdir, default gpu_out/NAME/study: the same command
# again resumes it (finished cells are skipped). At the end results.json, <study>.md (the table),
# <study>.png (the plot), each cell's model_card.json (and history.json where the cell
# validated: the residual study) and the log are copied to --out, else $OUT/NAME when $OUT is
# set (the device tool's folder), else gpu_out/NAME.
# NAME defaults to study_<study>. PYTHON picks the interpreter (default python3).
# Exit status: ablate.py's (130: stopped by a signal; run the same command again).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
site=${SITE:-/tmp/site}
# shellcheck source=gpu/gpu_env.sh
source "$repo/gpu/gpu_env.sh"

study=
budget=
name=
out=
carry=$repo/gpu_carry
workdir=
allow_cpu=0
passthrough=()
while [ $# -gt 0 ]; do
    gpu_take_flag "study budget name out carry workdir" "$@"
    if [ "$gpu_took" -gt 0 ]; then shift "$gpu_took"; continue; fi
    case $1 in
        --allow_cpu) allow_cpu=1 ;;
        --data|--data=*|--eval_data|--eval_data=*|--val_data|--val_data=*|--backend|--backend=*)
            echo "gpu_ablate.sh: $1 is set by the job (the carried archive, Set5, jax)" >&2; exit 2 ;;
        *) passthrough+=("$1") ;;
    esac
    shift
done
case $study in
    residual|depth|scales) ;;
    *) echo "gpu_ablate.sh: --study residual|depth|scales is required, got '${study}'" >&2; exit 2 ;;
esac
if ! [[ $budget =~ ^[1-9][0-9]*$ ]]; then
    echo "gpu_ablate.sh: --budget PATCH_PASSES (a whole number > 0) is required, got '${budget}'" >&2
    exit 2
fi
name=${name:-study_$study}
gpu_check_name "$name"
gpu_check_carry "$carry"
gpu_folders "$name" study
log=$out/ablate.log

gpu_setup "$python" "$site" "$carry" "$allow_cpu" "$log"

# The job's defaults suit a GPU's hundreds of steps a second; flags given to the job come later and win.
cmd=("$python" "$repo/tools/ablate.py" --backend jax --study "$study" --budget "$budget" --out "$workdir"
     --data "$carry/train_luma.npz" --eval_data "$carry/Set5" --val_data "$carry/Set5"
     --log_every 500 --checkpoint_every 5000 ${passthrough[@]+"${passthrough[@]}"})
gpu_run "$log" ablate.py "${cmd[@]}"

# What the study leaves, next to the log.
files=(results.json "$study.md" "$study.png")
for src in "$workdir"/cells/*/model_card.json "$workdir"/cells/*/history.json; do
    files+=("${src#"$workdir"/}")
done
gpu_collect "$workdir" "$out" "${files[@]}"
echo "in $out: ${gpu_copied[*]:-nothing but the log} ablate.log" | tee -a "$log"
exit "$gpu_status"
