"""``precision="auto"``: bfloat16 where this CPU runs VDSR faster in it than in float32.

Which is faster depends on the chip, not on the code: bfloat16 ran 1.9x float32's speed on an
AMD Zen 4 and 0.65x on an Intel Xeon with AVX512-BF16 but no AMX (BUILD_NOTES, "Speed and
memory"). So the first "auto" on a machine times both on a small picture, interleaved, and
keeps the answer per CPU model in the user's cache folder; later calls read it.
"""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from vdsr_tf.core import atomic
from vdsr_tf.core.cachedir import CACHE_ENV, cache_dir

__all__ = ["CACHE_ENV", "auto_precision", "cache_file", "cpu_key"]

_SIDE = 160  # pixels: a few tenths of a second per run on two cores
_ROUNDS = 3


def cache_file() -> Path:
    """The JSON file that holds the measured choice per CPU model."""
    return cache_dir() / "precision.json"


def cpu_key() -> str:
    """The CPU model as the OS names it, with the flags that decide bfloat16's speed."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    wanted = sorted(flags & {"avx512_bf16", "amx_bf16", "amx_tile", "avx512f"})
    return f"{model} [{' '.join(wanted)}] x{os.cpu_count() or 1}"


def _time_both(make_predictor) -> dict[str, float]:
    """Seconds per run of each precision (the fastest of a few, interleaved so a load change
    hits both)."""
    x = np.random.default_rng(0).random((1, _SIDE, _SIDE, 1), dtype=np.float32)
    predictors = {p: make_predictor(p) for p in ("float32", "bfloat16")}
    best = {}
    for p, run in predictors.items():
        run(x)  # trace and warm up
    for _ in range(_ROUNDS):
        for p, run in predictors.items():
            start = time.perf_counter()
            run(x)
            best[p] = min(best.get(p, float("inf")), time.perf_counter() - start)
    return best


def auto_precision(make_predictor) -> str:
    """"float32" or "bfloat16", whichever ran faster on this CPU model. ``make_predictor(p)``
    builds the bundled predictor in precision ``p``; it is called only when this CPU model has
    no answer in :func:`cache_file` yet. A cache that cannot be read or written is ignored."""
    path, key = cache_file(), cpu_key()
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(known, dict):
            known = {}
    except (OSError, ValueError):
        known = {}
    entry = known.get(key)
    if isinstance(entry, dict) and entry.get("precision") in ("float32", "bfloat16"):
        return entry["precision"]
    seconds = _time_both(make_predictor)
    choice = min(seconds, key=seconds.get)
    known[key] = {"precision": choice, "seconds_per_run": {p: round(s, 4) for p, s in seconds.items()},
                  "picture": f"{_SIDE}x{_SIDE}", "measured": time.strftime("%Y-%m-%dT%H:%M:%S")}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_json(path, known)
    except OSError:
        pass  # a read-only home: measured again next time
    return choice
