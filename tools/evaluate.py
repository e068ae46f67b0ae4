"""Scores VDSR (or bicubic) on benchmark folders as in the paper's Table 3.

Example:
  python tools/evaluate.py --data ../shared/data/benchmark/Set5 --data ../shared/data/benchmark/Set14 \
      --scales 2,3,4 --weights bicubic --weights ../shared/data/weights/VDSR_Official.mat --json eval.json

--data: a Huang-layout folder (image_SRF_<s>/*_SRF_<s>_{HR,LR}.png) or a plain folder of HR
images (LR made with the Matlab bicubic); repeat the flag or separate folders by commas.
--weights: a .weights.h5 / .mat file or "bicubic"; repeat for several methods; default the
bundled weights. All logic lives in vdsr_tf.evaluation.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("data", None, "Dataset folder(s); repeat the flag or use commas.", required=True)
flags.DEFINE_list("scales", ["2", "3", "4"], "Integer scales, comma-separated.")
flags.DEFINE_multi_string("weights", None, 'Weights file or "bicubic"; repeatable. Default: bundled weights.')
flags.DEFINE_string("json", None, "Write the rows to this JSON file (atomically).")


def _split_folders(values):
    folders = []
    for value in values:
        folders.extend([value] if os.path.isdir(value) else [v for v in value.split(",") if v])
    return folders


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from vdsr_tf import evaluation

    try:
        scales = [int(s) for s in FLAGS.scales]
    except ValueError:
        raise app.UsageError(f"--scales must be integers, got {','.join(FLAGS.scales)!r}") from None
    weights = FLAGS.weights or [None]
    try:
        rows = evaluation.evaluate(
            _split_folders(FLAGS.data), scales, weights, progress=lambda line: print(line, flush=True)
        )
    except (OSError, ValueError, TypeError) as e:
        print(f"evaluate: error: {e}", file=sys.stderr)
        return 1
    print()
    print(evaluation.format_table(rows))
    if FLAGS.json:
        evaluation.write_json(rows, FLAGS.json)
        print(f"wrote {FLAGS.json}")
    return 0


if __name__ == "__main__":
    from vdsr_tf.atomic import exits_cleanly_on_signals

    app.run(exits_cleanly_on_signals(main, "evaluate"))
