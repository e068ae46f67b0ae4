"""Speed and memory of vdsr_tf, by section (not timed tests: numbers for BUILD_NOTES.md).

Example:
  python tools/benchmark.py --sections=inference --json bench.json
  python tools/benchmark.py --sections=inference --inference_sizes=256 \
      --inference_overhead_size=256 --inference_rss_size=512      # a quick run

Sections (each in its own function, registered in SECTIONS at the bottom):
  inference  super_resolve latency at --inference_scale for each --inference_sizes input
             (square RGB uint8), as seconds per output megapixel and achieved GFLOP/s, the
             FLOPs counted exactly from the model's layers (vdsr_tf.inference.flops_per_pixel,
             1,330,626 per output pixel for VDSR); tiling overhead (default tile vs whole
             image, same picture); peak RSS of a fresh process upscaling an
             --inference_rss_size input (measured in a subprocess via
             getrusage(RUSAGE_CHILDREN).ru_maxrss).
  training   patches/s of the full training step (the Trainer's backend step fed by its input,
             loss fetched every step) for each --training_backends (tensorflow, jax; each in
             its own process, as Keras picks its backend once per process) and each
             --training_precisions, after 3 warm-up (compiling) steps; and the input alone
             (tf.data pipeline / numpy sampler, with rot/flip). Data: --training_data (image
             folder or luminance archive), else synthetic images (speed does not depend on it).
             Runs without TensorFlow where only the jax backend is timed (a GPU machine).
  backends   per backend and precision (Keras, SavedModel, TFLite float32/float16/dynamic
             int8/int8, the end-to-end TFLite model): the network alone on the bicubic-upscaled
             luminance of a --backends_size input at --backends_scale (wall and process CPU
             seconds), and super_resolve with that backend, as seconds per output megapixel;
             file sizes; speed-up over float32
             Keras. Artefacts: --backends_dir (an export folder, e.g. exports/), else a temporary
             export of the weights below (no parity measurement). --backends_update_manifest
             stores the figures in the folder's manifest.json under "benchmark".
Weights: --weights, else the bundled weights, else a randomly initialised full-size VDSR
(timing and memory do not depend on the values; the output says which was used).
"""
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO not in sys.path:  # run from a checkout without `pip install -e .` (a GPU machine)
    sys.path.insert(0, _REPO)

FLAGS = flags.FLAGS
flags.DEFINE_list("sections", ["inference"], "Sections to run, comma-separated.")
flags.DEFINE_string("json", None, "Also write the results to this JSON file (atomically).")
flags.DEFINE_string("weights", None, "Weights file; default: bundled weights, else random.")

flags.DEFINE_list("inference_sizes", ["256", "512", "1024"], "Square input sizes to time.")
flags.DEFINE_float("inference_scale", 2.0, "Scale for the inference section.")
flags.DEFINE_list("inference_precisions", ["float32", "bfloat16"],
                  "super_resolve precisions to time in the latency table.")
flags.DEFINE_integer("inference_repeats", 1, "Timed runs per size (the fastest is kept).")
flags.DEFINE_integer("inference_tile", None, "Tile side (default: the library's DEFAULT_TILE).")
flags.DEFINE_integer("inference_overhead_size", 1024,
                     "Input size for tiled-vs-whole timing (0 skips).")
flags.DEFINE_integer("inference_rss_size", 2048, "Input size for the peak-RSS run (0 skips).")
flags.DEFINE_boolean("rss_child", False, "Internal: be the peak-RSS subprocess.")

flags.DEFINE_list("training_precisions", ["float32", "mixed_bfloat16"], "Precisions to time (training section).")
flags.DEFINE_integer("training_steps", 20, "Timed training steps per precision (after 3 warm-up steps).")
flags.DEFINE_integer("training_batch_size", 64, "Batch of 41x41 patches (training section).")
flags.DEFINE_integer("training_pipeline_batches", 200, "Batches drawn to time the input pipeline alone.")
flags.DEFINE_string("training_data", None, "HR image folder or luminance archive (.npz) for the training section "
                    "(default: synthetic images).")
