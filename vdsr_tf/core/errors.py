"""One-line descriptions of caught errors, for the messages that name a damaged file.

Readers (TensorFlow, TFLite, numpy's zip reader) raise errors whose text runs over many
lines, quotes their own internals or repeats the folder the message already names; the
library's one-line errors and warnings carry only ``Type: first line`` of them.
"""
from __future__ import annotations

import os
import re

__all__ = ["first_line"]

_LIMIT = 160  # characters of the reader's own text kept in a message
_TF_FUNCTION_NODE = re.compile(r"\{\{.*?\}\}\s*")  # TensorFlow's {{function_node ...}} markers


def first_line(error: BaseException, folder: str | None = None) -> str:
    """``Type: first line of the message`` (at most 160 characters of it), without TensorFlow's
    ``{{function_node ...}}`` markers and, when ``folder`` is given, without that folder's path
    (the caller's message names it once)."""
    text = _TF_FUNCTION_NODE.sub("", str(error))
    if folder:
        text = text.replace(os.path.join(folder, ""), "")
    lines = text.strip().splitlines()
    return f"{type(error).__name__}: {lines[0].strip()[:_LIMIT]}" if lines else type(error).__name__
