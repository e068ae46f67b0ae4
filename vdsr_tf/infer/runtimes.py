"""Predictors for exported VDSR networks: TFLite (LiteRT) and TensorFlow SavedModel.

A *predictor* (see :mod:`vdsr_tf.infer.upscaler`) is a callable taking float32 numpy
(1, h, w, 1) bicubic-upscaled luminance in [0, 1] and returning the super-resolved
luminance of the same shape and dtype. ``super_resolve(..., backend="tflite",
weights="exports/vdsr_int8.tflite")`` reaches these classes through
:func:`get_predictor`, so exported files run with the library's colour handling and
tiling.

Both classes accept any h, w: the exported networks have dynamic height and width
(``shape_signature`` (1, -1, -1, 1) in TFLite; the interpreter is resized with
``resize_tensor_input`` when the shape changes, which tiling keeps rare).
Quantized models keep float32 input and output tensors (the quantize/dequantize
steps are inside the model), so every precision has the same interface.

The end-to-end models (uint8 RGB in and out, fixed size) are not predictors; run
them with :class:`TFLiteModel`. The static tile models (inputs ``input`` and ``mask``) become
:class:`vdsr_tf.device.reference.TilePredictor` through :func:`get_predictor`.

A file with a ``manifest.json`` beside it that lists it (an export folder) is checked
against the manifest's sha256 before it is loaded (:func:`vdsr_tf.core.integrity.check_export`,
cached): one flipped byte in an int8 model otherwise changes a fifth of the pixels without
a word. ``verify=False`` skips that, for the exporter measuring files it has just written.

A file that cannot be read or run (damaged, without a manifest to say so) raises ValueError,
one line naming the file, whatever LiteRT or TensorFlow raised inside: RuntimeError with
XNNPACK's text, IndexError from a truncated SavedModel, UnicodeDecodeError, tf.errors.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from vdsr_tf.core.errors import first_line
from vdsr_tf.nn.model import DEPTH
from vdsr_tf.nn.quiet import stderr_silenced

__all__ = [
    "DEFAULT_RECEPTIVE_RADIUS",
    "SERVE",
    "SERVE_OUTPUT",
    "SavedModelPredictor",
    "TFLiteModel",
    "TFLitePredictor",
    "get_predictor",
    "saved_model_info",
]

DEFAULT_RECEPTIVE_RADIUS = DEPTH
"""Halo used when a file does not say how deep its network is (the paper's depth)."""

SERVE = "serve"
"""The SavedModel endpoint (and signature) that vdsr_tf.export writes and SavedModelPredictor calls."""
SERVE_OUTPUT = "output"
"""The key of the endpoint's one output."""


def saved_model_info(folder) -> Path:
    """Where an exported SavedModel records what TensorFlow does not (its receptive radius):
    a JSON under ``assets.extra/``, which TensorFlow ignores."""
    return Path(folder) / "assets.extra" / "vdsr_tf.json"


def _check_path(path, what: str, want_dir: bool) -> Path:
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what} path must be a str or os.PathLike, got {type(path).__name__} {path!r}")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{what} not found: {str(p)!r}")
    if want_dir and not p.is_dir():
        raise ValueError(f"{what} must be a SavedModel folder, got the file {str(p)!r}")
    if not want_dir and not p.is_file():
        raise ValueError(f"{what} must be a .tflite file, got the folder {str(p)!r}")
    return p