flags.DEFINE_list("training_backends", ["tensorflow", "jax"], "Keras backends to time (training section).")
flags.DEFINE_integer("training_depth", 20, "Conv layers of the timed network (training section).")
flags.DEFINE_integer("training_filters", 64, "Filters per hidden layer of the timed network (training section).")
flags.DEFINE_string("training_child", None, "Internal: time one backend (KERAS_BACKEND set) and print the result.")

flags.DEFINE_string("backends_dir", None, "Export folder for the backends section (default: a temporary export).")
flags.DEFINE_integer("backends_size", 512, "Square input side for the backends section.")
flags.DEFINE_float("backends_scale", 2.0, "Scale for the backends section.")
flags.DEFINE_integer("backends_repeats", 2, "Timed runs per backend (the fastest is kept).")
flags.DEFINE_integer("backends_threads", None, "TFLite threads (default: all CPUs).")
flags.DEFINE_boolean("backends_update_manifest", False, "Write the figures into --backends_dir/manifest.json.")


# ----------------------------------------------------------------------------- helpers

def _log(line=""):
    print(line, flush=True)


def synthetic_rgb(size, seed=0):
    """A deterministic natural-ish uint8 RGB picture: smooth gradients, edges and noise."""
    import numpy as np

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


def _model_and_source(weights):
    """(keras model, description of the weights actually used)."""
    from vdsr_tf import build_vdsr
    from vdsr_tf.weights import BUNDLED_WEIGHTS, load_model

    if weights:
        return load_model(weights), f"file {weights}"
    if BUNDLED_WEIGHTS.is_file():
        return load_model(), f"bundled {BUNDLED_WEIGHTS.name}"
    import keras

    keras.utils.set_random_seed(0)
    return (build_vdsr(), "RANDOM full-size VDSR (no bundled weights yet; speed and memory "
            "do not depend on the values)")


def _timed(fn, repeats):
    best = float("inf")
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _timed_cpu(fn, repeats):
    """(wall seconds, process CPU seconds) of the fastest of ``repeats`` runs.

    CPU seconds are far less sensitive than wall time to other processes on a shared
    machine, so ratios of them (tiled vs whole) stay meaningful there.
    """
    best = (float("inf"), float("inf"))
    for _ in range(max(1, repeats)):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - w0, time.process_time() - c0))
    return best


def _write_json(data, path):
    from vdsr_tf import atomic

    atomic.write_json(path, data)


# ----------------------------------------------------------------------------- inference

def _rss_child():
    """Subprocess body: one super_resolve of an --inference_rss_size image; prints JSON."""
    import numpy as np

    from vdsr_tf import inference

    model, _ = _model_and_source(FLAGS.weights)
    tile = FLAGS.inference_tile if FLAGS.inference_tile is not None else inference.DEFAULT_TILE
    img = synthetic_rgb(FLAGS.inference_rss_size)
    inference.super_resolve(img[:64, :64], FLAGS.inference_scale, model=model, tile=tile)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    out = inference.super_resolve(img, FLAGS.inference_scale, model=model, tile=tile)
    seconds = time.perf_counter() - t0
    print(json.dumps({"baseline_maxrss_kib": before, "vmhwm_kib": _vmhwm_kib(),
                      "output_shape": list(out.shape), "seconds": seconds,
                      "checksum": int(np.asarray(out, np.int64).sum())}))


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


def _peak_rss(scale, tile):
    """Peak RSS of a fresh process running one super_resolve (see _rss_child)."""
    size = FLAGS.inference_rss_size
    argv = [sys.executable, os.path.abspath(__file__), "--rss_child",
            f"--inference_rss_size={size}", f"--inference_scale={scale}",
            f"--inference_tile={tile}"]
    if FLAGS.weights:
        argv.append(f"--weights={FLAGS.weights}")
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"peak-RSS subprocess failed: {proc.stderr.strip()[-500:]}")
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    peak_kib = child["vmhwm_kib"] or children_kib
    row = {
        "input": size, "output_shape": child["output_shape"],
        "peak_rss_mb": round(peak_kib / 1024, 1),
        "ru_maxrss_children_mb": round(children_kib / 1024, 1),
        "before_run_mb": round(child["baseline_maxrss_kib"] / 1024, 1),
        "seconds": round(child["seconds"], 2),
    }
    _log(f"[inference] peak RSS for {size}x{size} at x{scale:g}: {row['peak_rss_mb']:.0f} MB "
         f"(VmHWM; getrusage(RUSAGE_CHILDREN) says {row['ru_maxrss_children_mb']:.0f} MB; "
         f"after TF import, model and warm-up: {row['before_run_mb']:.0f} MB; "
         f"{child['seconds']:.1f} s)")
    return row


