"""Make a luminance archive (vdsr_tf.data.luma_archive) of HR training image folders.

    python tools/make_luma_archive.py --data ../shared/data/train --out gpu_carry/train_luma.npz

The archive holds each image's Matlab Y plane (uint8, stored as second differences) and is
what a GPU machine trains from (gpu/gpu_job.sh): it is 38% of the PNGs' size and needs no
TensorFlow or PIL to read.
It is derived from the data: never commit it.
"""
from __future__ import annotations

import os
import time

from absl import app, flags

flags.DEFINE_list("data", None, "Folders of HR training images (searched recursively).")
flags.DEFINE_string("out", None, "Archive to write (.npz); replaced atomically.")
flags.mark_flags_as_required(["data", "out"])
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from vdsr_tf.data.luma_archive import write_luma_archive
    from vdsr_tf.data.patches import list_images

    start = time.perf_counter()
    try:
        files = list_images(FLAGS.data)
        folder = os.path.dirname(os.path.abspath(FLAGS.out))
        if not os.path.isdir(folder):
            raise ValueError(f"output folder {folder!r} does not exist")

        def progress(done, total):
            if done % 50 == 0 or done == total:
                print(f"  {done}/{total} images", flush=True)

        summary = write_luma_archive(files, FLAGS.out, progress=progress)
    except ValueError as e:
        raise app.UsageError(str(e))
    print(f"wrote {FLAGS.out}: {summary['images']} images, {summary['pixels'] / 1e6:.1f} Mpixel, "
          f"{summary['bytes'] / 1e6:.1f} MB in {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    app.run(main)
