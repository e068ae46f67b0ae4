"""Packages whose public names load on first use: ``import vdsr_tf`` (or ``vdsr_tf.train``)
then costs no TensorFlow or JAX start-up until a name that needs one is touched."""
from __future__ import annotations

import importlib
import sys

__all__ = ["lazy_names"]


def lazy_names(package: str, public: dict[str, str], before=None):
    """The module ``__getattr__`` and ``__dir__`` of ``package`` for ``public`` (name -> the
    module defining it). A name is imported once, then kept in the package's namespace.
    ``before(name)``, if given, runs first (vdsr_tf starts TensorFlow quietly there)."""

    def __getattr__(name: str):
        if name not in public:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if before is not None:
            before(name)
        value = getattr(importlib.import_module(public[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(public))

    return __getattr__, __dir__