def _check_input(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[0] != 1 or x.shape[-1] != 1 or min(x.shape[1:3]) < 1:
        raise ValueError(f"{name} expects a (1, h, w, 1) luminance array, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} expects float luminance in [0, 1], got dtype {x.dtype}")
    return np.ascontiguousarray(x, dtype=np.float32)


class TFLiteModel:
    """A ``.tflite`` file in a LiteRT interpreter, one input and one output tensor.

    ``__call__(x)`` resizes the input tensor when ``x``'s shape differs from the last
    call (dynamic-shape models), runs, and returns a copy of the output. Calls are
    serialised with a lock (an interpreter is not thread-safe).

    Args:
      path: the ``.tflite`` file.
      num_threads: CPU threads for LiteRT (default: ``os.cpu_count()``).
    """

    def __init__(self, path, *, num_threads: int | None = None, verify: bool = True):
        from ai_edge_litert.interpreter import Interpreter

        from vdsr_tf.core import integrity

        self.path = _check_path(path, "TFLite model", want_dir=False)
        if verify:
            integrity.check_export(self.path)
        if num_threads is None:
            num_threads = os.cpu_count() or 1
        if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
            raise ValueError(f"num_threads must be a positive int, got {num_threads!r}")
        try:
            self.interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads)
            inputs = self.interpreter.get_input_details()
            outputs = self.interpreter.get_output_details()
        except Exception as e:  # LiteRT's errors on a damaged flatbuffer have no common type
            raise ValueError(f"{str(self.path)!r} is not a readable TFLite model: {first_line(e)}") from e
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"{str(self.path)!r} has {len(inputs)} inputs and {len(outputs)} "
                             "outputs; expected one of each")
        self.input_details, self.output_details = inputs[0], outputs[0]
        self._shape = None
        self._lock = threading.Lock()

    @property
    def input_dtype(self):
        return self.input_details["dtype"]

    @property
    def shape_signature(self) -> tuple[int, ...]:
        """Input shape with -1 for dynamic dimensions."""
        return tuple(int(v) for v in self.input_details["shape_signature"])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=self.input_dtype)
        with self._lock:
            if self._shape != x.shape:
                sig = self.shape_signature
                if len(sig) != x.ndim or any(s != -1 and s != d for s, d in zip(sig, x.shape)):
                    raise ValueError(f"{self.path.name} takes input shape {sig} (-1: any), "
                                     f"got {x.shape}")
            try:
                if self._shape != x.shape:
                    self.interpreter.resize_tensor_input(self.input_details["index"], x.shape,
                                                         strict=True)
                    with stderr_silenced():  # "Created TensorFlow Lite XNNPACK delegate for CPU."
                        self.interpreter.allocate_tensors()
                    self._shape = x.shape
                self.interpreter.set_tensor(self.input_details["index"], x)
                self.interpreter.invoke()
                return self.interpreter.get_tensor(self.output_details["index"]).copy()
            except Exception as e:  # a damaged model loads, then fails here (XNNPACK's RuntimeError)
                self._shape = None  # allocate again on the next call
                raise ValueError(f"{str(self.path)!r} cannot run ({first_line(e)}); the file is "
                                 "damaged or not a model this library wrote: re-export it") from e

    def op_counts(self) -> dict[str, int]:
        """How many ops of each kind the model holds (e.g. ``{"CONV_2D": 20, ...}``)."""
        from vdsr_tf.device.litert import op_counts

        try:
            return op_counts(self.interpreter)
        except Exception as e:  # a damaged op table: UnicodeDecodeError, RuntimeError
            raise ValueError(f"{str(self.path)!r} is not a readable TFLite model: {first_line(e)}") from e


class TFLitePredictor:
    """VDSR exported to ``.tflite`` (any precision) as a predictor.

    ``__call__(x)``: float32 (1, h, w, 1) in [0, 1] -> float32 (1, h, w, 1).
    ``receptive_radius``: the number of 3x3 convolutions in the file, so tiles get
    an exact halo.
    """

    def __init__(self, path, *, num_threads: int | None = None, verify: bool = True):
        self.model = TFLiteModel(path, num_threads=num_threads, verify=verify)
        sig = self.model.shape_signature
        if len(sig) != 4 or sig[-1] != 1 or sig[1] != -1 or sig[2] != -1:
            raise ValueError(f"{str(self.model.path)!r} is not a luminance network with dynamic "
                             f"height and width (input shape {sig}); end-to-end RGB models run "
                             "with vdsr_tf.infer.runtimes.TFLiteModel")
        if self.model.input_dtype != np.float32:
            raise ValueError(f"{str(self.model.path)!r} takes {np.dtype(self.model.input_dtype).name} "
                             "input; predictors exchange float32 luminance")
        self.path = self.model.path
        self.description = f"TFLite model {str(self.path)!r}"
        convs = self.model.op_counts().get("CONV_2D", 0)
        self.receptive_radius = convs if convs else DEFAULT_RECEPTIVE_RADIUS

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.model(_check_input(x, "TFLitePredictor"))


