"""The low-resolution pictures VDSR meets, made one way for training and for evaluation.

A degradation turns an HR image into the LR image a user would hold:

* ``clean``: Matlab bicubic ``imresize(HR, 1/s)``, rounded to uint8 (a lossless file);
* ``jpeg:Q``: that LR saved as a real JPEG file at quality Q and decoded: the whole LR image
  at once (so the 8x8 block grid starts at its top-left pixel, as in a file), RGB with 4:2:0
  chroma (grey images as one-channel JPEGs), Pillow's libjpeg. The network then sees the
  Matlab Y of the decoded pixels, as :func:`vdsr_tf.super_resolve` takes it from a file.

Written as text (flags, configs, cards):

* a list of columns, for evaluation: ``clean,jpeg:90,jpeg:75`` (:func:`parse_list`);
* a mixture, for training: terms ``clean[:SHARE]`` and ``jpeg:Q[:SHARE]`` or
  ``jpeg:LO-HI[:SHARE]`` (quality uniform in LO..HI), SHARE in (0, 1] the fraction of the
  patches; terms without a share split what the others leave equally
  (:func:`parse_mixture`). ``clean:0.25,jpeg:20-95``: a quarter lossless, three quarters
  JPEG at a quality drawn uniformly from 20 to 95 for each patch's image.

Training draws, for every row of batch ``k``, the term and the quality from a generator
seeded by ``(seed, k)`` (:meth:`Mixture.draw`), so a resumed run sees the same pictures.

:func:`estimate_quality` reads a JPEG file's quality back from its quantisation tables (how
the library chooses the weights for a JPEG; BUILD_NOTES.md, "JPEG photos").
"""
from __future__ import annotations

import dataclasses
import functools
import io
import math
import re

import numpy as np
from PIL import Image

from vdsr_tf.core import matlab

__all__ = [
    "CLEAN",
    "Degradation",
    "Mixture",
    "estimate_quality",
    "jpeg_bytes",
    "jpeg_roundtrip",
    "lr_luma",
    "make_lr",
    "network_input_window",
    "open_jpeg",
    "parse_list",
    "parse_mixture",
]

CLEAN = "clean"
JPEG = "jpeg"
MIN_QUALITY, MAX_QUALITY = 1, 100
_SYNTAX = "clean, jpeg:Q or jpeg:LO-HI (Q from 1 to 100)"
_TERM = re.compile(r"^(?P<kind>[a-z]+)(?::(?P<q>\d+)(?:-(?P<q2>\d+))?)?(?::(?P<share>[^:]+))?$")


@dataclasses.dataclass(frozen=True)
class Degradation:
    """One kind of LR picture: ``clean``, or ``jpeg`` at a quality in [quality_lo, quality_hi]."""

    kind: str = CLEAN
    quality_lo: int = 0
    quality_hi: int = 0

    @property
    def name(self) -> str:
        """The text form: ``clean``, ``jpeg:75``, ``jpeg:20-95``."""
        if self.kind == CLEAN:
            return CLEAN
        if self.quality_lo == self.quality_hi:
            return f"{JPEG}:{self.quality_lo}"
        return f"{JPEG}:{self.quality_lo}-{self.quality_hi}"

    @property
    def is_clean(self) -> bool:
        return self.kind == CLEAN


