"""Is a file the one its card or manifest describes? sha256 checks, cached, and a weights sanity rule.

Flipped bytes in an HDF5 weights file or a ``.tflite`` usually still load: the network then
produces garbage without a word. Two guards, both used where files are loaded:

* :func:`check_sha256` compares a file's (or a folder's) sha256 with the one recorded when it
  was written: the bundled weights' card (``vdsr_tf/weights/vdsr_x234.json``, field
  ``sha256``) and an export folder's ``manifest.json`` (per artefact). Hashes are cached by
  (path, size, mtime) of every file, so a process hashes each file once (3.4 ms for the
  2.7 MB bundled weights, measured; 0.1 ms from the cache) and a changed file is hashed again.
* :func:`check_weight_magnitudes` refuses weights no trained VDSR has, for files without a
  recorded hash too. The rule: every kernel and bias value finite and ``|w| <= MAX_ABS_WEIGHT``.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from vdsr_tf.core.filecache import FileCache

__all__ = ["IntegrityError", "MAX_ABS_WEIGHT", "MANIFEST", "sha256", "check_sha256",
           "manifest_sha256", "check_export", "check_weight_magnitudes"]

MANIFEST = "manifest.json"

MAX_ABS_WEIGHT = 16.0
"""Largest |kernel| or |bias| value accepted in any VDSR weights. Measured: the authors'
VDSR_Official.mat peaks at 1.686 (kernels, first layer) and 1.072 (biases); the bundled
weights at 0.842 and 0.196; He-normal initialisation of a 3x3x1 first layer rarely passes
5 * sqrt(2/9) = 2.4. Sixteen leaves a 10x margin over the largest trained value, while a
flipped exponent byte of a float32 weight lands far above it (2000 bytes inverted in the
middle of the bundled file gave a kernel value of 6.3e4)."""


class IntegrityError(ValueError):
    """A file is not the one its card or manifest describes (or holds impossible weights)."""


_hashes = FileCache()


def sha256(path) -> str:
    """sha256 of a file, or of a folder (its files' relative names and bytes, in sorted order).

    Cached by path, size and modification time of every file involved.
    """
    return _hashes.get(path, lambda: _hash(Path(path)))


def _hash(path: Path) -> str:
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for p in files:
        if path.is_dir():
            h.update(str(p.relative_to(path)).encode())
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def check_sha256(path, expected: str, recorded_in) -> None:
    """Raises :class:`IntegrityError` naming ``path`` when its sha256 is not ``expected``."""
    got = sha256(path)
    if got != expected:
        raise IntegrityError(
            f"{str(path)!r} is damaged or was changed: its sha256 {got[:12]}... differs from "
            f"{expected[:12]}... recorded in {str(recorded_in)!r}; restore or re-create the file")


def manifest_sha256(path) -> tuple[str, Path] | None:
    """(sha256, manifest path) recorded for ``path`` in a ``manifest.json`` beside it, or None."""
    path = Path(path)
    manifest = path.resolve().parent / MANIFEST
    if not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text())
        for art in data.get("artifacts", []):
            if art.get("file") == path.name and art.get("sha256"):
                return str(art["sha256"]), manifest
    except (OSError, ValueError, AttributeError, TypeError):
        return None
    return None


def check_export(path) -> None:
    """Checks an exported file against the sha256 its folder's manifest.json records (if any)."""
    found = manifest_sha256(path)
    if found is not None:
        check_sha256(path, *found)


def check_weight_magnitudes(layers, where: str) -> None:
    """Refuses (kernel, bias) pairs holding NaN/inf or values beyond :data:`MAX_ABS_WEIGHT`."""
    for i, (kernel, bias) in enumerate(layers, start=1):
        for what, values in (("kernel", kernel), ("bias", bias)):
            values = np.asarray(values)
            if not np.all(np.isfinite(values)):
                raise IntegrityError(f"{where!r}: layer {i} {what} contains NaN or inf weights; "
                                     "the file is damaged")
            peak = float(np.max(np.abs(values))) if values.size else 0.0
            if peak > MAX_ABS_WEIGHT:
                raise IntegrityError(
                    f"{where!r}: layer {i} {what} holds |w| = {peak:.3g}, beyond the "
                    f"{MAX_ABS_WEIGHT:g} no trained VDSR reaches (the authors' peak at 1.7); "
                    "the file is damaged")
