r"""Reproduce the paper's analyses: residual vs plain (Table 1), depth (Figure 3), training scales (Table 2).

  python tools/ablate.py --study residual --budget 200000 --out docs/ablations/residual
  python tools/ablate.py --backend jax --study depth --budget 2000000 --out gpu_out/depth \
      --data gpu_carry/train_luma.npz --eval_data gpu_carry/Set5 --val_data gpu_carry/Set5

Every cell trains for --budget patch passes with the trainer (the rest of the recipe from the
flags below), then is scored on --eval_data. Re-running the same command resumes: finished
cells are skipped and an interrupted cell continues from its checkpoint. Writes
<out>/results.json, <out>/<study>.md and <out>/<study>.png. The grids live in vdsr_tf.research.studies.
--backend jax trains the cells with Keras on JAX (no TensorFlow imported); on a GPU machine
gpu/gpu_ablate.sh runs this with the carried archive and Set5.
"""
from __future__ import annotations

import os
import signal
import sys

from absl import app, flags

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO not in sys.path:  # run from a checkout without `pip install -e .` (a GPU machine)
    sys.path.insert(0, _REPO)

from vdsr_tf.cli.flagged import plain_log_lines, shared_data, use_keras_backend  # noqa: E402
from vdsr_tf.research import studies  # noqa: E402
from vdsr_tf.train.config import BACKENDS, PRECISION_NAMES, TrainConfig  # noqa: E402

flags.DEFINE_enum("study", None, list(studies.STUDIES), "Which analysis.", required=True)
flags.DEFINE_integer("budget", None, "Patch passes per cell (steps = budget / batch_size).", required=True)
flags.DEFINE_string("out", None, "Output folder (results, table, plot, the cells' run folders).", required=True)
flags.DEFINE_enum("backend", TrainConfig().backend, BACKENDS,
                  "tensorflow, or jax (Keras on JAX; imports no TensorFlow).")
flags.DEFINE_list("data", None, "HR training folders and/or .npz luminance archives "
                  "(default ../shared/data/train).")
flags.DEFINE_list("eval_data", None, "Benchmark folders to score every cell on (default Set5 and Set14).")
flags.DEFINE_string("val_data", None, "Validation folder for the residual study's curves (default Set5).")
flags.DEFINE_list("only", None, "Run only these cells (names as in results.json).")
flags.DEFINE_enum("precision", "mixed_bfloat16", PRECISION_NAMES, "Training precision.")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_integer("filters", 64, "Filters per layer.")
flags.DEFINE_integer("depth", 20, "Depth (the depth study sets its own).")
flags.DEFINE_float("theta", TrainConfig().theta, "Adjustable clipping constant (the paper's recipe).")
flags.DEFINE_bool("zero_init_last", False, "Start every cell's last conv at zero (the network starts as "
                  "bicubic), so a short budget is not spent undoing an unlucky initialisation.")
flags.DEFINE_integer("seed", 0, "Seed.")
flags.DEFINE_integer("log_every", TrainConfig().log_every, "Progress line every N steps of a cell.")
flags.DEFINE_integer("checkpoint_every", TrainConfig().checkpoint_every, "Checkpoint a cell every N steps.")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    use_keras_backend(FLAGS.backend)  # vdsr_tf.research.studies and vdsr_tf.train.config import no keras
    plain_log_lines()
    data = FLAGS.data or [shared_data("train")]
    eval_data = FLAGS.eval_data or [shared_data("benchmark", n) for n in ("Set5", "Set14")]
    val = FLAGS.val_data or shared_data("benchmark", "Set5")
    try:
        base = TrainConfig(data=tuple(data), val_data=val if os.path.isdir(val) else None,
                           precision=FLAGS.precision, batch_size=FLAGS.batch_size, depth=FLAGS.depth,
                           filters=FLAGS.filters, theta=FLAGS.theta, seed=FLAGS.seed,
                           zero_init_last=FLAGS.zero_init_last, backend=FLAGS.backend,
                           log_every=FLAGS.log_every, checkpoint_every=FLAGS.checkpoint_every)
        study = studies.StudyRun(FLAGS.study, FLAGS.out, base=base, budget=FLAGS.budget, eval_data=eval_data,
                                 progress=lambda line: print(line, flush=True))
    except ValueError as e:
        print(f"ablate: error: {e}", file=sys.stderr)
        return 2
    # Ctrl-C / SIGTERM: the running cell checkpoints after its current step (a second one kills).
    def _stop(signum, frame):
        study.request_stop()
        signal.signal(signum, signal.SIG_DFL)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stop)
    try:
        res = study.run(only=FLAGS.only)
    except ValueError as e:
        print(f"ablate: error: {e}", file=sys.stderr)
        return 2
    if study.stopped:
        print("ablate: stopped; run the same command again to continue", file=sys.stderr)
        return 130
    print(studies.format_table(res))
    return 0


if __name__ == "__main__":
    app.run(main)