def _term(text: str, what: str) -> tuple[Degradation, float | None]:
    m = _TERM.match(text.strip().lower())
    if not m or m.group("kind") not in (CLEAN, JPEG):
        raise ValueError(f"{what}: {text.strip()!r} is not a degradation; expected {_SYNTAX}")
    kind, q, q2, share = m.group("kind"), m.group("q"), m.group("q2"), m.group("share")
    if kind == CLEAN:
        if q is not None and share is None and q2 is None:  # "clean:1" reads as a share
            share = q
        elif q is not None:
            raise ValueError(f"{what}: {text.strip()!r}: clean takes no quality")
        deg = Degradation()
    else:
        if q is None:
            raise ValueError(f"{what}: {text.strip()!r} needs a quality, e.g. jpeg:75 or jpeg:20-95")
        lo, hi = int(q), int(q2 if q2 is not None else q)
        if not MIN_QUALITY <= lo <= hi <= MAX_QUALITY:
            raise ValueError(f"{what}: {text.strip()!r}: JPEG quality must run from {MIN_QUALITY} to "
                             f"{MAX_QUALITY}, low to high")
        deg = Degradation(JPEG, lo, hi)
    if share is None:
        return deg, None
    try:
        value = float(share)
    except ValueError:
        value = math.nan
    if not 0 < value <= 1:
        raise ValueError(f"{what}: {text.strip()!r}: the share must be a number in (0, 1], got {share!r}")
    return deg, value


def _terms(text, what: str) -> list[str]:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{what} must be a non-empty text such as 'clean,jpeg:75', got {text!r}")
    parts = [p for p in text.split(",")]
    if any(not p.strip() for p in parts):
        raise ValueError(f"{what}: {text!r} has an empty term")
    return parts


def parse_list(text: str, what: str = "degradation") -> tuple[Degradation, ...]:
    """Evaluation columns: ``clean,jpeg:90,jpeg:75`` -> one fixed degradation each (no
    ranges, no shares, no repeats). Raises a one-line ValueError quoting the bad term."""
    out = []
    for part in _terms(text, what):
        deg, share = _term(part, what)
        if share is not None or deg.quality_lo != deg.quality_hi:
            raise ValueError(f"{what}: {part.strip()!r}: an evaluation column takes one fixed setting "
                             "(clean or jpeg:Q), not a share or a range")
        if deg in out:
            raise ValueError(f"{what}: {deg.name} is listed twice")
        out.append(deg)
    return tuple(out)


def column_quality(name: str) -> int | None:
    """The JPEG quality of one evaluation column's name (``jpeg:75`` -> 75), None for ``clean``.
    The one reader of column names: the rows that ``tools/evaluate.py --json`` writes carry them."""
    degs = parse_list(name, "evaluation column")
    if len(degs) != 1:
        raise ValueError(f"evaluation column: {name!r} names {len(degs)} columns, not one")
    return None if degs[0].is_clean else degs[0].quality_lo


@dataclasses.dataclass(frozen=True)
class Mixture:
    """A training mixture: ``terms[i]`` makes a fraction ``shares[i]`` of the patches (sum 1)."""

    terms: tuple[Degradation, ...] = (Degradation(),)
    shares: tuple[float, ...] = (1.0,)

    @property
    def name(self) -> str:
        """The canonical text, every share written out: ``clean:0.25,jpeg:20-95:0.75``."""
        if self.is_clean:
            return CLEAN
        return ",".join(f"{t.name}:{s:g}" for t, s in zip(self.terms, self.shares))

    @property
    def is_clean(self) -> bool:
        """True when every patch is lossless (the paper's training)."""
        return all(t.is_clean for t in self.terms)

    def draw(self, seed: int, step: int, n: int) -> np.ndarray:
        """JPEG quality per row of batch ``step``: int64 (n,), 0 for a clean row.

        A pure function of (seed, step, n): resumed runs see the same pictures.
        """
        rng = np.random.default_rng([int(seed), 7, int(step)])  # 7: this purpose's salt
        which = np.searchsorted(np.cumsum(self.shares)[:-1], rng.random(n), side="right")
        u = rng.random(n)
        out = np.zeros(n, np.int64)
        for i, t in enumerate(self.terms):
            sel = which == i
            if not t.is_clean:
                span = t.quality_hi - t.quality_lo + 1
                out[sel] = t.quality_lo + np.minimum((u[sel] * span).astype(np.int64), span - 1)
        return out


