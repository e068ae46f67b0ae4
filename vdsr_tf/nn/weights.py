"""Loading VDSR weights: Keras ``.weights.h5`` files and the authors' MatConvNet ``.mat``.

``load_model(weights)`` returns a ready :func:`vdsr_tf.nn.model.build_vdsr` model whose
depth and width are read from the file, so a user never states them by hand.

Supported files (recognised by their content, not their name):

* Keras 3 ``.weights.h5``, as written by ``model.save_weights`` on a ``build_vdsr``
  model (layers ``conv_01`` .. ``conv_NN``, optional ``residual_add``).
* MatConvNet ``.mat`` (MAT v5, read with :func:`scipy.io.loadmat`) laid out like the
  authors' ``VDSR_Official.mat``: a struct ``model`` with cell arrays ``weight{1..D}``
  (3x3 kernels laid out H, W, in, out -- the Keras ``Conv2D`` layout; Matlab drops the
  trailing ``out = 1`` of the last one) and ``bias{1..D}``. MatConvNet convolutions are
  correlations like Keras', so the kernels are used as they are.

Two weight sets are bundled with the package, named by :data:`BUNDLED_NAMES`:

* ``"paper"``: ``vdsr_tf/weights/vdsr_x234.weights.h5``, trained on lossless LR as the
  paper does (the default, ``weights=None``, of :func:`load_model`);
* ``"jpeg"``: ``vdsr_tf/weights/vdsr_jpeg.weights.h5``, fine-tuned on LR saved as JPEG
  files too (issue 21; what :func:`vdsr_tf.super_resolve` picks for JPEG inputs).

A bundled model is built once per process and shared (see :func:`load_model`). A file
whose path is one of these names is passed as ``./paper``.

Integrity (:mod:`vdsr_tf.core.integrity`): the bundled file must have the sha256 its card
``vdsr_x234.json`` records, and every file's kernels and biases must be finite and within
``integrity.MAX_ABS_WEIGHT`` (16; trained VDSRs stay under 2), so a damaged file is refused
with one line naming it instead of producing garbage.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from vdsr_tf.core import integrity
from vdsr_tf.core.checks import check_int
from vdsr_tf.core.filecache import FileCache
from vdsr_tf.nn.model import conv_index, conv_name

__all__ = ["BUNDLED_NAMES", "BUNDLED_WEIGHTS", "JPEG_WEIGHTS", "TFLITE_CARD", "TFLITE_PRECISIONS",
           "bundled_card_path", "bundled_name", "bundled_path", "bundled_tflite", "bundled_weights", "is_bundled",
           "load_model"]

BUNDLED_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "vdsr_x234.weights.h5"
JPEG_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "vdsr_jpeg.weights.h5"
TFLITE_CARD = Path(__file__).resolve().parent.parent / "weights" / "tflite.json"
"""Which TFLite files (float32, int8) belong to which bundled set, with their sha256 and their weights'."""
TFLITE_PRECISIONS = ("float32", "int8")
PAPER, JPEG = "paper", "jpeg"
BUNDLED_NAMES = (PAPER, JPEG)


def bundled_path(name: str) -> Path:
    """Where the bundled set ``name`` lives in the package, shipped or not (ValueError for an
    unknown name): what :func:`bundled_weights` checks and what bundling writes."""
    if name not in BUNDLED_NAMES:
        raise ValueError(f"bundled weights are named {', '.join(map(repr, BUNDLED_NAMES))}, got {name!r}")
    return BUNDLED_WEIGHTS if name == PAPER else JPEG_WEIGHTS  # module globals: tests replace them


def bundled_name(weights) -> str | None:
    """The bundled set ``weights`` names (``"paper"``, ``"jpeg"``; None for the default
    ``"paper"``), or None when it names none."""
    if weights is None:
        return PAPER
    return weights if isinstance(weights, str) and weights in BUNDLED_NAMES else None


def is_bundled(name: str) -> bool:
    """True when the bundled set ``name`` is shipped in this installation."""
    return bundled_path(name).is_file()


