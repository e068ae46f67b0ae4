"""Conversion: a Keras VDSR to a SavedModel, to TFLite at each precision, and end to end.

One archive writer (:func:`_write_archive`: a Keras ``ExportArchive`` with one ``serve``
endpoint) and one converter set-up (:func:`_converter`: builtin ops only, the precision's
optimisation flags) serve both the luminance network and the end-to-end pipeline.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from vdsr_tf.core import atomic
from vdsr_tf.core.checks import check_int
from vdsr_tf.infer.runtimes import SERVE, SERVE_OUTPUT, saved_model_info
from vdsr_tf.nn.model import conv_name
from vdsr_tf.nn.quiet import stderr_silenced

__all__ = [
    "EXTRA_PRECISIONS",
    "INT8_FLOAT_LAYERS",
    "LUMA_PRECISIONS",
    "SAVED_MODEL_DIR",
    "TILE_PRECISIONS",
    "build_e2e_function",
    "build_tile_model",
    "check_tile_size",
    "convert_tflite",
    "e2e_filename",
    "export_e2e_tflite",
    "export_saved_model",
    "export_tile_tflite",
    "parse_size",
    "tile_calibration",
    "tile_filename",
    "tflite_filename",
]

SAVED_MODEL_DIR = "saved_model"
LUMA_PRECISIONS = ("float32", "float16", "dynamic_int8", "int8")
EXTRA_PRECISIONS = ("int16x8",)
"""Converted on request only: int16 activations run on TFLite's reference kernels
(no XNNPACK), many times slower than float32 on CPU."""
E2E_PRECISIONS = ("float32", "float16")
TILE_PRECISIONS = ("float32", "float16", "int8")
"""Precisions of the static tile models (GPU delegates take float32/float16, NPUs int8)."""

INT8_FLOAT_LAYERS: tuple[str, ...] = (conv_name(1), conv_name(2))
"""Layers of the "int8" model kept in float32 (TFLite selective quantization).

