"""``vdsr-tf bench`` (and ``tools/benchmark.py``): speed and memory of vdsr_tf, by section
(not timed tests: numbers for BUILD_NOTES.md).

Flags in, vdsr_tf.research.speed (which measures) out, tables printed here.

Example:
  vdsr-tf bench --sections=inference --json bench.json
  vdsr-tf bench --sections=inference --inference_sizes=256 \
      --inference_overhead_size=256 --inference_rss_size=512      # a quick run

Sections (registered in SECTIONS at the bottom):
  inference  Upscaler latency at --inference_scale for each --inference_sizes input
             (square RGB uint8), as seconds per output megapixel and achieved GFLOP/s, the
             FLOPs counted exactly from the model's layers (vdsr_tf.nn.model.flops_per_pixel,
             1,330,626 per output pixel for VDSR); tiling overhead (default tile vs whole
             image, same picture); peak RSS of a fresh process upscaling an
             --inference_rss_size input (a `python -m vdsr_tf.research.speed` child: its
             VmHWM, else getrusage(RUSAGE_CHILDREN).ru_maxrss).
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
  device     the reference device pipeline (vdsr_tf.device.reference: numpy, LiteRT and the
             static tile models of --backends_dir, default exports/) at each --device_threads,
             next to super_resolve with the folder's dynamic float32/int8 TFLite models at the
             same threads and with Keras float32 (all CPUs): seconds per output megapixel of a
             --backends_size picture at --backends_scale, whole pipeline.
Weights: --weights, else the bundled weights, else a randomly initialised full-size VDSR
(timing and memory do not depend on the values; the output says which was used).
"""
import os
import platform
import sys
import time

from absl import app, flags

from vdsr_tf.cli import flagged
from vdsr_tf.research import speed

FLAGS = flags.FLAGS
flags.DEFINE_list("sections", ["inference"], "Sections to run, comma-separated.")
flags.DEFINE_string("json", None, "Also write the results to this JSON file (atomically).")
flags.DEFINE_string("weights", None, "Weights file; default: bundled weights, else random.")

flags.DEFINE_list("inference_sizes", ["256", "512", "1024"], "Square input sizes to time.")
flags.DEFINE_float("inference_scale", 2.0, "Scale for the inference section.")
flags.DEFINE_list("inference_precisions", ["float32", "bfloat16"],
                  "Upscaler precisions to time in the latency table.")
flags.DEFINE_integer("inference_repeats", 1, "Timed runs per size (the fastest is kept).")
flags.DEFINE_integer("inference_tile", None, "Tile side (default: the library's DEFAULT_TILE).")
flags.DEFINE_integer("inference_overhead_size", 1024,
                     "Input size for tiled-vs-whole timing (0 skips).")
flags.DEFINE_integer("inference_rss_size", 2048, "Input size for the peak-RSS run (0 skips).")

flags.DEFINE_list("training_precisions", ["float32", "mixed_bfloat16"], "Precisions to time (training section).")
flags.DEFINE_integer("training_steps", 20, "Timed training steps per precision (after 3 warm-up steps).")
flags.DEFINE_integer("training_batch_size", 64, "Batch of 41x41 patches (training section).")
flags.DEFINE_integer("training_pipeline_batches", 200, "Batches drawn to time the input pipeline alone.")
flags.DEFINE_string("training_data", None, "HR image folder or luminance archive (.npz) for the training section "
                    "(default: synthetic images).")
flags.DEFINE_list("training_backends", ["tensorflow", "jax"], "Keras backends to time (training section).")
flags.DEFINE_integer("training_depth", 20, "Conv layers of the timed network (training section).")
flags.DEFINE_integer("training_filters", 64, "Filters per hidden layer of the timed network (training section).")

flags.DEFINE_string("backends_dir", None, "Export folder for the backends section (default: a temporary export).")
flags.DEFINE_integer("backends_size", 512, "Square input side for the backends section.")
flags.DEFINE_float("backends_scale", 2.0, "Scale for the backends section.")
flags.DEFINE_integer("backends_repeats", 2, "Timed runs per backend (the fastest is kept).")
flags.DEFINE_integer("backends_threads", None, "TFLite threads (default: all CPUs).")
flags.DEFINE_list("device_threads", ["1", "2"], "LiteRT threads to time (device section).")
flags.DEFINE_boolean("backends_update_manifest", False, "Write the figures into --backends_dir/manifest.json.")


