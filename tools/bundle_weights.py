r"""Put trained weights, their TFLite twins or new evaluation rows into the package's cards.

Three jobs, one per re-bundle step (BUILD_NOTES.md, "Re-bundling the paper set"); each writes
atomically, card last (:mod:`vdsr_tf.export.bundle`):

    # the weights and their card (--method: keep that method's rows and bicubic's from an
    # evaluation that scored several weights side by side)
    python tools/bundle_weights.py --workdir runs/branch_d92057 --eval_json eval.json \
        --method vdsr --command "runs/train_long.sh ..." --note "..." [--name jpeg] --overwrite
    # after tools/export.py and vdsr-tf verify: the float32/int8 TFLite files and tflite.json
    python tools/bundle_weights.py --tflite_from exports [--name paper]
    # the paper rows of the jpeg card, measured again with the new paper set
    python tools/bundle_weights.py --replace_rows jpeg_rows.json --method paper --name jpeg
"""
from __future__ import annotations

import json
import sys

from absl import app, flags

flags.DEFINE_string("workdir", None, "Training run folder holding vdsr.weights.h5 and model_card.json.")
flags.DEFINE_string("eval_json", None, "tools/evaluate.py --json output for these weights.")
flags.DEFINE_string("method", None, "With --eval_json: keep only this method's rows (and bicubic's); "
                    "with --replace_rows: the method whose rows are replaced.")
flags.DEFINE_string("command", None, "The command that trained the run (recorded verbatim).")
flags.DEFINE_string("note", "", "Free text for the card (status, what is next).")
flags.DEFINE_enum("name", "paper", ["paper", "jpeg"], "Which bundled set to write.")
flags.DEFINE_bool("overwrite", False, "Replace the bundled set when it exists (re-bundling).")
flags.DEFINE_string("tflite_from", None, "Export folder (tools/export.py, verified) whose float32 and int8 "
                    "TFLite files become the bundled set's twins.")
flags.DEFINE_string("replace_rows", None, "tools/evaluate.py --json output whose --method rows replace that "
                    "method's rows in the --name card.")
FLAGS = flags.FLAGS


def _rows(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror}") from None
    except ValueError as e:
        raise ValueError(f"{path} is not JSON: {e}") from None


def main(argv):
    try:
        if argv[1:]:
            raise ValueError(f"unexpected arguments: {argv[1:]}")
        return _main()
    except (OSError, ValueError) as e:  # FileExistsError, FileNotFoundError and IntegrityError too
        print(f"bundle_weights: error: {e}", file=sys.stderr)
        return 1


def _main():
    from vdsr_tf.export import bundle

    modes = [m for m in ("workdir", "tflite_from", "replace_rows") if getattr(FLAGS, m)]
    if len(modes) != 1:
        raise ValueError("give exactly one of --workdir (weights), --tflite_from (TFLite twins), "
                         "--replace_rows (card rows)")
    if FLAGS.tflite_from:
        entry = bundle.bundle_tflite(FLAGS.tflite_from, FLAGS.name)
        print(f"bundled the {FLAGS.name!r} TFLite twins from {entry['export']}: "
              + ", ".join(f"{p} {entry[p]['file']} (Set5 drop {entry[p]['set5_psnr_drop_db']} dB)"
                          for p in ("float32", "int8")))
        return 0
    if FLAGS.replace_rows:
        if not FLAGS.method:
            raise ValueError("--replace_rows needs --method (whose rows to replace, e.g. paper)")
        n = bundle.replace_rows(FLAGS.name, _rows(FLAGS.replace_rows), FLAGS.method)
        print(f"replaced {n} {FLAGS.method!r} rows of the {FLAGS.name!r} card")
        return 0
    if not FLAGS.eval_json or not FLAGS.command:
        raise ValueError("--workdir needs --eval_json and --command")
    rows = _rows(FLAGS.eval_json)
    if FLAGS.method:
        rows = bundle.select_rows(rows, FLAGS.method)
    target = bundle.bundle_weights(FLAGS.workdir, rows, command=FLAGS.command, note=FLAGS.note,
                                   name=FLAGS.name, overwrite=FLAGS.overwrite)
    print(f"bundled {FLAGS.workdir}/vdsr.weights.h5 -> {target}")
    return 0


if __name__ == "__main__":
    from vdsr_tf.core.atomic import exits_cleanly_on_signals

    app.run(exits_cleanly_on_signals(main, "bundle_weights"))
