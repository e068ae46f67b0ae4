"""Reading, validating and atomically writing images for super-resolution.

Everything that enters :func:`vdsr_tf.super_resolve` passes through :func:`load_image`,
which turns a PIL image, a numpy array or a file path into one float32 (H, W, C) array in
[0, 1] plus an :class:`ImageSpec` that remembers how the caller gave it, so that
:func:`restore_image` can hand the result back in the same form. Nothing here imports
TensorFlow. Every image kind the library takes or gives (PIL modes, array dtypes, 16-bit
colour files) is handled here and nowhere else.

Accepted inputs
---------------
* numpy arrays (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA, of dtype uint8, uint16
  or float16/32/64 with every value finite and in [0, 1]. Other dtypes (bool, signed or
  32/64-bit integers, complex, object) raise ``TypeError``; other shapes ``ValueError``.
* PIL images. Modes and what happens to them:

  ========================  ==============================================  ============
  mode                      treatment                                       returned as
  ========================  ==============================================  ============
  L, LA, RGB, RGBA          used as they are (A = alpha, upscaled bicubic)  same mode
  I;16, I;16L, I;16B        16-bit grey, kept at 16 bits                    I;16
  I                         32-bit int grey; values must lie in [0, 65535]  I
  F                         32-bit float grey; values must lie in [0, 1]    F
  1                         bilevel: converted to L (8-bit grey)            L
  P, PA                     palette: converted to RGB, or RGBA when the     RGB / RGBA
                            palette has transparency (a super-resolved
                            image has more colours than a palette holds)
  RGBX                      padding byte dropped                            RGB
  CMYK, YCbCr, LAB, HSV,    refused with ``ValueError``: converting them
  La, RGBa, others          without a colour profile (or un-premultiplying)
                            would silently change colours; convert them
                            yourself, e.g. ``img.convert("RGB")``
  ========================  ==============================================  ============

* file paths (``str`` or ``os.PathLike``): read with Pillow, first frame of multi-frame
  files, EXIF orientation applied (so the result looks like the file does in a viewer),
  then treated as the PIL image. Missing, unreadable, truncated/corrupt and non-image files
  raise :class:`ImageError` (a ``ValueError``) naming the file; a missing file raises
  :class:`ImageNotFoundError`, which is also a ``FileNotFoundError``.
  The declared size is read from the header first (:func:`image_size`), so callers can refuse
  a huge image before it is decoded.
* 16-bit colour files: PIL has no 16-bit RGB mode and quietly decodes 48/64-bit PNG and
  TIFF to 8 bits, so :func:`read_pixels` (and with it :func:`load_image` and
  ``super_resolve``) reads 16-bit RGB and RGBA PNG with imagecodecs (libpng) and TIFF with
  tifffile, as uint16 (H, W, 3|4) arrays: the result of a path is then a uint16 array, and
  :func:`save_image` writes uint16 (H, W, 3|4) arrays as 16-bit PNG or TIFF (other formats
  refuse them: they cannot hold 16 bits). 16-bit grey+alpha PNG/TIFF is refused (there is no
  uint16 two-channel form to hand back). The ICC profile of such files is not carried.

Every image must be at least 2x2 pixels (zero-size and 1-pixel images are refused).

Writing
-------
:func:`save_image` writes to a temporary file in the destination folder and moves it into
place with ``os.replace`` (or ``os.link`` when overwriting is not allowed), so a reader
never sees a partial file and a failure leaves nothing behind.
"""
from __future__ import annotations

import dataclasses
import os
import struct
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vdsr_tf.core import atomic

__all__ = [
    "ImageError",
    "ImageNotFoundError",
    "OutputExistsError",
    "ImageSpec",
    "MIN_SIZE",
    "read_image",
    "read_pixels",
    "image_size",
    "load_image",
    "restore_image",
    "to_pil",
    "IMAGE_EXTENSIONS",
    "save_image",
    "writable_extension",
]

MIN_SIZE = 2
"""Smallest accepted height and width in pixels."""

