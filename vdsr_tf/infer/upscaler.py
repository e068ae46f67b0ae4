"""Super-resolution of whole images: colour handling, tiling and predictor dispatch.

The pipeline (docs/protocol.md steps 3-4), implemented once here and used by the CLI,
evaluation and benchmarks alike:

1. the input becomes float [0, 1] (:func:`vdsr_tf.core.imageio.load_image`);
2. colour images go to Matlab YCbCr (:func:`vdsr_tf.core.matlab.rgb2ycbcr`); grey is used as is;
3. luminance: Matlab bicubic ``imresize(Y, scale)``, then the network (bicubic + residual),
   run in tiles with a halo so memory stays bounded;
4. Cb, Cr and alpha: Matlab bicubic; back to RGB with :func:`vdsr_tf.core.matlab.ycbcr2rgb`;
5. x255 (or x65535), round, clip; returned in the caller's form
   (:func:`vdsr_tf.core.imageio.restore_image`).

:func:`bicubic_upscale` is the same pipeline without the network (the "bicubic" baseline).

Predictors
----------
The network is reached through a *predictor* (:class:`Predictor`): any callable taking a
float32 numpy array (1, h, w, 1) of bicubic-upscaled luminance and returning the
super-resolved array of the same shape. ``backend="keras"`` wraps a ``keras.Model`` in :class:`KerasPredictor` (one
compiled ``tf.function`` whose input signature has unknown height and width, so tiles of
any size never retrace). ``backend="tflite"`` and ``backend="saved_model"`` come from
:mod:`vdsr_tf.infer.runtimes` (``TFLitePredictor(path)``, ``SavedModelPredictor(path)``).
A predictor may expose ``receptive_radius`` (int): tiles then use a halo of
``max(MIN_HALO, receptive_radius)`` pixels, which makes tiled results equal whole-image
ones (the network's zero padding only reaches ``depth`` pixels into a tile), and
``description`` (str, e.g. ``"TFLite model 'x.tflite'"``), which errors name it by.
Every tile the network returns is checked for NaN/inf (a ValueError naming the predictor):
a damaged file or weights otherwise come out as a black picture without a word.
:class:`Upscaler` holds one predictor and its tiling for any number of images;
:func:`super_resolve` is one image through a new one.

Argument checks, the predictor seam, tiling and the colour pipeline: the one path from an
image to its result.
"""
from __future__ import annotations

import dataclasses
import math
import os
import sys
import threading
from numbers import Real
from typing import Protocol, runtime_checkable

import numpy as np

from vdsr_tf.core import imageio, matlab
from vdsr_tf.core.filecache import FileCache
from vdsr_tf.infer import runtime_choice
from vdsr_tf.infer.ensemble import EnsemblePredictor
from vdsr_tf.nn.model import BFLOAT16_NAMES, DEPTH, bfloat16_twin, receptive_radius

__all__ = [
    "BACKENDS",
    "DEFAULT_TILE",
    "MAX_SCALE",
    "MAX_OUTPUT_PIXELS",
    "MIN_HALO",
    "MIN_TILE_HALOS",
    "INFERENCE_PRECISIONS",
    "KerasPredictor",
    "Predictor",
    "Upscaler",
    "bicubic_upscale",
    "check_output_size",
    "check_scale",
    "check_tile",
    "describe",
    "halo_for",
    "make_predictor",
    "super_resolve",
    "tile_spans",
]

MAX_SCALE = 8.0
"""Largest accepted scale. VDSR is trained for x2-x4; past x8 the residual adds almost
nothing to bicubic and each input pixel becomes 64+ output pixels, so a larger factor is
far more likely a mistake (for example a size passed as a scale) than a wish."""

MAX_OUTPUT_PIXELS = 1 << 28
"""Largest accepted output (268 megapixels, 16384 x 16384): one float32 plane of it is
1 GiB, so larger requests are refused before any work instead of exhausting memory."""