def inference_section():
    """super_resolve latency/GFLOP/s per size, tiling overhead, peak RSS (subprocess)."""
    import tensorflow as tf

    from vdsr_tf import inference, matlab

    model, source = _model_and_source(FLAGS.weights)
    flops = inference.flops_per_pixel(model)
    scale = inference.check_scale(FLAGS.inference_scale)
    tile = FLAGS.inference_tile if FLAGS.inference_tile is not None else inference.DEFAULT_TILE
    result = {
        "weights": source,
        "flops_per_output_pixel": flops,
        "scale": scale,
        "tile": tile,
        "halo": max(inference.MIN_HALO, inference.receptive_radius(model)),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
        "latency": [],
    }
    _log(f"[inference] weights: {source}")
    _log(f"[inference] {flops:,} FLOP per output pixel, x{scale:g}, tile {tile}, "
         f"halo {result['halo']}")
    if FLAGS.inference_rss_size:
        # First, while this process is still small: a forked child's ru_maxrss starts
        # from the parent's RSS.
        result["peak_rss"] = _peak_rss(scale, tile)
    for precision in FLAGS.inference_precisions:  # trace once each
        inference.super_resolve(synthetic_rgb(64), scale, model=model, tile=tile, precision=precision)

    def run(img, t, precision="float32"):
        return inference.super_resolve(img, scale, model=model, tile=t, precision=precision)

    _log(f"{'precision':>9} {'input':>11} {'output':>11} {'seconds':>9} {'s/MP':>8} {'GFLOP/s':>8}")
    timings = {}
    for precision, size in [(p, int(s)) for p in FLAGS.inference_precisions for s in FLAGS.inference_sizes]:
        img = synthetic_rgb(size)
        seconds, cpu = _timed_cpu(lambda: run(img, tile, precision), FLAGS.inference_repeats)
        out_px = matlab.output_length(size, scale) ** 2
        row = {"precision": precision, "input": size, "output_pixels": out_px, "seconds": round(seconds, 4),
               "seconds_per_output_mp": round(seconds / (out_px / 1e6), 4),
               "gflops": round(flops * out_px / seconds / 1e9, 1),
               "cpu_seconds": round(cpu, 4),
               "gflops_per_cpu_second": round(flops * out_px / cpu / 1e9, 1)}
        if precision == "float32":
            timings[size] = (seconds, cpu)
        result["latency"].append(row)
        _log(f"{precision:>9} {size:>5}x{size:<5} {row['output_pixels'] / 1e6:>9.2f}MP {seconds:>9.2f} "
             f"{row['seconds_per_output_mp']:>8.3f} {row['gflops']:>8.1f}   "
             f"(CPU {cpu:.2f} s: {row['gflops_per_cpu_second']:.1f} GFLOP per CPU-second)")

    size = FLAGS.inference_overhead_size
    if size:
        img = synthetic_rgb(size)
        # Alternate tiled and whole runs (fastest of each) so drifting load on a shared
        # machine biases neither; the latency-table run counts as the first tiled one.
        inf = (float("inf"), float("inf"))
        tiled, whole = timings.get(size, inf), inf
        for _ in range(max(1, FLAGS.inference_repeats)):
            whole = min(whole, _timed_cpu(lambda: run(img, None), 1))
            tiled = min(tiled, _timed_cpu(lambda: run(img, tile), 1))
        (tiled, tiled_cpu), (whole, whole_cpu) = tiled, whole
        out_side = matlab.output_length(size, scale)
        spans = inference.tile_spans(out_side, tile, result["halo"])
        computed = (len(spans) * (spans[0][1] - spans[0][0])) ** 2
        result["tiling"] = {
            "input": size, "tiled_seconds": round(tiled, 4), "whole_seconds": round(whole, 4),
            "overhead_percent": round(100 * (tiled / whole - 1), 1),
            "tiled_cpu_seconds": round(tiled_cpu, 4), "whole_cpu_seconds": round(whole_cpu, 4),
            "overhead_cpu_percent": round(100 * (tiled_cpu / whole_cpu - 1), 1),
            "tiles": len(spans) ** 2, "extra_pixels_percent": round(100 * (computed / out_side ** 2 - 1), 1),
        }
        _log(f"[inference] tiling at {size}x{size}: tiled {tiled:.2f} s ({len(spans) ** 2} tiles, "
             f"{result['tiling']['extra_pixels_percent']}% extra pixels) vs whole {whole:.2f} s: "
             f"overhead {result['tiling']['overhead_percent']:+.1f}% "
             f"(CPU time {tiled_cpu:.2f} vs {whole_cpu:.2f} s: "
             f"{result['tiling']['overhead_cpu_percent']:+.1f}%)")

    return result


