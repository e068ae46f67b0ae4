"""Atomic file writing: how the project writes every file but images (see imageio.save_image).

A file is written under a temporary name in its destination folder, flushed, given the
permissions a plain ``open()`` would give (mkstemp's 0600 would hide weights and cards from
other users), then renamed over the destination: readers, and a run killed halfway, see
either the old file or the complete new one, never a partial file.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path, *, suffix: str = ".tmp"):
    """Yields a temporary path next to ``path``; on success it replaces ``path``.

    ``suffix`` ends the temporary name, for writers that pick a format from it (Keras needs
    ``.weights.h5``, matplotlib ``.png``). On an exception the temporary file is removed and
    ``path`` is untouched.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_text(path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2) + "\n")