IMAGE_EXTENSIONS = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")
"""What a folder of training or benchmark images is read for (lower case; the CLI takes
whatever Pillow reads)."""

_FLOAT_DTYPES = (np.float16, np.float32, np.float64)
_INT_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}

# PIL modes used as they are: mode -> (channels, storage dtype, returned mode).
_NATIVE_MODES = {
    "L": (1, np.uint8, "L"),
    "LA": (2, np.uint8, "LA"),
    "RGB": (3, np.uint8, "RGB"),
    "RGBA": (4, np.uint8, "RGBA"),
    "I;16": (1, np.uint16, "I;16"),
    "I;16L": (1, np.uint16, "I;16"),
    "I;16B": (1, np.uint16, "I;16"),
    "I;16N": (1, np.uint16, "I;16"),
    "I": (1, np.uint16, "I"),
    "F": (1, np.float32, "F"),
}
# PIL modes converted losslessly (or with an obvious meaning) before use.
_CONVERTED_MODES = {"1": "L", "P": "RGB", "PA": "RGBA", "RGBX": "RGB"}
_REFUSED_HINT = {
    "CMYK": "CMYK needs a colour profile to become RGB",
    "YCbCr": "PIL's YCbCr is full-range JPEG YCbCr, not the RGB the network expects",
    "LAB": "Lab needs a colour profile to become RGB",
    "HSV": "HSV is not an image colour space the network understands",
    "La": "premultiplied alpha",
    "RGBa": "premultiplied alpha",
}


class ImageError(ValueError):
    """An input or output image is unusable; the message names the file or value."""


class ImageNotFoundError(ImageError, FileNotFoundError):
    """An input image file does not exist."""


class OutputExistsError(ImageError, FileExistsError):
    """An output file exists and overwriting was not allowed."""


@dataclasses.dataclass(frozen=True)
class ImageSpec:
    """How an image was given, so a result can be returned in the same form.

    Attributes:
      kind: "array", "pil" or "path".
      dtype: storage dtype of the samples (uint8, uint16 or a float dtype).
      channels: 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA).
      ndim: 2 or 3, the array rank to return (arrays only; PIL images use 3 internally).
      mode: the PIL mode to return (PIL images and paths), else None.
      info: PIL metadata carried to the result (the ICC profile and the EXIF block), as a
        tuple of pairs.
    """

    kind: str
    dtype: np.dtype
    channels: int
    ndim: int = 3
    mode: str | None = None
    info: tuple = ()

    @property
    def has_alpha(self) -> bool:
        return self.channels in (2, 4)

    @property
    def is_colour(self) -> bool:
        return self.channels in (3, 4)


def _describe(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_path_arg(path) -> str:
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"image path must be a str or os.PathLike, got {type(path).__name__}")
    name = os.fspath(path)
    if not os.path.exists(name):
        raise ImageNotFoundError(f"image file not found: {name!r}")
    if os.path.isdir(name):
        raise ImageError(f"{name!r} is a folder, not an image file")
    return name


