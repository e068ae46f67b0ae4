#!/usr/bin/env bash
# Downloads the wheels a GPU machine without Keras needs (gpu/gpu_wheels.txt: keras, optree,
# namex, pinned by version and sha256) for Python 3.12 on x86-64 Linux into DIR (default
# gpu_carry/wheels, git-ignored), then checks that every requirement of those wheels is either
# among them or installed on the GPU machine (ON_GPU below, from its package list).
#   gpu/make_wheels.sh [DIR]        PYTHON=... picks the interpreter that runs pip (default python3)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$repo/gpu_carry/wheels}
python=${PYTHON:-python3}
# Installed on the GPU machine (.library/device/KINDS.md, "Python packages already there").
ON_GPU="absl-py numpy rich h5py ml-dtypes packaging typing-extensions markdown-it-py pygments mdurl"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wheels.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# --no-deps: pip must not resolve against this machine's Python; the check below does that job.
"$python" -m pip download -q --no-deps --only-binary=:all: --require-hashes \
    --python-version 3.12 --implementation cp --abi cp312 \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -r "$repo/gpu/gpu_wheels.txt" -d "$tmp/wheels" 2> >(grep -v "is neither a file nor a directory" >&2)

"$python" - "$tmp/wheels" "$ON_GPU" <<'PY'
import glob, os, re, sys, zipfile
folder, on_gpu = sys.argv[1], set(sys.argv[2].split())
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
wheels = sorted(glob.glob(os.path.join(folder, "*.whl")))
have = {norm(os.path.basename(w).split("-")[0]) for w in wheels}
missing = []
for w in wheels:
    with zipfile.ZipFile(w) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        for line in z.read(meta).decode().splitlines():
            if line.startswith("Requires-Dist:") and "extra ==" not in line:
                name = norm(re.match(r"Requires-Dist:\s*([A-Za-z0-9_.-]+)", line).group(1))
                if name not in have and name not in on_gpu:
                    missing.append(f"{os.path.basename(w)} needs {name}")
if missing:
    sys.exit("not on the GPU machine and not downloaded: " + "; ".join(sorted(set(missing))))
print(f"{len(wheels)} wheels; every requirement is among them or on the GPU machine")
PY

mkdir -p "$(dirname "$dest")"
rm -rf "$dest.old"
[ -e "$dest" ] && mv "$dest" "$dest.old"
mv "$tmp/wheels" "$dest" && rm -rf "$dest.old"
ls -l "$dest"
du -sb "$dest" | awk '{printf "wheels: %.1f MB in %s\n", $1 / 1e6, $2}'
