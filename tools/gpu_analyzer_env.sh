#!/usr/bin/env bash
# Builds a side venv holding TensorFlow 2.17.1, the last release whose TFLite model analyzer really
# checks GPU-delegate compatibility: 2.18 deprecated the check (tensorflow PR 74830, issue 77042) and
# prints "looks compatible" for any model, and no ai-edge-litert wheel has the old check (its
# analyzer arrived in 1.4.0, already without it). A side venv, so the project's TF 2.21 stays as it
# is; vdsr_tf.export.gpu_analyzer runs this venv's python in a subprocess.
# Usage: tools/gpu_analyzer_env.sh [DIR]; prints DIR/bin/python. Idempotent: a finished DIR is reused.
set -euo pipefail

DIR=${1:-${VDSR_TF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vdsr_tf}/gpu-analyzer}
HERE=$(cd "$(dirname "$0")/.." && pwd)
# tensorflow-cpu: the same analyzer as tensorflow at a third of the download (no CUDA wheels).
PIN=tensorflow-cpu==2.17.1
if [ "$(cat "$DIR/.complete" 2>/dev/null)" = "$PIN" ] && [ -x "$DIR/bin/python" ]; then echo "$DIR/bin/python"; exit 0; fi

# The tools' chatter goes to build.log, so stdout is only the python path and a failure is one
# line on stderr.
STEP="create $DIR"
exec 3>&1 4>&2
trap 'echo "gpu_analyzer_env.sh: step \"$STEP\" failed (log: $DIR/build.log)" >&4' ERR
mkdir -p "$DIR"
exec >"$DIR/build.log" 2>&1

# TensorFlow 2.17 has wheels for CPython 3.9-3.12 only.
STEP="find a CPython 3.9-3.12 (set PYTHON to choose one)"
PY=${PYTHON:-$(command -v python3.11 || command -v python3.12 || command -v python3.10 || command -v python3)}
"$PY" -c 'import sys; assert (3, 9) <= sys.version_info[:2] <= (3, 12), sys.version'

STEP="python -m venv $DIR"
rm -f "$DIR/.complete"
"$PY" -m venv "$DIR"

STEP="pip install $PIN"
"$DIR/bin/python" -m pip install --only-binary=:all: "$PIN"

# Proof that this analyzer checks: a TOPK_V2 model must be flagged and a CONV_2D+ADD one pass.
STEP="canary (TOPK_V2 flagged, CONV_2D+ADD passes)"
"$DIR/bin/python" -I "$HERE/vdsr_tf/export/gpu_analyzer.py" selfcheck

echo "$PIN" >"$DIR/.complete"
echo "$DIR/bin/python" >&3
