"""Luminance archive: a training set's Matlab Y planes in one compressed ``.npz`` file.

The training images as PNG are too big to travel with the repository to a GPU machine, and
training only ever reads their Matlab Y plane (``vdsr_tf.data.luma.load_luma``). An archive keeps exactly
those uint8 planes, so training from it is bit-identical to training from the image folders,
and reading it needs numpy alone (no TensorFlow, no PIL).

Layout (``np.savez_compressed``, no pickled objects):
  format   str, ``FORMAT``
  names    str (n,), each image's path relative to the common folder of all files
  heights  int64 (n,), widths int64 (n,)
  deltas   uint8 (sum of h*w,), each plane's second differences (the plane minus its left and
           upper neighbours plus its upper-left one, mod 256: PNG's gradient predictor without
           the clamp, so two uint8 cumulative sums undo it exactly), flattened and concatenated
           in ``names`` order. Deflate packs them into 22.8 MB for the 291 training images, the
           raw planes into 26.9 (measured): the difference keeps tree plus archive small enough
           to travel to a GPU machine (BUILD_NOTES.md).
Format 1 (``pixels``: the raw planes, same layout otherwise) is still read.
"""
from __future__ import annotations

import os
import zipfile
import zlib

import numpy as np

from vdsr_tf.core import atomic
from vdsr_tf.data.luma import load_luma

FORMAT = "vdsr_tf.luma_archive/2"
_FORMAT_RAW = "vdsr_tf.luma_archive/1"
SUFFIX = ".npz"
_KEYS = ("format", "names", "heights", "widths")
_DATA_KEY = {FORMAT: "deltas", _FORMAT_RAW: "pixels"}


def _second_differences(plane: np.ndarray) -> np.ndarray:
    """uint8 (H, W) -> uint8 (H, W) second differences mod 256 (see the module docstring)."""
    rows = np.diff(plane, axis=0, prepend=np.uint8(0))
    return np.diff(rows, axis=1, prepend=np.uint8(0))


def _undo_second_differences(deltas: np.ndarray) -> np.ndarray:
    # uint8 cumulative sums wrap mod 256, exactly inverting the uint8 differences.
    return np.cumsum(np.cumsum(deltas, axis=1, dtype=np.uint8), axis=0, dtype=np.uint8)


def archive_names(files) -> list[str]:
    """Names of ``files`` in an archive: paths relative to the common folder of all of them.

    Relative, so an archive made here names nothing of this machine; the folder part is kept
    (``T91/t1.png``) so images of the same name from different sets stay distinct.
    """
    files = [os.path.abspath(os.fspath(f)) for f in files]
    if len(files) == 1:
        return [os.path.basename(files[0])]
    root = os.path.commonpath([os.path.dirname(f) for f in files])
    return [os.path.relpath(f, root).replace(os.sep, "/") for f in files]


def write_luma_archive(files, path, *, progress=None) -> dict:
    """Writes the Matlab Y planes of the image ``files`` to the archive ``path``, atomically.

    ``progress``: optional callable(done, total), called after each image. Returns a summary
    {"images", "pixels", "bytes"}. Raises ValueError (one line) for an empty list, a missing
    or unreadable image, or a ``path`` not ending in ``.npz``.
    """
    files = [os.fspath(f) for f in files]
    path = os.fspath(path)
    if not files:
        raise ValueError("write_luma_archive: no image files given")
    if not path.endswith(SUFFIX):
        raise ValueError(f"luminance archive path {path!r} must end in {SUFFIX}")
    planes = []
    for i, f in enumerate(files):
        planes.append(load_luma(f))  # its ValueError names the file
        if progress is not None:
            progress(i + 1, len(files))
    names = archive_names(files)
    heights = np.array([p.shape[0] for p in planes], dtype=np.int64)
    widths = np.array([p.shape[1] for p in planes], dtype=np.int64)
    deltas = np.concatenate([_second_differences(p).reshape(-1) for p in planes])
    with atomic.atomic_path(path, suffix=SUFFIX) as tmp:
        np.savez_compressed(tmp, format=np.array(FORMAT), names=np.array(names),
                            heights=heights, widths=widths, deltas=deltas)
    return {"images": len(files), "pixels": int(deltas.size), "bytes": os.path.getsize(path)}


def read_luma_archive(path) -> list[tuple[str, np.ndarray]]:
    """The (name, uint8 (H, W) Matlab Y plane) pairs of an archive, in the order written.

    Raises ValueError (one line) if ``path`` is missing or is not an intact archive of this
    format.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"luminance archive {path!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            fmt = str(z["format"]) if "format" in z.files else None
            if fmt not in _DATA_KEY:
                raise ValueError(f"its format is {fmt!r}, expected {FORMAT!r}")
            missing = [k for k in _KEYS + (_DATA_KEY[fmt],) if k not in z.files]
            if missing:
                raise ValueError(f"it lacks {', '.join(missing)}")
            names, heights, widths, pixels = (z[k] for k in _KEYS[1:] + (_DATA_KEY[fmt],))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as e:
        raise ValueError(f"{path!r} is not a readable luminance archive: {e}") from None
    n = len(names)
    if heights.shape != (n,) or widths.shape != (n,) or pixels.dtype != np.uint8 or pixels.ndim != 1:
        raise ValueError(f"{path!r} is not a consistent luminance archive: bad array shapes or dtypes")
    sizes = heights * widths
    if np.any(heights <= 0) or np.any(widths <= 0) or int(sizes.sum()) != pixels.size:
        raise ValueError(f"{path!r} is not a consistent luminance archive: "
                         f"plane sizes add up to {int(sizes.sum())} pixels, it holds {pixels.size}")
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    planes = [pixels[offsets[i]:offsets[i + 1]].reshape(int(heights[i]), int(widths[i])) for i in range(n)]
    if fmt == FORMAT:
        planes = [_undo_second_differences(d) for d in planes]
    return [(str(name), plane) for name, plane in zip(names, planes)]
