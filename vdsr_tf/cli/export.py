"""``vdsr-tf export`` (and ``tools/export.py``): VDSR for deployment as SavedModel, TFLite
(float32/float16/int8) and an end-to-end model.

Example:
  vdsr-tf export --out exports/                       # bundled weights
  vdsr-tf export --out /tmp/exp --weights my.weights.h5 --e2e_size 256x256 --e2e_scale 2

Writes into --out, which must be new or empty unless --overwrite is given (files of the
same names are then replaced, other files there are left alone; a failed export removes a
folder it made): saved_model/, vdsr_<precision>.tflite, the static tile models
vdsr_tile<T>_<precision>.tflite (for GPU delegates and NPUs; vdsr_tf.device.reference runs them),
vdsr_e2e_<H>x<W>_x<s>.tflite and manifest.json with the parity and PSNR measured on
--test_data (Set5; synthetic pictures when absent). int8 is calibrated on patches of
--calibration_data (the training images; synthetic when absent). See exports/README.md.
All logic lives in vdsr_tf.export.
"""
import sys
import time

from absl import app, flags, logging

from vdsr_tf.cli import flagged

FLAGS = flags.FLAGS
flags.DEFINE_string("out", None, "Output folder (new or empty, else --overwrite).", required=True)
flags.DEFINE_bool("overwrite", False, "Write into an existing non-empty --out, replacing files of the same names.")
flags.DEFINE_string("weights", None,
                    "paper or jpeg (the bundled sets) or a weights file (.weights.h5 / .mat); default: paper.")
flags.DEFINE_list("precisions", ["float32", "float16", "dynamic_int8", "int8"],
                  "TFLite precisions of the luminance network (also: int16x8, slow on CPU).")
flags.DEFINE_string("e2e_size", "256x256", 'End-to-end model input "HxW" ("none" skips it).')
flags.DEFINE_float("e2e_scale", 2.0, "End-to-end model scale.")
flags.DEFINE_enum("e2e_precision", "float32", ["float32", "float16"], "End-to-end model weights.")
flags.DEFINE_integer("tile_size", 256, "Side of the static tile models for GPU delegates and NPUs (0 skips them).")
flags.DEFINE_list("tile_precisions", ["float32", "float16", "int8"], "Precisions of the tile models.")
flags.DEFINE_string("calibration_data", flagged.shared_data("train"),
                    "HR training images for int8 calibration (synthetic if missing).")
flags.DEFINE_integer("calibration_count", 240, "Calibration patches.")
flags.DEFINE_integer("calibration_size", 64, "Calibration patch side.")
flags.DEFINE_string("test_data", flagged.shared_data("benchmark", "Set5"),
                    "Benchmark folder for the measured parity/PSNR (synthetic if missing).")
flags.DEFINE_list("scales", ["2", "3", "4"], "Scales measured.")
flags.DEFINE_list("int8_float_layers", None,
                  'Layers the int8 file keeps in float32 (default: vdsr_tf.export.INT8_FLOAT_LAYERS, '
                  'conv_01,conv_02; "" for all-int8).')


def main(argv, prog="export"):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # TF's SavedModel writer logs at INFO
    from vdsr_tf.core import atomic

    try:  # before TensorFlow is imported: a refusal takes a moment
        atomic.check_output_folder(FLAGS.out, overwrite=FLAGS.overwrite, what="--out",
                                   inputs=[FLAGS.test_data, FLAGS.calibration_data])
    except ValueError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    from vdsr_tf import export
    from vdsr_tf.nn.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    start = time.perf_counter()

    def say(line):
        print(f"[{time.perf_counter() - start:7.1f}s] {line}", flush=True)

    try:
        config = export.ExportConfig(
            weights=FLAGS.weights, precisions=FLAGS.precisions,
            e2e_size=None if FLAGS.e2e_size.lower() == "none" else FLAGS.e2e_size,
            e2e_scale=FLAGS.e2e_scale, e2e_precision=FLAGS.e2e_precision,
            tile_size=FLAGS.tile_size or None, tile_precisions=FLAGS.tile_precisions,
            calibration_data=FLAGS.calibration_data, calibration_count=FLAGS.calibration_count,
            calibration_size=FLAGS.calibration_size, test_data=FLAGS.test_data,
            scales=[int(s) for s in FLAGS.scales],
            int8_float_layers=(export.INT8_FLOAT_LAYERS if FLAGS.int8_float_layers is None
                               else [l for l in FLAGS.int8_float_layers if l]))
        manifest = export.export_all(FLAGS.out, config, progress=say)
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a folder that cannot be written after all, a full disk
        where = f" {e.filename!r}" if e.filename else ""
        print(f"{prog}: error: cannot write{where}: {e.strerror or e}", file=sys.stderr)
        return 1
    print()
    for art in manifest["artifacts"]:
        m = art["measured"]
        status = "ok  " if m["passed"] else "FAIL"
        print(f"{status} {art['file']:<32} {art['size_bytes'] / 1e6:7.2f} MB  {m['summary']}")
    return 0 if all(a["measured"]["passed"] for a in manifest["artifacts"]) else 2


def run(argv: list[str], prog: str = "vdsr-tf export") -> int:
    """The command line ``argv`` (flags only); returns the exit status."""
    return flagged.run(main, argv, prog)
