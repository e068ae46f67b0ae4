"""Validation on images held out of the training data, when a run is given no validation folder.

The rule, in one place (:func:`split_sources`): of the image files among a run's training
sources, a tenth (rounded down; at least one, at most :data:`MOST`) is kept out of training
and validated on instead; never every image (one image: nothing is held out, validation is
off), never a luminance archive (``.npz``: its planes are no picture files to score). The
images are picked by the SHA-1 of their file name (ties by path), so the choice depends
neither on the order the files are listed in nor on where the folder lives.

:func:`plan_validation` turns the ``--val_data`` flag into (``val_data``, ``held_out``) of a
:class:`vdsr_tf.train.config.TrainConfig`: a folder or ``none`` as given; when not given, the
default benchmark folder if it exists, else a held-out slice of ``--data``. A run records its
``held_out`` files in config.json, and a resumed run takes them from there: it validates on
the same images and trains on the same rest (a run that began without a held-out slice never
gains one). :func:`training_sources` is what the trainer and preflight train on.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os

from vdsr_tf.data import patches as data_lib

logger = logging.getLogger(__name__)

__all__ = ["FRACTION", "MOST", "ValidationPlan", "exclude_held_out", "plan_validation", "split_sources",
           "training_sources"]

FRACTION = 0.1
"""The share of a run's training images held out for validation (rounded down, at least one)."""
MOST = 10
"""At most this many images are held out (validation runs often; ten images make a steady mean)."""


def _is_image(path: str) -> bool:
    return path.lower().endswith(data_lib.IMAGE_EXTENSIONS)


def _order(path: str):
    name = os.path.basename(path)
    return hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest(), path


def split_sources(sources, *, fraction: float = FRACTION, most: int = MOST) -> tuple[list[str], list[str]]:
    """(train, held_out) of training ``sources`` (image files and luminance archives, as
    :func:`vdsr_tf.data.patches.list_sources` lists them).

    ``held_out``: ``floor(fraction * n)`` of the n image files, at least one and at most
    ``most``, never all (n < 2: none), chosen by the SHA-1 of the file name (ties by path), in
    path order; ``train``: the other sources, in their order. Paths come back normalised
    (absolute, so a resumed run finds them from any folder). The same files in any order give the same split.
    """
    sources = [os.path.abspath(os.fspath(s)) for s in sources]  # a resume may run from elsewhere
    images = sorted({s for s in sources if _is_image(s)})
    count = min(most, max(1, int(len(images) * fraction + 1e-9))) if len(images) >= 2 else 0
    held = set(sorted(images, key=_order)[:count])
    return [s for s in sources if s not in held], sorted(held)


def exclude_held_out(sources, held_out) -> list[str]:
    """``sources`` without the ``held_out`` files. Raises ValueError (one line) when a held-out
    file is not among the sources (deleted or moved since the run began) or nothing is left."""
    held = {os.path.abspath(h) for h in held_out}
    missing = sorted(held - {os.path.abspath(s) for s in sources})
    if missing:
        raise ValueError(f"the run validates on {missing[0]!r}, held out of --data when it began, which is no "
                         "longer among the --data images: put it back, or use a new --workdir")
    train = [s for s in sources if os.path.abspath(s) not in held]
    if not train:
        raise ValueError("every --data image is held out for validation: nothing is left to train on")
    return train


def training_sources(data, held_out=()) -> list[str]:
    """The sources a run trains on: those of ``data`` (folders and/or archives) less ``held_out``."""
    sources = data_lib.list_sources(data)
    return exclude_held_out(sources, held_out) if held_out else sources


@dataclasses.dataclass(frozen=True)
class ValidationPlan:
    """What a run validates on: ``val_data`` (a folder, or None) and ``held_out`` (image files
    of the training data, validated on and not trained on), and the line that says so
    (``message``; None when there is nothing to say) at ``level``."""

    val_data: str | None = None
    held_out: tuple[str, ...] = ()
    message: str | None = None
    level: int = logging.INFO

    def announce(self) -> None:
        """Logs :attr:`message` (the run's start-up line about its validation)."""
        if self.message:
            logger.log(self.level, "%s", self.message)


def _names(files) -> str:
    return ", ".join(os.path.basename(f) for f in files)


def _recorded(workdir) -> dict | None:
    """The config.json of the run in ``workdir`` (None: no run there, or unreadable: preflight says why)."""
    if not workdir:
        return None
    try:
        with open(os.path.join(os.fspath(workdir), "config.json"), encoding="utf-8") as f:
            old = json.load(f)
    except (OSError, ValueError):
        return None
    return old if isinstance(old, dict) else None


def plan_validation(data, val_data: str | None, workdir=None, *, default: str | None = None) -> ValidationPlan:
    """The validation of a run on ``data`` from the ``--val_data`` flag's text.

    ``val_data``: a folder (used as given) or ``"none"`` (no validation): nothing is held out.
    Not given (None): a run already in ``workdir`` keeps what its config.json records (its
    held-out images, else the ``default`` folder when it exists, as before); a new run
    validates on the ``default`` folder when it exists, else on images held out of ``data``
    by :func:`split_sources` (or, with fewer than two images, not at all; the message says why).
    """
    if val_data is not None:
        return ValidationPlan(None if val_data.lower() == "none" else val_data)
    default_there = bool(default) and os.path.isdir(default)
    old = _recorded(workdir)
    if old is not None:
        held = tuple(old.get("held_out") or ())
        if held:
            return ValidationPlan(None, held, f"validation: on the {len(held)} image(s) held out of --data when "
                                              f"this run began ({_names(held)}), still kept out of training")
        return ValidationPlan(os.path.normpath(default) if default_there else None)
    if default_there:
        return ValidationPlan(os.path.normpath(default))
    try:
        sources = data_lib.list_sources(data)
    except ValueError:  # preflight names the bad --data entry
        return ValidationPlan()
    _, held = split_sources(sources)
    why = "no --val_data given" + (f" and {os.path.normpath(default)} does not exist" if default else "")
    n_images = sum(_is_image(s) for s in sources)
    if held:
        return ValidationPlan(None, tuple(held), (
            f"validation: {why}, so {len(held)} of the {n_images} images of --data are held out of training and "
            f"validated on ({_names(held)}; kept in config.json for a resume); --val_data DIR validates on a "
            "folder instead, --val_data none turns validation off"))
    what = (f"--data holds {n_images} image, too few to hold one out" if n_images
            else "--data holds only luminance archives (.npz), and only image files can be held out")
    return ValidationPlan(None, (), f"validation is off: {why}, and {what}; --val_data DIR validates on a folder",
                          logging.WARNING)