_RESULT = "RESULT "


def _training_patch_set():
    """(PatchSet, description): --training_data through the Trainer's loader, else synthetic."""
    from vdsr_tf import train as train_lib
    from vdsr_tf.config import TrainConfig

    if FLAGS.training_data:
        return train_lib.load_training_set(TrainConfig(data=(FLAGS.training_data,)), None), FLAGS.training_data
    return train_lib.synthetic_patch_set(), "synthetic 8 x 256x256"


def _training_child(backend):
    """Subprocess body: the input alone and each precision's step on ``backend``; prints JSON."""
    from vdsr_tf import train as train_lib

    if os.environ.get("KERAS_BACKEND") != backend:
        raise app.UsageError(f"--training_child={backend} needs KERAS_BACKEND={backend} in the environment")
    if backend == "jax":
        import jax

        devices = [str(d) for d in jax.devices()]
    else:
        import tensorflow as tf

        devices = [d.name for d in tf.config.list_physical_devices()]
    ps, source = _training_patch_set()
    bs = FLAGS.training_batch_size
    result = {"backend": backend, "devices": devices, "data": source, "patches": ps.num_patches,
              "batch_size": bs, "depth": FLAGS.training_depth, "filters": FLAGS.training_filters}
    feed = train_lib.benchmark_pipeline if backend == "tensorflow" else train_lib.benchmark_sampler
    result["input"] = feed(ps, batch_size=bs, batches=FLAGS.training_pipeline_batches)
    _log(f"[training] {backend} on {devices}: input alone ({'tf.data' if backend == 'tensorflow' else 'numpy'}, "
         f"rot/flip, batch {bs}): {result['input']['patches_per_s']:.0f} patches/s")
    for precision in FLAGS.training_precisions:
        r = train_lib.benchmark_step(ps, precision=precision, batch_size=bs, steps=FLAGS.training_steps,
                                     depth=FLAGS.training_depth, filters=FLAGS.training_filters, backend=backend)
        result[precision] = r
        _log(f"[training] {backend} {precision}: {r['patches_per_s']:.1f} patches/s "
             f"({r['seconds_per_step']:.3f} s/step of {bs}, {r['steps']} steps; "
             f"{r['cpu_seconds_per_step']:.2f} CPU-s/step on {r['cores']} cores -> "
             f"{r['quiet_estimate_patches_per_s']:.0f} patches/s on an idle machine, estimated)")
    print(_RESULT + json.dumps(result), flush=True)


