#!/usr/bin/env bash
# One command that trains VDSR on a GPU machine with JAX and no TensorFlow, Keras or network.
#
#   gpu/gpu_job.sh --max_minutes 8 [--name NAME] [--out DIR] [--carry DIR] [--allow_cpu] \
#       [--no_benchmark] [tools/train.py flags, passed through: --init_weights ... --optimizer adam ...]
#
# Run from a checkout's root with the carry folder made here by gpu/prepare_gpu_job.sh
# (default gpu_carry/: wheels/, train_luma.npz, Set5/). It
#   1. installs the carried wheels (keras, optree, namex) into $SITE (default /tmp/site) with
#      pip --no-index, and sets PYTHONPATH and KERAS_BACKEND=jax;
#   2. prints the interpreter, JAX, Keras and jax.devices(), and stops unless a GPU is visible
#      (--allow_cpu: go on without one, for a rehearsal on a CPU machine);
#   3. times the training step (tools/benchmark.py, jax, float32 and mixed_bfloat16, the run's
#      --batch_size/--depth/--filters, --benchmark_steps 20 after 3 warm-up steps, synthetic
#      data: about half a minute on a GPU) so patches/s shows within the first minute whatever
#      the data preparation takes (--no_benchmark skips it);
#   4. runs tools/train.py --backend jax on the luminance archive for --max_minutes of training,
#      validating on the carried Set5; its progress lines carry patches/s. The job's defaults
#      suit a GPU's hundreds of steps a second (--log_every 500 --checkpoint_every 5000
#      --val_every 5000); flags given to the job come later on the command line and win;
#   5. copies weights, model card (config and time budget in it), history, plot, the step
#      timings (benchmark.json) and the log to the output
#      folder: --out, else $OUT/NAME when $OUT is set (the device tool's folder), else
#      gpu_out/NAME. The run folder itself (checkpoints, cache, TensorBoard) stays in
#      gpu_out/NAME/run unless --workdir says otherwise: the same command again resumes it.
# PYTHON picks the interpreter (default python3). Exit status: train.py's.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
site=${SITE:-/tmp/site}
# shellcheck source=gpu/gpu_env.sh
source "$repo/gpu/gpu_env.sh"

name=gpu_run
max_minutes=
out=
carry=$repo/gpu_carry
workdir=
allow_cpu=0
benchmark=1
benchmark_steps=20
net=()
passthrough=()
while [ $# -gt 0 ]; do
    gpu_take_flag "max_minutes name out carry workdir benchmark_steps" "$@"
    if [ "$gpu_took" -gt 0 ]; then shift "$gpu_took"; continue; fi
    case $1 in
        --allow_cpu) allow_cpu=1 ;;
        --no_benchmark) benchmark=0 ;;
        # The step benchmark times the network and batch the run trains.
        --batch_size=*|--depth=*|--filters=*) v=${1#--}; net+=("--training_${v}"); passthrough+=("$1") ;;
        --batch_size|--depth|--filters) net+=("--training_${1#--}=${2:?$1 needs a value}")
            passthrough+=("$1" "$2"); shift ;;
        --data|--data=*|--val_data|--val_data=*|--backend|--backend=*)
            echo "gpu_job.sh: $1 is set by the job (the carried archive, Set5, jax)" >&2; exit 2 ;;
        *) passthrough+=("$1") ;;
    esac
    shift
done
if ! [[ $max_minutes =~ ^[0-9]+([.][0-9]+)?$ ]] || [ "$max_minutes" = 0 ]; then
    echo "gpu_job.sh: --max_minutes N (minutes of training, > 0) is required, got '${max_minutes}'" >&2
    exit 2
fi
gpu_check_name "$name"
gpu_check_carry "$carry"
gpu_folders "$name" run
log=$out/train.log

# 1-2. The carried wheels installed, KERAS_BACKEND=jax, versions and devices printed, a GPU required.
gpu_setup "$python" "$site" "$carry" "$allow_cpu" "$log"

# 3. Patches/s first, on synthetic data: no wait for the training set's preparation.
if [ "$benchmark" = 1 ]; then
    bcmd=("$python" "$repo/tools/benchmark.py" --sections=training --training_backends=jax
          --training_steps="$benchmark_steps" --training_pipeline_batches=50 ${net[@]+"${net[@]}"}
          --json "$out/benchmark.json")
    echo "[+${SECONDS}s] + ${bcmd[*]}" | tee -a "$log"
    # Each kept line is stamped with the job's elapsed seconds: the first one is the
    # throughput the job promises within its first minute.
    if ! "${bcmd[@]}" 2>&1 | grep --line-buffered "^\[training\]\|rror" \
            | while IFS= read -r line; do echo "[+${SECONDS}s] $line"; done | tee -a "$log"; then
        echo "gpu_job.sh: the step benchmark failed (see above); training anyway" | tee -a "$log"
    fi
fi

# 4. Train; PIPESTATUS keeps train.py's status through tee.
cmd=("$python" "$repo/tools/train.py" --backend jax --data "$carry/train_luma.npz" --val_data "$carry/Set5"
     --workdir "$workdir" --max_minutes "$max_minutes" --log_every 500 --checkpoint_every 5000 --val_every 5000
     ${passthrough[@]+"${passthrough[@]}"})
gpu_run "$log" train.py "${cmd[@]}"

# 5. What the run leaves, next to the log (and benchmark.json).
gpu_collect "$workdir" "$out" vdsr.weights.h5 model_card.json history.json val_psnr.png
echo "in $out: ${gpu_copied[*]:-nothing but the log} train.log" | tee -a "$log"
exit "$gpu_status"