DEFAULT_TILE = 1024
"""Default tile side (pixels of the upscaled image, halo included). A 1024x1024 tile holds
64-channel float32 activations of 256 MiB, keeping a 2048x2048 -> 4096x4096 run under 2 GB
of RSS, while the halo costs only ~8% extra computation on large images. Images whose
upscaled side fits in one tile run whole."""

MIN_HALO = DEPTH
"""Smallest tile halo in pixels: the receptive radius of the paper's network."""

MIN_TILE_HALOS = 4
"""Smallest tile side, in halos: 80 pixels for the paper's network (20-pixel halo), 4x the
receptive radius of a deeper one. A tile keeps only its core (the tile less a halo on each
side), so the core of a tile of four halos is at least half its side and a tiled run computes
at most about 2x the pixels of a whole-image run along each axis, 4x in all. Smaller tiles
keep ever less: a 41-pixel tile keeps one pixel, 6,400 tiles (minutes) for a 120x120 output."""

BACKENDS = ("keras", "tflite", "saved_model")
INFERENCE_PRECISIONS = ("float32", "bfloat16")
"""Keras-backend precisions of super_resolve (training's are vdsr_tf.train.config.PRECISIONS).
"bfloat16" runs the hidden convolutions in bfloat16 (Keras' mixed_bfloat16 policy; the last
convolution and the residual add stay float32): about 0.02 dB of PSNR, and 1.9x float32's speed on
a Zen 4 but 0.65x on a Xeon without AMX (BUILD_NOTES.md)."""
PRECISION_CHOICES = runtime_choice.PRECISION_CHOICES
"""What ``precision=`` takes: "auto" picks whichever of the two this CPU runs faster, timed once
per CPU model and remembered (:mod:`vdsr_tf.infer.precision_choice`)."""


# ---------------------------------------------------------------------------- validation

def check_scale(scale) -> float:
    """Validates a super-resolution factor and returns it as a float.

    Accepts any real number in [1, MAX_SCALE] (fractional factors such as 2.5 included).

    Raises:
      TypeError: ``scale`` is not a real number (bool and strings included).
      ValueError: NaN, infinite, below 1 or above :data:`MAX_SCALE`.
    """
    if isinstance(scale, (bool, np.bool_)) or not isinstance(scale, Real):
        raise TypeError(f"scale must be a real number in [1, {MAX_SCALE:g}], got "
                        f"{type(scale).__name__} {scale!r}")
    value = float(scale)
    if not math.isfinite(value):
        raise ValueError(f"scale must be a finite number in [1, {MAX_SCALE:g}], got {scale!r}")
    if value < 1.0:
        raise ValueError(f"scale must be >= 1 (super-resolution enlarges), got {scale!r}; "
                         "use vdsr_tf.core.matlab.imresize to shrink")
    if value > MAX_SCALE:
        raise ValueError(f"scale must be <= {MAX_SCALE:g}, got {scale!r} (VDSR is trained "
                         "for x2-x4; larger factors are refused as likely mistakes)")
    return value


def halo_for(predictor) -> int:
    """The tile halo a predictor needs: max(MIN_HALO, its receptive radius)."""
    return max(MIN_HALO, int(getattr(predictor, "receptive_radius", 0) or 0))


def check_tile(tile, halo: int = MIN_HALO) -> int | None:
    """``tile`` as a run uses it (None: whole image), or TypeError/ValueError when it is not a
    tile side for a predictor with this ``halo``. Every halo is at least :data:`MIN_HALO`, so a
    tile refused at the default is refused for every model."""
    if tile is None:
        return None
    if isinstance(tile, (bool, np.bool_)) or not isinstance(tile, (int, np.integer)):
        raise TypeError(f"tile must be None or an int, got {type(tile).__name__} {tile!r}")
    tile = int(tile)
    if tile == 0:
        return None
    minimum = MIN_TILE_HALOS * halo
    if tile < minimum:
        raise ValueError(f"tile must be None/0 (whole image) or >= {minimum} ({MIN_TILE_HALOS} times the "
                         f"{halo}-pixel halo, which keeps tiling under 4x the work of a whole-image run), "
                         f"got {tile}")
    return tile


