"""Bundle a training run's weights into the package, with a model card.

    python tools/bundle_weights.py --workdir runs/vdsr_x234 --eval_json eval.json \
        --command "runs/train_x234.sh" --note "..." [--name jpeg] --overwrite

Copies ``<workdir>/vdsr.weights.h5`` to the bundled set ``--name`` (paper:
``vdsr_tf/weights/vdsr_x234.weights.h5``; jpeg: ``vdsr_jpeg.weights.h5``) and writes the card
beside it (``vdsr_x234.json``, ``vdsr_jpeg.json``): the run's model card (config, steps, data, time, validation)
plus the exact command, the evaluation rows of ``tools/evaluate.py --json``, a note and the
weights' sha256 (checked by ``vdsr_tf.nn.weights.load_model`` on every load). Both files are written
atomically; the weights are checked to load before anything is replaced.
"""
from __future__ import annotations

import json
import os
import shutil

from absl import app, flags

flags.DEFINE_string("workdir", None, "Training run folder holding vdsr.weights.h5 and model_card.json.")
flags.DEFINE_string("eval_json", None, "tools/evaluate.py --json output for these weights.")
flags.DEFINE_string("command", None, "The command that trained the run (recorded verbatim).")
flags.DEFINE_string("note", "", "Free text for the card (status, what is next).")
flags.DEFINE_enum("name", "paper", ["paper", "jpeg"], "Which bundled set to write.")
flags.DEFINE_bool("overwrite", False, "Replace the bundled set when it exists (re-bundling).")
flags.mark_flags_as_required(["workdir", "eval_json", "command"])
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from vdsr_tf.core import atomic, integrity
    from vdsr_tf.nn import weights as weights_mod
    from vdsr_tf.nn.weights import bundled_card_path, load_model

    target = weights_mod.BUNDLED_WEIGHTS if FLAGS.name == "paper" else weights_mod.JPEG_WEIGHTS
    if target.exists() and not FLAGS.overwrite:
        raise app.UsageError(f"the bundled {FLAGS.name!r} weights {target} exist; pass --overwrite to replace them")

    src = os.path.join(FLAGS.workdir, "vdsr.weights.h5")
    card_path = os.path.join(FLAGS.workdir, "model_card.json")
    for path in (src, card_path, FLAGS.eval_json):
        if not os.path.isfile(path):
            raise app.UsageError(f"{path} does not exist")
    load_model(src)  # refuses a broken file before anything in the package changes
    with open(card_path) as f:
        card = json.load(f)
    with open(FLAGS.eval_json) as f:
        rows = json.load(f)
    card["command"] = FLAGS.command
    card["evaluation"] = {"tool": "tools/evaluate.py", "rows": rows}
    card["note"] = FLAGS.note
    card["weights_file"] = target.name
    card["bundled_as"] = FLAGS.name
    card["sha256"] = integrity.sha256(src)
    with atomic.atomic_path(target, suffix=".weights.h5") as tmp:
        shutil.copyfile(src, tmp)
    # The card last: until it is replaced, loading refuses the new weights (hash mismatch)
    # rather than running weights the card does not describe.
    atomic.write_json(bundled_card_path(target), card)
    print(f"bundled {src} -> {target} (step {card.get('steps')})")


if __name__ == "__main__":
    app.run(main)
