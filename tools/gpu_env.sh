# Sourced (not run) by tools/gpu_job.sh and tools/gpu_ablate.sh: the part of a GPU job that
# comes before its work, written once.
#
#   gpu_check_carry CARRY           exit 2, naming the first piece of the carry folder that is missing
#   gpu_setup PYTHON SITE CARRY ALLOW_CPU LOG
#       installs the carried wheels (keras, optree, namex) into SITE with pip --no-index, exports
#       PYTHONPATH (SITE and the checkout) and KERAS_BACKEND=jax, prints the interpreter, JAX, Keras and jax.devices()
#       (also into LOG, which it starts), and exits unless JAX sees a GPU (ALLOW_CPU=1: go on,
#       for a rehearsal on a CPU machine).

gpu_check_carry() {
    local need
    for need in "$1/train_luma.npz" "$1/Set5" "$1/wheels"; do
        if [ ! -e "$need" ]; then
            echo "$(basename "$0"): $need is missing: make the carry folder with tools/prepare_gpu_job.sh" >&2
            exit 2
        fi
    done
}

gpu_setup() {
    local python=$1 site=$2 carry=$3 allow_cpu=$4 log=$5
    # Keras and its missing needs, from the carried wheels only.
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$site" "$carry"/wheels/*.whl
    # The checkout itself too: vdsr_tf is not installed there.
    export PYTHONPATH=$site:$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)${PYTHONPATH:+:$PYTHONPATH}
    export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
    # What runs, and on which device (pipefail: a missing GPU stops the caller).
    "$python" - "$allow_cpu" "$(basename "$0")" <<'PY' 2>&1 | tee "$log"
import platform, sys
import jax, keras
devices = jax.devices()
print(f"python {platform.python_version()}  jax {jax.__version__}  keras {keras.__version__} "
      f"(backend {keras.backend.backend()})")
print(f"jax.devices(): {devices}")
if not any(d.platform == "gpu" for d in devices) and sys.argv[1] != "1":
    sys.exit(f"{sys.argv[2]}: JAX sees no GPU (pass --allow_cpu to run on the CPU anyway)")
PY
}