def check_output_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """The output (height, width) of an input at ``scale``; ValueError past MAX_OUTPUT_PIXELS."""
    return _check_output_size(height, width, check_scale(scale))


def _check_output_size(height: int, width: int, scale: float) -> tuple[int, int]:
    out = (matlab.output_length(height, scale), matlab.output_length(width, scale))
    if out[0] * out[1] > MAX_OUTPUT_PIXELS:
        raise ValueError(f"output would be {out[0]}x{out[1]} pixels (input {height}x{width} "
                         f"at x{scale:g}), more than the {MAX_OUTPUT_PIXELS} pixel limit; "
                         "split the image or use a smaller scale")
    return out


# ---------------------------------------------------------------------------- predictors

@runtime_checkable
class Predictor(Protocol):
    """What runs the network: float32 (1, h, w, 1) bicubic luminance in, the same shape out.

    :class:`KerasPredictor`, :class:`vdsr_tf.infer.runtimes.TFLitePredictor` and
    :class:`vdsr_tf.infer.runtimes.SavedModelPredictor` are predictors; so is any such callable.
    One may also have an int ``receptive_radius`` attribute (see :func:`halo_for`).
    """

    def __call__(self, x: np.ndarray) -> np.ndarray: ...


class KerasPredictor:
    """A keras.Model as a predictor: float32 (1, h, w, 1) numpy in and out.

    The model runs inside one ``tf.function`` with input signature
    ``(1, None, None, 1)``: traced once, any tile size, no Python per layer. On another
    Keras backend (JAX) it is the model's plain call. ``description`` names it in errors
    (default: the model's name; :func:`make_predictor` gives the weights file).
    """

    def __init__(self, model, description: str | None = None):
        import keras

        if not isinstance(model, keras.Model):
            raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
        shape = tuple(model.input_shape) if not isinstance(model.input_shape, list) else None
        if shape is None or len(shape) != 4 or shape[-1] != 1:
            raise ValueError(f"model must take one (batch, H, W, 1) input, got input shape "
                             f"{model.input_shape}")
        self.model = model
        self.receptive_radius = receptive_radius(model)
        self.description = description or f"Keras model {model.name!r}"

        def run(x):
            return model(x, training=False)

        if keras.backend.backend() != "tensorflow":
            # Keras on JAX (the TensorFlow-free training path validates this way): the model's
            # own call, which reads the current weights; no TensorFlow.
            self._fn = lambda x: keras.ops.convert_to_numpy(run(x))
            return
        import tensorflow as tf

        self._fn = tf.function(
            run,
            input_signature=[tf.TensorSpec((1, None, None, 1), tf.float32, name="luminance")],
            autograph=False,
        )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = self._fn(np.ascontiguousarray(x, dtype=np.float32))
        return np.asarray(out, dtype=np.float32)

    @property
    def traces(self) -> int | None:
        """How many times the TensorFlow graph was traced (one for any number of sizes);
        None on other Keras backends, which run the model's call directly."""
        count = getattr(self._fn, "experimental_get_tracing_count", None)
        return None if count is None else int(count())


def _check_choices(backend, precision) -> None:
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if not isinstance(precision, str) or precision not in INFERENCE_PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISION_CHOICES}, got {precision!r}")
    if precision != "float32" and backend != "keras":
        raise ValueError(f"precision={precision!r} applies to backend='keras'; backend={backend!r} "
                         "runs the precision its exported file was written in")


def _check_ensemble(ensemble) -> bool:
    if not isinstance(ensemble, (bool, np.bool_)):
        raise TypeError(f"ensemble must be True or False, got {type(ensemble).__name__} {ensemble!r}")
    return bool(ensemble)