class _PillowErrors:
    """Turns Pillow's many exception types into one-line :class:`ImageError` naming the file.

    Pillow's DecompressionBombWarning is silenced inside: the library checks the declared
    size against its own output limit before decoding (inference.check_output_size), and a
    warning with its source line would break the CLI's one-line promise.
    """

    def __init__(self, name: str):
        self.name = name
        self._warnings = warnings.catch_warnings()

    def __enter__(self):
        self._warnings.__enter__()
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return self

    def __exit__(self, kind, e, tb):
        self._warnings.__exit__(kind, e, tb)
        name = self.name
        if e is None or isinstance(e, ImageError):
            return False
        if isinstance(e, PermissionError):
            raise ImageError(f"cannot read image file {name!r}: permission denied") from e
        if isinstance(e, UnidentifiedImageError):
            size = os.path.getsize(name)
            what = "an empty file" if size == 0 else "not an image Pillow can read"
            raise ImageError(f"cannot read image file {name!r}: {what}") from e
        if isinstance(e, Image.DecompressionBombError):
            raise ImageError(f"cannot read image file {name!r}: {e}") from e
        if isinstance(e, (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError)):
            raise ImageError(
                f"cannot read image file {name!r}: truncated or corrupt ({type(e).__name__}: {e})"
            ) from e
        return False


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) the file declares, read from its header without decoding the pixels.

    EXIF orientation is not applied (a rotation swaps the sides, not their product).

    Raises: as :func:`read_image`, for files whose header cannot be read.
    """
    name = _check_path_arg(path)
    with _PillowErrors(name):
        with Image.open(name) as opened:
            return opened.size


def read_image(path: str | os.PathLike) -> Image.Image:
    """Reads an image file fully into memory and returns the PIL image.

    The first frame of a multi-frame file is used and its EXIF orientation applied.
    16-bit colour files come back as PIL decodes them, at 8 bits: use :func:`read_pixels`
    to keep 16 bits.

    Raises:
      TypeError: ``path`` is not a str or os.PathLike.
      ImageNotFoundError: the file does not exist.
      ImageError: the path is a folder, unreadable, empty, truncated, corrupt, too large
        for Pillow's decompression-bomb guard, or not an image Pillow can decode.
    """
    name = _check_path_arg(path)
    with _PillowErrors(name):
        with Image.open(name) as opened:
            opened.load()  # decode now: truncation and corruption surface here
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Corrupt EXIF data": orientation then stays as stored
                image = ImageOps.exif_transpose(opened)
            if image is opened:  # older Pillow returns the same object when nothing to do
                image = opened.copy()
            if opened.format == "TIFF" and "exif" not in image.info:
                exif = _tiff_exif(opened)  # a TIFF's EXIF lives in its own tags, which the copy loses
                if exif:
                    image.info["exif"] = exif
    return image


# ---------------------------------------------------------------------------- 16-bit colour

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _deep_colour_kind(name: str) -> tuple[str, int] | None:
    """("png" | "tiff", channels) when the file holds 16-bit colour (or grey+alpha), else None."""
    try:
        with open(name, "rb") as f:
            head = f.read(32)
    except OSError:
        return None  # read_image reports it
    if head.startswith(_PNG_SIGNATURE) and head[12:16] == b"IHDR" and len(head) >= 26:
        depth, colour = head[24], head[25]
        channels = {2: 3, 6: 4, 4: 2}.get(colour)
        return ("png", channels) if depth == 16 and channels else None
    if head.startswith(_TIFF_SIGNATURES):
        import tifffile

        try:
            with tifffile.TiffFile(name) as tif:
                page = tif.pages[0]
                spp = int(page.samplesperpixel)
                if int(page.bitspersample) == 16 and spp in (2, 3, 4):
                    if spp in (2, 4) and tuple(page.extrasamples or ())[:1] == (1,):
                        return "tiff", -1  # associated (premultiplied) alpha
                    return "tiff", spp
        except Exception:  # noqa: BLE001 -- a broken TIFF is Pillow's to report, with its name
            return None
    return None


def _orientation(name: str) -> int:
    with _PillowErrors(name):
        with Image.open(name) as opened:
            return int(opened.getexif().get(_ORIENTATION, 1) or 1)


def _orient(arr: np.ndarray, code: int) -> np.ndarray:
    """Applies EXIF orientation ``code`` to (H, W, C) like ``ImageOps.exif_transpose``."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(code)
    return np.ascontiguousarray(op(arr)) if op else arr


