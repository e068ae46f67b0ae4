"""Checks an export folder: every artefact of its manifest.json against the Keras model.

Example:
  python tools/verify_export.py exports/
  python tools/verify_export.py /tmp/exp --weights my.weights.h5 --test_data ../shared/data/benchmark/Set5

Runs each artefact on --test_data (Set5; synthetic pictures when absent) next to Keras and
exits 1 when parity breaks (limits in vdsr_tf.export.LIMITS): SavedModel and float32 TFLite
max |diff| <= 1e-4 on [0, 1]; float16 PSNR drop <= 0.02 dB; int8 PSNR drop reported
(target <= 0.2 dB, broken above 1 dB); end-to-end model within 1 grey level of
super_resolve on 99.9% of pixels; any file changed since export (sha256) or unreadable.
The sha256 of every file is checked first: a damaged file fails in seconds, unmeasured.
"""
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging

_SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

FLAGS = flags.FLAGS
flags.DEFINE_string("weights", None, "Reference weights; default: those named in the manifest.")
flags.DEFINE_string("test_data", str(_SHARED / "benchmark" / "Set5"),
                    "Benchmark folder (synthetic pictures if missing).")
flags.DEFINE_list("scales", ["2", "3", "4"], "Scales.")


def main(argv):
    if len(argv) != 2:
        raise app.UsageError("usage: verify_export.py EXPORT_DIR [flags]")
    logging.set_verbosity(logging.WARNING)  # TF's SavedModel writer logs at INFO
    from vdsr_tf import export

    start = time.perf_counter()

    def say(line):
        print(f"[{time.perf_counter() - start:7.1f}s] {line}", flush=True)

    try:
        ok, rows = export.verify(argv[1], weights=FLAGS.weights, test_data=FLAGS.test_data,
                                 scales=[int(s) for s in FLAGS.scales], progress=say)
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f"verify_export: error: {e}", file=sys.stderr)
        return 1
    print()
    for row in rows:
        status = {True: "ok  ", False: "FAIL", None: "skip"}[row["passed"]]
        print(f"{status} {row['file']:<32} {row['summary']}")
    print("\nall artefacts pass" if ok else "\nPARITY BROKEN: see FAIL lines above")
    return 0 if ok else 1


if __name__ == "__main__":
    app.run(main)
