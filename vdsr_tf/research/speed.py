"""Speed and memory of vdsr_tf, measured: each function returns a dict of figures.

``inference``: Upscaler latency per precision and input size (seconds per output megapixel,
GFLOP/s from :func:`vdsr_tf.nn.model.flops_per_pixel`), tiled against whole-image cost, and
the peak RSS of a fresh process (``python -m vdsr_tf.research.speed rss``). ``training``:
patches/s of the input and of full steps per Keras backend, one child process each
(``python -m vdsr_tf.research.speed training``; Keras picks its backend once per process), timed
by :mod:`vdsr_tf.research.train_speed`. ``exported_backends``: the network alone and the whole
super-resolution per exported artefact. tools/benchmark.py prints the tables.

``progress`` arguments get one line per finished measurement (the runs take minutes).
The child processes run this module (``python -m``; they import nothing from tools/).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

_RESULT = "RESULT "  # a child's last line: RESULT <json>


def _quiet(line):
    del line


def synthetic_rgb(size: int, seed: int = 0) -> np.ndarray:
    """A deterministic natural-ish uint8 RGB picture: smooth gradients, edges and noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(size, 1)
    img = np.stack([
        0.5 + 0.4 * np.sin(9 * xx + 3 * yy),
        0.5 + 0.4 * np.cos(7 * yy * xx * 6),
        (xx + yy) / 2,
    ], axis=-1)
    img[(xx * 13).astype(int) % 2 == (yy * 11).astype(int) % 2] *= 0.8  # hard edges
    img += 0.03 * rng.standard_normal(img.shape, dtype=np.float32)
    np.clip(img, 0, 1, out=img)
    return (img * 255 + 0.5).astype(np.uint8)


def model_and_source(weights=None):
    """(keras model, description of the weights actually used): ``weights``, else the bundled
    weights, else a randomly initialised full-size VDSR (speed does not depend on the values)."""
    from vdsr_tf.nn.model import build_vdsr
    from vdsr_tf.nn.weights import BUNDLED_WEIGHTS, load_model

    if weights:
        return load_model(weights), f"file {weights}"
    if BUNDLED_WEIGHTS.is_file():
        return load_model(BUNDLED_WEIGHTS), f"bundled {BUNDLED_WEIGHTS.name}"
    import keras

    keras.utils.set_random_seed(0)
    return (build_vdsr(), "RANDOM full-size VDSR (no bundled weights yet; speed and memory "
            "do not depend on the values)")


def timed(fn, repeats: int) -> float:
    """Wall seconds of the fastest of ``repeats`` calls."""
    return timed_cpu(fn, repeats)[0]


def timed_cpu(fn, repeats: int) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of the fastest of ``repeats`` calls.

    CPU seconds are far less sensitive than wall time to other processes on a shared
    machine, so ratios of them (tiled vs whole) stay meaningful there.
    """
    best = (float("inf"), float("inf"))
    for _ in range(max(1, repeats)):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - w0, time.process_time() - c0))
    return best


def _vmhwm_kib():
    """This process's own peak RSS (VmHWM), or None where /proc is missing.

    Unlike getrusage's ru_maxrss, VmHWM belongs to the address space created by exec, so
    it is not inflated by the RSS of the parent that forked us (Linux carries the
    pre-exec high-water mark into ru_maxrss).
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _child(args, env=None):
    """argv of ``python -m vdsr_tf.research.speed ...`` that imports this very vdsr_tf."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return [sys.executable, "-m", "vdsr_tf.research.speed", *args], env


# ----------------------------------------------------------------------------- inference

def _rss_run(size: int, scale: float, tile, weights) -> dict:
    """The peak-RSS child's body: one Upscaler call on a size x size picture."""
    from vdsr_tf.infer import upscaler

    model, _ = model_and_source(weights)
    engine = upscaler.Upscaler(model=model, tile=tile)
    img = synthetic_rgb(size)
    engine(img[:64, :64], scale)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    out = engine(img, scale)
    seconds = time.perf_counter() - t0
    return {"baseline_maxrss_kib": before, "vmhwm_kib": _vmhwm_kib(), "output_shape": list(out.shape),
            "seconds": seconds, "checksum": int(np.asarray(out, np.int64).sum())}