def _log(line=""):
    print(line, flush=True)


def inference_section():
    r = speed.inference(
        weights=FLAGS.weights, sizes=[int(s) for s in FLAGS.inference_sizes], scale=FLAGS.inference_scale,
        precisions=FLAGS.inference_precisions, repeats=FLAGS.inference_repeats, tile=FLAGS.inference_tile,
        overhead_size=FLAGS.inference_overhead_size, rss_size=FLAGS.inference_rss_size, progress=_log)
    _log(f"[inference] weights: {r['weights']}")
    _log(f"[inference] {r['flops_per_output_pixel']:,} FLOP per output pixel, x{r['scale']:g}, "
         f"tile {r['tile']}, halo {r['halo']}")
    if "peak_rss" in r:
        m = r["peak_rss"]
        _log(f"[inference] peak RSS for {m['input']}x{m['input']} at x{r['scale']:g}: {m['peak_rss_mb']:.0f} MB "
             f"(VmHWM; getrusage(RUSAGE_CHILDREN) says {m['ru_maxrss_children_mb']:.0f} MB; "
             f"after TF import, model and warm-up: {m['before_run_mb']:.0f} MB; {m['seconds']:.1f} s)")
    _log(f"{'precision':>9} {'input':>11} {'output':>11} {'seconds':>9} {'s/MP':>8} {'GFLOP/s':>8}")
    for row in r["latency"]:
        size = row["input"]
        _log(f"{row['precision']:>9} {size:>5}x{size:<5} {row['output_pixels'] / 1e6:>9.2f}MP "
             f"{row['seconds']:>9.2f} {row['seconds_per_output_mp']:>8.3f} {row['gflops']:>8.1f}   "
             f"(CPU {row['cpu_seconds']:.2f} s: {row['gflops_per_cpu_second']:.1f} GFLOP per CPU-second)")
    if "tiling" in r:
        t = r["tiling"]
        _log(f"[inference] tiling at {t['input']}x{t['input']}: tiled {t['tiled_seconds']:.2f} s "
             f"({t['tiles']} tiles, {t['extra_pixels_percent']}% extra pixels) vs whole {t['whole_seconds']:.2f} s: "
             f"overhead {t['overhead_percent']:+.1f}% (CPU time {t['tiled_cpu_seconds']:.2f} vs "
             f"{t['whole_cpu_seconds']:.2f} s: {t['overhead_cpu_percent']:+.1f}%)")
    return r


def training_section():
    r = speed.training(
        backends=FLAGS.training_backends, precisions=FLAGS.training_precisions, steps=FLAGS.training_steps,
        batch_size=FLAGS.training_batch_size, depth=FLAGS.training_depth, filters=FLAGS.training_filters,
        pipeline_batches=FLAGS.training_pipeline_batches, data=FLAGS.training_data, progress=_log)
    _log(f"[training] patches/s, batch {FLAGS.training_batch_size} of 41x41, depth {FLAGS.training_depth}, "
         f"{FLAGS.training_filters} filters (wall; idle-machine estimate from CPU time in brackets):")
    for backend, figures in r.items():
        if "error" in figures:
            _log(f"[training]   {backend:<10} FAILED: {figures['error']}")
        for precision in FLAGS.training_precisions:
            if precision in figures:
                x = figures[precision]
                _log(f"[training]   {backend:<10} {precision:<15} {x['patches_per_s']:9.1f}  "
                     f"({x['quiet_estimate_patches_per_s']:.0f})  on {', '.join(figures['devices'])}")
    return r


