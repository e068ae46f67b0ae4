"""``vdsr-tf evaluate`` (and ``tools/evaluate.py``): scores VDSR (or bicubic) on benchmark
folders as in the paper's Table 3.

Example:
  vdsr-tf evaluate --data ../shared/data/benchmark/Set5 --data ../shared/data/benchmark/Set14 \
      --scales 2,3,4 --weights bicubic --weights ../shared/data/weights/VDSR_Official.mat --json eval.json
JPEG inputs, a column per degradation, the two bundled sets and bicubic as rows:
  vdsr-tf evaluate --data ../shared/data/benchmark/Set5 --weights bicubic --weights paper \
      --weights jpeg --degradation clean,jpeg:90,jpeg:75,jpeg:50,jpeg:30

--data: a Huang-layout folder (image_SRF_<s>/*_SRF_<s>_{HR,LR}.png) or a plain folder of HR
images (LR made with the Matlab bicubic); repeat the flag or separate folders by commas.
--weights: paper or jpeg (the bundled sets), a .weights.h5 / .mat file, or "bicubic"; repeat
for several methods; default: the weights super_resolve chooses for each picture.
All logic lives in vdsr_tf.evaluation.scoring.
"""
import os
import sys

from absl import app, flags

from vdsr_tf.cli import flagged

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("data", None, "Dataset folder(s); repeat the flag or use commas.", required=True)
flags.DEFINE_list("scales", ["2", "3", "4"], "Integer scales, comma-separated.")
flags.DEFINE_multi_string("weights", None, 'paper, jpeg, a weights file or "bicubic"; repeatable. '
                          "Default: the weights super_resolve chooses per picture.")
flags.DEFINE_string("degradation", "clean", "LR columns: clean and/or jpeg:Q, comma-separated "
                    "(e.g. clean,jpeg:90,jpeg:75,jpeg:50,jpeg:30; vdsr_tf.core.degradation).")
flags.DEFINE_bool("ensemble", False, "Run each network as its x8 self-ensemble (flips and rotations "
                  'averaged; eight times the time); its rows are named with a "+" (VDSR+).')
flags.DEFINE_string("json", None, "Write the rows to this JSON file (atomically).")
flags.DEFINE_bool("overwrite", False, "Replace an existing --json file.")


def _split_folders(values):
    folders = []
    for value in values:
        folders.extend([value] if os.path.isdir(value) else [v for v in value.split(",") if v])
    return folders


def main(argv, prog="evaluate"):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from vdsr_tf.core import atomic, degradation
    from vdsr_tf.evaluation import scoring
    from vdsr_tf.nn.quiet import import_tensorflow_quietly

    try:
        scales = [int(s) for s in FLAGS.scales]
    except ValueError:
        raise app.UsageError(f"--scales must be integers, got {','.join(FLAGS.scales)!r}") from None
    weights = FLAGS.weights or [None]
    networks = [w for w in weights if w != scoring.BICUBIC]
    if FLAGS.ensemble and not networks:
        raise app.UsageError("--ensemble runs a network on eight flips and rotations, and bicubic is the only "
                             "method asked for: add --weights (paper, jpeg, a file) or drop --ensemble")
    folders = _split_folders(FLAGS.data)
    try:
        degradations = degradation.parse_list(FLAGS.degradation, "--degradation")
        if FLAGS.json:  # before any work: a bad path must not cost a whole evaluation
            atomic.check_output_path(FLAGS.json, overwrite=FLAGS.overwrite, inputs=folders + list(weights),
                                     what="--json")
        if networks:  # bicubic alone needs no TensorFlow
            import_tensorflow_quietly()
        rows = scoring.evaluate(folders, scales, weights, degradations=degradations,
                                   ensemble=FLAGS.ensemble, progress=lambda line: print(line, flush=True))
    except (OSError, ValueError, TypeError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    print()
    print(scoring.format_table(rows))
    if FLAGS.json:
        scoring.write_rows(FLAGS.json, rows, overwrite=FLAGS.overwrite)
        print(f"wrote {FLAGS.json}")
    return 0


def run(argv: list[str], prog: str = "vdsr-tf evaluate") -> int:
    """The command line ``argv`` (flags only); returns the exit status."""
    return flagged.run(main, argv, prog)