def _plan(speed, model, weights, backend: str, precision: str) -> runtime_choice.Runtime:
    """runtime_choice.plan, with "auto" resolved to the precision this CPU runs faster."""
    runtime = runtime_choice.plan(speed, model, weights, backend, precision)
    if runtime.bundled_tflite:
        return runtime
    return dataclasses.replace(runtime, precision=_resolve_precision(runtime.precision, runtime.backend, model))


def _resolve_precision(precision, backend: str, model) -> str:
    """``precision`` itself, or for "auto" the one this CPU runs faster (keras backend and a
    keras.Model or bundled weights; anything else runs as it was made: "float32")."""
    if precision != "auto":
        return precision
    if backend != "keras" or (model is not None and not hasattr(model, "get_layer")) \
            or not runtime_choice.keras_available():
        return "float32"
    from vdsr_tf.infer.precision_choice import auto_precision

    return auto_precision(lambda p: make_predictor(weights="paper", precision=p))


def make_predictor(model=None, weights=None, backend: str = "keras", precision: str = "float32"):
    """A new predictor for these arguments (what :class:`Upscaler` runs).

    Args:
      model: a ``keras.Model`` on (batch, H, W, 1), or an existing predictor (any callable
        float32 (1, h, w, 1) -> (1, h, w, 1), returned as it is); exclusive with ``weights``.
      weights: a weights file for :func:`vdsr_tf.nn.weights.load_model` or a bundled set's name
        (``"paper"``, ``"jpeg"``) (keras backend), or the exported artefact (``.tflite`` file /
        SavedModel folder) for the other backends.
        With neither, the keras backend loads the bundled paper weights into a model of its own.
      backend: one of :data:`BACKENDS`.
      precision: one of :data:`INFERENCE_PRECISIONS` (keras backend only; exported files carry their
        own precision).

    Nothing is cached: each call builds (and, for Keras, later traces) a new predictor, so
    build one, or an :class:`Upscaler`, for many images.
    """
    precision = "bfloat16" if precision in BFLOAT16_NAMES else precision  # training's name works too
    _check_choices(backend, precision)
    if model is not None and weights is not None:
        raise ValueError("pass model= or weights=, not both")
    if model is not None:
        if backend != "keras":
            raise ValueError(f"model= is a Keras model; backend={backend!r} reads an exported "
                             "file: pass weights=<path> instead")
        keras = sys.modules.get("keras")  # a keras.Model means keras is imported; else a callable
        if keras is not None and isinstance(model, keras.Model):
            return KerasPredictor(model if precision == "float32" else bfloat16_twin(model))
        if precision != "float32":
            raise ValueError(f"precision={precision!r} needs a keras.Model, got a predictor callable")
        if callable(model):
            return model
        raise TypeError(f"model must be a keras.Model or a predictor callable, got "
                        f"{type(model).__name__}")
    if backend != "keras" and weights is None:
        raise ValueError(runtime_choice.export_needed(backend))
    if weights is not None and (isinstance(weights, bytes)
                                or not isinstance(weights, (str, os.PathLike))):
        raise TypeError(f"weights must be a path (str or os.PathLike), got "
                        f"{type(weights).__name__} {weights!r}")
    if backend != "keras":
        from vdsr_tf.infer import runtimes  # LiteRT and SavedModel loading only when asked for

        return runtimes.get_predictor(backend, weights)
    if not runtime_choice.keras_available():
        what = "the bundled weights in Keras" if weights is None else repr(os.fspath(weights))
        raise ValueError(f"{what} need TensorFlow and Keras, which are not installed here: install tensorflow, "
                         "or run an exported model with backend='tflite', weights='.../vdsr_float32.tflite'")
    from vdsr_tf.nn.weights import bundled_name, bundled_weights, load_model

    # Bundled weights by path: a model of this predictor's own (load_model(None) hands
    # every caller one shared model), checked against the weights card all the same.
    name = bundled_name(weights)
    model = load_model(bundled_weights(name) if name is not None else weights)
    described = f"bundled {name!r} weights" if name is not None else f"Keras weights {os.fspath(weights)!r}"
    return KerasPredictor(model if precision == "float32" else bfloat16_twin(model), described)