def _read_deep_colour(name: str, kind: str, channels: int) -> np.ndarray:
    if channels == -1:
        raise ImageError(f"cannot read image file {name!r}: 16-bit TIFF with premultiplied "
                         "alpha is not supported (un-premultiplying would change colours); "
                         "save it with unassociated alpha")
    if channels == 2:
        raise ImageError(f"cannot read image file {name!r}: 16-bit grey+alpha is not supported "
                         "(no 16-bit two-channel form exists to return); save it as 16-bit RGBA "
                         "or 8-bit grey+alpha")
    try:
        if kind == "png":
            import imagecodecs

            with open(name, "rb") as f:
                arr = imagecodecs.png_decode(f.read())
        else:
            import tifffile

            with tifffile.TiffFile(name) as tif:
                page = tif.pages[0]
                arr = page.asarray()
                if int(page.planarconfig) == 2:  # separate planes: (C, H, W)
                    arr = np.moveaxis(arr, 0, -1)
                if int(page.photometric) != 2:  # RGB
                    raise ImageError(f"cannot read image file {name!r}: 16-bit TIFF with "
                                     f"photometric {page.photometric!r}, not RGB")
    except ImageError:
        raise
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 -- the decoders raise their own error types
        raise ImageError(f"cannot read image file {name!r}: truncated or corrupt 16-bit "
                         f"{kind.upper()} ({type(e).__name__}: {e})") from e
    arr = np.asarray(arr)
    if arr.dtype != np.uint16 or arr.ndim != 3 or arr.shape[2] != channels:
        raise ImageError(f"cannot read image file {name!r}: decoded 16-bit {kind.upper()} has "
                         f"dtype {arr.dtype} and shape {arr.shape}, expected uint16 (H, W, {channels})")
    return _orient(arr, _orientation(name))


def read_pixels(path: str | os.PathLike):
    """:func:`read_image`, except that 16-bit RGB/RGBA PNG and TIFF keep their 16 bits.

    Returns a PIL image, or a uint16 (H, W, 3|4) array for a 16-bit colour file (EXIF
    orientation applied either way). Raises as :func:`read_image`.
    """
    name = _check_path_arg(path)
    deep = _deep_colour_kind(name)
    if deep is not None:
        return _read_deep_colour(name, *deep)
    return read_image(name)


def _check_size(height: int, width: int, what: str) -> None:
    if height == 0 or width == 0:
        raise ValueError(f"{what} is empty (size {height}x{width}); images must be at least "
                         f"{MIN_SIZE}x{MIN_SIZE} pixels")
    if height < MIN_SIZE or width < MIN_SIZE:
        raise ValueError(f"{what} is too small ({height}x{width} pixels); images must be at "
                         f"least {MIN_SIZE}x{MIN_SIZE} pixels")


def _check_float_range(arr: np.ndarray, what: str) -> None:
    finite = np.isfinite(arr)
    if not finite.all():
        bad = arr[~finite]
        kinds = sorted({"NaN" if np.isnan(v) else ("+inf" if v > 0 else "-inf") for v in bad[:1000]})
        raise ValueError(f"{what} contains {'/'.join(kinds)} values ({bad.size} of {arr.size}); "
                         "float images must be finite and in [0, 1]")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{what} has values in [{lo:g}, {hi:g}]; float images must lie in "
                         "[0, 1] (divide 8-bit data by 255, or pass it as uint8)")


def _array_to_float(arr: np.ndarray, what: str) -> np.ndarray:
    """Validated (H, W, C) array of any accepted dtype -> float32 [0, 1] (always a copy)."""
    if arr.dtype in _INT_SCALE:
        return arr.astype(np.float32) / np.float32(_INT_SCALE[arr.dtype])
    _check_float_range(arr, what)
    return arr.astype(np.float32, copy=True)


def _load_array(arr: np.ndarray) -> tuple[np.ndarray, ImageSpec]:
    what = f"image array of shape {arr.shape} and dtype {arr.dtype}"
    if not arr.dtype.isnative:  # big-endian data: same values, native byte order
        arr = arr.astype(arr.dtype.newbyteorder("="))
    dtype = arr.dtype
    if dtype == np.bool_ or not (dtype in _INT_SCALE or dtype in [np.dtype(t) for t in _FLOAT_DTYPES]):
        raise TypeError(f"unsupported image array dtype {dtype}; expected uint8, uint16 or "
                        "float16/32/64 in [0, 1] (cast other integer types, e.g. "
                        "arr.astype(np.uint8))")
    if arr.ndim == 2:
        channels, ndim = 1, 2
    elif arr.ndim == 3 and arr.shape[2] in (1, 3, 4):
        channels, ndim = arr.shape[2], 3
    else:
        raise ValueError(f"unsupported image array shape {arr.shape}; expected (H, W), "
                         "(H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA")
    _check_size(arr.shape[0], arr.shape[1], what)
    data = _array_to_float(arr.reshape(arr.shape[0], arr.shape[1], channels), what)
    return data, ImageSpec(kind="array", dtype=np.dtype(dtype), channels=channels, ndim=ndim)