def peak_rss(size: int, scale: float, tile, weights=None) -> dict:
    """Peak RSS of a fresh process upscaling a size x size picture once (after a warm-up).

    Run it while the calling process is still small: a forked child's ru_maxrss starts from
    the parent's RSS (VmHWM, preferred where /proc exists, does not).
    """
    argv, env = _child(["rss", f"--size={size}", f"--scale={scale}", f"--tile={tile}"]
                       + ([f"--weights={weights}"] if weights else []))
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"peak-RSS subprocess failed: {proc.stderr.strip()[-500:]}")
    child = json.loads(proc.stdout.strip().splitlines()[-1][len(_RESULT):])
    children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    peak_kib = child["vmhwm_kib"] or children_kib
    return {"input": size, "output_shape": child["output_shape"],
            "peak_rss_mb": round(peak_kib / 1024, 1),
            "ru_maxrss_children_mb": round(children_kib / 1024, 1),
            "before_run_mb": round(child["baseline_maxrss_kib"] / 1024, 1),
            "seconds": round(child["seconds"], 2)}


def inference(*, weights=None, sizes=(256, 512, 1024), scale: float = 2.0, precisions=("float32", "bfloat16"),
              repeats: int = 1, tile=None, overhead_size: int = 1024, rss_size: int = 2048,
              progress=_quiet) -> dict:
    """Upscaler latency per precision and size, tiled vs whole cost, peak RSS (0 skips a part)."""
    import tensorflow as tf

    from vdsr_tf.core import matlab
    from vdsr_tf.infer import upscaler as inf
    from vdsr_tf.nn.model import flops_per_pixel, receptive_radius

    model, source = model_and_source(weights)
    flops = flops_per_pixel(model)
    scale = inf.check_scale(scale)
    tile = inf.DEFAULT_TILE if tile is None else tile
    result = {"weights": source, "flops_per_output_pixel": flops, "scale": scale, "tile": tile,
              "halo": max(inf.MIN_HALO, receptive_radius(model)),
              "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
              "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"), "latency": []}
    if rss_size:
        result["peak_rss"] = peak_rss(rss_size, scale, tile, weights)
        progress(f"[inference] peak RSS at {rss_size}x{rss_size}: {result['peak_rss']['peak_rss_mb']:.0f} MB")
    # One Upscaler per (precision, tile), built and traced once: timings are of calls to it.
    upscalers = {(p, tile): inf.Upscaler(model=model, precision=p, tile=tile) for p in precisions}
    for up in upscalers.values():
        up(synthetic_rgb(64), scale)
    timings = {}
    for precision in precisions:
        for size in sizes:
            img = synthetic_rgb(size)
            up = upscalers[(precision, tile)]
            seconds, cpu = timed_cpu(lambda: up(img, scale), repeats)
            out_px = matlab.output_length(size, scale) ** 2
            result["latency"].append({
                "precision": precision, "input": size, "output_pixels": out_px, "seconds": round(seconds, 4),
                "seconds_per_output_mp": round(seconds / (out_px / 1e6), 4),
                "gflops": round(flops * out_px / seconds / 1e9, 1), "cpu_seconds": round(cpu, 4),
                "gflops_per_cpu_second": round(flops * out_px / cpu / 1e9, 1)})
            if precision == "float32":
                timings[size] = (seconds, cpu)
            progress(f"[inference] {precision} {size}x{size}: {seconds:.2f} s")
    if overhead_size:
        tiled_up = upscalers.get(("float32", tile)) or inf.Upscaler(model=model, tile=tile)
        result["tiling"] = _tiling_overhead(tiled_up, inf.Upscaler(model=model, tile=None), overhead_size,
                                            scale, result["halo"], repeats, timings.get(overhead_size))
    return result


def _tiling_overhead(tiled_up, whole_up, size, scale, halo, repeats, first_tiled=None) -> dict:
    from vdsr_tf.core import matlab
    from vdsr_tf.infer import upscaler as inf

    img = synthetic_rgb(size)
    for up in (tiled_up, whole_up):
        up(img[:64, :64], scale)  # traced before timing
    # Alternate tiled and whole runs (fastest of each) so drifting load on a shared machine
    # biases neither; a latency-table run counts as the first tiled one.
    inf_pair = (float("inf"), float("inf"))
    tiled, whole = first_tiled or inf_pair, inf_pair
    for _ in range(max(1, repeats)):
        whole = min(whole, timed_cpu(lambda: whole_up(img, scale), 1))
        tiled = min(tiled, timed_cpu(lambda: tiled_up(img, scale), 1))
    (tiled, tiled_cpu), (whole, whole_cpu) = tiled, whole
    out_side = matlab.output_length(size, scale)
    spans = inf.tile_spans(out_side, tiled_up.tile, halo)
    computed = (len(spans) * (spans[0][1] - spans[0][0])) ** 2
    return {"input": size, "tiled_seconds": round(tiled, 4), "whole_seconds": round(whole, 4),
            "overhead_percent": round(100 * (tiled / whole - 1), 1),
            "tiled_cpu_seconds": round(tiled_cpu, 4), "whole_cpu_seconds": round(whole_cpu, 4),
            "overhead_cpu_percent": round(100 * (tiled_cpu / whole_cpu - 1), 1),
            "tiles": len(spans) ** 2, "extra_pixels_percent": round(100 * (computed / out_side ** 2 - 1), 1)}


