"""FileCache: values computed from a file or folder, kept while it is unchanged on disk.

A process hashes, loads or compiles each bundled file once; a file replaced under it (a new
bundle, a repaired export) is read again. Every such cache in the package is a FileCache.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, TypeVar

__all__ = ["FileCache", "stamp"]

T = TypeVar("T")


def stamp(path) -> tuple:
    """What changes when ``path`` changes: size and mtime of the file, or of every file in the
    folder with its relative name."""
    path = Path(path)
    if path.is_dir():
        return tuple((str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns)
                     for p in sorted(path.rglob("*")) if p.is_file())
    st = path.stat()
    return st.st_size, st.st_mtime_ns


class FileCache:
    """``get(path, make, *extra)``: ``make()`` once per (path, extra) and version of the file.

    A version of a path other than the one on disk is dropped when the new one is made, and
    past ``max_entries`` the oldest entry goes. ``make`` runs under the cache's lock, so two
    threads asking for the same value make it once.
    """

    def __init__(self, max_entries: int = 256):
        self.max_entries = max_entries
        self._lock = threading.RLock()
        self._values: dict[tuple, tuple[tuple, object]] = {}

    def get(self, path, make: Callable[[], T], *extra) -> T:
        where = str(Path(path).resolve())
        now = stamp(path)
        key = (where, *extra)
        with self._lock:
            hit = self._values.get(key)
            if hit is not None and hit[0] == now:
                return hit[1]
            value = make()
            for old in [k for k, (s, _) in self._values.items() if k[0] == where and s != now]:
                del self._values[old]
            self._values[key] = (now, value)
            while len(self._values) > self.max_entries:
                del self._values[next(iter(self._values))]
            return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def __len__(self) -> int:
        return len(self._values)