def check_mode(mode: str, what: str) -> None:
    """Refuses (ValueError naming ``what``) a PIL mode this library does not read: CMYK, YCbCr,
    LAB, HSV, premultiplied alpha and others (see the module docstring)."""
    if mode not in _NATIVE_MODES and mode not in _CONVERTED_MODES:
        hint = _REFUSED_HINT.get(mode, "not a mode super-resolution supports")
        raise ValueError(
            f"unsupported image mode {mode!r} in {what} ({hint}); supported: L, LA, RGB, "
            "RGBA, I;16, I, F (1, P, PA, RGBX are converted); convert it first, e.g. "
            "img.convert('RGB')")


def _load_pil(image: Image.Image, kind: str, name: str | None) -> tuple[np.ndarray, ImageSpec]:
    what = f"image file {name!r}" if name is not None else "PIL image"
    check_mode(image.mode, what)
    mode = image.mode
    if mode in _CONVERTED_MODES:
        target = _CONVERTED_MODES[mode]
        if mode == "P" and image.has_transparency_data:
            target = "RGBA"
        image = image.convert(target)
        mode = target
    channels, dtype, out_mode = _NATIVE_MODES[mode]
    width, height = image.size
    _check_size(height, width, what)
    arr = np.asarray(image)
    if mode == "I":
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 65535:
            raise ValueError(f"{what} has mode 'I' values in [{lo}, {hi}]; only [0, 65535] "
                             "(16-bit grey) is supported")
        data = arr.astype(np.float32) / np.float32(65535.0)
    elif mode == "F":
        _check_float_range(arr, what)
        data = arr.astype(np.float32, copy=True)
    else:
        data = _array_to_float(arr.astype(dtype, copy=False), what)
    data = data.reshape(height, width, channels)
    spec = ImageSpec(kind=kind, dtype=np.dtype(dtype), channels=channels, ndim=3,
                     mode=out_mode, info=_carried_info(image))
    return data, spec


def load_image(img) -> tuple[np.ndarray, ImageSpec]:
    """Validates an image and converts it to float32 (H, W, C) in [0, 1].

    Args:
      img: a PIL image, a numpy array or a file path (see the module docstring).

    Returns:
      ``(data, spec)``: ``data`` is a new float32 array (H, W, C), C = spec.channels
      (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA), values in [0, 1]; ``spec`` says how to return
      a result in the caller's form (:func:`restore_image`). The input is never modified.

    Raises:
      TypeError: unsupported type or array dtype.
      ValueError: bad shape, size, mode, range, NaN/inf; :class:`ImageError` for files.
    """
    if isinstance(img, Image.Image):
        return _load_pil(img, "pil", None)
    if isinstance(img, np.ndarray):
        return _load_array(img)
    if isinstance(img, (str, os.PathLike)):
        name = os.fspath(img)
        pixels = read_pixels(name)
        if isinstance(pixels, np.ndarray):  # 16-bit colour: returned as a uint16 array
            return _load_array(pixels)
        return _load_pil(pixels, "path", name)
    raise TypeError(f"expected a PIL image, a numpy array or a file path, got "
                    f"{type(img).__module__}.{type(img).__name__}")


