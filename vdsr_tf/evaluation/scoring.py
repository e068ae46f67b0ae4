"""Benchmark evaluation the way the VDSR paper's Table 3 was made (docs/protocol.md).

Per (dataset, scale, method): every HR image is mod-cropped to the scale; its LR is
the shipped ``_LR.png`` (Huang et al.'s layout) or Matlab-bicubic ``imresize(HR, 1/s)``
on uint8 (a plain folder of HR images); the LR goes through
:func:`vdsr_tf.infer.upscaler.super_resolve` (or, for ``"bicubic"``,
:func:`vdsr_tf.infer.upscaler.bicubic_upscale`, the same colour path without the network); the
result is scored by :func:`vdsr_tf.core.metrics.score` with
``shave = scale``; PSNR and SSIM are averaged over the images of the set.

Degradations (:mod:`vdsr_tf.core.degradation`, the code training uses): ``clean`` is the LR
above; ``jpeg:Q`` is Matlab-bicubic ``imresize(HR, 1/s)`` saved as a JPEG file at quality Q,
handed to the method as the PIL image that file opens to (so the default weights choose as
they would for a user's JPEG). One table column per degradation.

Dataset folders:

* Huang layout: ``<set>/image_SRF_<s>/<name>_SRF_<s>_HR.png`` with a sibling
  ``<name>_SRF_<s>_LR.png`` (an HR without its LR gets one made by Matlab bicubic);
* plain: ``<set>/*.{png,bmp,jpg,jpeg,tif,tiff}``, each an HR image;
* :class:`ImageFiles`: HR image files named one by one (scored as a plain folder's images are),
  e.g. the images a training run held out of its data (vdsr_tf.train.holdout).
"""
from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from vdsr_tf.core import atomic, imageio, matlab, metrics
from vdsr_tf.core import degradation as degradation_lib
from vdsr_tf.core.checks import check_int
from vdsr_tf.infer import upscaler

__all__ = [
    "BICUBIC",
    "PAPER_TABLE3",
    "ImageFiles",
    "ImagePair",
    "check_scorable",
    "evaluate",
    "format_table",
    "huang_folder",
    "huang_folders",
    "list_pairs",
    "read_pair",
    "write_rows",
]

BICUBIC = "bicubic"

# Kim et al., CVPR 2016, Table 3: (PSNR, SSIM) per (set, scale) for each method.
PAPER_TABLE3: dict[str, dict[tuple[str, int], tuple[float, float]]] = {
    "bicubic": {
        ("Set5", 2): (33.66, 0.9299), ("Set5", 3): (30.39, 0.8682), ("Set5", 4): (28.42, 0.8104),
        ("Set14", 2): (30.24, 0.8688), ("Set14", 3): (27.55, 0.7742), ("Set14", 4): (26.00, 0.7027),
        ("B100", 2): (29.56, 0.8431), ("B100", 3): (27.21, 0.7385), ("B100", 4): (25.96, 0.6675),
        ("Urban100", 2): (26.88, 0.8403), ("Urban100", 3): (24.46, 0.7349),
        ("Urban100", 4): (23.14, 0.6577),
    },
    "SRCNN": {
        ("Set5", 2): (36.66, 0.9542), ("Set5", 3): (32.75, 0.9090), ("Set5", 4): (30.48, 0.8628),
        ("Set14", 2): (32.42, 0.9063), ("Set14", 3): (29.28, 0.8209), ("Set14", 4): (27.49, 0.7503),
        ("B100", 2): (31.36, 0.8879), ("B100", 3): (28.41, 0.7863), ("B100", 4): (26.90, 0.7101),
        ("Urban100", 2): (29.50, 0.8946), ("Urban100", 3): (26.24, 0.7989),
        ("Urban100", 4): (24.52, 0.7221),
    },
    "VDSR": {
        ("Set5", 2): (37.53, 0.9587), ("Set5", 3): (33.66, 0.9213), ("Set5", 4): (31.35, 0.8838),
        ("Set14", 2): (33.03, 0.9124), ("Set14", 3): (29.77, 0.8314), ("Set14", 4): (28.01, 0.7674),
        ("B100", 2): (31.90, 0.8960), ("B100", 3): (28.82, 0.7976), ("B100", 4): (27.29, 0.7251),
        ("Urban100", 2): (30.76, 0.9140), ("Urban100", 3): (27.14, 0.8279),
        ("Urban100", 4): (25.18, 0.7524),
    },
}


