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


def main(argv, prog="verify_export"):
    if len(argv) != 2:
        raise app.UsageError("give one export folder, the one `vdsr-tf export` wrote")
    logging.set_verbosity(logging.WARNING)  # TF's SavedModel writer logs at INFO
    from vdsr_tf import export
    from vdsr_tf.nn.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    start = time.perf_counter()

    def say(line):
        print(f"[{time.perf_counter() - start:7.1f}s] {line}", flush=True)

    try:
        ok, rows = export.verify(argv[1], weights=FLAGS.weights, test_data=FLAGS.test_data,
                                 scales=[int(s) for s in FLAGS.scales], progress=say)
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    print()
    for row in rows:
        status = {True: "ok  ", False: "FAIL", None: "skip"}[row["passed"]]
        print(f"{status} {row['file']:<32} {row['summary']}")
    print("\nall artefacts pass" if ok else "\nPARITY BROKEN: see FAIL lines above")
    return 0 if ok else 1


def run(argv: list[str], prog: str = "vdsr-tf verify") -> int:
    """The command line ``argv`` (EXPORT_DIR and flags); returns the exit status."""
    return flagged.run(main, argv, prog)