# ----------------------------------------------------------------------------- training

def _training_run(backend, precisions, *, steps, batch_size, depth, filters, pipeline_batches, data,
                  progress=_quiet) -> dict:
    """One backend's figures, in this process (whose Keras must run on ``backend``)."""
    from vdsr_tf import train as train_lib
    from vdsr_tf.research import train_speed
    from vdsr_tf.train.config import TrainConfig

    if os.environ.get("KERAS_BACKEND") != backend:
        raise ValueError(f"timing the {backend} backend needs KERAS_BACKEND={backend} in the environment")
    if backend == "jax":
        import jax

        devices = [str(d) for d in jax.devices()]
    else:
        import tensorflow as tf

        devices = [d.name for d in tf.config.list_physical_devices()]
    if data:
        ps, source = train_lib.load_training_set(TrainConfig(data=(data,)), None), data
    else:
        ps, source = train_speed.synthetic_patch_set(), "synthetic 8 x 256x256"
    result = {"backend": backend, "devices": devices, "data": source, "patches": ps.num_patches,
              "batch_size": batch_size, "depth": depth, "filters": filters}
    feed = train_speed.benchmark_pipeline if backend == "tensorflow" else train_speed.benchmark_sampler
    result["input"] = feed(ps, batch_size=batch_size, batches=pipeline_batches)
    progress(f"[training] {backend} on {devices}: input alone "
             f"({'tf.data' if backend == 'tensorflow' else 'numpy'}, rot/flip, batch {batch_size}): "
             f"{result['input']['patches_per_s']:.0f} patches/s")
    for precision in precisions:
        r = train_speed.benchmark_step(ps, precision=precision, batch_size=batch_size, steps=steps,
                                     depth=depth, filters=filters, backend=backend)
        result[precision] = r
        progress(f"[training] {backend} {precision}: {r['patches_per_s']:.1f} patches/s "
                 f"({r['seconds_per_step']:.3f} s/step of {batch_size}, {r['steps']} steps; "
                 f"{r['cpu_seconds_per_step']:.2f} CPU-s/step on {r['cores']} cores -> "
                 f"{r['quiet_estimate_patches_per_s']:.0f} patches/s on an idle machine, estimated)")
    return result


def training(*, backends=("tensorflow", "jax"), precisions=("float32", "mixed_bfloat16"), steps: int = 20,
             batch_size: int = 64, depth: int = 20, filters: int = 64, pipeline_batches: int = 200, data=None,
             progress=_quiet) -> dict:
    """Training patches/s per backend (a child process each) and precision: {backend: figures}.

    A backend whose child fails gets {"error": ...}; its output went to ``progress``.
    """
    args = [f"--precisions={','.join(precisions)}", f"--steps={steps}", f"--batch_size={batch_size}",
            f"--depth={depth}", f"--filters={filters}", f"--pipeline_batches={pipeline_batches}"]
    if data:
        args.append(f"--data={data}")
    result = {}
    for backend in backends:
        argv, env = _child(["training", f"--backend={backend}", *args], dict(os.environ, KERAS_BACKEND=backend))
        child = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
        for line in child.stdout:  # progress as it comes; the last line is the result
            if line.startswith(_RESULT):
                result[backend] = json.loads(line[len(_RESULT):])
            else:
                progress(line.rstrip("\n"))
        if child.wait() != 0 or backend not in result:
            result[backend] = {"error": f"exit status {child.returncode} (see its output above)"}
    return result


# ----------------------------------------------------------------------------- exported backends

def _manifest_model(info: dict):
    """The Keras model of an export manifest's ``weights`` entry: its bundled set by name (the
    jpeg folder's is "jpeg"), else its file."""
    from vdsr_tf.nn.weights import PAPER, load_model

    return load_model(info.get("name", PAPER)) if info["source"] == "bundled" else load_model(info["path"])