class Upscaler:
    """A reusable super-resolver: the predictor is built once, then any number of images.

    ``Upscaler(weights=None, *, model=None, backend="keras", precision="float32",
    tile=DEFAULT_TILE, ensemble=False, speed="normal")`` takes the arguments of
    :func:`make_predictor`, the tile side of :func:`super_resolve` (checked here, against the
    predictor's halo), its ``ensemble`` (labels then end in "+") and its ``speed``;
    ``upscaler(img, scale, progress=None)`` is :func:`super_resolve` on one image.
    ``Upscaler()`` (no weights, no model; also with ``speed="fast"`` or ``backend="tflite"``)
    chooses a bundled set per picture as :func:`super_resolve` does
    (:mod:`vdsr_tf.infer.weight_choice`), each loaded once; :meth:`run` also says which set ran.
    """

    def __init__(self, weights=None, *, model=None, backend: str = "keras",
                 precision: str = "float32", tile: int | None = DEFAULT_TILE, ensemble: bool = False,
                 speed: str = "normal"):
        self._runtime = runtime = _plan(speed, model, weights, backend, precision)
        self._choosing = weights is None and model is None and runtime.backend in ("keras", "tflite")
        self.ensemble = _check_ensemble(ensemble)
        self._predictors: dict[str, Predictor] = {}
        self._lock = threading.Lock()
        if runtime.bundled_tflite or self._choosing:
            self.weights_label = self._named(weights or "paper")
        else:
            self.weights_label = _label(weights, model) + self._kind() + ("+" if ensemble else "")
        self.predictor: Predictor = self._made(
            self._bundled(weights or "paper") if runtime.bundled_tflite or self._choosing
            else make_predictor(model=model, weights=weights, backend=runtime.backend, precision=runtime.precision))
        if self._choosing:
            self._predictors[weights or "paper"] = self.predictor
        self.halo = halo_for(self.predictor)
        self.tile = check_tile(tile, self.halo)

    def _bundled(self, name: str) -> Predictor:
        """A new predictor of bundled set ``name`` in this Upscaler's runtime."""
        if self._runtime.bundled_tflite:
            return runtime_choice.bundled_predictor(name, self._runtime)
        return make_predictor(weights=name, precision=self._runtime.precision)

    def _named(self, name: str) -> str:
        """How progress lines name bundled set ``name`` as run here: "jpeg", "jpeg int8", "jpeg bfloat16+"."""
        return name + self._kind() + ("+" if self.ensemble else "")

    def _kind(self) -> str:
        """" tflite", " int8", " bfloat16" (what --precision auto chose shows here), or ""."""
        runtime = self._runtime
        if runtime.bundled_tflite:
            return " tflite" if runtime.precision == "float32" else f" {runtime.precision}"
        return " bfloat16" if runtime.backend == "keras" and runtime.precision == "bfloat16" else ""

    def _predictor_for(self, source, scale: float) -> tuple[Predictor, str]:
        if not self._choosing:
            return self.predictor, self.weights_label
        from vdsr_tf.infer import weight_choice

        name, quality = weight_choice.choose(source, scale)
        with self._lock:
            if name not in self._predictors:
                self._predictors[name] = self._made(self._bundled(name))
        label = self._named(name)
        return self._predictors[name], label if quality is None else f"{label} (JPEG quality {quality})"

    def _made(self, predictor) -> Predictor:
        return EnsemblePredictor(predictor) if self.ensemble else predictor

    def run(self, img, scale, *, progress=None, source=None):
        """(result, label of the weights that ran) for one image; ``source`` (default ``img``):
        the file or PIL image the picture came from, which the choice of weights reads."""
        return self._run(img, check_scale(scale), progress, source)

    def _run(self, img, scale: float, progress, source):
        predictor, label = self._predictor_for(img if source is None else source, scale)
        out, spec = _upscale_float(img, scale, predictor, self.tile, self.halo, progress)
        return imageio.restore_image(out, spec, _consume=True), label

    def __call__(self, img, scale, *, progress=None):
        return self.run(img, scale, progress=progress)[0]