def _float_to_dtype(data: np.ndarray, dtype: np.dtype, consume: bool = False) -> np.ndarray:
    """float (not clipped) -> dtype: integers are scaled, rounded and clipped; floats clipped.

    ``consume`` lets a float32 ``data`` be overwritten (no full-size temporary).
    """
    dtype = np.dtype(dtype)
    work = data if consume and data.dtype == np.float32 else None
    if dtype in _INT_SCALE:
        peak = _INT_SCALE[dtype]
        out = np.multiply(data, peak, out=work, dtype=np.float32)
        np.clip(out, 0.0, peak, out=out)
        np.add(out, 0.5, out=out)  # Matlab rounds halves away from zero (np.rint: to even)
        np.floor(out, out=out)
        return out.astype(dtype)
    return np.clip(data, 0.0, 1.0, out=work).astype(dtype, copy=False)


# ---------------------------------------------------------------------------- metadata

_EXIF_IFD = 0x8769
_EXIF_SIZE_TAGS = ((0x0100, 0x0101, None), (0xA002, 0xA003, _EXIF_IFD))
"""(width tag, height tag, the IFD they sit in): TIFF's ImageWidth/ImageLength in the main
IFD, and the Exif IFD's PixelXDimension/PixelYDimension."""
METADATA_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "TIFF"})
_JPEG_EXIF_LIMIT = 65533  # bytes of EXIF one JPEG APP1 segment holds
_DEEP_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
"""16-bit or float grey: only PNG and TIFF hold it (Pillow saturates it in WebP and GIF)."""
"""The formats save_image writes EXIF and ICC into (BMP and the rest hold neither)."""


_TIFF_LAYOUT_TAGS = frozenset({
    254, 255, 256, 257, 258, 259, 262, 263, 266, 273, 277, 278, 279, 280, 281, 284, 290, 291, 317,
    320, 322, 323, 324, 325, 338, 339, 340, 341, 530, 531, 532, 34675})
"""TIFF tags that describe the file's own pixel layout (size, strips, tiles, compression,
samples, colour map, ICC profile), not the picture: they stay with the file they came from."""
_ORIENTATION = 0x0112
_GPS_IFD = 0x8825


def _tiff_exif(opened: Image.Image) -> bytes | None:
    """The EXIF block of a TIFF file (camera, date, GPS, the Exif and GPS IFDs) without its
    layout tags, or None when it has none. Its orientation is left out: the pixels were turned
    upright on reading, as for a JPEG."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tags = opened.getexif()
            out = Image.Exif()
            for tag, value in tags.items():
                if tag not in _TIFF_LAYOUT_TAGS and tag not in (_ORIENTATION, _EXIF_IFD, _GPS_IFD):
                    out[tag] = value
            for ifd in (_EXIF_IFD, _GPS_IFD):
                sub = tags.get_ifd(ifd) if ifd in tags else None
                if sub:
                    out.get_ifd(ifd).update(sub)
                    out[ifd] = 0  # the offset is written by tobytes()
            return out.tobytes() if len(out) else None
    except Exception:  # noqa: BLE001 -- as _carried_info: a malformed block is left behind
        return None


def _carried_info(image: Image.Image) -> tuple:
    """What a result keeps of ``image``'s metadata: its ICC profile and EXIF block (camera,
    date, GPS...). A damaged EXIF block is left behind rather than failing the picture."""
    info = []
    if image.info.get("icc_profile"):
        info.append(("icc_profile", image.info["icc_profile"]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Corrupt EXIF data": the block is then left behind
            exif = image.getexif()
            if len(exif):
                info.append(("exif", exif.tobytes()))
    except Exception:  # noqa: BLE001 -- Pillow raises many types on malformed EXIF
        pass
    return tuple(info)


def _exif_for(raw: bytes, size: tuple[int, int]) -> bytes:
    """The EXIF block ``raw`` for a result of ``size`` (w, h): the pixel dimensions it records
    updated. Its orientation stays as it is: a file's was removed when its pixels were turned
    upright on reading, and a PIL image's pixels are enlarged as they are stored."""
    exif = Image.Exif()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns on a malformed block; it is carried as read
        exif.load(raw)
    for width_tag, height_tag, ifd in _EXIF_SIZE_TAGS:
        if ifd is not None and ifd not in exif:
            continue
        tags = exif if ifd is None else exif.get_ifd(ifd)
        for tag, value in ((width_tag, size[0]), (height_tag, size[1])):
            if tag in tags:
                tags[tag] = value
    return exif.tobytes()