def backends_section():
    if FLAGS.backends_update_manifest and not FLAGS.backends_dir:
        raise app.UsageError("--backends_update_manifest needs --backends_dir")
    r = speed.exported_backends(
        folder=FLAGS.backends_dir, weights=FLAGS.weights, size=FLAGS.backends_size, scale=FLAGS.backends_scale,
        repeats=FLAGS.backends_repeats, threads=FLAGS.backends_threads, calibration_data=FLAGS.training_data,
        progress=_log)
    mp = r["output_megapixels"]
    _log(f"[backends] {r['input']}x{r['input']} at x{r['scale']:g} ({mp:.2f} output MP), artefacts: {r['artefacts']}")
    _log(f"{'backend':<22} {'size MB':>8} {'net s':>8} {'net s/MP':>9} {'CPU s/MP':>9} {'SR s/MP':>8} "
         f"{'vs keras':>9} {'(CPU)':>7}")
    for row in r["rows"]:
        if row["backend"] == "tflite_e2e":
            _log(f"[backends] end-to-end {row['file']}: {row['seconds']:.3f} s for {row['output_megapixels']:.2f} "
                 f"output MP ({row['seconds_per_output_mp']:.3f} s/MP, uint8 RGB in and out)")
            continue
        size = f"{row['size_bytes'] / 1e6:8.2f}" if row["size_bytes"] else f"{'-':>8}"
        _log(f"{row['backend'] + ' ' + row['precision']:<22} {size} {row['network_seconds']:8.3f} "
             f"{row['network_seconds_per_output_mp']:9.3f} {row['network_cpu_seconds_per_output_mp']:9.3f} "
             f"{row['super_resolve_seconds_per_output_mp']:8.3f} {row['speedup_vs_keras_float32']:8.2f}x "
             f"{row['cpu_speedup_vs_keras_float32']:6.2f}x")
    int8 = [row for row in r["rows"] if row["precision"] == "int8" and row["backend"] == "tflite"]
    if int8:
        _log(f"[backends] int8 TFLite vs float32 Keras (network): {int8[0]['speedup_vs_keras_float32']:.2f}x "
             f"wall, {int8[0]['cpu_speedup_vs_keras_float32']:.2f}x CPU time (aim: >= 3x)")
    if FLAGS.backends_update_manifest:
        speed.store_in_manifest(FLAGS.backends_dir, r)
        _log(f"[backends] figures written to {FLAGS.backends_dir}/manifest.json")
    return r


def device_section():
    r = speed.device_pipeline(folder=FLAGS.backends_dir or "exports", size=FLAGS.backends_size,
                              scale=FLAGS.backends_scale, threads=[int(t) for t in FLAGS.device_threads],
                              repeats=FLAGS.backends_repeats, progress=_log)
    _log(f"[device] {r['input']}x{r['input']} at x{r['scale']:g} ({r['output_megapixels']:.2f} output MP), "
         f"artefacts: {r['artefacts']}")
    _log(f"{'pipeline':<22} {'precision':<9} {'threads':>7} {'s/MP':>8} {'CPU s/MP':>9}  file")
    for row in r["rows"]:
        _log(f"{row['pipeline']:<22} {row['precision']:<9} {row['threads']:>7} {row['seconds_per_output_mp']:8.3f} "
             f"{row['cpu_seconds_per_output_mp']:9.3f}  {row['file'] or '-'}")
    return r


SECTIONS = {
    "inference": inference_section,
    "training": training_section,
    "backends": backends_section,
    "device": device_section,
}


def main(argv, prog="benchmark"):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
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
    if set(FLAGS.sections) - {"training"}:  # the training section times child processes only
        from vdsr_tf.nn.quiet import import_tensorflow_quietly

        import_tensorflow_quietly()
    for name in FLAGS.sections:
        try:
            results[name] = SECTIONS[name]()
        except (FileNotFoundError, ValueError) as e:  # no export folder, a manifest that is not one
            print(f"{prog}: error: {e}", file=sys.stderr)
            return 1
    if FLAGS.json:
        from vdsr_tf.core import atomic

        atomic.write_json(FLAGS.json, results)
        _log(f"wrote {FLAGS.json}")
    return 0


def run(argv: list[str], prog: str = "vdsr-tf bench") -> int:
    """The command line ``argv`` (flags only); returns the exit status."""
    return flagged.run(main, argv, prog)
