"""README's tables of evaluation rows, as Markdown, and their place in a Markdown file.

The rows are ``tools/evaluate.py --json`` rows (the bundled cards keep theirs), so a table is
written from measurements, never typed: after a re-bundle ``tools/readme_tables.py`` rewrites
each table between its markers, ``<!-- name -->`` and ``<!-- /name -->``.
"""
from __future__ import annotations

import re
from typing import Sequence

from vdsr_tf.core.degradation import column_quality

__all__ = ["ENSEMBLE_COLUMNS", "JPEG_COLUMNS", "block", "ensemble_table", "jpeg_table", "replace_block"]

JPEG_COLUMNS = ("clean", "jpeg:95", "jpeg:90", "jpeg:75", "jpeg:50", "jpeg:30")
"""The degradations README's JPEG table shows (the jpeg card measures more)."""

ENSEMBLE_COLUMNS = (("paper", "clean", "paper"), ("jpeg", "clean", "jpeg set, lossless"),
                    ("jpeg", "jpeg:75", "jpeg set, JPEG q75"))
"""(method, degradation, label) of each group of README's VDSR+ table."""


def _cells(rows: Sequence[dict]) -> dict:
    return {(r["dataset"], r["scale"], r["degradation"], r["method"]): r["psnr"] for r in rows}


def _lines(rows: Sequence[dict]) -> list[tuple[str, int]]:
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    return [(d, s) for d in datasets for s in sorted({r["scale"] for r in rows if r["dataset"] == d})]


def _label(degradation: str) -> str:
    quality = column_quality(degradation)
    return "lossless" if quality is None else f"JPEG q{quality}"


def _get(cells: dict, key: tuple) -> float:
    if key not in cells:
        dataset, scale, degradation, method = key
        raise ValueError(f"the rows have no {method!r} row for {dataset} x{scale} at {degradation}")
    return cells[key]


def _markdown(header: list[str], lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(out + ["| " + " | ".join(line) + " |" for line in lines])


def jpeg_table(rows: Sequence[dict], degradations: Sequence[str] = JPEG_COLUMNS) -> str:
    """PSNR per (dataset, scale) line and degradation column, each cell "bicubic / paper / jpeg"
    with the set the default choice gives that picture in bold
    (:func:`vdsr_tf.infer.weight_choice.set_for_quality`). ValueError naming a missing row."""
    from vdsr_tf.infer.weight_choice import set_for_quality

    cells = _cells(rows)
    lines = []
    for dataset, scale in _lines(rows):
        line = [f"{dataset} x{scale}"]
        for degradation in degradations:
            pick = set_for_quality(column_quality(degradation), scale)
            parts = []
            for method in ("bicubic", "paper", "jpeg"):
                text = f"{_get(cells, (dataset, scale, degradation, method)):.2f}"
                parts.append(f"**{text}**" if method == pick else text)
            line.append(" / ".join(parts))
        lines.append(line)
    return _markdown(["Set, scale"] + [_label(d) for d in degradations], lines)


def _parse(table: str) -> dict[str, list[str]]:
    """{first cell: its cells} of a Markdown table's body lines."""
    lines = [line.strip() for line in table.strip().splitlines() if line.strip().startswith("|")]
    return {cells[0]: cells for cells in ([c.strip() for c in line.strip("|").split("|")] for line in lines[2:])}


def ensemble_table(rows: Sequence[dict], columns=ENSEMBLE_COLUMNS, previous: str | None = None) -> str:
    """PSNR of each (method, degradation) of ``columns`` without and with the x8 self-ensemble
    (method ``name+``, ``tools/evaluate.py --ensemble``) and the gain, per (dataset, scale).

    A group whose "+" rows are absent is copied from the same line of ``previous`` (the table as
    it stands) when given: a paper re-bundle measures paper+ again, not jpeg+. ValueError naming
    a row that is neither measured nor in ``previous``."""
    cells = _cells(rows)
    old = _parse(previous) if previous else {}
    header = ["Set, scale"]
    for method, _, label in columns:
        header += [label, f"{method}+", "gain"]
    plus_rows = [r for r in rows if r["method"].endswith("+")]
    keys = _lines(plus_rows) or [tuple(k.rsplit(" x", 1)) for k in old]
    lines = []
    for dataset, scale in keys:
        first = f"{dataset} x{scale}"
        line = [first]
        for i, (method, degradation, _) in enumerate(columns):
            key = (dataset, int(scale), degradation, method + "+")
            if key not in cells and first in old and len(old[first]) == 1 + 3 * len(columns):
                line += old[first][1 + 3 * i: 4 + 3 * i]
                continue
            plain = _get(cells, (dataset, int(scale), degradation, method))
            plus = _get(cells, key)
            line += [f"{plain:.2f}", f"{plus:.2f}", f"{plus - plain:+.2f}"]
        lines.append(line)
    return _markdown(header, lines)


def _markers(text: str, name: str) -> tuple[str, str]:
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    for marker in (start, end):
        if text.count(marker) != 1:
            raise ValueError(f"the text must hold {marker!r} exactly once (found {text.count(marker)})")
    if text.index(start) > text.index(end):
        raise ValueError(f"{end!r} comes before {start!r}")
    return start, end


def block(text: str, name: str) -> str:
    """What lies between ``<!-- name -->`` and ``<!-- /name -->`` (ValueError as :func:`replace_block`)."""
    start, end = _markers(text, name)
    return text[text.index(start) + len(start):text.index(end)]


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with what lies between ``<!-- name -->`` and ``<!-- /name -->`` replaced by
    ``body`` (the markers stay). ValueError unless each marker is there once, in that order."""
    start, end = _markers(text, name)
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    return pattern.sub(lambda _: f"{start}\n\n{body.strip()}\n\n{end}", text, count=1)
