"""TensorFlow's start-up without its C++ log lines on stderr.

Importing TensorFlow and touching its devices prints a dozen lines from C++ (oneDNN, CUDA
drivers, CPU features, "failed call to cuInit" on a machine without a GPU), which read as
failures and bury a program's own output. They are start-up chatter: this module runs the
start-up with file descriptor 2 pointed at /dev/null, and leaves TensorFlow's log level
alone, so whatever it warns about later still shows. Python exceptions propagate as usual.
``VDSR_TF_DEBUG=1`` in the environment turns the silencing off.
"""
from __future__ import annotations

import contextlib
import os
import sys

__all__ = ["import_tensorflow_quietly", "stderr_silenced"]


@contextlib.contextmanager
def stderr_silenced():
    """File descriptor 2 to /dev/null for the block (C++ code writes there directly)."""
    if os.environ.get("VDSR_TF_DEBUG"):
        yield
        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 to silence
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow and initialises its devices, silently. Does nothing when TensorFlow
    is already imported, when Keras is set to another backend (a JAX process must not load
    TensorFlow) or when TensorFlow is not installed."""
    if "tensorflow" in sys.modules or os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return
    with stderr_silenced():
        try:
            import tensorflow as tf
        except ImportError:
            return
        tf.config.list_physical_devices()  # CUDA's probe prints when devices are first listed
