#!/usr/bin/env bash
# Commits a run's newest checkpoint (model, optimizer, step, weight average), its config,
# history, TensorBoard logs and model card, and drops its older checkpoints from the tree. Safe
# while the run trains: it reads the checkpoint index the run last finished writing.
#   runs/commit_checkpoint.sh RUN_DIR "message"
# Then it prints the tree's size: a GPU job carries the tree plus gpu_carry/ (about 29 MB) and
# must stay under 60 MB, so retire the checkpoints of finished runs (BUILD_NOTES, "Keep the
# tree small enough to travel").
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:?usage: runs/commit_checkpoint.sh RUN_DIR MESSAGE}
msg=${2:?usage: runs/commit_checkpoint.sh RUN_DIR MESSAGE}
ck=$(sed -n 's/^model_checkpoint_path: "\(.*\)"$/\1/p' "$run/checkpoints/checkpoint")
[ -n "$ck" ] || { echo "commit_checkpoint.sh: no checkpoint in $run/checkpoints" >&2; exit 1; }
old=$(git ls-files "$run/checkpoints/" | grep -v "/$ck\.\|/checkpoint$" || true)
[ -z "$old" ] || git rm -q --cached $old
files=("$run/checkpoints/checkpoint" "$run/checkpoints/$ck".*)
for f in config.json history.json model_card.json tensorboard; do
    [ -e "$run/$f" ] && files+=("$run/$f")
done
git add -f "${files[@]}"
git commit -qm "$msg ($ck)"
git log --oneline -1
mb=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
echo "tracked tree: $((mb / 1000000)) MB (a GPU job needs it under about 31 MB)"
