"""Runs TFLite files with the aarch64 build of LiteRT, under qemu-user emulation on x86.

Why: the phones these exports are for run ARM, and XNNPACK (LiteRT's CPU delegate for float
and int8 convolutions) has separate hand-written kernels per ISA: NEON, dot-product and
fp16 micro-kernels on ARM, AVX2/AVX-512 ones on x86, with their own tiling, accumulation
order and requantisation. Parity measured with x86 LiteRT therefore says nothing about the
code a phone executes. qemu-aarch64 runs the real aarch64 wheel (with aarch64 CPython and
numpy) instruction by instruction: it checks correctness, not speed (a 64x64 float32 VDSR run
takes about 40 s, against 0.08 s natively).

``tools/arm64_sysroot.sh`` builds the folder this needs; :func:`arm64_root` finds it. The
emulated process reports ``platform.machine()``, kept on the result as ``.machine``, so a
passing comparison proves ARM code produced the outputs.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["DEFAULT_CPU", "Arm64Outputs", "arm64_root", "default_root", "run_tflite_arm64"]

PYTHON = "root/usr/bin/python3.11"
SITE = "site"
DEFAULT_CPU = "max,sme=off"
_MARKER = ".complete"  # written by tools/arm64_sysroot.sh as its last step

# MIDR fields (implementer, variant, part, revision) of qemu-aarch64's CPU models, as a real core
# of that kind shows them in /proc/cpuinfo; "max" is qemu's own (implementer 0, part 'Q').
_MIDR = {
    "cortex-a35": (0x41, 0x0, 0xD04, 0), "cortex-a53": (0x41, 0x0, 0xD03, 4),
    "cortex-a55": (0x41, 0x1, 0xD05, 0), "cortex-a57": (0x41, 0x1, 0xD07, 0),
    "cortex-a72": (0x41, 0x0, 0xD08, 3), "cortex-a76": (0x41, 0x4, 0xD0B, 1),
    "neoverse-n1": (0x41, 0x4, 0xD0C, 1), "a64fx": (0x46, 0x1, 0x001, 0), "max": (0x00, 0x0, 0x051, 0),
}

# Runs inside the emulated interpreter: numpy and LiteRT only, so it needs nothing from vdsr_tf.
_RUNNER = r"""
import platform, sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter

machine = platform.machine()
if machine != "aarch64":
    sys.exit(f"expected an aarch64 interpreter, this one runs on {machine}")
src, dst, model, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
data = np.load(src)
runs, n_in = int(data["runs"]), int(data["inputs"])
it = Interpreter(model_path=model, num_threads=threads)
details = it.get_input_details()
if len(details) != n_in:
    sys.exit(f"the model has {len(details)} inputs, each run gives {n_in}")
out_index = it.get_output_details()[0]["index"]
shapes, result = None, {"machine": np.array(machine)}
for r in range(runs):
    xs = [data[f"r{r}_i{i}"] for i in range(n_in)]
    if shapes != [x.shape for x in xs]:
        for d, x in zip(details, xs):
            if -1 in list(d["shape_signature"]):
                it.resize_tensor_input(d["index"], list(x.shape))
        it.allocate_tensors()
        shapes = [x.shape for x in xs]
    for d, x in zip(details, xs):
        it.set_tensor(d["index"], x)
    it.invoke()
    result[f"r{r}"] = it.get_tensor(out_index)
np.savez(dst, **result)
"""


class Arm64Outputs(list):
    """The first output of each run, in input order, plus what ran them: ``machine`` (as the
    emulated ``platform.machine()`` reported it: always ``'aarch64'``) and ``seconds`` (wall
    time of the emulated process, start-up included)."""

    machine: str
    seconds: float


def default_root() -> Path:
    """``arm64/`` in the user's cache folder (:func:`vdsr_tf.core.cachedir.cache_dir`)."""
    from vdsr_tf.core.cachedir import cache_dir

    return cache_dir() / "arm64"


def arm64_root(path: str | os.PathLike | None = None) -> Path | None:
    """The folder ``tools/arm64_sysroot.sh`` built (``path``, else :func:`default_root`) if it is
    complete and ``qemu-aarch64`` is on PATH, else None."""
    root = Path(path) if path is not None else default_root()
    needed = [_MARKER, PYTHON, f"{SITE}/numpy", f"{SITE}/ai_edge_litert"]
    if shutil.which("qemu-aarch64") is None or not all((root / p).exists() for p in needed):
        return None
    return root


