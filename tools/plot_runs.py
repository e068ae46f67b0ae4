"""Validation PSNR of runs that continue one another, on one patch-passes axis, with the
official weights' and the paper's Set5 rows as reference lines.

  python tools/plot_runs.py --run runs/vdsr_x234 --run runs/vdsr_long --out docs/val_psnr_x234.png

Each --run is a run folder (config.json + history.json). A run warm-started from the previous
one (--init_weights) is drawn after that run's last step; the first starts at 0.
"""
from __future__ import annotations

import json
import os
import sys

from absl import app, flags

flags.DEFINE_multi_string("run", None, "Run folders, in the order they continue one another.", required=True)
flags.DEFINE_multi_string("label", None, "Legend label per --run (default: the folder name).")
flags.DEFINE_string("out", None, "PNG to write (atomically).", required=True)
FLAGS = flags.FLAGS


def _load(folder):
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    with open(os.path.join(folder, "history.json"), encoding="utf-8") as f:
        return cfg, json.load(f)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from vdsr_tf.train import plot_runs

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
    plot_runs(runs, FLAGS.out)
    print(f"wrote {FLAGS.out}")
    return 0


if __name__ == "__main__":
    app.run(main)
