"""The user's cache folder of vdsr_tf: measured choices and the tool environments built there."""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "cache_dir"]

CACHE_ENV = "VDSR_TF_CACHE"
"""Environment variable naming the cache folder (default: $XDG_CACHE_HOME/vdsr_tf, else
~/.cache/vdsr_tf). tools/arm64_sysroot.sh and tools/gpu_analyzer_env.sh spell the same rule in shell."""


def cache_dir() -> Path:
    """``$VDSR_TF_CACHE``, else ``$XDG_CACHE_HOME/vdsr_tf``, else ``~/.cache/vdsr_tf`` (not created)."""
    folder = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "vdsr_tf")
    return Path(folder)
