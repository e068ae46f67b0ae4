"""Argument checks shared by the library's modules, so that one kind of bad value gets one
kind of message wherever it is passed."""
from __future__ import annotations

import numbers

__all__ = ["check_int"]


def check_int(value, name: str, minimum: int) -> int:
    """``value`` as an int when it is a whole number (Python or numpy integer, not a bool)
    of at least ``minimum``; else ValueError ``"<name> must be an int >= <minimum>, got <value>"``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)