def parse_mixture(text: str, what: str = "degradation") -> Mixture:
    """A training mixture from its text (module docstring). Raises a one-line ValueError."""
    terms, shares = [], []
    for part in _terms(text, what):
        deg, share = _term(part, what)
        if deg in terms:
            raise ValueError(f"{what}: {deg.name} is listed twice")
        terms.append(deg)
        shares.append(share)
    given = sum(s for s in shares if s is not None)
    free = sum(1 for s in shares if s is None)
    if given > 1 + 1e-9 or (free == 0 and abs(given - 1) > 1e-6):
        raise ValueError(f"{what}: {text!r}: the shares add up to {given:g}; they must make 1 "
                         "(or less, with terms without a share taking the rest)")
    if free and given >= 1 - 1e-9:
        raise ValueError(f"{what}: {text!r}: the shares given already make 1, leaving nothing for the rest")
    rest = (1.0 - given) / free if free else 0.0
    return Mixture(tuple(terms), tuple(float(s if s is not None else rest) for s in shares))


# --------------------------------------------------------------------------- pixels

def _check_uint8_image(img, what: str) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype != np.uint8 or not (img.ndim == 2 or (img.ndim == 3 and img.shape[-1] in (1, 3))):
        raise ValueError(f"{what} expects a uint8 (H, W) grey or (H, W, 3) RGB image, got {img.dtype} {img.shape}")
    return img


def jpeg_bytes(img: np.ndarray, quality: int) -> bytes:
    """``img`` written as a JPEG file at ``quality``: the file's bytes.

    ``img``: uint8 (H, W) grey or (H, W, 3) RGB (also (H, W, 1)). RGB is written with 4:2:0
    chroma (libjpeg's default, and what cameras and phones use); grey as a one-channel JPEG.
    """
    img = _check_uint8_image(img, "jpeg_bytes")
    q = int(quality)
    if not MIN_QUALITY <= q <= MAX_QUALITY:
        raise ValueError(f"JPEG quality must be from {MIN_QUALITY} to {MAX_QUALITY}, got {quality!r}")
    grey = img.ndim == 2 or img.shape[-1] == 1
    pil = Image.fromarray(img.reshape(img.shape[:2]) if grey else img, "L" if grey else "RGB")
    buf = io.BytesIO()
    pil.save(buf, "JPEG", quality=q, **({} if grey else {"subsampling": 2}))  # 2 = 4:2:0
    return buf.getvalue()


def open_jpeg(data: bytes) -> Image.Image:
    """A JPEG file's bytes opened and decoded by Pillow, as a user's file would be (its
    ``format`` is "JPEG" and its quantisation tables are kept)."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    """``img`` saved as a JPEG file at ``quality`` (:func:`jpeg_bytes`) and decoded: the
    pixels a user's file holds, in the shape ``img`` had."""
    img = np.asarray(img)
    out = np.asarray(open_jpeg(jpeg_bytes(img, quality)))
    return out.reshape(img.shape)


def make_lr(hr: np.ndarray, scale: int, degradation: Degradation, *, as_file: bool = False):
    """The LR image a user would hold of ``hr`` (uint8, mod-cropped to ``scale``) under one
    fixed ``degradation``: Matlab bicubic 1/scale, rounded, then the JPEG round trip.

    Returns a uint8 array, or with ``as_file`` a JPEG as the PIL image its file opens to
    (what :func:`vdsr_tf.super_resolve` meets when a user passes a JPEG; lossless stays an array).
    """
    hr = _check_uint8_image(hr, "make_lr")
    if degradation.quality_lo != degradation.quality_hi:
        raise ValueError(f"make_lr needs one fixed degradation, got the range {degradation.name}")
    lr = matlab.imresize(hr, 1.0 / scale)
    if degradation.is_clean:
        return lr
    data = jpeg_bytes(lr, degradation.quality_lo)
    return open_jpeg(data) if as_file else np.asarray(open_jpeg(data)).reshape(lr.shape)


