"""What the library reads of a LiteRT interpreter beyond its public API."""
from __future__ import annotations

__all__ = ["op_counts"]


def op_counts(interpreter) -> dict[str, int]:
    """How many ops of each kind the interpreter's model holds (e.g. ``{"CONV_2D": 20, ...}``).

    No public API lists the ops; this private one is stable across TF/LiteRT 2.x. A damaged op
    table raises what LiteRT raises (UnicodeDecodeError, RuntimeError)."""
    counts: dict[str, int] = {}
    for op in interpreter._get_ops_details():
        counts[op["op_name"]] = counts.get(op["op_name"], 0) + 1
    return counts
