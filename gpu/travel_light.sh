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
exclude=$(git rev-parse --git-path info/exclude)  # shared by all worktrees: light one at a time
list=$(git rev-parse --git-path travel_light.list)  # the files set aside, NUL-separated
head_file=$(git rev-parse --git-path travel_light.head)  # the commit they are restored from
begin='# gpu/travel_light.sh: begin'
end='# gpu/travel_light.sh: end'
say() { echo "travel_light.sh: $*"; }
count() { tr -cd '\0' < "$1" | wc -c; }
# The list holds file names, not patterns.
literal() { GIT_LITERAL_PATHSPECS=1 git "$@" --pathspec-from-file="$list" --pathspec-file-nul; }

if [ "${1:-}" = --undo ]; then
    [ -f "$list" ] || { say "the tree is not light ($list is absent); nothing to undo"; exit 0; }
    saved=$(cat "$head_file")
    literal reset -q "$saved"
    [ -f "$exclude" ] && sed -i "\|^$begin\$|,\|^$end\$|d" "$exclude"
    missing=$(comm -23 <(tr '\0' '\n' < "$list" | sort) <(git ls-files | sort) | wc -l)
    [ "$missing" = 0 ] || { say "$missing of the set-aside files are still untracked"; exit 1; }
    if [ "$(git rev-parse HEAD)" != "$saved" ]; then
        say "HEAD moved while the tree was light: the set-aside files are staged again as of ${saved:0:12}; check git status before the next commit"
    fi
    say "restored: $(count "$list") files are tracked again"
    rm -f "$list" "$head_file"
    exit 0
fi
[ $# -eq 0 ] || { say "unknown argument $1 (use no argument, or --undo)" >&2; exit 2; }
[ ! -f "$list" ] || { say "the tree is already light; run gpu/travel_light.sh --undo after the device call" >&2; exit 2; }
changed=$(git diff --cached --name-status HEAD -- "${paths[@]}")
[ -z "$changed" ] || { say "changes are staged here; commit or unstage them first:" >&2; echo "$changed" >&2; exit 2; }
git ls-files -z -- "${paths[@]}" > "$list.part"
n=$(count "$list.part")
[ "$n" -gt 0 ] || { rm -f "$list.part"; say "no committed file to set aside"; exit 0; }
git rev-parse HEAD > "$head_file"
mv "$list.part" "$list"
mkdir -p "$(dirname "$exclude")"
# A last line without its newline would swallow the begin marker.
[ ! -s "$exclude" ] || [ -z "$(tail -c 1 "$exclude")" ] || echo >> "$exclude"
{ echo "$begin"; printf '/%s\n' "${paths[@]}"; echo "$end"; } >> "$exclude"
literal rm -q --cached
left=$(git ls-files -co --exclude-standard -- "${paths[@]}" | wc -l)
[ "$left" = 0 ] || { say "$left files under the set-aside paths would still travel; run --undo" >&2; exit 1; }
travel=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1 || true)
say "$n committed files set aside (still on disk); the tree that travels is $(awk -v b="${travel:-0}" 'BEGIN {printf "%.1f", b / 1e6}') MB"
say "after the device call: gpu/travel_light.sh --undo (commit nothing before it)"