def exported_backends(*, folder=None, weights=None, size: int = 512, scale: float = 2.0, repeats: int = 2,
                      threads=None, calibration_data=None, progress=_quiet) -> dict:
    """Per exported artefact (and Keras float32): the network alone on the bicubic luminance of
    a size x size picture (wall and CPU s), super-resolution through it, file sizes, speed-ups.

    ``folder``: an export folder; None exports ``weights`` to a temporary one (no parity).
    """
    from vdsr_tf import export
    from vdsr_tf.core import matlab
    from vdsr_tf.infer import runtimes
    from vdsr_tf.infer import upscaler as inf

    scale = inf.check_scale(scale)
    with tempfile.TemporaryDirectory(prefix="vdsr_bench_export.") as tmp:
        if folder:
            manifest = export.read_manifest(folder)
            source = f"{folder} (weights {manifest['weights']['file']})"
        else:
            model, source = model_and_source(weights)
            source = f"temporary export of {source}"
            folder = tmp
            if weights is None:
                weights = os.path.join(folder, "weights.weights.h5")
                model.save_weights(weights)
            progress(f"[backends] exporting {source} to a temporary folder (no parity measurement) ...")
            manifest = export.export_all(folder, weights=weights, e2e_scale=scale,
                                         calibration_data=calibration_data, measure_parity=False)
        info = manifest["weights"]
        keras_model = _manifest_model(info)
        img = synthetic_rgb(size)
        luma = matlab.rgb2ycbcr(img.astype(np.float32) / 255.0)[..., 0]
        x = matlab.imresize(luma, scale).astype(np.float32)[None, :, :, None]
        out_mp = x.shape[1] * x.shape[2] / 1e6
        result = {"artefacts": source, "input": size, "scale": scale, "output_megapixels": round(out_mp, 4),
                  "tflite_threads": threads or os.cpu_count(), "rows": []}
        candidates = [("keras", "float32", None, inf.KerasPredictor(keras_model))]
        for art in manifest["artifacts"]:
            path = os.path.join(folder, art["file"])
            if art["kind"] in ("e2e", "tile"):  # tile models: the device section
                continue
            if art["format"] == "tf_saved_model":
                candidates.append(("saved_model", art["precision"], art, runtimes.SavedModelPredictor(path)))
            else:
                candidates.append(("tflite", art["precision"], art,
                                   runtimes.TFLitePredictor(path, num_threads=threads)))
        keras_net = keras_cpu = None
        for backend, precision, art, predictor in candidates:
            predictor(x[:, :64, :64])  # warm up (trace / allocate)
            predictor(x)
            net, cpu = timed_cpu(lambda: predictor(x), repeats)
            upscaler = inf.Upscaler(model=predictor)
            sr = timed(lambda: upscaler(img, scale), repeats)
            if keras_net is None:
                keras_net, keras_cpu = net, cpu
            result["rows"].append({
                "backend": backend, "precision": precision, "file": art["file"] if art else None,
                "size_bytes": art["size_bytes"] if art else None, "network_seconds": round(net, 4),
                "network_seconds_per_output_mp": round(net / out_mp, 4),
                "network_cpu_seconds_per_output_mp": round(cpu / out_mp, 4),
                "super_resolve_seconds_per_output_mp": round(sr / out_mp, 4),
                "speedup_vs_keras_float32": round(keras_net / net, 2),
                "cpu_speedup_vs_keras_float32": round(keras_cpu / cpu, 2)})
            progress(f"[backends] {backend} {precision}: network {net:.3f} s")
        for art in manifest["artifacts"]:
            if art["kind"] != "e2e":
                continue
            e2e = runtimes.TFLiteModel(os.path.join(folder, art["file"]), num_threads=threads)
            shape = art["inputs"][0]["shape"]
            pic = synthetic_rgb(max(shape[1:3]))[: shape[1], : shape[2]][None]
            e2e(pic)
            seconds = timed(lambda: e2e(pic), repeats)
            mp = float(np.prod(art["outputs"][0]["shape"][1:3])) / 1e6
            result["rows"].append({
                "backend": "tflite_e2e", "precision": art["precision"], "file": art["file"],
                "size_bytes": art["size_bytes"], "input_shape": shape, "output_megapixels": round(mp, 4),
                "seconds": round(seconds, 4), "seconds_per_output_mp": round(seconds / mp, 4)})
    return result