def bundled_weights(name: str = PAPER) -> Path:
    """The file of the bundled set ``name``; FileNotFoundError saying how to pass other
    weights when it is absent, ValueError for an unknown name."""
    path = bundled_path(name)
    if not path.is_file():
        raise FileNotFoundError(
            f"no bundled VDSR weights {name!r} in this installation (expected {path}); "
            "pass a file with load_model(weights='path/to/file.weights.h5' or '.mat') or the "
            "weights= argument of super_resolve"
        )
    return path


def bundled_tflite(name: str = PAPER, precision: str = "float32") -> Path:
    """The TFLite model of the bundled set ``name`` in ``precision`` ("float32", or "int8" for
    ``speed="fast"``), checked against the sha256 :data:`TFLITE_CARD` records, and that card
    against the set's weights: IntegrityError when the file was changed or was converted from
    other weights."""
    if precision not in TFLITE_PRECISIONS:
        raise ValueError(f"bundled TFLite models come in {TFLITE_PRECISIONS}, got {precision!r}")
    weights = bundled_weights(name)
    try:
        entry = json.loads(TFLITE_CARD.read_text(encoding="utf-8"))[name]
        path = TFLITE_CARD.with_name(entry[precision]["file"])
        expected, source = entry[precision]["sha256"], entry["weights_sha256"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise FileNotFoundError(f"no bundled {precision} TFLite model for {name!r} in this installation "
                                f"({TFLITE_CARD}: {type(e).__name__}: {e}); export one with vdsr-tf export and "
                                "pass backend='tflite', weights='path/to/vdsr_<precision>.tflite'") from e
    if source != integrity.sha256(weights):
        raise integrity.IntegrityError(f"bundled TFLite model {str(path)!r} was converted from other weights than "
                                       f"{str(weights)!r}; re-export and re-bundle it ({TFLITE_CARD.name})")
    integrity.check_sha256(path, expected, TFLITE_CARD)
    return path


def bundled_card_path(weights: Path | None = None) -> Path:
    """The model card beside bundled weights: ``vdsr_x234.json`` for ``vdsr_x234.weights.h5``."""
    weights = Path(BUNDLED_WEIGHTS if weights is None else weights)
    return weights.with_name(weights.name.replace(".weights.h5", "") + ".json")


def _check_bundled(path: Path) -> None:
    """The bundled file against the sha256 its card records (cached by path, size, mtime)."""
    card = bundled_card_path(path)
    try:
        expected = json.loads(card.read_text(encoding="utf-8")).get("sha256")
    except (OSError, ValueError, AttributeError) as e:
        raise integrity.IntegrityError(
            f"cannot check bundled weights {str(path)!r}: card {str(card)!r} is unreadable ({e})") from e
    if not isinstance(expected, str) or len(expected) != 64:
        raise integrity.IntegrityError(
            f"cannot check bundled weights {str(path)!r}: card {str(card)!r} records no sha256 "
            "(re-bundle with tools/bundle_weights.py)")
    integrity.check_sha256(path, expected, card)

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_MAT_V73_PREFIX = b"MATLAB 7.3 MAT-file"
_MAT_V5_PREFIX = b"MATLAB 5.0 MAT-file"

_bundled_models = FileCache()


def load_model(weights=None, *, depth: int | None = None, filters: int | None = None):
    """Builds VDSR and loads weights into it.

    Args:
      weights: path (str or os.PathLike) to a Keras ``.weights.h5`` or a MatConvNet
        ``.mat`` file, a bundled set's name (``"paper"``, ``"jpeg"``), or None for the
        bundled ``"paper"`` weights.
      depth, filters: optional checks. The architecture is read from the file; when
        given, these must agree with it (a mismatch raises ValueError).

    Returns:
      A float32 ``keras.Model`` from :func:`vdsr_tf.nn.model.build_vdsr` on
      (batch, H, W, 1) luminance in [0, 1].

    With ``weights=None`` or a bundled name the model is cached: repeated calls return the same object
    (until the bundled file changes), so do not train or modify it; load a file by
    path for a private copy. Explicit paths always build a fresh model.

    Raises:
      FileNotFoundError: the file (or the bundled weights, not shipped yet) is missing.
      TypeError: ``weights`` is not a path.
      ValueError: the file is not a supported format, or its tensors do not form a
        VDSR network (or disagree with ``depth`` / ``filters``); the message names
        the file. :class:`vdsr_tf.core.integrity.IntegrityError` (a ValueError): the bundled
        file's sha256 differs from its card's, or weights are NaN/inf or beyond
        ``integrity.MAX_ABS_WEIGHT``.
    """
    for name, value in (("depth", depth), ("filters", filters)):
        if value is not None:
            check_int(value, name, 1)
    name = bundled_name(weights)
    if name is not None:
        path = bundled_weights(name)

        def make():
            _check_bundled(path)
            return _load(path, depth, filters)

        return _bundled_models.get(path, make, depth, filters)
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(
            f"weights must be None, a bundled name ({', '.join(BUNDLED_NAMES)}) or a path to a "
            ".weights.h5 / .mat file, "
            f"got {type(weights).__name__}: {weights!r}"
        )
    path = Path(weights)
    if not path.exists():
        raise FileNotFoundError(f"weights file not found: {str(path)!r}")
    if not path.is_file():
        raise ValueError(f"weights path is not a file: {str(path)!r}")
    if any(path.resolve() == bundled_path(n).resolve() for n in BUNDLED_NAMES):
        _check_bundled(path)
    return _load(path, depth, filters)


def _load(path: Path, depth: int | None, filters: int | None):
    """Reads ``path`` (format sniffed from its first bytes) into a new model."""
    try:
        with open(path, "rb") as f:
            head = f.read(128)
    except OSError as e:
        raise ValueError(f"cannot read weights file {str(path)!r}: {e}") from e
    if head.startswith(_MAT_V73_PREFIX):
        raise ValueError(
            f"{str(path)!r} is a MAT v7.3 (HDF5) file, which is not supported; "
            "re-save it in Matlab with save(..., '-v7')"
        )
    if head.startswith(_HDF5_SIGNATURE):
        layers, residual = _read_keras_h5(path)
    elif head.startswith(_MAT_V5_PREFIX) or path.suffix.lower() == ".mat":
        layers, residual = _read_matconvnet(path), True
    else:
        raise ValueError(
            f"{str(path)!r} is neither a Keras .weights.h5 (HDF5) file nor a "
            "MatConvNet .mat (MAT v5) file"
        )
    return _build(path, layers, residual, depth, filters)


def _read_keras_h5(path: Path) -> tuple[list[tuple[np.ndarray, np.ndarray]], bool]:
    """Kernels and biases of ``conv_NN`` layers in a Keras 3 ``.weights.h5`` file."""
    import h5py

    found: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    residual = False
    try:
        with h5py.File(path, "r") as f:
            groups = []
            f.visititems(lambda n, o: groups.append(o) if isinstance(o, h5py.Group) else None)
            for g in groups:
                name = g.attrs.get("name")
                if isinstance(name, bytes):
                    name = name.decode()
                if not isinstance(name, str):
                    continue
                if name == "residual_add":
                    residual = True
                index = conv_index(name)
                if index is None:
                    continue
                if "0" not in g or "1" not in g:
                    raise ValueError(f"layer {name} has no kernel/bias pair")
                found[index] = (np.asarray(g["0"]), np.asarray(g["1"]))
    except (OSError, KeyError) as e:
        raise ValueError(f"cannot read Keras weights file {str(path)!r}: {e}") from e
    except ValueError as e:
        raise ValueError(f"{str(path)!r}: {e}") from e
    if not found:
        raise ValueError(
            f"{str(path)!r} is an HDF5 file without VDSR layers (conv_01, conv_02, ...); "
            "expected a .weights.h5 written by model.save_weights on a build_vdsr model"
        )
    indices = sorted(found)
    if indices != list(range(1, len(indices) + 1)):
        raise ValueError(f"{str(path)!r}: convolution layers are not numbered 1..N: {indices}")
    return [found[i] for i in indices], residual


def _read_matconvnet(path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """Kernels (H, W, in, out) and biases from a MatConvNet struct ``model.weight/bias``."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except NotImplementedError as e:  # MAT v7.3 slipping past the header check
        raise ValueError(f"{str(path)!r}: unsupported MAT version ({e}); save with -v7") from e
    except Exception as e:  # scipy raises ValueError/TypeError/OSError on corrupt files
        raise ValueError(f"cannot read MAT file {str(path)!r}: {e}") from e
    if "model" in mat:
        model = mat["model"]
        names = model.dtype.names or ()
        if "weight" not in names or "bias" not in names:
            raise ValueError(
                f"{str(path)!r}: struct 'model' has fields {list(names)}, expected 'weight' and 'bias'"
            )
        weight, bias = model["weight"].flat[0], model["bias"].flat[0]
    elif "weight" in mat and "bias" in mat:
        weight, bias = mat["weight"], mat["bias"]
    else:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(
            f"{str(path)!r} has variables {keys}; expected a struct 'model' with cell "
            "arrays 'weight' and 'bias' (MatConvNet VDSR layout)"
        )
    weight = [np.asarray(w) for w in np.asarray(weight, dtype=object).flat]
    bias = [np.asarray(b) for b in np.asarray(bias, dtype=object).flat]
    if len(weight) != len(bias) or not weight:
        raise ValueError(
            f"{str(path)!r}: {len(weight)} weight and {len(bias)} bias entries; expected the same, > 0"
        )
    layers = []
    for i, (w, b) in enumerate(zip(weight, bias), start=1):
        if w.dtype == object or b.dtype == object or not np.issubdtype(w.dtype, np.number):
            raise ValueError(f"{str(path)!r}: weight{{{i}}} / bias{{{i}}} are not numeric arrays")
        if w.ndim > 4:
            raise ValueError(f"{str(path)!r}: weight{{{i}}} has shape {w.shape}, expected H,W,in,out")
        # Matlab drops trailing singleton dimensions: (3,3,64) is (3,3,64,1).
        w = w.reshape(w.shape + (1,) * (4 - w.ndim))
        layers.append((w, b.reshape(-1)))
    return layers


def _build(path, layers, residual, depth, filters):
    """Checks the tensors form a VDSR stack, then builds the model and sets them."""
    from vdsr_tf.nn.model import build_vdsr

    where = str(path)
    n = len(layers)
    if n < 2:
        raise ValueError(f"{where!r}: {n} convolution layer(s); VDSR needs at least 2")
    width = int(np.shape(layers[0][0])[-1])
    if depth is not None and depth != n:
        raise ValueError(f"{where!r} holds a depth-{n} network, but depth={depth} was requested")
    if filters is not None and filters != width:
        raise ValueError(f"{where!r} holds {width} filters per layer, but filters={filters} was requested")
    for i, (kernel, bias) in enumerate(layers, start=1):
        c_in = 1 if i == 1 else width
        c_out = 1 if i == n else width
        if tuple(np.shape(kernel)) != (3, 3, c_in, c_out) or tuple(np.shape(bias)) != (c_out,):
            raise ValueError(
                f"{where!r}: layer {i} has kernel {tuple(np.shape(kernel))} and bias "
                f"{tuple(np.shape(bias))}; a depth-{n}, {width}-filter VDSR needs "
                f"kernel {(3, 3, c_in, c_out)} and bias ({c_out},)"
            )
    integrity.check_weight_magnitudes(layers, where)
    model = build_vdsr(depth=n, filters=width, residual=residual)
    for i, (kernel, bias) in enumerate(layers, start=1):
        model.get_layer(conv_name(i)).set_weights(
            [np.asarray(kernel, np.float32), np.asarray(bias, np.float32)]
        )
    return model
