"""Putting trained weights and their TFLite twins into the package, with cards that stay true.

The steps of a re-bundle that write into ``vdsr_tf/weights/`` (BUILD_NOTES.md, "Re-bundling the
paper set: the steps, in order"), each a function so that no step is done by hand:

:func:`bundle_weights`
    a training run's ``vdsr.weights.h5`` as a bundled set, with its model card (the run's card,
    the command, the evaluation rows, a note and the sha256 every load checks);
:func:`bundle_tflite`
    the float32 and int8 TFLite files of an export folder made from that set, and their entry
    of ``tflite.json``;
:func:`replace_rows`
    one method's evaluation rows in a bundled set's card: the jpeg card keeps the paper set's
    rows beside its own (they set ``JPEG_QUALITY_LIMITS``), measured again after each paper
    re-bundle.

Every file is written atomically and the card last: until the card is replaced, loading refuses
the new file (its hash differs from the old card's) rather than running a file the card does not
describe.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from vdsr_tf.core import atomic, integrity
from vdsr_tf.nn import weights as weights_mod

__all__ = ["bundle_tflite", "bundle_weights", "card_rows", "replace_rows", "select_rows"]

_ROW_KEY = ("dataset", "scale", "degradation")


def _read_json(path, what: str):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist") from None
    except (OSError, ValueError) as e:
        raise ValueError(f"{what} {str(path)!r} is unreadable: {e}") from e


def _check_rows(rows, what: str) -> list[dict]:
    needed = (*_ROW_KEY, "method", "psnr", "ssim")
    if not isinstance(rows, list) or not all(isinstance(r, dict) and all(k in r for k in needed) for r in rows):
        raise ValueError(f"{what}: not a list of tools/evaluate.py --json rows "
                         f"(each with {', '.join(needed)})")
    return rows


def select_rows(rows, method: str) -> list[dict]:
    """The rows of ``method`` and the bicubic rows of the same cells, in their order: a bundled
    set's share of an evaluation that scored several weights side by side (``tools/evaluate.py
    --weights runs/branch/vdsr.weights.h5 --weights paper --weights VDSR_Official.mat``).
    ValueError when ``method`` has no row (naming the methods there are)."""
    rows = _check_rows(rows, "the evaluation")
    own = [r for r in rows if r["method"] == method]
    if not own:
        found = ", ".join(dict.fromkeys(r["method"] for r in rows)) or "none"
        raise ValueError(f"the evaluation has no rows of method {method!r} (it has: {found})")
    cells = {tuple(r[k] for k in _ROW_KEY) for r in own}
    return [r for r in rows if r["method"] == method
            or (r["method"] == "bicubic" and tuple(r[k] for k in _ROW_KEY) in cells)]


def bundle_weights(workdir, rows, *, command: str, note: str = "", name: str = "paper",
                   overwrite: bool = False) -> Path:
    """Bundles ``<workdir>/vdsr.weights.h5`` as the set ``name`` and writes its card.

    The card is the run's ``model_card.json`` plus ``command`` (recorded verbatim), the
    evaluation ``rows`` (``tools/evaluate.py --json``), ``note``, the file name, the set's name
    and the weights' sha256. The weights must load before anything in the package changes.
    FileExistsError when the set exists and ``overwrite`` is False. Returns the bundled path.
    """
    from vdsr_tf.nn.weights import load_model

    target = weights_mod.bundled_path(name)
    if target.exists() and not overwrite:
        raise FileExistsError(f"the bundled {name!r} weights {target} exist; pass --overwrite to replace them")
    src = Path(workdir) / "vdsr.weights.h5"
    if not src.is_file():
        raise FileNotFoundError(f"{src} does not exist: give the folder of a training run")
    card = _read_json(Path(workdir) / "model_card.json", "the run's model card")
    rows = _check_rows(rows, "the evaluation rows")
    load_model(str(src))  # refuses a broken file before anything in the package changes
    card.update(command=command, evaluation={"tool": "tools/evaluate.py", "rows": rows}, note=note,
                weights_file=target.name, bundled_as=name, sha256=integrity.sha256(src))
    with atomic.atomic_path(target, suffix=".weights.h5") as tmp:
        shutil.copyfile(src, tmp)
    atomic.write_json(weights_mod.bundled_card_path(target), card)
    return target


def _tflite_name(name: str, precision: str) -> str:
    return weights_mod.bundled_path(name).name.replace(".weights.h5", "") + f"_{precision}.tflite"


def _shown_path(path: Path) -> str:
    """``path`` relative to the repository holding the package when it lies inside it."""
    root = weights_mod.TFLITE_CARD.resolve().parent.parent.parent
    path = path.resolve()
    return str(path.relative_to(root)) if root in path.parents else str(path)


def bundle_tflite(export_dir, name: str = "paper") -> dict:
    """Copies the float32 and int8 TFLite files of ``export_dir`` (``tools/export.py``) beside
    the bundled set ``name`` and rewrites its entry of ``tflite.json``; returns the entry.

    Refused with a one-line ValueError, before anything is written, when the folder's manifest
    was made from other weights than the bundled set (bundle the weights first, then export),
    when a file is missing or differs from the manifest's sha256, or when its measured parity
    did not pass (``vdsr-tf verify``).
    """
    from vdsr_tf.export.manifest import MANIFEST, changed_files, read_manifest

    export_dir = Path(export_dir)
    manifest = read_manifest(export_dir)
    bundled = weights_mod.bundled_weights(name)
    made_from = (manifest.get("weights") or {}).get("sha256")
    if made_from != integrity.sha256(bundled):
        raise ValueError(f"{str(export_dir)!r} was exported from other weights (sha256 {str(made_from)[:12]}...) "
                         f"than the bundled {name!r} set {bundled.name}; export it again from that set")
    arts = {a["name"]: a for a in manifest["artifacts"]}
    changed = changed_files(export_dir, manifest)
    entry = {"weights_sha256": made_from, "export": _shown_path(export_dir / MANIFEST)}
    sources = {}
    for precision in weights_mod.TFLITE_PRECISIONS:
        art = arts.get(f"tflite_{precision}")
        if art is None:
            raise ValueError(f"{str(export_dir)!r} has no tflite_{precision} artefact; export all precisions")
        if art["name"] in changed:
            raise ValueError(f"{str(export_dir / art['file'])!r}: {changed[art['name']]}")
        measured = art.get("measured") or {}
        if measured.get("passed") is not True or not isinstance(measured.get("psnr_drop"), (int, float)):
            raise ValueError(f"{str(export_dir / art['file'])!r} has no passed parity measurement in the "
                             "manifest; run vdsr-tf verify on the folder first")
        sources[precision] = export_dir / art["file"]
        entry[precision] = {"file": _tflite_name(name, precision), "sha256": art["sha256"],
                            "set5_psnr_drop_db": round(float(measured["psnr_drop"]), 4)}
    card_path = weights_mod.TFLITE_CARD
    card = _read_json(card_path, "the TFLite card") if card_path.exists() else {}
    for precision, src in sources.items():
        with atomic.atomic_path(card_path.with_name(entry[precision]["file"]), suffix=".tflite") as tmp:
            shutil.copyfile(src, tmp)
    card[name] = entry
    atomic.write_json(card_path, card)
    return entry


def card_rows(name: str) -> list[dict]:
    """The evaluation rows recorded in the card of the bundled set ``name``."""
    card = _read_json(weights_mod.bundled_card_path(weights_mod.bundled_path(name)), f"the {name!r} card")
    return _check_rows((card.get("evaluation") or {}).get("rows"), f"the {name!r} card's evaluation")


def replace_rows(name: str, rows, method: str) -> int:
    """Replaces the rows of ``method`` in the card of the bundled set ``name`` by those of
    ``rows`` for the same (dataset, scale, degradation) cells, in place; returns how many.

    The new rows must cover exactly the cells the card has for ``method`` (ValueError naming
    the first missing or extra one): a card whose rows were measured at two times would
    compare weights that no longer exist. The card's sha256 is untouched (the weights are).
    """
    path = weights_mod.bundled_card_path(weights_mod.bundled_path(name))
    card = _read_json(path, f"the {name!r} card")
    old = _check_rows((card.get("evaluation") or {}).get("rows"), f"the {name!r} card's evaluation")
    new = {tuple(r[k] for k in _ROW_KEY): r for r in _check_rows(rows, "the new rows") if r["method"] == method}
    have = [tuple(r[k] for k in _ROW_KEY) for r in old if r["method"] == method]
    if not have:
        raise ValueError(f"the {name!r} card has no rows of method {method!r}")
    for cell in have:
        if cell not in new:
            raise ValueError(f"the new rows have no {method!r} row for {cell} (dataset, scale, degradation), "
                             f"which the {name!r} card has; measure every cell again")
    for cell in new:
        if cell not in have:
            raise ValueError(f"the new {method!r} row for {cell} (dataset, scale, degradation) has no "
                             f"counterpart in the {name!r} card")
    card["evaluation"]["rows"] = [new[tuple(r[k] for k in _ROW_KEY)] if r["method"] == method else r for r in old]
    atomic.write_json(path, card)
    return len(have)

