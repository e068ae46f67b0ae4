r"""A side-by-side picture: bicubic | VDSR | HR on a crop of one image, PSNR on the whole image.

    python tools/side_by_side.py --hr ../shared/data/benchmark/Set5/image_SRF_3/img_002_SRF_3_HR.png \
        --scale 3 --out docs/side_by_side_x3.png
A JPEG photo, both bundled sets:
    python tools/side_by_side.py --hr ../shared/data/benchmark/Set14/image_SRF_2/img_011_SRF_2_HR.png \
        --scale 2 --degradation jpeg:50 \
        --weights paper --weights jpeg --out docs/jpeg_x2.png

The LR image is the Matlab-bicubic downscale of the HR one (or --lr when given, e.g. the
shipped _LR.png), saved as a JPEG file first with --degradation jpeg:Q; bicubic and VDSR come
from the library's one pipeline (vdsr_tf.evaluation.comparison).
"""
from __future__ import annotations

import sys

from absl import app, flags

flags.DEFINE_string("hr", None, "HR image file.", required=True)
flags.DEFINE_string("lr", None, "LR image file (default: Matlab bicubic downscale of --hr).")
flags.DEFINE_integer("scale", 3, "Integer upscaling factor.")
flags.DEFINE_string("degradation", "clean", "clean, or jpeg:Q: the LR saved as a JPEG at quality Q "
                    "(vdsr_tf.core.degradation; not with --lr).")
flags.DEFINE_multi_string("weights", None, "paper, jpeg or a weights file; repeat for several panels "
                          "(default: the weights super_resolve chooses for the LR).")
flags.DEFINE_list("crop", None, "top,left,size of the square crop in HR pixels (default: centre, 1/3 of the side).")
flags.DEFINE_integer("zoom", 2, "Nearest-neighbour enlargement of the crops.")
flags.DEFINE_string("out", None, "Output PNG.", required=True)
flags.DEFINE_bool("overwrite", False, "Replace an existing --out file.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from pathlib import Path

    from vdsr_tf.core import atomic, degradation, imageio
    from vdsr_tf.evaluation import comparison, scoring

    try:
        (deg,) = degradation.parse_list(FLAGS.degradation, "--degradation")
        if FLAGS.lr and not deg.is_clean:
            raise ValueError("--degradation compresses the LR made from --hr; give --lr or --degradation, not both")
        atomic.check_output_path(FLAGS.out, overwrite=FLAGS.overwrite, inputs=[FLAGS.hr, FLAGS.lr], what="--out")
        s = FLAGS.scale
        # Read as the evaluation reads a benchmark pair: HR mod-cropped, the LR file (its size
        # checked against the HR's) or Matlab bicubic; grey stays grey.
        pair = scoring.ImagePair(Path(FLAGS.hr).stem, Path(FLAGS.hr), FLAGS.lr and Path(FLAGS.lr))
        hr, lr = scoring.read_pair(pair, s)
        if not deg.is_clean:
            lr = degradation.make_lr(hr, s, deg, as_file=True)
        weights = FLAGS.weights or [None]
        labels = {None: "VDSR (vdsr_tf)", "paper": "VDSR paper weights", "jpeg": "VDSR jpeg weights"}
        methods = [("bicubic", "bicubic")] + [(labels.get(w, Path(str(w)).name), w) for w in weights]
        sheet, _ = comparison.side_by_side(hr, lr, s, methods, crop=FLAGS.crop, zoom=FLAGS.zoom)
        imageio.save_image(sheet, FLAGS.out, overwrite=FLAGS.overwrite)
    except (OSError, ValueError) as e:
        print(f"side_by_side: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {FLAGS.out} (x{s}, {deg.name} LR)")
    return 0


if __name__ == "__main__":
    from vdsr_tf.core.atomic import exits_cleanly_on_signals

    app.run(exits_cleanly_on_signals(main, "side_by_side"))
