"""``vdsr-tf verify`` (and ``tools/verify_export.py``): checks an export folder, every
artefact of its manifest.json against the Keras model.

Example:
  vdsr-tf verify exports/
  vdsr-tf verify /tmp/exp --weights my.weights.h5 --test_data ../shared/data/benchmark/Set5

Runs each artefact on --test_data (Set5; synthetic pictures when absent) next to Keras and
exits 1 when parity breaks (limits in vdsr_tf.export.LIMITS): SavedModel and float32 TFLite
max |diff| <= 1e-4 on [0, 1]; float16 PSNR drop <= 0.02 dB; int8 PSNR drop reported
(target <= 0.2 dB, broken above 1 dB); end-to-end model within 1 grey level of
super_resolve on 99.9% of pixels; any file changed since export (sha256) or unreadable.
The sha256 of every file is checked first: a damaged file fails in seconds, unmeasured.
TFLite files also get what the GPU delegate meets: static shapes (a tile model must have them)
and the verdict of TensorFlow 2.17's analyzer where tools/gpu_analyzer_env.sh built it.
--arm64 runs every TFLite file with aarch64 LiteRT under qemu-user next to x86 (float32 within
1e-4, the others within 0.02 dB); --record writes those figures into the manifest.
"""
import sys
import time

from absl import app, flags, logging

from vdsr_tf.cli import flagged

FLAGS = flags.FLAGS
flags.DEFINE_string("weights", None, "Reference weights; default: those named in the manifest.")
flags.DEFINE_string("test_data", flagged.shared_data("benchmark", "Set5"),
                    "Benchmark folder (synthetic pictures if missing).")
flags.DEFINE_list("scales", ["2", "3", "4"], "Scales.")
flags.DEFINE_bool("arm64", False, "Also run every TFLite file with aarch64 LiteRT under qemu-user and compare it "
                  "with x86 (minutes; build its folder with tools/arm64_sysroot.sh).")
flags.DEFINE_bool("record", False, "With --arm64: write the aarch64 figures into the folder's manifest.json.")


def main(argv, prog="verify_export"):
    if len(argv) != 2:
        raise app.UsageError("give one export folder, the one `vdsr-tf export` wrote")
    if FLAGS.record and not FLAGS.arm64:
        raise app.UsageError("--record writes the --arm64 figures: give --arm64 too")
    logging.set_verbosity(logging.WARNING)  # TF's SavedModel writer logs at INFO
    from vdsr_tf import export
    from vdsr_tf.nn.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    start = time.perf_counter()

    def say(line):
        print(f"[{time.perf_counter() - start:7.1f}s] {line}", flush=True)

    try:
        ok, rows = export.verify(argv[1], weights=FLAGS.weights, test_data=FLAGS.test_data,
                                 scales=[int(s) for s in FLAGS.scales], arm64=FLAGS.arm64, progress=say)
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    print()
    for row in rows:
        status = {True: "ok  ", False: "FAIL", None: "skip"}[row["passed"]]
        print(f"{status} {row['file']:<32} {row['summary']}")
    if FLAGS.record and FLAGS.arm64:
        export.record_arm64(argv[1], rows)
        print(f"\naarch64 figures written to {argv[1]}/manifest.json")
    print("\nall artefacts pass" if ok else "\nPARITY BROKEN: see FAIL lines above")
    return 0 if ok else 1


def run(argv: list[str], prog: str = "vdsr-tf verify") -> int:
    """The command line ``argv`` (EXPORT_DIR and flags); returns the exit status."""
    return flagged.run(main, argv, prog)