def run_tflite_arm64(model_path: str | os.PathLike, inputs: Sequence, *, num_threads: int = 1,
                     root: str | os.PathLike | None = None, cpu: str = DEFAULT_CPU,
                     timeout: float | None = 1800) -> Arm64Outputs:
    """Runs ``model_path`` with aarch64 LiteRT once per item of ``inputs`` and returns each run's
    first output.

    Each item is the list of input arrays in the model's input order, or one array for a
    one-input model; arrays go in as they are (dtype included). Inputs whose
    ``shape_signature`` has -1 are resized to the arrays' shapes. ``cpu`` names the emulated
    core (``qemu-aarch64 -cpu help``: e.g. ``cortex-a53`` has no dot-product instructions, so
    XNNPACK picks other int8 kernels). The default, ``max,sme=off``, is every extension qemu
    knows but SME, which qemu 7.2 (Debian 12) miscomputes: under its plain ``max`` the int8
    VDSR export differed from x86 by up to 0.57, with ``sme=off`` or under qemu 10 by 0. Runs with
    different ``cpu`` must not overlap on one folder: each writes its ``root/proc/cpuinfo``.
    Raises RuntimeError, in one line, when the folder is not complete or the emulated run fails.
    """
    found = arm64_root(root)
    if found is None:
        where = Path(root) if root is not None else default_root()
        raise RuntimeError(f"no complete aarch64 LiteRT folder at {where} (or qemu-aarch64 not on PATH): "
                           f"build it with tools/arm64_sysroot.sh {where}")
    model = Path(model_path).resolve()
    if not model.is_file():
        raise RuntimeError(f"no TFLite file at {model}")
    runs = [[np.asarray(x) for x in item] if isinstance(item, (list, tuple)) else [np.asarray(item)]
            for item in inputs]
    if not runs or len({len(r) for r in runs}) != 1:
        raise ValueError("inputs must hold at least one run, each with the same number of arrays")

    with tempfile.TemporaryDirectory(prefix="vdsr_arm64_") as tmp:
        src, dst, script = Path(tmp) / "in.npz", Path(tmp) / "out.npz", Path(tmp) / "runner.py"
        arrays = {f"r{r}_i{i}": x for r, xs in enumerate(runs) for i, x in enumerate(xs)}
        np.savez(src, runs=len(runs), inputs=len(runs[0]), **arrays)
        script.write_text(_RUNNER)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "QEMU_", "LD_"))}
        env.update(PYTHONPATH=str(found / SITE), PYTHONNOUSERSITE="1")
        env["QEMU_CPU"] = cpu
        cmd = ["qemu-aarch64", "-L", str(found / "root"), str(found / PYTHON), "-s", str(script),
               str(src), str(dst), str(model), str(int(num_threads))]
        _write_cpuinfo(found, cpu)
        start = time.perf_counter()
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"aarch64 LiteRT on {model.name}: no result within {timeout} s") from None
        seconds = time.perf_counter() - start
        if done.returncode != 0 or not dst.is_file():
            lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
            last = lines[-1].strip() if lines else f"exit status {done.returncode}, no stderr"
            raise RuntimeError(f"aarch64 LiteRT on {model.name} failed: {last}")
        with np.load(dst) as out:
            return _outputs([out[f"r{r}"] for r in range(len(runs))], str(out["machine"]), seconds)


