"""A side-by-side picture: bicubic | VDSR | HR on a crop of one image, PSNR on the whole image.

    python tools/side_by_side.py --hr ../shared/data/benchmark/Set5/image_SRF_3/img_002_SRF_3_HR.png \
        --scale 3 --out docs/side_by_side_x3.png

The LR image is the Matlab-bicubic downscale of the HR one (or --lr when given, e.g. the
shipped _LR.png); bicubic and VDSR come from the library's one pipeline.
"""
from __future__ import annotations

import os

from absl import app, flags


flags.DEFINE_string("hr", None, "HR image file.", required=True)
flags.DEFINE_string("lr", None, "LR image file (default: Matlab bicubic downscale of --hr).")
flags.DEFINE_integer("scale", 3, "Integer upscaling factor.")
flags.DEFINE_string("weights", None, "Weights (default: the bundled weights).")
flags.DEFINE_list("crop", None, "top,left,size of the square crop in HR pixels (default: centre, 1/3 of the side).")
flags.DEFINE_integer("zoom", 2, "Nearest-neighbour enlargement of the crops.")
flags.DEFINE_string("out", None, "Output PNG.", required=True)
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from pathlib import Path

    from PIL import Image, ImageDraw

    from vdsr_tf import evaluation, imageio, metrics
    from vdsr_tf.inference import bicubic_upscale, super_resolve

    s = FLAGS.scale
    # Read as the evaluation reads a benchmark pair: HR mod-cropped, the LR file (its size
    # checked against the HR's) or Matlab bicubic; grey stays grey.
    pair = evaluation.ImagePair(Path(FLAGS.hr).stem, Path(FLAGS.hr), FLAGS.lr and Path(FLAGS.lr))
    hr, lr = evaluation.read_pair(pair, s)
    panels = [("bicubic", bicubic_upscale(lr, s)), ("VDSR (vdsr_tf)", super_resolve(lr, s, weights=FLAGS.weights)),
              ("HR", hr)]
    h, w = hr.shape[:2]
    if FLAGS.crop:
        top, left, size = (int(v) for v in FLAGS.crop)
    else:
        size = min(h, w) // 3
        top, left = (h - size) // 2, (w - size) // 2
    if top < 0 or left < 0 or size < 8 or top + size > h or left + size > w:
        raise app.UsageError(f"crop {top},{left},{size} does not fit a {h}x{w} image")
    hr_y = metrics.scoring_luma(hr)
    tiles = []
    for name, img in panels:
        label = name if img is hr else f"{name} {metrics.psnr(metrics.scoring_luma(img), hr_y, shave=s):.2f} dB"
        crop = Image.fromarray(img[top:top + size, left:left + size])
        crop = crop.resize((size * FLAGS.zoom, size * FLAGS.zoom), Image.NEAREST)
        tile = Image.new("RGB", (crop.width, crop.height + 18), "white")
        tile.paste(crop, (0, 18))
        ImageDraw.Draw(tile).text((4, 3), label, fill="black")
        tiles.append(tile)
    sheet = Image.new("RGB", (sum(t.width for t in tiles) + 8 * (len(tiles) - 1), tiles[0].height), "white")
    x = 0
    for t in tiles:
        sheet.paste(t, (x, 0))
        x += t.width + 8
    imageio.save_image(sheet, FLAGS.out, overwrite=True)
    print(f"wrote {FLAGS.out} (x{s}, crop {top},{left},{size} of {h}x{w})")


if __name__ == "__main__":
    from vdsr_tf.atomic import exits_cleanly_on_signals

    app.run(exits_cleanly_on_signals(main, "side_by_side"))