def _label(weights, model) -> str:
    if model is not None:
        return getattr(model, "name", None) or type(model).__name__
    return os.path.basename(os.fspath(weights)) if isinstance(weights, (str, os.PathLike)) else str(weights)


_defaults = FileCache()


def _default_predictor(name: str, runtime: runtime_choice.Runtime) -> Predictor:
    """The predictor of bundled set ``name`` for ``super_resolve(img, scale)``: made once per
    runtime (and per version of the bundled file) on a model of its own that no caller is handed."""
    from vdsr_tf.nn.weights import bundled_weights

    def make():
        if runtime.bundled_tflite:
            return runtime_choice.bundled_predictor(name, runtime)
        return make_predictor(weights=name, precision=runtime.precision)

    return _defaults.get(bundled_weights(name), make, runtime)


# ---------------------------------------------------------------------------- tiling

def tile_spans(length: int, tile: int | None, halo: int) -> list[tuple[int, int, int, int]]:
    """Splits one axis into overlapping windows of equal length.

    Returns ``(start, stop, keep_start, keep_stop)`` per window: the network runs on
    ``[start, stop)`` and the result is kept on ``[keep_start, keep_stop)``, which lies
    at least ``halo`` pixels inside the window except where the window meets the image
    edge (where whole-image inference zero-pads exactly as the tile does). The kept
    ranges partition ``[0, length)``. All windows have the same length (at most ``tile``),
    so every tile has one shape and the compiled network reuses one kernel plan.
    """
    if tile is None or length <= tile:
        return [(0, length, 0, length)]
    count = math.ceil((length - 2 * halo) / (tile - 2 * halo))
    window = math.ceil((length + 2 * halo * (count - 1)) / count)
    spans = []
    keep_start = 0
    for i in range(count):
        keep_stop = length if i == count - 1 else min(length, (i + 1) * (window - 2 * halo) + halo)
        start = max(0, keep_start - halo)
        stop = min(length, start + window)
        start = max(0, stop - window)  # the last window slides back to full length
        spans.append((start, stop, keep_start, keep_stop))
        keep_start = keep_stop
    return spans


def _run_network(y: np.ndarray, predictor, tile: int | None, halo: int,
                 progress=None) -> np.ndarray:
    """Runs the predictor on float32 (H, W) luminance, tile by tile; returns (H, W).

    ``progress(done, total)`` is called after each tile."""
    height, width = y.shape
    rows = tile_spans(height, tile, halo)
    cols = tile_spans(width, tile, halo)
    total = len(rows) * len(cols)
    if total == 1:
        out = _call(predictor, y)
        if progress is not None:
            progress(1, 1)
        return out
    out = np.empty_like(y)
    done = 0
    for r0, r1, kr0, kr1 in rows:
        for c0, c1, kc0, kc1 in cols:
            result = _call(predictor, y[r0:r1, c0:c1])
            out[kr0:kr1, kc0:kc1] = result[kr0 - r0:kr1 - r0, kc0 - c0:kc1 - c0]
            done += 1
            if progress is not None:
                progress(done, total)
    return out


def describe(predictor) -> str:
    """How errors name a predictor: its ``description``, else its type or function name."""
    text = getattr(predictor, "description", None)
    if isinstance(text, str) and text:
        return text
    return f"predictor {getattr(predictor, '__qualname__', None) or type(predictor).__name__}"