def training_section():
    """Training patches/s per backend (one child process each) and precision; a table at the end."""
    result = {}
    forwarded = [f"--{name}={','.join(v) if isinstance(v, list) else v}" for name, v in (
        ("training_precisions", FLAGS.training_precisions), ("training_steps", FLAGS.training_steps),
        ("training_batch_size", FLAGS.training_batch_size), ("training_depth", FLAGS.training_depth),
        ("training_filters", FLAGS.training_filters),
        ("training_pipeline_batches", FLAGS.training_pipeline_batches))]
    if FLAGS.training_data:
        forwarded.append(f"--training_data={FLAGS.training_data}")
    for backend in FLAGS.training_backends:
        cmd = [sys.executable, os.path.abspath(__file__), f"--training_child={backend}"] + forwarded
        env = dict(os.environ, KERAS_BACKEND=backend)
        child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
        for line in child.stdout:  # progress as it comes; the last line is the result
            if line.startswith(_RESULT):
                result[backend] = json.loads(line[len(_RESULT):])
            else:
                print(line, end="", flush=True)
        if child.wait() != 0 or backend not in result:
            result[backend] = {"error": f"exit status {child.returncode} (see its output above)"}
            _log(f"[training] {backend}: FAILED, exit status {child.returncode}")
    _log(f"[training] patches/s, batch {FLAGS.training_batch_size} of 41x41, depth {FLAGS.training_depth}, "
         f"{FLAGS.training_filters} filters (wall; idle-machine estimate from CPU time in brackets):")
    for backend, r in result.items():
        for precision in FLAGS.training_precisions:
            if precision in r:
                x = r[precision]
                _log(f"[training]   {backend:<10} {precision:<15} {x['patches_per_s']:9.1f}  "
                     f"({x['quiet_estimate_patches_per_s']:.0f})  on {', '.join(r['devices'])}")
    return result


# ----------------------------------------------------------------------------- backends

