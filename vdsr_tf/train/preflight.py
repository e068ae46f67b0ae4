"""Checks a training run's settings against the file system before anything is written.

``tools/train.py`` calls :func:`check_training_run` before it builds the Trainer, so a bad
``--workdir``, ``--data``, ``--patch_size``, a changed ``--depth`` or (unless allowed) a
changed ``--loss``/``--patch_size``/``--scales``/``--data`` ends in one line naming the flag or
file, with nothing created or written (the Trainer, too, refuses before it writes anything).
Every training image is decoded once here (3.1 s for the 291 images, measured with the machine
loaded), so a truncated or corrupt one is named before the run starts, not
minutes into it.
"""
from __future__ import annotations

import json
import logging
import os

from vdsr_tf.core import imageio
from vdsr_tf.data import geometry
from vdsr_tf.data import patches as data_lib
from vdsr_tf.train import holdout
from vdsr_tf.train.config import TrainConfig, check_resume

logger = logging.getLogger(__name__)

__all__ = ["check_training_run", "check_workdir", "usable_planes"]


def check_workdir(cfg: TrainConfig, workdir, *, allow_changed_settings: bool = False) -> None:
    """Raises ValueError when ``workdir`` is a file or holds a run this config cannot resume:
    another network or optimizer (never), or another loss, patch size, scales or data (unless
    ``allow_changed_settings``; :func:`vdsr_tf.train.config.check_resume`)."""
    workdir = os.fspath(workdir)
    if os.path.lexists(workdir) and not os.path.isdir(workdir):
        raise ValueError(f"--workdir {workdir!r} is a file, not a folder")
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        return
    try:
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read {path!r} ({e}); use a new --workdir") from e
    if not isinstance(old, dict):
        raise ValueError(f"{path!r} is not a training config; use a new --workdir")
    check_resume(old, cfg, workdir, allow_changed_settings=allow_changed_settings)


def usable_planes(width: int, height: int, cfg: TrainConfig) -> int:
    """How many (hr_scale, scale) planes of a width x height image hold one patch, computed
    from the size alone (:mod:`vdsr_tf.data.geometry`, the pipeline's own rule)."""
    return len(geometry.plane_sizes(height, width, cfg.hr_scales, cfg.scales, cfg.patch_size))


def _check_held_out_size(path, height: int, width: int, scales) -> None:
    """Validation scores a held-out image at every integer training scale: refuse one too small
    for that now, not at the first validation, minutes into the run."""
    from vdsr_tf.evaluation import scoring
    from vdsr_tf.train.validation import validation_scales

    for scale in validation_scales(scales):
        try:
            scoring.check_scorable(path, height, width, scale)
        except ValueError as e:
            raise ValueError(f"validation image held out of --data: {e}; pass --val_data DIR or "
                             "--val_data none") from e


def check_training_run(cfg: TrainConfig, workdir, *, decode: bool = True,
                       allow_changed_settings: bool = False) -> list[str]:
    """Raises ValueError (one line naming the flag, folder or file) if the run cannot start.

    Checks the workdir (:func:`check_workdir`), ``--init_weights``, that ``cfg.data`` holds
    images (folders, or luminance archives whose planes are read), that each one decodes
    (``decode``; else only its header is read) and that at least one is large enough for a
    patch. The images ``cfg.held_out`` keeps for validation must be among them (they are
    decoded too, must be 8-bit and large enough to score at every integer scale, as validation
    scores them); they are not trained on.
    Writes nothing. Returns the training image files (held-out ones left out).
    """
    check_workdir(cfg, workdir, allow_changed_settings=allow_changed_settings)
    if cfg.init_weights and not os.path.isfile(cfg.init_weights):
        raise ValueError(f"--init_weights {cfg.init_weights!r} is not a file")
    if not cfg.data:
        raise ValueError("no training data: pass --data=folder[,folder...]")
    try:
        files = data_lib.list_sources(cfg.data)
    except ValueError as e:
        raise ValueError(f"--data: {e}") from e
    if not files:
        raise ValueError(f"--data: no images ({', '.join(data_lib.IMAGE_EXTENSIONS)}) under "
                         f"{', '.join(map(repr, cfg.data))}")
    files = holdout.exclude_held_out(files, cfg.held_out)
    for path in cfg.held_out:
        try:
            if decode:
                image = imageio.read_image(path)
                mode, (width, height) = image.mode, image.size
            else:
                mode, (width, height) = "", imageio.image_size(path)
        except ValueError as e:
            raise ValueError(f"validation image: {e}") from e
        if mode.startswith(("I", "F")):  # what vdsr_tf.evaluation.scoring refuses to score
            raise ValueError(f"validation image {path!r}, held out of --data, is a {mode} (more than 8-bit) "
                             "image, which validation cannot score: pass --val_data DIR or --val_data none")
        _check_held_out_size(path, height, width, cfg.scales)
    largest, usable = (0, 0), 0
    for path in files:
        try:
            if data_lib.is_luma_archive(path):  # its planes: read (and checked) by the archive reader
                sizes = [(w, h) for h, w in data_lib.source_sizes([path])]
            else:
                sizes = [imageio.read_image(path).size if decode else imageio.image_size(path)]
        except ValueError as e:  # ImageError / archive error: names the file
            raise ValueError(f"training image: {e}") from e
        for size in sizes:
            if size[0] * size[1] > largest[0] * largest[1]:
                largest = size
            usable += usable_planes(size[0], size[1], cfg) > 0
    if not usable:
        raise ValueError(f"--patch_size {cfg.patch_size}: no training image is large enough for one "
                         f"{cfg.patch_size}x{cfg.patch_size} patch at scales {list(cfg.scales)} (the "
                         f"largest is {largest[0]}x{largest[1]})")
    return files