def device_pipeline(*, folder, size: int = 512, scale: float = 2.0, threads=(1, 2), repeats: int = 1,
                    progress=_quiet) -> dict:
    """The reference device pipeline (:mod:`vdsr_tf.device.reference`) with each tile model of
    export ``folder`` at each number of LiteRT ``threads``, next to super_resolve with the
    dynamic TFLite models at the same threads and with Keras float32 (TensorFlow's own threads:
    all CPUs), on one size x size picture: seconds per output megapixel, whole pipeline."""
    from vdsr_tf import export
    from vdsr_tf.device import reference
    from vdsr_tf.infer import runtimes
    from vdsr_tf.infer import upscaler as inf

    scale = inf.check_scale(scale)
    manifest = export.read_manifest(folder)
    info = manifest["weights"]
    img = synthetic_rgb(size)
    rgb = img.astype(np.float32) / 255.0
    out_h, out_w = inf.check_output_size(size, size, scale)
    out_mp = out_h * out_w / 1e6
    rows = []

    def row(path, kind, precision, n_threads, run):
        run()  # warm up: allocation, XNNPACK packing, tracing
        wall, cpu = timed_cpu(run, repeats)
        rows.append({"pipeline": kind, "precision": precision, "file": path, "threads": n_threads,
                     "seconds": round(wall, 3), "seconds_per_output_mp": round(wall / out_mp, 3),
                     "cpu_seconds_per_output_mp": round(cpu / out_mp, 3)})
        progress(f"[device] {kind} {precision} ({path or 'keras'}), {n_threads} threads: {wall / out_mp:.3f} s/MP")

    keras = inf.Upscaler(model=_manifest_model(info))
    row(None, "super_resolve keras", "float32", os.cpu_count(), lambda: keras(img, scale))
    for art in manifest["artifacts"]:
        path = os.path.join(folder, art["file"])
        for n in threads:
            if art["kind"] == "tile":
                model = reference.TileModel(path, num_threads=n)
                row(art["file"], "device reference", art["precision"], n, lambda: reference.upscale(rgb, scale, model))
            elif art["kind"] == "luma" and art["format"] == "tflite" and art["precision"] in ("float32", "int8"):
                up = inf.Upscaler(model=runtimes.TFLitePredictor(path, num_threads=n))
                row(art["file"], "super_resolve tflite", art["precision"], n, lambda: up(img, scale))
    return {"input": size, "scale": scale, "output_megapixels": round(out_mp, 4), "artefacts": str(folder),
            "rows": rows}


def store_in_manifest(folder, figures: dict) -> None:
    """Writes ``figures`` (from :func:`exported_backends`) into ``folder``/manifest.json under
    "benchmark", with the date and the machine."""
    import platform
    from pathlib import Path

    from vdsr_tf import export
    from vdsr_tf.core import atomic

    manifest = export.read_manifest(folder)
    manifest["benchmark"] = dict(figures, date=time.strftime("%Y-%m-%d %H:%M:%S"),
                                 cpus=os.cpu_count(), processor=platform.processor())
    atomic.write_json(Path(folder) / export.MANIFEST, manifest)


# ----------------------------------------------------------------------------- child processes

def _main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m vdsr_tf.research.speed",
                                description="A measurement child process (started by this module).")
    sub = p.add_subparsers(dest="job", required=True)
    rss = sub.add_parser("rss")
    rss.add_argument("--size", type=int, required=True)
    rss.add_argument("--scale", type=float, required=True)
    rss.add_argument("--tile", type=lambda v: None if v == "None" else int(v), required=True)
    rss.add_argument("--weights")
    tr = sub.add_parser("training")
    tr.add_argument("--backend", required=True)
    tr.add_argument("--precisions", required=True)
    for name in ("steps", "batch_size", "depth", "filters", "pipeline_batches"):
        tr.add_argument(f"--{name}", type=int, required=True)
    tr.add_argument("--data")
    a = p.parse_args(argv)
    if a.job == "rss":
        figures = _rss_run(a.size, a.scale, a.tile, a.weights)
    else:
        def say(line):
            print(line, flush=True)
        figures = _training_run(a.backend, a.precisions.split(","), steps=a.steps, batch_size=a.batch_size,
                                depth=a.depth, filters=a.filters, pipeline_batches=a.pipeline_batches,
                                data=a.data, progress=say)
    print(_RESULT + json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(_main())
