#!/usr/bin/env bash
# Builds the carry folder for gpu/gpu_job.sh, here (with network and TensorFlow):
#   gpu_carry/wheels/          gpu/make_wheels.sh: keras, optree, namex for Python 3.12 x86-64
#   gpu_carry/train_luma.npz   tools/make_luma_archive.py of the training images
#   gpu_carry/Set5/            a copy of the validation set
# then prints its size and checks that it and what else travels (tracked and untracked,
# not ignored files) stay under 60 MB. The committed tree alone is over that: run
# gpu/travel_light.sh first, and gpu/travel_light.sh --undo after the device call.
#   gpu/prepare_gpu_job.sh [--data DIR[,DIR]] [--val DIR] [--carry DIR]
# Defaults: ../shared/data/train, ../shared/data/benchmark/Set5, gpu_carry (git-ignored).
# PYTHON: an interpreter with vdsr_tf's needs (default python3); the archive is rebuilt only
# when missing or older than its images' folders (pass --rebuild to force).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
data=$repo/../shared/data/train
val=$repo/../shared/data/benchmark/Set5
carry=$repo/gpu_carry
rebuild=0
while [ $# -gt 0 ]; do
    case $1 in
        --data) data=${2:?}; shift ;; --data=*) data=${1#*=} ;;
        --val) val=${2:?}; shift ;; --val=*) val=${1#*=} ;;
        --carry) carry=${2:?}; shift ;; --carry=*) carry=${1#*=} ;;
        --rebuild) rebuild=1 ;;
        *) echo "prepare_gpu_job.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[ -d "$val" ] || { echo "prepare_gpu_job.sh: validation folder $val does not exist" >&2; exit 2; }
mkdir -p "$carry"

PYTHON=$python "$repo/gpu/make_wheels.sh" "$carry/wheels"

archive=$carry/train_luma.npz
newer=$(find ${data//,/ } -newer "$archive" -print -quit 2>/dev/null || true)
if [ "$rebuild" = 1 ] || [ ! -f "$archive" ] || [ -n "$newer" ]; then
    PYTHONPATH=$repo${PYTHONPATH:+:$PYTHONPATH} "$python" "$repo/tools/make_luma_archive.py" --data "$data" --out "$archive"
else
    echo "kept $archive (newer than $data)"
fi

rm -rf "$carry/Set5.tmp" && cp -r "$val" "$carry/Set5.tmp" && chmod -R u+w "$carry/Set5.tmp"
rm -rf "$carry/Set5" && mv "$carry/Set5.tmp" "$carry/Set5"

cd "$repo"
carry_b=$(du -sb "$carry" | cut -f1)
tree_b=$(git ls-files -co --exclude-standard -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
total=$((carry_b + tree_b))
mb() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1e6}'; }
printf 'carry folder %s: %s MB (wheels %s, archive %s, Set5 %s)\n' "$carry" "$(mb "$carry_b")" \
    "$(mb "$(du -sb "$carry/wheels" | cut -f1)")" "$(mb "$(du -b "$archive" | cut -f1)")" \
    "$(mb "$(du -sb "$carry/Set5" | cut -f1)")"
printf 'tree (tracked + untracked, not ignored): %s MB; with the carry folder: %s MB (limit 60)\n' \
    "$(mb "$tree_b")" "$(mb "$total")"
if [ "$total" -ge 60000000 ]; then
    echo "prepare_gpu_job.sh: tree plus carry folder is over 60 MB: it would not travel (gpu/travel_light.sh sets the exports and checkpoints aside)" >&2
    exit 1
fi
echo "on the GPU machine, from the repo root (carry: gpu_carry): gpu/gpu_job.sh --max_minutes N [train.py flags]"
