#!/usr/bin/env bash
# Makes the checkout small enough for the device tool to send to a GPU machine, and back.
#
#   gpu/travel_light.sh          before the device call
#   gpu/travel_light.sh --undo   right after it (before anything is committed)
#
# The device tool sends the checkout's tracked files and its untracked files that git does not
# ignore, 64 MiB at most with the carried gpu_carry/. The committed exports, the TFLite twins of
# the bundled weights and the runs' checkpoints and TensorBoard logs are most of the tree (76 MB
# on 2026-12-07) and the GPU job reads none of them. This script takes those files out of git's
# index and has .git/info/exclude ignore them, so they stop travelling; they stay on disk,
# untouched. --undo puts them back in the index from HEAD and drops the exclude lines.
# It refuses when a change under those paths is staged, so that --undo gives back exactly the
# index there was (changes on disk alone, like a run's rotated checkpoint, are never touched).
# While the tree is light, `git status` shows those files as deleted: commit nothing until
# --undo has run.
set -euo pipefail
cd "$(dirname "$0")/.."
paths=(exports 'vdsr_tf/weights/*.tflite' 'runs/*/checkpoints/*' 'runs/*/tensorboard/*')
exclude=$(git rev-parse --git-path info/exclude)
list=$(git rev-parse --git-path travel_light.list)  # the files set aside, NUL-separated
begin='# gpu/travel_light.sh: begin'
end='# gpu/travel_light.sh: end'
say() { echo "travel_light.sh: $*"; }

if [ "${1:-}" = --undo ]; then
    [ -f "$list" ] || { say "the tree is not light ($list is absent); nothing to undo"; exit 0; }
    git reset -q HEAD --pathspec-from-file="$list" --pathspec-file-nul
    [ -f "$exclude" ] && sed -i "\|^$begin\$|,\|^$end\$|d" "$exclude"
    changed=$(git diff --cached --name-status HEAD -- "${paths[@]}")
    [ -z "$changed" ] || { say "after --undo the index still differs from HEAD here:"; echo "$changed"; exit 1; }
    say "restored: $(tr -cd '\0' < "$list" | wc -c) files are tracked again"
    rm -f "$list"
    exit 0
fi
[ $# -eq 0 ] || { say "unknown argument $1 (use no argument, or --undo)" >&2; exit 2; }
[ ! -f "$list" ] || { say "the tree is already light; run gpu/travel_light.sh --undo after the device call" >&2; exit 2; }
changed=$(git diff --cached --name-status HEAD -- "${paths[@]}")
[ -z "$changed" ] || { say "changes are staged here; commit or unstage them first:" >&2; echo "$changed" >&2; exit 2; }
git ls-files -z -- "${paths[@]}" > "$list.part" && mv "$list.part" "$list"
n=$(tr -cd '\0' < "$list" | wc -c)
mkdir -p "$(dirname "$exclude")"
{ echo "$begin"; printf '/%s\n' "${paths[@]}"; echo "$end"; } >> "$exclude"
git rm -q --cached --pathspec-from-file="$list" --pathspec-file-nul
left=$(git ls-files -co --exclude-standard -- "${paths[@]}" | wc -l)
[ "$left" = 0 ] || { say "$left files under the set-aside paths would still travel; run --undo" >&2; exit 1; }
travel=$(git ls-files -co --exclude-standard -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
say "$n committed files set aside (still on disk); the tree that travels is $(awk -v b="$travel" 'BEGIN {printf "%.1f", b / 1e6}') MB"
say "after the device call: gpu/travel_light.sh --undo"