def lr_luma(img: np.ndarray) -> np.ndarray:
    """The network's view of a uint8 LR picture: Matlab Y in [0, 1] (float64 (H, W)), from
    ``rgb2ycbcr`` on RGB or the grey values as they are (:func:`vdsr_tf.super_resolve`'s rule)."""
    img = _check_uint8_image(img, "lr_luma")
    if img.ndim == 3 and img.shape[-1] == 3:
        return matlab.rgb2ycbcr(img.astype(np.float64) / 255.0)[..., 0]
    return img.reshape(img.shape[:2]).astype(np.float64) / 255.0


@functools.lru_cache(maxsize=256)
def _resize_matrix(in_length: int, out_length: int) -> np.ndarray:
    m = matlab.resize_matrix(in_length, out_length)
    m.flags.writeable = False
    return m


def network_input_window(lr: np.ndarray, quality: int, out_hw: tuple[int, int], top: int, left: int,
                         size: int) -> np.ndarray:
    """A ``size`` x ``size`` window, at (top, left) of the (H, W) = ``out_hw`` network input
    made from the uint8 LR picture ``lr`` saved as a JPEG at ``quality`` (0: lossless).

    The whole picture is compressed (the block grid sits on the picture, not on the window);
    only the window is converted to Y and bicubic-upscaled (:func:`vdsr_tf.core.matlab.resize_matrix`),
    equal to cropping the full ``imresize(lr_luma(...), out_hw)`` to float rounding.
    Returns float32 (size, size).
    """
    pic = jpeg_roundtrip(lr, quality) if quality else _check_uint8_image(lr, "network_input_window")
    rows = _resize_matrix(pic.shape[0], out_hw[0])[top:top + size]
    cols = _resize_matrix(pic.shape[1], out_hw[1])[left:left + size]
    used_r, used_c = np.flatnonzero(rows.any(0)), np.flatnonzero(cols.any(0))
    r0, r1, c0, c1 = used_r[0], used_r[-1] + 1, used_c[0], used_c[-1] + 1
    y = lr_luma(pic[r0:r1, c0:c1])
    return (rows[:, r0:r1] @ y @ cols[:, c0:c1].T).astype(np.float32)


# --------------------------------------------------------------------------- quality

@functools.lru_cache(maxsize=1)
def _reference_tables() -> np.ndarray:
    """The luminance quantisation table libjpeg writes at each quality 1..100: (100, 64)."""
    tiny = Image.new("L", (8, 8), 128)
    out = np.zeros((MAX_QUALITY, 64), np.float64)
    for q in range(MIN_QUALITY, MAX_QUALITY + 1):
        buf = io.BytesIO()
        tiny.save(buf, "JPEG", quality=q)
        buf.seek(0)
        with Image.open(buf) as im:
            out[q - 1] = im.quantization[0]
    return out


def estimate_quality(image) -> int | None:
    """The libjpeg quality (1-100) whose luminance table is nearest to the JPEG's own.

    ``image``: a PIL image opened from a JPEG (its ``quantization`` tables), or a path or
    file object of a JPEG. Returns None for an image without JPEG tables. Files written by
    libjpeg, Pillow, OpenCV, GIMP and most web tools match one quality exactly; cameras and
    phones use their own tables, which give the nearest quality (by log-ratio).
    """
    tables = getattr(image, "quantization", None)
    if tables is None and not isinstance(image, Image.Image):
        with Image.open(image) as im:
            tables = getattr(im, "quantization", None)
    if not tables or 0 not in tables or len(tables[0]) != 64:
        return None
    own = np.log(np.maximum(np.asarray(tables[0], np.float64), 1.0))
    ref = np.log(np.maximum(_reference_tables(), 1.0))
    return int(np.argmin(((ref - own[None]) ** 2).sum(axis=1))) + MIN_QUALITY
