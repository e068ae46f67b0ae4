"""Which runtime runs a super_resolve call: Keras, or the bundled sets' own TFLite files.

The bundled weight sets ship with TFLite twins (``vdsr_tf/weights/tflite.json``): float32,
which is what runs where TensorFlow is not installed (a device with only numpy, Pillow and
LiteRT) and what ``backend="tflite"`` without weights runs, and int8, which is what
``speed="fast"`` runs. Everything else (a weights file, a Keras model, an exported file) runs
as the caller said.
"""
from __future__ import annotations

import dataclasses
import os
from importlib.util import find_spec

from vdsr_tf.nn.model import BFLOAT16_NAMES

__all__ = ["BUNDLED", "PRECISION_CHOICES", "SPEEDS", "Runtime", "bundled_predictor", "keras_available", "plan"]

SPEEDS = ("normal", "fast")
"""``speed="fast"`` runs the bundled int8 TFLite model of the chosen set: about 3x float32
Keras' speed for a few hundredths of a dB (measured figures in README and tflite.json)."""
PRECISION_CHOICES = ("float32", "bfloat16", "auto")
"""What ``precision=`` takes; "auto" is resolved by the caller (it times Keras predictors)."""
BUNDLED = ("paper", "jpeg")
"""vdsr_tf.nn.weights.BUNDLED_NAMES, without importing that module here."""


@dataclasses.dataclass(frozen=True)
class Runtime:
    backend: str
    """"keras", "tflite" or "saved_model"."""
    precision: str
    """Keras: "float32" or "bfloat16"; the bundled TFLite files: "float32" or "int8"."""
    bundled_tflite: bool = False
    """The bundled sets run from their shipped TFLite files."""


def keras_available() -> bool:
    """Whether Keras and its backend (TensorFlow unless KERAS_BACKEND says otherwise) are installed."""
    return find_spec("keras") is not None and find_spec(os.environ.get("KERAS_BACKEND", "tensorflow")) is not None


def export_needed(backend: str) -> str:
    """What a backend that reads an exported file says when no file is given."""
    return f"backend={backend!r} needs weights=<path to the exported model> (vdsr-tf export writes one)"


def plan(speed, model, weights, backend: str, precision: str) -> Runtime:
    """The runtime for these super_resolve arguments; ValueError for a combination that cannot run."""
    if not isinstance(speed, str) or speed not in SPEEDS:
        raise ValueError(f"speed must be one of {SPEEDS}, got {speed!r}")
    if precision in BFLOAT16_NAMES:
        precision = "bfloat16"  # training's name for it works too
    if not isinstance(precision, str) or precision not in PRECISION_CHOICES:
        raise ValueError(f"precision must be one of {PRECISION_CHOICES}, got {precision!r}")
    bundled = model is None and (weights is None or (isinstance(weights, str) and weights in BUNDLED))
    if speed == "fast":
        if not bundled:
            raise ValueError("speed='fast' runs the bundled int8 models: pass weights=None, 'paper' or 'jpeg' "
                             "(for weights of your own, export an int8 model with vdsr-tf export and pass "
                             "backend='tflite', weights='.../vdsr_int8.tflite')")
        if backend != "keras" or precision != "float32":
            raise ValueError("speed='fast' chooses the backend and precision itself (int8 TFLite): leave "
                             "backend and precision at their defaults")
        return Runtime("tflite", "int8", True)
    if backend == "saved_model" and model is None and weights is None:
        raise ValueError(f"{export_needed(backend)}; the bundled sets run with backend='keras' or 'tflite'")
    if backend == "saved_model" and find_spec("tensorflow") is None:
        raise ValueError("backend='saved_model' runs a TensorFlow SavedModel, and TensorFlow is not installed "
                         "here: install tensorflow, or pass backend='tflite' with a .tflite export")
    if bundled and (backend == "tflite" or (backend == "keras" and not keras_available())):
        if precision not in ("float32", "auto"):
            where = ("backend='tflite' runs the precision its file was written in" if backend == "tflite"
                     else "Keras is not installed here: leave precision at 'float32' (the bundled TFLite "
                     "model) or install tensorflow")
            raise ValueError(f"precision={precision!r} applies to backend='keras'; {where}")
        return Runtime("tflite", "float32", True)
    return Runtime(backend, precision)  # "auto" is the caller's to resolve (it times Keras predictors)


def bundled_predictor(name: str, runtime: Runtime):
    """The TFLite predictor of bundled set ``name`` in ``runtime.precision``."""
    from vdsr_tf.infer import runtimes
    from vdsr_tf.nn.weights import bundled_tflite

    predictor = runtimes.get_predictor("tflite", bundled_tflite(name, runtime.precision))
    predictor.description = f"bundled {name!r} {runtime.precision} TFLite"
    return predictor