@dataclass(frozen=True)
class ImagePair:
    """One test image: ``hr`` path and ``lr`` path (None: make LR by Matlab bicubic)."""

    name: str
    hr: Path
    lr: Path | None


@dataclass(frozen=True)
class ImageFiles:
    """A dataset given as HR image files rather than a folder: ``name`` (its name in the rows)
    and ``files``; each file is scored as an image of a plain HR folder is."""

    name: str
    files: tuple[str, ...]

    def __post_init__(self):
        object.__setattr__(self, "files", tuple(os.fspath(f) for f in self.files))


def _check_scale(scale) -> int:
    return check_int(scale, "evaluation scale", 2)


def huang_folder(scale: int) -> str:
    """The Huang-layout sub-folder of ``scale``'s test pairs: ``image_SRF_<scale>``."""
    return f"image_SRF_{scale}"


def huang_folders(folder) -> list[str]:
    """The Huang-layout sub-folders of a dataset folder, sorted (none: a plain HR folder or
    :class:`ImageFiles`)."""
    if isinstance(folder, ImageFiles):
        return []
    folder = Path(folder)
    return sorted(p.name for p in folder.glob(huang_folder("*")) if p.is_dir()) if folder.is_dir() else []


def list_pairs(folder, scale: int) -> list[ImagePair]:
    """The test images of a dataset folder at ``scale`` (Huang layout or plain HR folder), or
    of an :class:`ImageFiles` (its files, in order).

    Raises ValueError when the folder (or a file) is missing, has a Huang layout without
    ``image_SRF_<scale>``, or holds no images.
    """
    scale = _check_scale(scale)
    if isinstance(folder, ImageFiles):
        missing = [f for f in folder.files if not os.path.isfile(f)]
        if missing or not folder.files:
            raise ValueError(f"{folder.name}: image file not found: {missing[0]!r}" if missing
                             else f"{folder.name}: no image files")
        return [ImagePair(Path(f).stem, Path(f), None) for f in folder.files]
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"dataset folder not found: {str(folder)!r}")
    huang = huang_folders(folder)
    if huang:
        sub = folder / huang_folder(scale)
        if not sub.is_dir():
            raise ValueError(
                f"{str(folder)!r} has Huang sub-folders {huang} but no {sub.name} "
                f"for scale {scale}"
            )
        pattern = re.compile(rf"^(?P<name>.+)_SRF_{scale}_HR(?P<ext>\.[A-Za-z]+)$")
        pairs = []
        for hr in sorted(sub.iterdir()):
            m = pattern.match(hr.name)
            if m is None or m.group("ext").lower() not in imageio.IMAGE_EXTENSIONS:
                continue
            lr = hr.with_name(f"{m.group('name')}_SRF_{scale}_LR{m.group('ext')}")
            pairs.append(ImagePair(m.group("name"), hr, lr if lr.is_file() else None))
        where = sub
    else:
        pairs = [
            ImagePair(p.stem, p, None)
            for p in sorted(folder.iterdir())
            if p.is_file() and p.suffix.lower() in imageio.IMAGE_EXTENSIONS
        ]
        where = folder
    if not pairs:
        raise ValueError(
            f"no test images in {str(where)!r}: expected *_SRF_{scale}_HR.png files "
            f"(Huang layout) or HR images ({', '.join(imageio.IMAGE_EXTENSIONS)})"
        )
    return pairs


def _read_uint8(path: Path) -> np.ndarray:
    """A uint8 (H, W) grey or (H, W, 3) RGB array (benchmark images are 8-bit).

    Read by :func:`vdsr_tf.core.imageio.read_image`; alpha is dropped, palettes expanded.
    """
    image = imageio.read_image(path)
    if image.mode in ("LA", "1"):
        image = image.convert("L")
    elif image.mode not in ("L", "RGB"):
        if image.mode.startswith(("I", "F")):
            raise ValueError(f"{str(path)!r} is a {image.mode} (more than 8-bit) image; "
                             "benchmark images are 8-bit grey or RGB")
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image), dtype=np.uint8)