def backends_section():
    """Latency of each exported backend/precision at --backends_size x --backends_scale; file sizes."""
    import numpy as np

    from vdsr_tf import atomic, backends, export, inference, matlab

    scale = inference.check_scale(FLAGS.backends_scale)
    size = FLAGS.backends_size
    tmp = None
    if FLAGS.backends_dir:
        folder = FLAGS.backends_dir
        manifest = export.read_manifest(folder)
        source = f"{folder} (weights {manifest['weights']['file']})"
    else:
        model, source = _model_and_source(FLAGS.weights)
        source = f"temporary export of {source}"
        tmp = tempfile.TemporaryDirectory(prefix="vdsr_bench_export.")
        folder = tmp.name
        weights = FLAGS.weights
        if weights is None:
            weights = os.path.join(folder, "weights.weights.h5")
            model.save_weights(weights)
        _log(f"[backends] exporting {source} to a temporary folder (no parity measurement) ...")
        manifest = export.export_all(folder, weights=weights, e2e_scale=scale,
                                     calibration_data=FLAGS.training_data, measure_parity=False)
    from vdsr_tf.weights import load_model

    info = manifest["weights"]
    keras_model = load_model() if info["source"] == "bundled" else load_model(info["path"])

    img = synthetic_rgb(size)
    luma = matlab.rgb2ycbcr(img.astype(np.float32) / 255.0)[..., 0]
    x = matlab.imresize(luma, scale).astype(np.float32)[None, :, :, None]
    out_mp = x.shape[1] * x.shape[2] / 1e6
    threads = FLAGS.backends_threads
    result = {"artefacts": source, "input": size, "scale": scale, "output_megapixels": round(out_mp, 4),
              "tflite_threads": threads or os.cpu_count(), "rows": []}
    _log(f"[backends] {size}x{size} at x{scale:g} ({out_mp:.2f} output MP), artefacts: {source}")
    _log(f"{'backend':<22} {'size MB':>8} {'net s':>8} {'net s/MP':>9} {'CPU s/MP':>9} {'SR s/MP':>8} "
         f"{'vs keras':>9} {'(CPU)':>7}")

    candidates = [("keras", "float32", None, inference.KerasPredictor(keras_model))]
    for art in manifest["artifacts"]:
        path = os.path.join(folder, art["file"])
        if art["kind"] == "e2e":
            continue
        if art["format"] == "tf_saved_model":
            candidates.append(("saved_model", art["precision"], art, backends.SavedModelPredictor(path)))
        else:
            candidates.append(("tflite", art["precision"], art,
                               backends.TFLitePredictor(path, num_threads=threads)))
    keras_net = None
    for backend, precision, art, predictor in candidates:
        predictor(x[:, :64, :64])  # warm up (trace / allocate)
        predictor(x)
        net, cpu = _timed_cpu(lambda: predictor(x), FLAGS.backends_repeats)
        sr = _timed(lambda: inference.super_resolve(img, scale, model=predictor), FLAGS.backends_repeats)
        if keras_net is None:
            keras_net, keras_cpu = net, cpu
        row = {"backend": backend, "precision": precision,
               "file": art["file"] if art else None,
               "size_bytes": art["size_bytes"] if art else None,
               "network_seconds": round(net, 4),
               "network_seconds_per_output_mp": round(net / out_mp, 4),
               "network_cpu_seconds_per_output_mp": round(cpu / out_mp, 4),
               "super_resolve_seconds_per_output_mp": round(sr / out_mp, 4),
               "speedup_vs_keras_float32": round(keras_net / net, 2),
               "cpu_speedup_vs_keras_float32": round(keras_cpu / cpu, 2)}
        result["rows"].append(row)
        mb = f"{row['size_bytes'] / 1e6:8.2f}" if art else f"{'-':>8}"
        _log(f"{backend + ' ' + precision:<22} {mb} {net:8.3f} {net / out_mp:9.3f} {cpu / out_mp:9.3f} "
             f"{sr / out_mp:8.3f} {row['speedup_vs_keras_float32']:8.2f}x "
             f"{row['cpu_speedup_vs_keras_float32']:6.2f}x")
    for art in manifest["artifacts"]:
        if art["kind"] != "e2e":
            continue
        e2e = backends.TFLiteModel(os.path.join(folder, art["file"]), num_threads=threads)
        shape = art["inputs"][0]["shape"]
        pic = synthetic_rgb(max(shape[1:3]))[: shape[1], : shape[2]][None]
        e2e(pic)
        seconds = _timed(lambda: e2e(pic), FLAGS.backends_repeats)
        mp = np.prod(art["outputs"][0]["shape"][1:3]) / 1e6
        row = {"backend": "tflite_e2e", "precision": art["precision"], "file": art["file"],
               "size_bytes": art["size_bytes"], "input_shape": shape,
               "seconds": round(seconds, 4), "seconds_per_output_mp": round(seconds / mp, 4)}
        result["rows"].append(row)
        _log(f"[backends] end-to-end {art['file']}: {seconds:.3f} s for {mp:.2f} output MP "
             f"({seconds / mp:.3f} s/MP, uint8 RGB in and out)")
    int8 = [r for r in result["rows"] if r["precision"] == "int8" and r["backend"] == "tflite"]
    if int8:
        _log(f"[backends] int8 TFLite vs float32 Keras (network): {int8[0]['speedup_vs_keras_float32']:.2f}x "
             f"wall, {int8[0]['cpu_speedup_vs_keras_float32']:.2f}x CPU time (aim: >= 3x)")
    if FLAGS.backends_update_manifest:
        if not FLAGS.backends_dir:
            raise app.UsageError("--backends_update_manifest needs --backends_dir")
        manifest = export.read_manifest(FLAGS.backends_dir)
        manifest["benchmark"] = dict(result, date=time.strftime("%Y-%m-%d %H:%M:%S"),
                                     cpus=os.cpu_count(), processor=platform.processor())
        atomic.write_json(export.Path(FLAGS.backends_dir) / export.MANIFEST, manifest)
        _log(f"[backends] figures written to {FLAGS.backends_dir}/manifest.json")
    if tmp is not None:
        tmp.cleanup()
    return result


# ----------------------------------------------------------------------------- main

SECTIONS = {
    "inference": inference_section,
    "training": training_section,
    "backends": backends_section,
}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.rss_child:
        _rss_child()
        return 0
    if FLAGS.training_child:
        _training_child(FLAGS.training_child)
        return 0
    unknown = [s for s in FLAGS.sections if s not in SECTIONS]
    if unknown:
        raise app.UsageError(f"unknown sections {unknown}; available: {sorted(SECTIONS)}")
    from importlib import metadata

    def _version(package):  # without importing it: a GPU machine may have no TensorFlow
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    results = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "processor": platform.processor(), "python": platform.python_version(),
                    **{p: _version(p) for p in ("tensorflow", "keras", "jax")},
                    "date": time.strftime("%Y-%m-%d %H:%M:%S")},
    }
    for name in FLAGS.sections:
        results[name] = SECTIONS[name]()
    if FLAGS.json:
        _write_json(results, FLAGS.json)
        _log(f"wrote {FLAGS.json}")
    return 0


if __name__ == "__main__":
    from vdsr_tf.atomic import exits_cleanly_on_signals

    app.run(exits_cleanly_on_signals(main, "benchmark"))