The early layers have heavy-tailed activations (calibrated ranges 5-10x their 99.9th
percentile), so 8-bit steps there cost the most; keeping conv_01-02 in float cuts the
Set5 PSNR drop from 0.57 dB to 0.12 dB. The measurements behind this choice are in
BUILD_NOTES.md (Export, the int8 item)."""

_TFLITE_FILES = {p: f"vdsr_{p}.tflite" for p in LUMA_PRECISIONS + EXTRA_PRECISIONS}


def tflite_filename(precision: str) -> str:
    """``vdsr_<precision>.tflite``."""
    check_precision(precision, LUMA_PRECISIONS + EXTRA_PRECISIONS)
    return _TFLITE_FILES[precision]


def tile_filename(tile: int, precision: str) -> str:
    """``vdsr_tile<T>_<precision>.tflite``."""
    check_precision(precision, TILE_PRECISIONS)
    return f"vdsr_tile{int(tile)}_{precision}.tflite"


def e2e_filename(size: tuple[int, int], scale: float) -> str:
    """``vdsr_e2e_<H>x<W>_x<scale>.tflite`` (scale printed with %g: 2, 2.5)."""
    return f"vdsr_e2e_{int(size[0])}x{int(size[1])}_x{float(scale):g}.tflite"


def check_precision(precision, allowed) -> str:
    """``precision`` when it is one of ``allowed``, else ValueError quoting both."""
    if not isinstance(precision, str) or precision not in allowed:
        raise ValueError(f"precision must be one of {tuple(allowed)}, got {precision!r}")
    return precision


def parse_size(text) -> tuple[int, int]:
    """``"256x192"`` (height x width) or ``"256"`` (square) -> (256, 192)."""
    if isinstance(text, (tuple, list)) and len(text) == 2:
        parts = list(text)
    elif isinstance(text, str):
        parts = text.lower().replace("*", "x").split("x")
        if len(parts) == 1:
            parts = parts * 2
    else:
        raise TypeError(f"size must be 'HxW' or (H, W), got {text!r}")
    try:
        h, w = (int(str(p).strip()) for p in parts)
    except ValueError:
        raise ValueError(f"size must be 'HxW' with positive integers, got {text!r}") from None
    if len(parts) != 2 or h < 2 or w < 2:
        raise ValueError(f"size must be 'HxW' with integers >= 2, got {text!r}")
    return h, w


# ---------------------------------------------------------------------------- the two set-ups

def _write_archive(model, fn, specs, target: Path) -> None:
    """Writes ``fn`` (tracking ``model``'s variables) as a SavedModel with one ``serve``
    endpoint (and signature) taking the tensors ``specs`` (a list)."""
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(SERVE, fn, input_signature=list(specs))
    with stderr_silenced():  # "Sharding callback duration"
        archive.write_out(str(target), verbose=False)


def _converter(saved_model_dir, precision: str):
    """A TFLite converter of the ``serve`` signature: builtin ops only (a graph that would
    need Flex ops fails), with the optimisation flags every ``precision`` but float32 needs."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=[SERVE])
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if precision != "float32":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "float16":
        conv.target_spec.supported_types = [tf.float16]
    return conv


def _replace_dir(tmp: Path, path: Path) -> None:
    """Moves the finished folder ``tmp`` to ``path``, replacing an old one."""
    old = None
    if path.exists():
        old = Path(tempfile.mkdtemp(dir=path.parent, prefix=atomic.temp_prefix(path) + "old."))
        os.replace(path, old / path.name)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------- SavedModel

def export_saved_model(model, path) -> Path:
    """Writes ``model`` as a SavedModel with a ``serve`` endpoint (and signature).

    Input ``input``: float32 (batch, H, W, 1), H and W dynamic; output ``output``.
    A small JSON in ``assets.extra/`` (ignored by TensorFlow) records the receptive
    radius for :class:`vdsr_tf.infer.runtimes.SavedModelPredictor`'s tiling halo.
    The folder is written next to ``path`` and moved into place when complete.
    """
    import tensorflow as tf

    from vdsr_tf.nn.model import receptive_radius

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def serve(x):
        return {SERVE_OUTPUT: model(x, training=False)}

    spec = tf.TensorSpec((None, None, None, 1), tf.float32, name="input")
    atomic.remove_stale_temporaries(path)  # those of an earlier kill -9
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=atomic.temp_prefix(path) + "tmp."))
    try:
        target = tmp / "sm"
        _write_archive(model, serve, [spec], target)
        info_file = saved_model_info(target)
        info_file.parent.mkdir(exist_ok=True)
        info = {"receptive_radius": receptive_radius(model), "model": model.name,
                "parameters": int(model.count_params())}
        info_file.write_text(json.dumps(info, indent=2) + "\n")
        _replace_dir(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


# ---------------------------------------------------------------------------- TFLite

def convert_tflite(saved_model_dir, precision: str, *, representative: Sequence[np.ndarray] | None = None,
                   float_layers: Sequence[str] = INT8_FLOAT_LAYERS) -> bytes:
    """Converts the ``serve`` signature of a SavedModel to a TFLite flatbuffer.

    Args:
      saved_model_dir: from :func:`export_saved_model`.
      precision: "float32", "float16" (float16 weights), "dynamic_int8" (int8 weights,
        activations quantized at run time), "int8" (full integer, needs
        ``representative``) or "int16x8" (int16 activations, int8 weights; slow on CPU).
      representative: calibration inputs for int8/int16x8: float32 (1, h, w, 1) arrays, or
        for a model of several inputs, one list of arrays (in the signature's order) each.
      float_layers: for "int8", layer names kept in float32 (default
        :data:`INT8_FLOAT_LAYERS`; empty: every layer int8).
    Only TFLite builtin ops are allowed: a graph that would need Flex ops fails here.
    Input and output tensors stay float32 for every precision.
    """
    import tensorflow as tf

    check_precision(precision, LUMA_PRECISIONS + EXTRA_PRECISIONS)
    conv = _converter(saved_model_dir, precision)
    if precision in ("int8", "int16x8"):
        if not representative:
            raise ValueError(f"precision {precision!r} needs representative calibration inputs")
        samples = list(representative)

        def gen():
            for x in samples:
                yield [np.asarray(a, np.float32) for a in (x if isinstance(x, (list, tuple)) else [x])]

        conv.representative_dataset = gen
        if precision == "int8":
            ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if float_layers:
                ops.append(tf.lite.OpsSet.TFLITE_BUILTINS)
            conv.target_spec.supported_ops = ops
        else:
            conv.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        if precision == "int8" and float_layers:
            return _selective_int8(saved_model_dir, conv, gen, tuple(float_layers))
    with stderr_silenced():  # the converter's "fully_quantize: 0, inference_type: 6" lines
        return conv.convert()


def _selective_int8(saved_model_dir, conv, gen, float_layers: tuple[str, ...]) -> bytes:
    """Full-integer conversion keeping the ``float_layers`` convolutions in float32.

    Uses TFLite's selective quantization (``QuantizationDebugger`` with
    ``denylisted_nodes``). Node names are the converter's fused op names, e.g.
    ``vdsr_1/conv_02_1/Relu;vdsr_1/conv_02_1/BiasAdd;...``; they are read from a plain
    float32 conversion of the same SavedModel and matched by layer name.
    """
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    with stderr_silenced():
        float_model = Interpreter(model_content=convert_tflite(saved_model_dir, "float32"))
    names = [d["name"] for d in float_model.get_tensor_details()]
    deny = sorted({n for n in names for layer in float_layers if ";" in n and f"/{layer}_1/" in n})
    found = {layer for layer in float_layers if any(f"/{layer}_1/" in n for n in deny)}
    if found != set(float_layers):
        raise ValueError(f"layers {sorted(set(float_layers) - found)} to keep in float were "
                         f"not found among the converted model's ops")
    opts = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=deny)
    with warnings.catch_warnings(), stderr_silenced():  # the debugger itself still uses tf.lite.Interpreter
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
        debugger = tf.lite.experimental.QuantizationDebugger(converter=conv, debug_dataset=gen,
                                                             debug_options=opts)
        return debugger.get_nondebug_quantized_model()