def check_scorable(path, height: int, width: int, scale: int) -> None:
    """Raises ValueError naming ``path`` when a ``height`` x ``width`` HR image is too small to
    score at ``scale``: once cropped to a multiple of it and shaved, SSIM's window must fit."""
    # the smallest side that leaves metrics.min_scored_side after the mod-crop is a multiple of scale
    side = -(-metrics.min_scored_side(scale) // scale) * scale
    if min(height, width) < side:
        raise ValueError(
            f"{str(path)!r} is {height}x{width} pixels: too small to score at x{scale}, which needs "
            f"{side}x{side} at least (cropped to a multiple of {scale}, {scale} pixels shaved off each "
            f"border, then SSIM's window)"
        )


def read_pair(pair: ImagePair, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(HR, LR) uint8 arrays of one test image: HR mod-cropped to ``scale``, LR the shipped
    file or Matlab bicubic ``imresize(HR, 1/scale)``.

    Raises ValueError when a shipped LR is not the HR's size divided by ``scale``, or when the
    HR is too small to score at ``scale`` (:func:`vdsr_tf.core.metrics.min_scored_side`).
    """
    scale = _check_scale(scale)
    hr = _read_uint8(pair.hr)
    check_scorable(pair.hr, hr.shape[0], hr.shape[1], scale)
    hr = matlab.modcrop(hr, scale)
    lr = _read_uint8(pair.lr) if pair.lr is not None else matlab.imresize(hr, 1.0 / scale)
    expected = (hr.shape[0] // scale, hr.shape[1] // scale)
    if lr.shape[:2] != expected or lr.ndim != hr.ndim:
        raise ValueError(
            f"{str(pair.lr)!r} has shape {lr.shape}, but its HR {str(pair.hr)!r} "
            f"({hr.shape}) needs an LR of {expected} at x{scale}"
        )
    return hr, lr


def _method_name(weights) -> str:
    if weights is None:
        return "vdsr"
    if isinstance(weights, str) and weights in (BICUBIC, *_bundled_names()):
        return weights
    name = Path(weights).name
    for suffix in (".weights.h5", ".h5", ".mat"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _bundled_names() -> tuple[str, ...]:
    from vdsr_tf.nn.weights import BUNDLED_NAMES

    return BUNDLED_NAMES


def _resolve_methods(weights, ensemble: bool = False) -> list[tuple[str, Callable[[np.ndarray, int], np.ndarray]]]:
    """(name, upscale function) per requested method; models are loaded once, up front. With
    ``ensemble`` every network runs as its x8 self-ensemble and its name ends in "+"."""
    plus = "+" if ensemble else ""
    # Only a caller that imported Keras can pass a model; bicubic alone must not load TensorFlow.
    keras = sys.modules.get("keras")

    def is_model(w) -> bool:
        return keras is not None and isinstance(w, keras.Model)

    if weights is None or isinstance(weights, (str, os.PathLike)) or is_model(weights):
        weights = [weights]
    methods = []
    for w in weights:
        if is_model(w):  # e.g. a model being trained, scored on a benchmark
            methods.append((w.name + plus, upscaler.Upscaler(model=w, ensemble=ensemble)))
            continue
        name = _method_name(w)
        methods.append((name, upscaler.bicubic_upscale) if name == BICUBIC
                       else (name + plus, upscaler.Upscaler(w, ensemble=ensemble)))
    names = [n for n, _ in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"methods must have distinct names, got {names}")
    return methods


def _dataset_name(folder) -> str:
    return folder.name if isinstance(folder, ImageFiles) else Path(folder).resolve().name


def evaluate(
    data: Sequence | str | os.PathLike,
    scales: Iterable[int] = (2, 3, 4),
    weights=None,
    *,
    degradations=None,
    ensemble: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """Scores super-resolution on benchmark folders, as the paper's Table 3.

    Args:
      data: one dataset folder or a sequence of them (Huang layout or plain HR folder); an
        :class:`ImageFiles` stands for a folder.
      scales: integer scales >= 2.
      weights: one method or a list of them; each is ``None`` (the default choice of
        :func:`vdsr_tf.super_resolve`), a bundled set's name (``"paper"``, ``"jpeg"``),
        a ``.weights.h5`` / ``.mat`` path, ``"bicubic"``, or a ``keras.Model`` on
        (batch, H, W, 1) luminance (named by ``model.name``).
      degradations: the LR columns: text such as ``"clean,jpeg:75"`` or a sequence of
        :class:`vdsr_tf.core.degradation.Degradation`; default ``clean`` (the paper's table).
      ensemble: run every network as its x8 self-ensemble (``super_resolve(ensemble=True)``);
        its method name gets a "+" ("paper+", "vdsr+"). Bicubic is unchanged.
      progress: called with one line of text per image (for example ``print``).

    Returns:
      One dict per (dataset, scale, degradation, method), in that order, with keys ``dataset``
      (folder name), ``scale``, ``degradation`` (its name: ``clean``, ``jpeg:75``), ``method``
      (``"bicubic"``, ``"vdsr"`` for the default choice, a bundled set's name, the weights
      file's stem or the model's name), ``psnr`` and ``ssim`` (means over the
      images, Y channel, shave = scale), ``images`` and ``seconds_per_image`` (mean
      wall time of the upscaling alone).
    """
    folders = [data] if isinstance(data, (str, os.PathLike, ImageFiles)) else list(data)
    if not folders:
        raise ValueError("evaluate needs at least one dataset folder")
    scales = [_check_scale(s) for s in scales]
    if not scales:
        raise ValueError("evaluate needs at least one scale")
    if degradations is None:
        degradations = (degradation_lib.Degradation(),)
    elif isinstance(degradations, str):
        degradations = degradation_lib.parse_list(degradations)
    degradations = tuple(degradations)
    if not degradations or not all(isinstance(d, degradation_lib.Degradation) for d in degradations):
        raise ValueError(f"degradations must be a text such as 'clean,jpeg:75' or Degradation objects, "
                         f"got {degradations!r}")
    # Discover every dataset before loading models or computing anything: fail fast.
    plan = [(f, s, list_pairs(f, s)) for f in folders for s in scales]
    methods = _resolve_methods(weights, ensemble)
    say = progress or (lambda line: None)
    rows = []
    for folder, scale, pairs in plan:
        dataset = _dataset_name(folder)
        images = [(pair.name, *read_pair(pair, scale)) for pair in pairs]
        for deg in degradations:
            inputs = [(name, hr, lr if deg.is_clean else degradation_lib.make_lr(hr, scale, deg, as_file=True))
                      for name, hr, lr in images]
            rows.extend(_score_methods(methods, inputs, dataset, scale, deg.name, say))
    return rows


def _score_methods(methods, images, dataset: str, scale: int, deg: str, say) -> list[dict]:
    """One row per method on ``images`` ((name, HR, LR) of one dataset, scale and degradation)."""
    rows = []
    tag = "" if deg == degradation_lib.CLEAN else f" {deg}"
    for method, upscale in methods:
        scores, seconds = [], []
        for i, (name, hr, lr) in enumerate(images, start=1):
            start = time.perf_counter()
            sr = np.asarray(upscale(lr, scale))
            seconds.append(time.perf_counter() - start)
            if sr.shape != hr.shape or sr.dtype != np.uint8:
                raise ValueError(
                    f"{method} returned {sr.shape} {sr.dtype} for {name} at x{scale}; "
                    f"expected {hr.shape} uint8"
                )
            p, s = metrics.score(sr, hr, shave=scale)
            scores.append((p, s))
            say(
                f"[{dataset} x{scale}{tag} {method}] {i}/{len(images)} {name}: "
                f"{p:.2f} dB, SSIM {s:.4f}, {seconds[-1]:.2f} s"
            )
        row = {
            "dataset": dataset,
            "scale": scale,
            "degradation": deg,
            "method": method,
            "psnr": float(np.mean([p for p, _ in scores])),
            "ssim": float(np.mean([s for _, s in scores])),
            "images": len(images),
            "seconds_per_image": float(np.mean(seconds)),
        }
        say(
            f"[{dataset} x{scale}{tag} {method}] mean {row['psnr']:.2f} dB, "
            f"SSIM {row['ssim']:.4f} over {row['images']} images"
        )
        rows.append(row)
    return rows


def _paper(method: str, dataset: str, scale: int):
    return PAPER_TABLE3.get(method, {}).get((dataset, scale))


def format_table(rows: Sequence[dict]) -> str:
    """A Table-3-style text table: one line per (dataset, scale), PSNR/SSIM per method.

    Datasets of the paper (Set5, Set14, B100, Urban100) also get the paper's bicubic
    and VDSR columns for comparison. Rows of other degradations than ``clean`` make the
    degradation table instead: one line per (dataset, scale, method), a column per
    degradation (bicubic is a line like any method).
    """
    if any(r.get("degradation", degradation_lib.CLEAN) != degradation_lib.CLEAN for r in rows):
        return _degradation_table(rows)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    keys = list(dict.fromkeys((r["dataset"], r["scale"]) for r in rows))
    cell = {(r["dataset"], r["scale"], r["method"]): r for r in rows}
    with_paper = any(_paper("VDSR", d, s) for d, s in keys)
    paper_cols = ["paper bicubic", "paper VDSR"] if with_paper else []
    header = ["dataset", "scale"] + methods + paper_cols
    lines = []
    for d, s in keys:
        line = [d, f"x{s}"]
        for m in methods:
            r = cell.get((d, s, m))
            line.append("-" if r is None else f"{r['psnr']:.2f}/{r['ssim']:.4f}")
        if with_paper:
            for m in ("bicubic", "VDSR"):
                ref = _paper(m, d, s)
                line.append("-" if ref is None else f"{ref[0]:.2f}/{ref[1]:.4f}")
        lines.append(line)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    fmt = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    out = [fmt(header), fmt(["-" * w for w in widths])] + [fmt(line) for line in lines]
    if rows:
        out.append("(PSNR dB / SSIM on Y, shave = scale; seconds per image: "
                   + ", ".join(f"{m} {np.mean([r['seconds_per_image'] for r in rows if r['method'] == m]):.2f}"
                               for m in methods) + ")")
    return "\n".join(out)


def _text_table(header: list[str], lines: list[list[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    fmt = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    return [fmt(header), fmt(["-" * w for w in widths])] + [fmt(line) for line in lines]


def _degradation_table(rows: Sequence[dict]) -> str:
    degs = list(dict.fromkeys(r["degradation"] for r in rows))
    keys = list(dict.fromkeys((r["dataset"], r["scale"], r["method"]) for r in rows))
    cell = {(r["dataset"], r["scale"], r["method"], r["degradation"]): r for r in rows}
    lines = []
    for d, s, m in keys:
        found = [cell.get((d, s, m, g)) for g in degs]
        lines.append([d, f"x{s}", m] + ["-" if r is None else f"{r['psnr']:.2f}/{r['ssim']:.4f}" for r in found])
    out = _text_table(["dataset", "scale", "method"] + degs, lines)
    out.append("(PSNR dB / SSIM on Y, shave = scale; LR: clean = Matlab bicubic (the shipped LR where a set has "
               "one), jpeg:Q = Matlab bicubic saved as JPEG at quality Q, 4:2:0)")
    return "\n".join(out)


def write_rows(path, rows: Sequence[dict], *, overwrite: bool = True) -> None:
    """Writes ``rows`` as a JSON list to ``path`` atomically (non-finite numbers as null);
    the folder must exist. ``overwrite=False``: FileExistsError when ``path`` exists."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise ValueError(f"cannot write {str(path)!r}: folder {str(directory)!r} does not exist")
    clean = [
        {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
        for r in rows
    ]
    if not overwrite:
        with atomic.atomic_path(path, overwrite=False) as tmp:
            Path(tmp).write_text(json.dumps(clean, indent=2) + "\n", encoding="utf-8")
        return
    atomic.write_json(path, clean)