def _call(predictor, y: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(y, dtype=np.float32)[None, :, :, None]
    out = np.asarray(predictor(x))
    if out.shape != x.shape:
        raise ValueError(f"{describe(predictor)} returned shape {out.shape} for input {x.shape}")
    # One pass over the tile (cheap next to the network): NaN/inf would be written as black.
    if not np.isfinite(out).all():
        bad = int(out.size - np.count_nonzero(np.isfinite(out)))
        raise ValueError(f"{describe(predictor)} returned NaN or inf ({bad} of {out.size} values of a "
                         f"{x.shape[1]}x{x.shape[2]} tile): the network or its file is damaged; "
                         "restore or re-create it")
    return out[0, :, :, 0]


# ---------------------------------------------------------------------------- pipeline

_STRIP_ROWS = 256  # colour conversion in strips: bounded float64 temporaries


def _upscale_float(img, scale: float, predictor, tile, halo: int, progress=None):
    """The pipeline up to float output: (H', W', C) float32, unclipped, and the ImageSpec.

    Memory order matters for large images: the chroma and alpha planes are upscaled before
    the network runs, because the numpy resize needs float64 temporaries of several output
    planes and TensorFlow's CPU allocator keeps the tile activations pooled once used.
    """
    if isinstance(img, (str, os.PathLike)):
        # The size the header declares, before decoding: a 100 KB PNG can declare 12000x9000
        # and would take 1.2 GB and seconds to decode only to be refused.
        width, height = imageio.image_size(img)
        _check_output_size(height, width, scale)
    data, spec = imageio.load_image(img)
    height, width = data.shape[:2]
    _check_output_size(height, width, scale)
    colour = spec.is_colour
    if colour:
        ycc = matlab.rgb2ycbcr(data[:, :, :3])
        luma = np.ascontiguousarray(ycc[:, :, 0])
        chroma = [np.ascontiguousarray(ycc[:, :, c]) for c in (1, 2)]
        del ycc
    else:
        luma = np.ascontiguousarray(data[:, :, 0])
        chroma = []
    alpha = np.ascontiguousarray(data[:, :, -1]) if spec.has_alpha else None
    del data

    chroma = [matlab.imresize(plane, scale) for plane in chroma]
    if alpha is not None:
        alpha = np.clip(matlab.imresize(alpha, scale), 0.0, 1.0)
    y = matlab.imresize(luma, scale).astype(np.float32, copy=False)
    del luma
    if predictor is not None:
        y = _run_network(y, predictor, tile, halo, progress)
    out = np.empty(y.shape + (spec.channels,), np.float32)
    if colour:
        cb, cr = chroma
        for r in range(0, y.shape[0], _STRIP_ROWS):
            rows = slice(r, r + _STRIP_ROWS)
            out[rows, :, :3] = matlab.ycbcr2rgb(np.stack([y[rows], cb[rows], cr[rows]], -1))
        del cb, cr, chroma
    else:
        out[:, :, 0] = y
    del y
    if alpha is not None:
        out[:, :, -1] = alpha
    return out, spec


def super_resolve(img, scale, *, model=None, weights=None, tile: int | None = DEFAULT_TILE,
                  backend: str = "keras", precision: str = "float32", ensemble: bool = False,
                  speed: str = "normal", progress=None):
    """Super-resolves an image with VDSR.

    Args:
      img: a PIL image, a numpy array (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) of uint8,
        uint16 or float in [0, 1], or an image file path (see :mod:`vdsr_tf.core.imageio` for
        the accepted PIL modes and what happens to the others).
      scale: factor in [1, :data:`MAX_SCALE`], fractional allowed; the output is
        ceil(H * scale) x ceil(W * scale), as Matlab's imresize.
      model: a ``keras.Model`` (e.g. from :func:`vdsr_tf.build_vdsr` or
        :func:`vdsr_tf.nn.weights.load_model`) or a predictor callable; exclusive with
        ``weights``. With neither, a bundled set is chosen for the picture
        (:mod:`vdsr_tf.infer.weight_choice`): the JPEG-robust ``"jpeg"`` weights for a JPEG file or
        a PIL image opened from one (up to a measured quality), ``"paper"`` otherwise.
      weights: ``"paper"`` or ``"jpeg"`` (the bundled sets), or a path to weights
        (``.weights.h5`` / ``.mat``; or the exported ``.tflite`` / SavedModel for those backends).
      tile: side in pixels (of the upscaled image, halo included) of the square tiles the
        network runs on; None or 0 runs the whole image at once. The halo is
        ``max(20, receptive radius)`` so tiled and whole results agree (to float rounding);
        a tile is at least :data:`MIN_TILE_HALOS` halos (80 pixels for the paper's network).
      backend: "keras", "tflite" or "saved_model" (the tflite backend without ``weights`` runs
        the bundled set's float32 TFLite model).
      precision: "float32" (default) or "bfloat16" (keras backend: hidden convolutions in
        bfloat16, ~0.02 dB lower PSNR; faster or slower than float32 depending on the CPU), or
        "auto": the faster of the two on this CPU (timed once per CPU model, a few seconds, and
        remembered in the user's cache folder).
      speed: "normal", or "fast": the bundled int8 TFLite model of the chosen set (about 3x
        faster, a few hundredths of a dB lower; figures in README). Exclusive with ``model``,
        weights files, ``backend`` and ``precision``.
      ensemble: True runs the network on the eight flips and rotations of the picture and
        averages them ("VDSR+", :mod:`vdsr_tf.infer.ensemble`): eight times the time, a
        slightly better picture (measured gains in README).
      progress: optional callable ``progress(done, total)``, called after each tile the
        network has run (``total`` 1 for an image run whole): a progress bar for big images.

    Each call builds an :class:`Upscaler` (for a ``keras.Model``, a new ``tf.function`` to
    trace); to run many images, build one ``Upscaler`` and call it. Without ``model`` and
    ``weights`` the bundled weights' predictor is built once and reused.

    Returns:
      The result in the input's form: an array of the same dtype, rank and channels; a PIL
      image of the same mode family (see :mod:`vdsr_tf.core.imageio`); a PIL image for a path,
      or a uint16 (H, W, 3|4) array for a 16-bit colour PNG/TIFF path (PIL cannot hold it).
      Colour goes through Matlab YCbCr (network on Y, bicubic Cb/Cr), alpha is upscaled
      bicubically and kept.
    """
    scale = check_scale(scale)  # once, and before any model is loaded
    _check_ensemble(ensemble)
    runtime = _plan(speed, model, weights, backend, precision)
    if model is None and weights is None and (runtime.bundled_tflite or (
            runtime.backend == "keras" and runtime.precision in INFERENCE_PRECISIONS)):
        from vdsr_tf.infer import weight_choice

        model = _default_predictor(weight_choice.choose(img, scale)[0], runtime)
        backend, precision, speed = "keras", "float32", "normal"  # the bundled predictor runs as it was made
    upscaler = Upscaler(weights, model=model, backend=backend, precision=precision, tile=tile,
                        ensemble=ensemble, speed=speed)
    return upscaler._run(img, scale, progress, None)[0]  # the scale was checked above


def bicubic_upscale(img, scale):
    """The same pipeline as :func:`super_resolve` without the network (Matlab bicubic).

    The "bicubic" baseline of the paper's tables: luminance and chroma are both upscaled
    with Matlab's bicubic in YCbCr, then converted back and rounded exactly like VDSR's
    output, so the two methods differ only by the network.
    """
    scale = check_scale(scale)
    out, spec = _upscale_float(img, scale, None, None, MIN_HALO)
    return imageio.restore_image(out, spec, _consume=True)