def restore_image(data: np.ndarray, spec: ImageSpec, *, _consume: bool = False):
    """Converts a float (H, W, C) result back to the form described by ``spec``.

    Integer outputs are x255 (or x65535), rounded and clipped, the protocol's last step;
    float outputs are clipped to [0, 1]. Arrays keep their dtype and rank; PIL images
    (and paths) come back as PIL images of ``spec.mode`` (see the module docstring),
    carrying the input's ICC profile and EXIF (upright, with the new size).
    """
    if data.ndim != 3 or data.shape[2] != spec.channels:
        raise ValueError(f"result shape {data.shape} does not match {spec.channels} channels")
    out = _float_to_dtype(data, spec.dtype, consume=_consume)
    if spec.kind == "array":
        return out[:, :, 0] if spec.ndim == 2 else out
    if spec.channels == 1:
        out = out[:, :, 0]
    if spec.mode == "I":
        image = Image.fromarray(out.astype(np.int32))
    else:
        image = Image.fromarray(out)
    if image.mode != spec.mode:
        image = image.convert(spec.mode)
    info = dict(spec.info)
    if "exif" in info:
        info["exif"] = _exif_for(info["exif"], image.size)
    image.info.update(info)
    return image


def to_pil(img) -> Image.Image:
    """PIL image or uint8/uint16 array -> PIL image (arrays as by restore_image)."""
    if isinstance(img, Image.Image):
        return img
    if isinstance(img, np.ndarray):
        if img.dtype not in _INT_SCALE:
            raise TypeError(f"can only write uint8 or uint16 arrays, got dtype {img.dtype}; "
                            "convert float images with np.round(x * 255).astype(np.uint8)")
        if img.dtype == np.uint16 and not (img.ndim == 2 or img.shape[-1] == 1):
            raise ValueError("PIL holds uint16 arrays only as grey (H, W) images, got shape "
                             f"{img.shape}; save_image writes 16-bit colour as PNG or TIFF")
        data, spec = _load_array(img)
        mode = {1: "L", 3: "RGB", 4: "RGBA"}[spec.channels]
        if img.dtype == np.uint16:
            mode = "I;16"
        return restore_image(data, dataclasses.replace(spec, kind="pil", mode=mode))
    raise TypeError(f"expected a PIL image or a numpy array, got {type(img).__name__}")


def writable_extension(path: str | os.PathLike) -> str:
    """Returns the Pillow format name for a path's extension, or raises ValueError."""
    name = os.fspath(path)
    ext = os.path.splitext(name)[1].lower()
    fmt = Image.registered_extensions().get(ext)
    if fmt is None or fmt not in Image.SAVE:
        raise ValueError(f"cannot write {name!r}: unknown or read-only image extension "
                         f"{ext or '(none)'!r}; use e.g. .png, .tif, .bmp, .webp or .jpg")
    return fmt


def _is_deep_colour(img) -> bool:
    return (isinstance(img, np.ndarray) and img.dtype == np.uint16 and img.ndim == 3
            and img.shape[2] in (3, 4))


def _write_deep_colour(arr: np.ndarray, fmt: str, f) -> None:
    """uint16 (H, W, 3|4) -> 16-bit RGB(A) PNG (imagecodecs/libpng) or deflate TIFF (tifffile)."""
    _check_size(arr.shape[0], arr.shape[1], f"image array of shape {arr.shape}")
    arr = np.ascontiguousarray(arr)
    if fmt == "PNG":
        import imagecodecs

        f.write(imagecodecs.png_encode(arr))
    else:
        import io

        import tifffile

        extra = {"extrasamples": ["unassalpha"]} if arr.shape[2] == 4 else {}
        buffer = io.BytesIO()  # tifffile wants a named file or a seekable buffer
        tifffile.imwrite(buffer, arr, photometric="rgb", compression="zlib", **extra)
        f.write(buffer.getvalue())


