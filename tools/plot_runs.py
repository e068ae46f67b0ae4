r"""Validation PSNR of runs that continue one another, on one patch-passes axis, with the
official weights' and the paper's Set5 rows as reference lines.

  python tools/plot_runs.py --run runs/vdsr_x234 --run runs/vdsr_long --out docs/val_psnr_x234.png \
      --zoom_db 0.6
  python tools/plot_runs.py --run runs/jpeg_d22074 --out docs/val_psnr_jpeg.png \
      --reference_json runs/vdsr_jpeg/eval_paper_bicubic.json --reference_method paper

Each --run is a run folder (config.json + history.json). A run warm-started from the previous
one (--init_weights) is drawn after that run's last step; the first starts at 0. Runs that
validate at JPEG LR too (--val_degradations) get those lines as well; --reference_json (rows of
tools/evaluate.py --json) adds the rows of --reference_method on the validation set as
reference lines, lossless and at each of those degradations.
"""
from __future__ import annotations

import json
import os
import sys

from absl import app, flags

flags.DEFINE_multi_string("run", None, "Run folders, in the order they continue one another.", required=True)
flags.DEFINE_multi_string("label", None, "Legend label per --run (default: the folder name).")
flags.DEFINE_string("out", None, "PNG to write (atomically).", required=True)
flags.DEFINE_bool("overwrite", False, "Replace an existing --out file.")
flags.DEFINE_string("reference_json", None, "tools/evaluate.py --json rows to draw as references.")
flags.DEFINE_string("reference_method", "paper", "The method of --reference_json drawn.")
flags.DEFINE_float("zoom_db", None, "Add a second row of panels over the top ZOOM_DB dB under the "
                   "highest line (reference or point), where a long run's last hundredths of a dB show.",
                   lower_bound=0.01)
FLAGS = flags.FLAGS


def _load(folder):
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    with open(os.path.join(folder, "history.json"), encoding="utf-8") as f:
        return cfg, json.load(f)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from vdsr_tf.core import atomic
    from vdsr_tf.train import plot_runs

    try:
        atomic.check_output_path(FLAGS.out, overwrite=FLAGS.overwrite, what="--out")
    except ValueError as e:
        print(f"plot_runs: error: {e}", file=sys.stderr)
        return 1

    labels = FLAGS.label or [os.path.basename(os.path.normpath(r)) for r in FLAGS.run]
    if len(labels) != len(FLAGS.run):
        raise app.UsageError(f"{len(labels)} --label for {len(FLAGS.run)} --run")
    runs, offset = [], 0
    for label, folder in zip(labels, FLAGS.run):
        try:
            cfg, history = _load(folder)
        except (OSError, ValueError) as e:
            print(f"plot_runs: error: {folder}: {e}", file=sys.stderr)
            return 1
        if not history.get("val"):
            print(f"plot_runs: error: {folder} has no validation yet", file=sys.stderr)
            return 1
        runs.append((label, history, cfg["batch_size"], offset))
        offset += max(r["step"] for r in history["val"]) * cfg["batch_size"]
    refs = None
    if FLAGS.reference_json:
        try:
            with open(FLAGS.reference_json, encoding="utf-8") as f:
                rows = json.load(f)
        except (OSError, ValueError) as e:
            print(f"plot_runs: error: {FLAGS.reference_json}: {e}", file=sys.stderr)
            return 1
        val_set = runs[0][1].get("val_set", "Set5")
        refs = {}
        for r in rows:
            if r.get("method") == FLAGS.reference_method and r.get("dataset") == val_set:
                refs.setdefault(r.get("degradation", "clean"), {})[str(r["scale"])] = r["psnr"]
        wanted = {"clean"} | {d for _, h, _, _ in runs for r in h["val"] for d in r.get("by_degradation", {})}
        refs = {d: v for d, v in refs.items() if d in wanted}
    plot_runs(runs, FLAGS.out, refs_by_degradation=refs, reference_label=f"{FLAGS.reference_method} weights",
              zoom_db=FLAGS.zoom_db)
    print(f"wrote {FLAGS.out}")
    return 0


if __name__ == "__main__":
    app.run(main)