def _write_cpuinfo(root: Path, cpu: str) -> None:
    """qemu-user (7.2, Debian 12) hands the guest the host's x86 /proc/cpuinfo; the cpuinfo library
    in LiteRT (XNNPACK, ruy) finds no ARM processor there and crashes (SIGSEGV in allocate_tensors
    or invoke). qemu looks every absolute path up under its -L folder first, so root/proc/cpuinfo
    stands in. cpuinfo takes the ISA extensions from the auxiliary vector, which qemu fills from
    the emulated model; the file gives it the core (MIDR), by which XNNPACK picks tuned kernels."""
    impl, variant, part, rev = _MIDR.get(cpu.split(",")[0], _MIDR["max"])
    block = (f"BogoMIPS\t: 50.00\nCPU implementer\t: 0x{impl:02x}\nCPU architecture: 8\n"
             f"CPU variant\t: 0x{variant:x}\nCPU part\t: 0x{part:03x}\nCPU revision\t: {rev}\n\n")
    text = "".join(f"processor\t: {i}\n{block}" for i in range(os.cpu_count() or 1))
    path = root / "root" / "proc" / "cpuinfo"
    if path.is_file() and path.read_text() == text:
        return
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name(f"cpuinfo.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _outputs(arrays: list[np.ndarray], machine: str, seconds: float) -> Arm64Outputs:
    result = Arm64Outputs(arrays)
    result.machine, result.seconds = machine, seconds
    return result


# ---------------------------------------------------------------------------- export parity

CROP = 64
"""Side of the crops the dynamic models run on under emulation (about 40 s for float32)."""
DYNAMIC_CPUS = (DEFAULT_CPU, "cortex-a76")
"""Emulated cores for the dynamic models: every extension, and a phone core of 2018 on (dot product,
fp16), whose int8 kernels differ. The tile models (16x the pixels) run on the first only."""


def _x86(path: Path, runs: list[list[np.ndarray]]) -> list[np.ndarray]:
    """The same runs with this machine's LiteRT, fed exactly as the emulated runner feeds them."""
    from ai_edge_litert.interpreter import Interpreter

    from vdsr_tf.nn.quiet import stderr_silenced

    it = Interpreter(model_path=str(path), num_threads=1)
    details, out_index = it.get_input_details(), it.get_output_details()[0]["index"]
    outputs = []
    for xs in runs:
        for d, x in zip(details, xs):
            if -1 in list(d["shape_signature"]):
                it.resize_tensor_input(d["index"], list(x.shape))
        with stderr_silenced():
            it.allocate_tensors()
        for d, x in zip(details, xs):
            it.set_tensor(d["index"], x)
        it.invoke()
        outputs.append(it.get_tensor(out_index).copy())
    return outputs


def _runs(art: dict, path: Path, images) -> tuple[list[list[np.ndarray]], list[tuple[np.ndarray, int]]]:
    """The inputs of one file (in its input order) and the HR luminance each output is scored on:
    a centre crop of the first picture at each scale; a tile model gets one full tile at x2."""
    from ai_edge_litert.interpreter import Interpreter

    from vdsr_tf.core import matlab

    tile = art.get("tile")
    firsts = {}
    for s, _, hr, lr in images:
        firsts.setdefault(s, (hr, lr))
    chosen = sorted(firsts.items())[:1] if tile else sorted(firsts.items())
    names = [d["name"] for d in Interpreter(model_path=str(path)).get_input_details()]
    runs, truths = [], []
    for s, (hr, lr) in chosen:
        x = matlab.imresize(matlab.rgb2ycbcr(np.asarray(lr, np.float64) / 255.0)[:, :, 0], s).astype(np.float32)
        y = matlab.rgb2ycbcr(np.asarray(hr, np.float64) / 255.0)[:, :, 0]
        side = tile or CROP
        h, w = min(side, x.shape[0], y.shape[0]), min(side, x.shape[1], y.shape[1])
        r, c = (x.shape[0] - h) // 2, (x.shape[1] - w) // 2
        if tile:  # a tile larger than the crop is padded, the mask 0 there (as the device pipeline does)
            data, mask = np.zeros((1, tile, tile, 1), np.float32), np.zeros((1, tile, tile, 1), np.float32)
            data[0, :h, :w, 0], mask[0, :h, :w, 0] = x[r:r + h, c:c + w], 1.0
            runs.append([data if "mask" not in n else mask for n in names])
        else:
            runs.append([np.ascontiguousarray(x[None, r:r + h, c:c + w, None])])
        truths.append((y[r:r + h, c:c + w], int(s)))
    return runs, truths


def _scores(outputs, truths) -> list[float]:
    from vdsr_tf.core.metrics import psnr

    return [psnr(np.clip(o[0, :t.shape[0], :t.shape[1], 0], 0, 1), t, shave=s, data_range=1.0)
            for o, (t, s) in zip(outputs, truths)]


def measure(out_dir, manifest: dict, images, *, root=None, progress=None) -> dict:
    """Every TFLite file of an export folder with aarch64 LiteRT and with this machine's, on the
    same inputs (:func:`_runs`): {artefact name: {cpu: figures}}, figures being the max |diff| of
    the outputs, the PSNR of each against the HR luminance crop and the drop (x86 minus ARM, dB),
    the emulated machine and its seconds; ``{"error": ...}`` where a run failed."""
    say = progress or (lambda line: None)
    results = {}
    for art in manifest["artifacts"]:
        if art["format"] != "tflite" or art["kind"] == "e2e":
            continue
        path = Path(out_dir) / art["file"]
        runs, truths = _runs(art, path, images)
        ref = _x86(path, runs)
        cpus = DYNAMIC_CPUS[:1] if art["kind"] == "tile" else DYNAMIC_CPUS
        results[art["name"]] = {}
        for cpu in cpus:
            try:
                arm = run_tflite_arm64(path, runs, root=root, cpu=cpu, num_threads=2)
            except RuntimeError as e:
                results[art["name"]][cpu] = {"error": str(e)}
                say(f"arm64 {art['name']} ({cpu}): ERROR {e}")
                continue
            p86, parm = _scores(ref, truths), _scores(arm, truths)
            where = "one tile at x2" if art["kind"] == "tile" else "x" + "/x".join(str(s) for _, s in truths)
            results[art["name"]][cpu] = {
                "machine": arm.machine, "seconds": round(arm.seconds, 1),
                "max_abs_diff": float(max(np.max(np.abs(a - b)) for a, b in zip(arm, ref))),
                "psnr_x86": [round(p, 4) for p in p86], "psnr_arm64": [round(p, 4) for p in parm],
                "psnr_drop": float(np.mean(p86) - np.mean(parm)),
                "inputs": f"{len(runs)} crops of {runs[0][0].shape[1]}x{runs[0][0].shape[2]} ({where})",
            }
            m = results[art["name"]][cpu]
            say(f"arm64 {art['name']} ({cpu}): max|diff| {m['max_abs_diff']:.2e}, PSNR drop {m['psnr_drop']:+.4f} dB "
                f"({m['seconds']:.0f} s emulated)")
    return results