def _metadata(image: Image.Image, fmt: str) -> dict:
    """The ``exif`` and ``icc_profile`` save arguments for what ``image`` carries (Pillow writes
    neither into a JPEG or WebP unless asked)."""
    if fmt not in METADATA_FORMATS:
        return {}
    meta = {k: image.info[k] for k in ("exif", "icc_profile") if image.info.get(k)}
    if fmt == "JPEG" and len(meta.get("exif", b"")) > _JPEG_EXIF_LIMIT:
        del meta["exif"]  # one APP1 segment cannot hold it: the picture matters more than its EXIF
    return meta


def save_image(img, path: str | os.PathLike, *, overwrite: bool = False, **params) -> str:
    """Writes an image atomically; returns the path written.

    The image is encoded into a temporary file in the destination folder, flushed to
    disk, and then moved into place, so the destination is either untouched or complete.
    A PIL image's EXIF and ICC profile (``image.info``) go into JPEG, PNG, WebP and TIFF files.

    Args:
      img: a PIL image, or a uint8 / uint16 numpy array (uint16 (H, W, 3|4) colour only
        as .png or .tif/.tiff: 16 bits per channel, which no other format here holds).
      path: destination; the format comes from its extension.
      overwrite: replace an existing file; otherwise :class:`OutputExistsError`.
      **params: passed to ``PIL.Image.save`` (for example ``quality=95``).

    Raises:
      OutputExistsError: the file exists and ``overwrite`` is False.
      ImageError: unknown extension, missing folder, or a mode the format cannot hold
        (for example RGBA as JPEG).
    """
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"output path must be a str or os.PathLike, got {type(path).__name__}")
    name = os.fspath(path)
    try:
        fmt = writable_extension(name)
    except ValueError as e:
        raise ImageError(str(e)) from None
    deep = _is_deep_colour(img)
    if deep and fmt not in ("PNG", "TIFF"):
        raise ImageError(f"cannot write {name!r}: 16-bit colour can only be written as .png or "
                         f".tif/.tiff ({fmt} holds 8 bits per channel); use one of those, or "
                         "convert to 8 bits yourself, e.g. (arr / 257).round().astype(np.uint8)")
    image = img if deep else to_pil(img)
    if not deep and image.mode in _DEEP_MODES and fmt not in ("PNG", "TIFF"):
        raise ImageError(f"cannot write {name!r}: 16-bit or float grey (mode {image.mode}) can only be written "
                         f"as .png or .tif/.tiff ({fmt} would clip it); use one of those")
    folder = os.path.dirname(os.path.abspath(name))
    if not os.path.isdir(folder):
        raise ImageError(f"cannot write {name!r}: folder {folder!r} does not exist")
    if os.path.isdir(name):
        raise ImageError(f"cannot write {name!r}: it is a folder")
    if not overwrite and os.path.lexists(name):
        raise OutputExistsError(f"output {name!r} exists; pass overwrite=True (CLI: --overwrite)")
    try:
        with atomic.atomic_path(name, overwrite=overwrite) as tmp, open(tmp, "wb") as f:
            try:
                if deep:
                    _write_deep_colour(image, fmt, f)
                else:
                    image.save(f, format=fmt, **{**_metadata(image, fmt), **params})
            except (OSError, ValueError, KeyError, TypeError) as e:
                what = "16-bit colour" if deep else f"mode {image.mode}"
                raise ImageError(f"cannot write {name!r} as {fmt} ({what}): {e}") from e
            f.flush()
            os.fsync(f.fileno())
    except FileExistsError:  # the name appeared while we wrote: never overwritten silently
        raise OutputExistsError(f"output {name!r} exists; pass overwrite=True "
                                "(CLI: --overwrite)") from None
    return name
