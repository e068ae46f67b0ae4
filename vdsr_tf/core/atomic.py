"""Atomic file writing: how the project writes every file (images through imageio.save_image).

A file is written under a temporary name in its destination folder, flushed, given the
permissions a plain ``open()`` would give (mkstemp's 0600 would hide weights and cards from
other users), then renamed over the destination: readers, and a run killed halfway, see
either the old file or the complete new one, never a partial file.

Temporaries are named ``.<name>.<pid>.<random><suffix>``: on SIGINT, and on SIGTERM inside
:func:`interrupt_on_sigterm` (the CLI and tools run in it), the exception unwinds and removes
them; after a ``kill -9`` they stay, and :func:`remove_stale_temporaries` (called whenever the
same output is written again) removes those whose process is gone.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_prefix(path) -> str:
    """Prefix of this process's temporaries for ``path``: ``.<name>.<pid>.``."""
    return f".{os.path.basename(os.fspath(path))}.{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(path) -> list[str]:
    """Removes temporaries for ``path`` (files or folders) left by processes that are gone.

    Returns the paths removed. Those of running processes, this one included, are kept.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    prefix = f".{os.path.basename(path)}."
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(prefix):  # cheap test first: big output folders are common
            continue
        pid = name[len(prefix):].split(".", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        full = os.path.join(folder, name)
        try:
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.remove(full)
            removed.append(full)
        except OSError:  # gone meanwhile, or not ours to remove: leave it
            pass
    return removed


_CHECKPOINT_TEMP = re.compile(r"^.+-\d+_temp$")


def remove_stale_checkpoint_temps(checkpoint_dir) -> list[str]:
    """Removes ``ckpt-N_temp/`` folders, which TensorFlow leaves when killed during a save.

    Call it before a run starts using ``checkpoint_dir`` (no save is in flight then).
    """
    removed = []
    if not os.path.isdir(checkpoint_dir):
        return removed
    for name in sorted(os.listdir(checkpoint_dir)):
        full = os.path.join(checkpoint_dir, name)
        if _CHECKPOINT_TEMP.match(name) and os.path.isdir(full):
            shutil.rmtree(full, ignore_errors=True)
            removed.append(full)
    return removed


class Terminated(KeyboardInterrupt):
    """Raised by SIGTERM inside :func:`interrupt_on_sigterm`; a KeyboardInterrupt, so every
    clean-up written for Ctrl-C runs for ``kill``, ``timeout`` and container stops too."""

    exit_status = 128 + signal.SIGTERM


@contextlib.contextmanager
def interrupt_on_sigterm():
    """Inside, SIGTERM raises :class:`Terminated` in the main thread (as SIGINT raises
    KeyboardInterrupt); the previous handler is restored on exit. Elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):
        raise Terminated(f"terminated by signal {signum}")

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def exits_cleanly_on_signals(main, name: str):
    """Wraps a tool's ``main(argv)``: SIGTERM unwinds like Ctrl-C (temporaries removed), and
    either ends in one line on stderr and exit status 130 (SIGINT) or 143 (SIGTERM)."""

    @functools.wraps(main)
    def wrapped(argv):
        try:
            with interrupt_on_sigterm():
                return main(argv)
        except KeyboardInterrupt as e:
            terminated = isinstance(e, Terminated)
            print(f"{name}: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
            return Terminated.exit_status if terminated else 130

    return wrapped


@contextlib.contextmanager
def atomic_path(path, *, suffix: str = ".tmp", overwrite: bool = True):
    """Yields a temporary path next to ``path``; on success it replaces ``path``.

    ``suffix`` ends the temporary name, for writers that pick a format from it (Keras needs
    ``.weights.h5``, matplotlib ``.png``). On an exception the temporary file is removed and
    ``path`` is untouched. ``overwrite=False``: FileExistsError when ``path`` exists at the
    end (it is linked into place, so a file that appeared meanwhile is never replaced).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=temp_prefix(path), suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def check_output_path(path, *, overwrite: bool = False, inputs=(), what: str = "output") -> str:
    """Checks, before any work, that a tool may write the file ``path``; returns it.

    One-line ValueError when its folder does not exist, it is a folder, it is one of
    ``inputs`` (paths; never written over, whatever ``overwrite`` says), or it exists and
    ``overwrite`` is False.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"{what} {path!r} is a folder; give a file name")
    if not os.path.isdir(folder):
        raise ValueError(f"{what} {path!r}: folder {os.path.dirname(path) or '.'!r} does not exist")
    for other in inputs:
        if isinstance(other, (str, os.PathLike)) and os.path.exists(other) and os.path.exists(path) \
                and os.path.samefile(other, path):
            raise ValueError(f"{what} {path!r} is one of this command's inputs; it is never written over")
    for other in inputs:
        if isinstance(other, (str, os.PathLike)) and os.path.isdir(other) and os.path.exists(path) and \
                os.path.abspath(path).startswith(os.path.join(os.path.abspath(other), "")):
            raise ValueError(f"{what} {path!r} lies inside the input folder {os.fspath(other)!r}; "
                             "write it elsewhere")
    if os.path.lexists(path) and not overwrite:
        raise ValueError(f"{what} {path!r} exists; pass --overwrite to replace it")
    return path


def check_output_folder(path, *, overwrite: bool = False, inputs=(), what: str = "output folder") -> str:
    """Checks, before any work, that a tool may write into the folder ``path``; returns it.

    The folder rule of :func:`check_output_path`, in one-line ValueErrors: ``path`` must not
    be a file; a folder that exists and holds anything needs ``overwrite`` (files of the same
    names are then replaced, others left alone); a folder that does not exist must be
    creatable (its nearest existing parent a writable folder); one that exists, writable.
    An existing empty folder is accepted: there is nothing in it to replace. ``path`` must not
    be, or lie inside, one of the folders in ``inputs`` (whatever ``overwrite`` says).
    """
    path = os.fspath(path)
    if os.path.lexists(path) and not os.path.isdir(path):
        raise ValueError(f"{what} {path!r} is a file; give a folder")
    real = os.path.realpath(path)
    for other in inputs:
        if isinstance(other, (str, os.PathLike)) and os.path.isdir(other):
            folder = os.path.realpath(other)
            if real == folder or real.startswith(os.path.join(folder, "")):
                raise ValueError(f"{what} {path!r} is or lies inside the input folder {os.fspath(other)!r}; "
                                 "write it elsewhere")
    if os.path.isdir(path):
        if os.listdir(path) and not overwrite:
            raise ValueError(f"{what} {path!r} exists and is not empty; pass --overwrite to write into it "
                             "(files of the same names are replaced)")
        target = path
    else:
        target = os.path.dirname(os.path.abspath(path))
        while not os.path.lexists(target):
            target = os.path.dirname(target)
        if not os.path.isdir(target):
            raise ValueError(f"{what} {path!r} cannot be made: {target!r} is a file")
    if not os.access(target, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {path!r} cannot be written: {target!r} is read-only; "
                         "give a folder you may write to")
    return path


def _link_new(tmp: str, path: str) -> None:
    """Puts ``tmp`` at ``path`` unless ``path`` exists (FileExistsError then)."""
    try:
        os.link(tmp, path)  # fails if the name appeared meanwhile: no silent overwrite
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "file exists", path) from None
        os.replace(tmp, path)


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


def save_figure(fig, path: str, *, dpi: int = 100) -> None:
    """Writes a matplotlib figure as PNG atomically, then closes it (also when writing fails)."""
    import matplotlib.pyplot as plt

    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=dpi)
    finally:
        plt.close(fig)
