#!/usr/bin/env bash
# Builds an aarch64 CPython 3.11 + numpy + ai-edge-litert folder that qemu-aarch64 runs on x86,
# so vdsr_tf.export.arm64 can check TFLite outputs with the ARM XNNPACK kernels phones use.
# Usage: tools/arm64_sysroot.sh [DIR]; prints DIR. Needs root (apt-get) only if qemu-user is missing.
set -euo pipefail

DIR=${1:-${VDSR_TF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vdsr_tf}/arm64}
HERE=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$HERE/.venv/bin/python}
[ -x "$PY" ] || PY=python3
if [ -f "$DIR/.complete" ] && command -v qemu-aarch64 >/dev/null; then echo "$DIR"; exit 0; fi

# The tools' chatter goes to build.log, so stdout is only DIR and a failure is one line on stderr.
LOG=
STEP="create $DIR"
exec 3>&1 4>&2
trap 'echo "arm64_sysroot.sh: step \"$STEP\" failed${LOG:+ (log: $LOG)}" >&4' ERR
mkdir -p "$DIR" 2>/dev/null
LOG=$DIR/build.log
exec >"$LOG" 2>&1

STEP="install qemu-user"
command -v qemu-aarch64 || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y qemu-user; }
[ -f "$DIR/.complete" ] && { echo "$DIR" >&3; exit 0; }

# A private apt state, so the host never gets the arm64 architecture (dpkg --add-architecture
# would make every later amd64 apt-get update fetch arm64 lists, and multiarch version skew can
# block upgrades); the empty status file makes apt resolve the full dependency closure.
STEP="apt-get update (arm64 lists)"
APT=$(mktemp -d); trap 'rm -rf "$APT"' EXIT
mkdir -p "$APT/lists/partial" "$APT/archives/partial" "$APT/parts"; : >"$APT/status"
cat >"$APT/apt.conf" <<EOF
APT::Architecture "arm64"; APT::Architectures { "arm64"; }; APT::Install-Recommends "false";
Dir::State::Lists "$APT/lists"; Dir::State::status "$APT/status"; Dir::Etc::Parts "$APT/parts";
Dir::Cache "$APT"; Dir::Cache::archives "$APT/archives";
EOF
export APT_CONFIG=$APT/apt.conf
apt-get update

STEP="download arm64 .debs"
apt-get install --download-only -y python3.11-minimal libpython3.11-stdlib libstdc++6

# dpkg -x, not dpkg -i: no maintainer scripts run, so nothing executes and no arm64 dpkg database.
STEP="unpack .debs"
rm -rf "$DIR/root" "$DIR/site"
for deb in "$APT"/archives/*.deb; do dpkg -x "$deb" "$DIR/root"; done

# The same versions as the host venv, so an ARM/x86 difference is the kernels, not the release.
STEP="pip install aarch64 wheels"
pins=$("$PY" -c 'import importlib.metadata as m
for p in ("numpy", "ai-edge-litert"):
    try: print(f"{p}=={m.version(p)}")
    except m.PackageNotFoundError: print(p)')
# shellcheck disable=SC2086
"$PY" -m pip install --target "$DIR/site" --only-binary=:all: --python-version 3.11 --implementation cp \
  --abi cp311 --platform manylinux_2_27_aarch64 --platform manylinux_2_28_aarch64 \
  --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 $pins

STEP="smoke test under qemu-aarch64"
PYTHONPATH="$DIR/site" qemu-aarch64 -L "$DIR/root" "$DIR/root/usr/bin/python3.11" -s -c \
  'import platform, numpy; from ai_edge_litert.interpreter import Interpreter; assert platform.machine() == "aarch64"'

printf '%s\n' "$pins" >"$DIR/.complete"
echo "$DIR" >&3
