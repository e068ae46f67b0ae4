# Sourced (not run) by gpu/gpu_job.sh and gpu/gpu_ablate.sh: the part of a GPU job that
# comes before its work, written once.
#
#   gpu_check_carry CARRY           exit 2, naming the first piece of the carry folder that is missing
#   gpu_setup PYTHON SITE CARRY ALLOW_CPU LOG
#       installs the carried wheels (keras, optree, namex) into SITE with pip --no-index, exports
#       PYTHONPATH (SITE and the checkout) and KERAS_BACKEND=jax, prints the interpreter, JAX, Keras and jax.devices()
#       (also into LOG, which it starts), and exits unless JAX sees a GPU (ALLOW_CPU=1: go on,
#       for a rehearsal on a CPU machine).
#   gpu_take_flag "NAME ..." ARGS...
#       when ARGS starts with --NAME VALUE or --NAME=VALUE for one of the NAMEs, sets the shell
#       variable NAME to VALUE and gpu_took to the number of arguments used (1 or 2); else
#       gpu_took=0. A --NAME with no value after it exits 2 naming it.
#   gpu_check_name NAME              exit 2 unless NAME is safe as a folder name
#   gpu_folders NAME KIND            defaults the caller's $out ($OUT/NAME when $OUT is set, else
#                                    gpu_out/NAME) and $workdir (gpu_out/NAME/KIND), makes both
#   gpu_run LOG WHAT CMD...          runs CMD, its output also appended to LOG, stamped with the job's
#                                    elapsed seconds; sets gpu_status to CMD's exit status
#   gpu_collect FROM TO FILE...      copies each FROM/FILE that exists to TO/FILE (a temporary name,
#                                    then renamed); sets gpu_copied to those copied

gpu_take_flag() {
    local names=" $1 " arg=$2 key
    gpu_took=0
    key=${arg%%=*}
    key=${key#--}
    [ "${arg:0:2}" = "--" ] && [[ $names == *" $key "* ]] || return 0
    if [[ $arg == *=* ]]; then
        printf -v "$key" '%s' "${arg#*=}"
        gpu_took=1
    elif [ $# -ge 3 ]; then
        printf -v "$key" '%s' "$3"
        gpu_took=2
    else
        echo "$(basename "$0"): $arg needs a value" >&2
        exit 2
    fi
}

gpu_check_name() {
    if ! [[ $1 =~ ^[A-Za-z0-9._-]+$ ]]; then
        echo "$(basename "$0"): --name may hold letters, digits, '.', '_' and '-' only, got '$1'" >&2
        exit 2
    fi
}

gpu_check_carry() {
    local need
    for need in "$1/train_luma.npz" "$1/Set5" "$1/wheels"; do
        if [ ! -e "$need" ]; then
            echo "$(basename "$0"): $need is missing: make the carry folder with gpu/prepare_gpu_job.sh" >&2
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

gpu_folders() {
    if [ -z "$out" ]; then
        if [ -n "${OUT:-}" ]; then out=$OUT/$1; else out=$repo/gpu_out/$1; fi
    fi
    workdir=${workdir:-$repo/gpu_out/$1/$2}
    mkdir -p "$out" "$workdir"
}

gpu_run() {
    local log=$1 what=$2
    shift 2
    echo "[+${SECONDS}s] + $*" | tee -a "$log"
    set +e
    "$@" 2>&1 | tee -a "$log"
    gpu_status=${PIPESTATUS[0]}
    set -e
    echo "[+${SECONDS}s] $what exit status $gpu_status" | tee -a "$log"
}

gpu_collect() {
    local from=$1 to=$2 f
    shift 2
    gpu_copied=()
    for f in "$@"; do
        [ -f "$from/$f" ] || continue
        mkdir -p "$(dirname "$to/$f")"
        cp "$from/$f" "$to/$f.tmp" && mv "$to/$f.tmp" "$to/$f" && gpu_copied+=("$f")
    done
}