# ---------------------------------------------------------------------------- end to end

def build_e2e_function(model, size: tuple[int, int], scale: float):
    """The protocol pipeline for one input size as a ``tf.function``.

    uint8 RGB (1, H, W, 3) -> uint8 RGB (1, ceil(sH), ceil(sW), 3), as
    :func:`vdsr_tf.super_resolve` computes it: Matlab YCbCr, Matlab bicubic on all three
    channels, the network on Y, back to RGB, x255, round half up, clip.
    """
    import tensorflow as tf

    from vdsr_tf.infer.upscaler import check_scale
    from vdsr_tf.nn import matlab_tf

    h, w = parse_size(size)
    scale = check_scale(scale)

    def pipeline(rgb):
        x = tf.cast(rgb, tf.float32) / 255.0
        ycc = matlab_tf.rgb2ycbcr_tf(x)
        up = matlab_tf.imresize_tf(ycc, scale)  # (1, H', W', 3), constant tap tables
        y = model(up[..., :1], training=False)
        out = matlab_tf.ycbcr2rgb_tf(tf.concat([y, up[..., 1:]], axis=-1))
        out = tf.floor(tf.clip_by_value(out * 255.0, 0.0, 255.0) + 0.5)
        return {"output": tf.cast(out, tf.uint8)}

    spec = tf.TensorSpec((1, h, w, 3), tf.uint8, name="input")
    return pipeline, spec


def export_e2e_tflite(model, path, size: tuple[int, int], scale: float, *, precision: str = "float32") -> Path:
    """Writes the end-to-end uint8 RGB model (see :func:`build_e2e_function`) to ``path``.

    Goes through a temporary SavedModel (Keras ``ExportArchive``) like the other
    TFLite files. ``precision``: "float32" or "float16" (float16 weights).
    """
    check_precision(precision, E2E_PRECISIONS)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fn, spec = build_e2e_function(model, size, scale)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=atomic.temp_prefix(path) + "sm.") as tmp:
        target = Path(tmp) / "sm"
        _write_archive(model, fn, [spec], target)
        conv = _converter(target, precision)
        with stderr_silenced():
            data = conv.convert()
    atomic.write_bytes(path, data)
    return path


# ---------------------------------------------------------------------------- static tiles

def check_tile_size(model, tile: int) -> int:
    """``tile`` when a tile of that side keeps something inside ``model``'s halo, else ValueError."""
    from vdsr_tf.nn.model import receptive_radius

    tile = check_int(tile, "tile_size", 2)
    radius = receptive_radius(model)
    if tile <= 2 * radius:
        raise ValueError(f"a {tile}-pixel tile keeps nothing inside the network's {radius}-pixel halo on "
                         f"each side; tiles of 4 halos ({4 * radius}) or more keep most of their work")
    return tile