class SavedModelPredictor:
    """VDSR exported as a TensorFlow SavedModel (``serve`` signature) as a predictor.

    ``__call__(x)``: float32 (1, h, w, 1) in [0, 1] -> float32 (1, h, w, 1).
    ``receptive_radius`` is read from ``assets.extra/vdsr_tf.json`` when the SavedModel
    was written by :func:`vdsr_tf.export.export_saved_model`, else
    :data:`DEFAULT_RECEPTIVE_RADIUS`.
    """

    def __init__(self, path, *, verify: bool = True):
        import tensorflow as tf

        from vdsr_tf.core import integrity

        self.path = _check_path(path, "SavedModel", want_dir=True)
        if verify:
            integrity.check_export(self.path)
        try:
            self._loaded = tf.saved_model.load(str(self.path))
        except Exception as e:  # truncated variables give IndexError; parse errors, OpError...
            raise ValueError(f"{str(self.path)!r} is not a readable SavedModel: {first_line(e)}") from e
        fn = getattr(self._loaded, SERVE, None)
        if fn is None:
            fn = self._loaded.signatures.get(SERVE) or self._loaded.signatures.get("serving_default")
        if fn is None:
            raise ValueError(f"{str(self.path)!r} has no {SERVE!r} endpoint or signature")
        self._fn = fn
        self.receptive_radius = _saved_model_radius(self.path)
        self.description = f"SavedModel {str(self.path)!r}"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = _check_input(x, "SavedModelPredictor")
        try:
            out = self._fn(x)
            if isinstance(out, dict):
                out = out.get(SERVE_OUTPUT, next(iter(out.values())))
            return np.asarray(out, dtype=np.float32)
        except Exception as e:  # tf.errors from a graph that loads but cannot run
            raise ValueError(f"{str(self.path)!r} cannot run ({first_line(e)}); the SavedModel is "
                             "damaged or not one this library wrote: re-export it") from e


def _saved_model_radius(path: Path) -> int:
    """The receptive radius recorded by vdsr_tf.export in :func:`saved_model_info`."""
    import json

    try:
        info = json.loads(saved_model_info(path).read_text())
        radius = int(info["receptive_radius"])
        return radius if radius > 0 else DEFAULT_RECEPTIVE_RADIUS
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_RECEPTIVE_RADIUS


def _takes_a_mask(path: Path) -> bool:
    """Whether the file is a static tile model (inputs ``input`` and ``mask``)."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        return len(Interpreter(model_path=str(path)).get_input_details()) == 2
    except Exception:  # unreadable: TFLitePredictor says so in its own words
        return False


def get_predictor(backend: str, path, **options):
    """The predictor for an exported file: ``backend`` "tflite" or "saved_model".

    ``options`` go to the class (``num_threads`` for TFLite; ``verify`` for both).
    """
    if backend == "tflite":
        p = _check_path(path, "TFLite model", want_dir=False)
        if _takes_a_mask(p):  # a static tile model: the reference device pipeline tiles for it
            from vdsr_tf.core import integrity
            from vdsr_tf.device.reference import TilePredictor

            if options.pop("verify", True):
                integrity.check_export(p)
            return TilePredictor(p, **options)
        return TFLitePredictor(path, **options)
    if backend == "saved_model":
        return SavedModelPredictor(path, **options)
    raise ValueError(f"backend must be 'tflite' or 'saved_model', got {backend!r}")