def build_tile_model(model, tile: int):
    """``model``'s layers (shared, not copied) as a static-shape tile model for delegates.

    Inputs ``input`` and ``mask``, float32 (1, tile, tile, 1); output (1, tile, tile, 1). Every
    hidden layer's output is multiplied by the mask (1 on the picture, 0 past it), so the next
    convolution sees zeros past the picture, as it does on the whole picture: a tile reaching
    past the edge is exact (:mod:`vdsr_tf.device.reference`). Ops: CONV_2D (ReLU fused), MUL, ADD.
    """
    import keras

    tile = check_int(tile, "tile", 2)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if not convs:
        raise ValueError(f"a tile model needs a network of Conv2D layers; {model.name!r} has none")
    check_tile_size(model, tile)
    x = keras.Input((tile, tile, 1), batch_size=1, dtype="float32", name="input")
    mask = keras.Input((tile, tile, 1), batch_size=1, dtype="float32", name="mask")
    h = x
    for layer in convs[:-1]:
        h = keras.layers.Multiply(name=f"{layer.name}_masked")([layer(h), mask])
    out = convs[-1](h)
    if any(isinstance(layer, keras.layers.Add) for layer in model.layers):  # the residual network
        out = keras.layers.Add(name="residual_add")([x, out])
    return keras.Model([x, mask], out, name=f"{model.name}_tile{tile}")


def tile_calibration(patches: Sequence[np.ndarray], tile: int) -> list[list[np.ndarray]]:
    """int8 calibration inputs of a tile model from the luminance models' calibration patches.

    The (1, s, s, 1) patches are laid side by side in tiles with a one-pixel gap where the mask
    is 0. The mask zeroes the gap at every layer, so each patch's activations are exactly those
    of the dynamic int8 model's calibration (and its activation ranges too). Patches that touch
    raise the ranges: the edges between them are not in the pictures (measured in BUILD_NOTES).
    Returns one [input, mask] pair per tile.
    """
    samples = []
    place = 0
    for patch in patches:
        p = np.asarray(patch, np.float32)[0, :, :, 0]
        size = min(p.shape[0], p.shape[1], tile)
        per_row = max(1, (tile + 1) // (size + 1))
        if not samples or place == per_row * per_row:
            samples.append([np.zeros((1, tile, tile, 1), np.float32), np.zeros((1, tile, tile, 1), np.float32)])
            place = 0
        x, m = samples[-1]
        r, c = (place // per_row) * (size + 1), (place % per_row) * (size + 1)
        x[0, r:r + size, c:c + size, 0] = p[:size, :size]
        m[0, r:r + size, c:c + size, 0] = 1.0
        place += 1
    return samples


def export_tile_tflite(model, out_dir, tile: int, precisions: Sequence[str] = TILE_PRECISIONS, *,
                       representative: Sequence[np.ndarray] | None = None,
                       float_layers: Sequence[str] = INT8_FLOAT_LAYERS) -> list[Path]:
    """Writes ``vdsr_tile<T>_<precision>.tflite`` (:func:`build_tile_model`) per precision into
    ``out_dir``; int8 needs ``representative`` (the luminance calibration patches, laid out by
    :func:`tile_calibration`) and keeps ``float_layers`` in float32 as the dynamic int8 does."""
    import tensorflow as tf

    for p in precisions:
        check_precision(p, TILE_PRECISIONS)
    out_dir = Path(out_dir)
    tile_model = build_tile_model(model, tile)

    def serve(input, mask):  # the argument names are the signature's input names
        return {SERVE_OUTPUT: tile_model([input, mask], training=False)}

    specs = [tf.TensorSpec((1, tile, tile, 1), tf.float32, name=name) for name in ("input", "mask")]
    written = []
    first = out_dir / tile_filename(tile, precisions[0]) if precisions else out_dir / "tile"
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=atomic.temp_prefix(first) + "sm.") as tmp:
        target = Path(tmp) / "sm"
        _write_archive(tile_model, serve, specs, target)
        calibration = tile_calibration(representative, tile) if representative else None
        for precision in precisions:
            path = out_dir / tile_filename(tile, precision)
            atomic.write_bytes(path, convert_tflite(target, precision, representative=calibration,
                                                    float_layers=float_layers))
            written.append(path)
    return written
