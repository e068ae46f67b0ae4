"""Deployment artefacts for VDSR: SavedModel, TFLite (four precisions), end-to-end TFLite.

:func:`export_all` writes, into a folder it is given (nothing else is touched):

``saved_model/``
    Keras 3 ``ExportArchive`` with one endpoint/signature ``serve``: input ``input``
    float32 (batch, H, W, 1) bicubic-upscaled Matlab luminance in [0, 1] (H, W dynamic),
    output ``output`` float32, same shape, the super-resolved luminance (unclipped).
``vdsr_float32.tflite``, ``vdsr_float16.tflite``, ``vdsr_dynamic_int8.tflite``, ``vdsr_int8.tflite``
    The same network converted from that SavedModel with the TFLite converter: input
    (1, -1, -1, 1) float32, so ``resize_tensor_input`` gives any size; builtin ops only.
    float16 stores float16 weights (dequantized at load); dynamic_int8 stores int8
    weights and quantizes activations on the fly; int8 is full-integer (int8
    weights per channel and int8 activations calibrated on training patches, see
    :func:`calibration_patches`) with float32 input/output tensors, quantize and
    dequantize inside (see ``INT8_FLOAT_LAYERS`` for the layers kept in float).
``vdsr_e2e_<H>x<W>_x<s>.tflite``
    The whole protocol pipeline for one input size: uint8 RGB (1, H, W, 3) in, uint8 RGB
    (1, ceil(sH), ceil(sW), 3) out. Inside the graph: /255, Matlab ``rgb2ycbcr``
    (:func:`vdsr_tf.matlab.rgb2ycbcr_tf`), Matlab bicubic (:func:`vdsr_tf.matlab.imresize_tf`
    with static sizes, so its tap tables are constants: GATHER/MUL/ADD), the network on Y,
    ``ycbcr2rgb_tf``, x255, round half up, clip, uint8: what :func:`vdsr_tf.super_resolve`
    computes with float32 network maths.
``manifest.json``
    Per artefact: file, format, precision, input/output spec, size, sha256, op counts, the
    weights it came from, and the measured parity and PSNR (:func:`measure`).

:func:`verify` re-measures an export folder against the Keras model and applies the
parity limits in :data:`LIMITS`.
"""
from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from vdsr_tf import atomic, integrity, matlab

__all__ = [
    "LIMITS",
    "LUMA_PRECISIONS",
    "MANIFEST",
    "build_e2e_function",
    "check",
    "calibration_patches",
    "convert_tflite",
    "e2e_filename",
    "export_all",
    "export_e2e_tflite",
    "export_saved_model",
    "measure",
    "measurement_images",
    "parse_size",
    "read_manifest",
    "tflite_filename",
    "verify",
]

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "vdsr_tf.exports/1"
SAVED_MODEL_DIR = "saved_model"
LUMA_PRECISIONS = ("float32", "float16", "dynamic_int8", "int8")
EXTRA_PRECISIONS = ("int16x8",)
"""Converted on request only: int16 activations run on TFLite's reference kernels
(no XNNPACK), many times slower than float32 on CPU."""

INT8_FLOAT_LAYERS: tuple[str, ...] = ("conv_01", "conv_02")
"""Layers of the "int8" model kept in float32 (TFLite selective quantization).

Measured with the authors' VDSR weights on Set5 (Matlab pipeline, x2/x3/x4 mean PSNR drop
vs Keras / 512x512 luminance latency on 2 busy cores, XNNPACK): all 20 layers int8:
0.57 dB (x4: 1.10 dB), 6.1-6.5 s/MP; conv_01-02 float: 0.12 dB (worst scale 0.16 dB),
7.8 s/MP; conv_01-03: 0.09 dB, 9.0 s/MP; conv_01-05: 0.09 dB, 11-14 s/MP; conv_15-20
float: 0.55 dB. The early layers have heavy-tailed activations (calibrated ranges 5-10x
their 99.9th percentile, clipping them to a percentile is worse), so 8-bit steps there
cost the most. Float32 TFLite: 29 s/MP in the same runs."""

LIMITS = {
    "max_abs_diff": 1e-4,     # SavedModel and float32 TFLite vs Keras, on [0, 1] luminance
    "float16_psnr_drop": 0.02,  # dB
    "int8_psnr_drop_target": 0.2,  # dB, reported (target), not a failure
    "int8_psnr_drop_broken": 1.0,  # dB, beyond this an int8 file is treated as broken
    "e2e_levels": 1,           # grey levels ...
    "e2e_fraction": 0.999,     # ... on at least this fraction of the pixels
}

_SERVE = "serve"
_EXTRA = "assets.extra"
_EXTRA_JSON = "vdsr_tf.json"
_TFLITE_FILES = {p: f"vdsr_{p}.tflite" for p in LUMA_PRECISIONS + EXTRA_PRECISIONS}


def tflite_filename(precision: str) -> str:
    """``vdsr_<precision>.tflite``."""
    _check_precision(precision, LUMA_PRECISIONS + EXTRA_PRECISIONS)
    return _TFLITE_FILES[precision]


def e2e_filename(size: tuple[int, int], scale: float) -> str:
    """``vdsr_e2e_<H>x<W>_x<scale>.tflite`` (scale printed with %g: 2, 2.5)."""
    return f"vdsr_e2e_{int(size[0])}x{int(size[1])}_x{float(scale):g}.tflite"


def _check_precision(precision, allowed) -> str:
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


# ---------------------------------------------------------------------------- files

def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


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

def _receptive_radius(model) -> int:
    from vdsr_tf.inference import receptive_radius

    return receptive_radius(model)


def export_saved_model(model, path) -> Path:
    """Writes ``model`` as a SavedModel with a ``serve`` endpoint (and signature).

    Input ``input``: float32 (batch, H, W, 1), H and W dynamic; output ``output``.
    A small JSON in ``assets.extra/`` (ignored by TensorFlow) records the receptive
    radius for :class:`vdsr_tf.backends.SavedModelPredictor`'s tiling halo.
    The folder is written next to ``path`` and moved into place when complete.
    """
    import keras
    import tensorflow as tf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve(x):
        return {"output": model(x, training=False)}

    archive.add_endpoint(
        _SERVE, serve,
        input_signature=[tf.TensorSpec((None, None, None, 1), tf.float32, name="input")],
    )
    atomic.remove_stale_temporaries(path)  # those of an earlier kill -9
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=atomic.temp_prefix(path) + "tmp."))
    try:
        target = tmp / "sm"
        archive.write_out(str(target), verbose=False)
        (target / _EXTRA).mkdir(exist_ok=True)
        info = {"receptive_radius": _receptive_radius(model), "model": model.name,
                "parameters": int(model.count_params())}
        (target / _EXTRA / _EXTRA_JSON).write_text(json.dumps(info, indent=2) + "\n")
        _replace_dir(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


# ---------------------------------------------------------------------------- calibration

def _synthetic_luma(size: int, seed: int) -> np.ndarray:
    """A deterministic uint8 (size, size) picture: gradients, edges, texture, flat areas."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    f1, f2 = rng.uniform(3, 20, 2)
    img = 0.5 + 0.3 * np.sin(f1 * xx + rng.uniform(0, 6)) * np.cos(f2 * yy)
    for _ in range(6):  # rectangles with hard edges
        r0, c0 = rng.integers(0, size, 2)
        img[r0:r0 + rng.integers(4, size // 2), c0:c0 + rng.integers(4, size // 2)] = rng.uniform(0, 1)
    img += rng.normal(0, 0.02, img.shape)
    return np.floor(np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def calibration_patches(
    folders=None,
    *,
    count: int = 240,
    size: int = 64,
    scales: Sequence[float] = (2, 3, 4),
    seed: int = 0,
    max_images: int = 60,
) -> tuple[list[np.ndarray], str]:
    """Network inputs for int8 calibration, as the training data makes them.

    Luminance of HR images (``folders``, e.g. ``../shared/data/train``; synthetic
    pictures when None or missing) is degraded with :func:`vdsr_tf.data.degrade`
    (Matlab bicubic down and up, the training degradation) at each scale, and
    ``count`` random ``size`` x ``size`` crops are taken, cycling through the scales.

    Returns (list of float32 (1, size, size, 1) arrays, description of the source).
    """
    from vdsr_tf import data

    rng = np.random.default_rng(seed)
    files = []
    if folders:
        try:
            files = data.list_images(folders)
        except ValueError:
            files = []
    if files:
        chosen = sorted(rng.choice(len(files), size=min(max_images, len(files)), replace=False))
        planes = [data.load_luma(files[i]) for i in chosen]
        source = f"{len(planes)} of {len(files)} images under {folders}"
    else:
        planes = [_synthetic_luma(3 * size, seed + i) for i in range(8)]
        source = "synthetic images (no training data found)"
    degraded = {}
    patches = []
    for i in range(count):
        j, scale = int(rng.integers(len(planes))), scales[i % len(scales)]
        key = (j, scale)
        if key not in degraded:
            degraded[key] = data.degrade(planes[j], scale)[0]
        x = degraded[key]
        if x is None or min(x.shape) < size:
            continue
        r = int(rng.integers(0, x.shape[0] - size + 1))
        c = int(rng.integers(0, x.shape[1] - size + 1))
        patches.append(np.ascontiguousarray(x[r:r + size, c:c + size], np.float32)[None, :, :, None])
    if not patches:
        raise ValueError(f"no calibration patch of {size}x{size} could be cut from {source}")
    return patches, f"{len(patches)} patches {size}x{size} at x{'/x'.join(f'{s:g}' for s in scales)} from {source}"


# ---------------------------------------------------------------------------- TFLite

def convert_tflite(saved_model_dir, precision: str, *, representative: Sequence[np.ndarray] | None = None,
                   float_layers: Sequence[str] = INT8_FLOAT_LAYERS) -> bytes:
    """Converts the ``serve`` signature of a SavedModel to a TFLite flatbuffer.

    Args:
      saved_model_dir: from :func:`export_saved_model`.
      precision: "float32", "float16" (float16 weights), "dynamic_int8" (int8 weights,
        activations quantized at run time), "int8" (full integer, needs
        ``representative``) or "int16x8" (int16 activations, int8 weights; slow on CPU).
      representative: calibration inputs (float32 (1, h, w, 1) arrays) for int8/int16x8.
      float_layers: for "int8", layer names kept in float32 (default
        :data:`INT8_FLOAT_LAYERS`; empty: every layer int8).
    Only TFLite builtin ops are allowed: a graph that would need Flex ops fails here.
    Input and output tensors stay float32 for every precision.
    """
    import tensorflow as tf

    _check_precision(precision, LUMA_PRECISIONS + EXTRA_PRECISIONS)
    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=[_SERVE])
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if precision == "float16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif precision == "dynamic_int8":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif precision in ("int8", "int16x8"):
        if not representative:
            raise ValueError(f"precision {precision!r} needs representative calibration inputs")
        samples = list(representative)

        def gen():
            for x in samples:
                yield [np.asarray(x, np.float32)]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
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

    names = [d["name"] for d in Interpreter(model_content=convert_tflite(saved_model_dir, "float32"))
             .get_tensor_details()]
    deny = sorted({n for n in names for layer in float_layers if ";" in n and f"/{layer}_1/" in n})
    found = {layer for layer in float_layers if any(f"/{layer}_1/" in n for n in deny)}
    if found != set(float_layers):
        raise ValueError(f"layers {sorted(set(float_layers) - found)} to keep in float were "
                         f"not found among the converted model's ops")
    opts = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=deny)
    with warnings.catch_warnings():  # the debugger itself still uses tf.lite.Interpreter
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

    h, w = parse_size(size)
    from vdsr_tf.inference import check_scale

    scale = check_scale(scale)

    def pipeline(rgb):
        x = tf.cast(rgb, tf.float32) / 255.0
        ycc = matlab.rgb2ycbcr_tf(x)
        up = matlab.imresize_tf(ycc, scale)  # (1, H', W', 3), constant tap tables
        y = model(up[..., :1], training=False)
        out = matlab.ycbcr2rgb_tf(tf.concat([y, up[..., 1:]], axis=-1))
        out = tf.floor(tf.clip_by_value(out * 255.0, 0.0, 255.0) + 0.5)
        return {"output": tf.cast(out, tf.uint8)}

    spec = tf.TensorSpec((1, h, w, 3), tf.uint8, name="input")
    return pipeline, spec


def export_e2e_tflite(model, path, size: tuple[int, int], scale: float, *, precision: str = "float32") -> Path:
    """Writes the end-to-end uint8 RGB model (see :func:`build_e2e_function`) to ``path``.

    Goes through a temporary SavedModel (Keras ``ExportArchive``) like the other
    TFLite files. ``precision``: "float32" or "float16" (float16 weights).
    """
    import keras
    import tensorflow as tf

    _check_precision(precision, ("float32", "float16"))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fn, spec = build_e2e_function(model, size, scale)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(_SERVE, fn, input_signature=[spec])
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=atomic.temp_prefix(path) + "sm.") as tmp:
        archive.write_out(os.path.join(tmp, "sm"), verbose=False)
        conv = tf.lite.TFLiteConverter.from_saved_model(os.path.join(tmp, "sm"), signature_keys=[_SERVE])
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if precision == "float16":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.target_spec.supported_types = [tf.float16]
        data = conv.convert()
    atomic.write_bytes(path, data)
    return path


# ---------------------------------------------------------------------------- test images

def _read_rgb_or_grey(path) -> np.ndarray:
    from vdsr_tf import imageio

    image = imageio.read_image(path)
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image), dtype=np.uint8)


def measurement_images(data=None, scales: Iterable[int] = (2, 3, 4), *, synthetic_size: int = 96,
                synthetic_count: int = 3) -> tuple[list[tuple[int, str, np.ndarray, np.ndarray]], str]:
    """(scale, name, HR uint8, LR uint8) tuples for measuring, and a description.

    ``data``: a benchmark folder (Huang layout or plain HR images, via
    :func:`vdsr_tf.evaluation.list_pairs`; LR made with Matlab bicubic when absent).
    When None or missing, small synthetic RGB pictures are used.
    """
    from vdsr_tf import evaluation

    scales = [int(s) for s in scales]
    out = []
    if data is not None and Path(data).is_dir():
        for s in scales:
            for pair in evaluation.list_pairs(data, s):
                hr = matlab.modcrop(_read_rgb_or_grey(pair.hr), s)
                lr = _read_rgb_or_grey(pair.lr) if pair.lr is not None else matlab.imresize(hr, 1.0 / s)
                out.append((s, pair.name, hr, lr))
        return out, Path(data).resolve().name
    for s in scales:
        for i in range(synthetic_count):
            grey = [_synthetic_luma(synthetic_size, 100 + 3 * i + c) for c in range(3)]
            hr = matlab.modcrop(np.stack(grey, axis=-1), s)
            out.append((s, f"synthetic_{i}", hr, matlab.imresize(hr, 1.0 / s)))
    return out, f"synthetic ({synthetic_count} RGB {synthetic_size}x{synthetic_size} per scale)"


def _fit(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Crops (centre) or mirror-pads an image to exactly ``size``; grey becomes RGB."""
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    h, w = size
    out = img
    for axis, n in ((0, h), (1, w)):
        m = out.shape[axis]
        if m >= n:
            start = (m - n) // 2
            out = np.take(out, np.arange(start, start + n), axis=axis)
        else:
            pad = [(0, 0)] * out.ndim
            pad[axis] = (0, n - m)
            out = np.pad(out, pad, mode="symmetric")
            while out.shape[axis] < n:  # tiny images: repeat mirroring
                pad[axis] = (0, n - out.shape[axis])
                out = np.pad(out, pad, mode="symmetric")
    return np.ascontiguousarray(out)


# ---------------------------------------------------------------------------- measuring

class _Recorder:
    """Wraps a predictor and keeps the last output (super_resolve calls it once per image)."""

    def __init__(self, predictor):
        self.predictor = predictor
        self.receptive_radius = getattr(predictor, "receptive_radius", 20)
        self.output = None

    def __call__(self, x):
        self.output = np.asarray(self.predictor(x), np.float32)
        return self.output


def _mean_by_scale(values: dict[int, list[float]]) -> dict[str, float]:
    return {str(s): float(np.mean(v)) for s, v in sorted(values.items())}


def measure(out_dir, manifest: dict, model, images, *, progress: Callable[[str], None] | None = None) -> dict:
    """Runs every artefact of ``manifest`` on ``images`` next to the Keras ``model``.

    Luminance artefacts go through :func:`vdsr_tf.super_resolve` whole-image
    (``model=`` the artefact's predictor), so the PSNR is the protocol's (Y of the
    uint8 RGB result, shave = scale); the network outputs are compared with Keras'
    on the same inputs (max |diff| on [0, 1]). The end-to-end model runs on each LR
    image cropped or mirror-padded to its input size, next to ``super_resolve`` with
    Keras on the same uint8 picture.

    Returns {artefact name: measured dict} (an ``error`` key when it could not run).
    """
    from vdsr_tf import backends, inference, metrics

    say = progress or (lambda line: None)
    out_dir = Path(out_dir)
    keras_pred = inference.KerasPredictor(model)
    refs = []
    keras_psnr: dict[int, list[float]] = {}
    for s, name, hr, lr in images:
        rec = _Recorder(keras_pred)
        sr = inference.super_resolve(lr, s, model=rec, tile=None)
        p = metrics.score(sr, hr, shave=s)[0]
        keras_psnr.setdefault(s, []).append(p)
        refs.append(rec.output)
    say(f"keras: PSNR {_fmt_scales(_mean_by_scale(keras_psnr))}")
    results = {}
    for art in manifest["artifacts"]:
        path = out_dir / art["file"]
        try:
            if art["kind"] == "e2e":
                results[art["name"]] = _measure_e2e(path, art, keras_pred, images)
            else:
                backend = "saved_model" if art["format"] == "tf_saved_model" else "tflite"
                # verify=False: the exporter measures files it has just written (their
                # manifest comes last), and verify() has checked every hash before this.
                predictor = backends.get_predictor(backend, path, verify=False)
                psnrs: dict[int, list[float]] = {}
                diff = 0.0
                for (s, name, hr, lr), ref in zip(images, refs):
                    rec = _Recorder(predictor)
                    sr = inference.super_resolve(lr, s, model=rec, tile=None)
                    psnrs.setdefault(s, []).append(metrics.score(sr, hr, shave=s)[0])
                    diff = max(diff, float(np.max(np.abs(rec.output - ref))))
                art_psnr = _mean_by_scale(psnrs)
                ref_psnr = _mean_by_scale(keras_psnr)
                drops = {s: ref_psnr[s] - art_psnr[s] for s in art_psnr}
                results[art["name"]] = {
                    "max_abs_diff": diff,
                    "psnr": art_psnr,
                    "psnr_keras": ref_psnr,
                    "psnr_drop": float(np.mean(list(drops.values()))),
                    "psnr_drop_worst_scale": float(max(drops.values())),
                }
        except Exception as e:  # a damaged file must be reported, not crash the check
            results[art["name"]] = {"error": f"{type(e).__name__}: {e}"}
        say(f"{art['name']}: {_describe(results[art['name']])}")
    return results


def _measure_e2e(path: Path, art: dict, keras_pred, images) -> dict:
    from vdsr_tf import backends, inference

    size = tuple(art["inputs"][0]["shape"][1:3])
    scale = float(art["scale"])
    e2e = backends.TFLiteModel(path, verify=False)
    within, total, worst = 0, 0, 0
    # The LR pictures made for the model's own scale when there are some, else all of them.
    own = [im for im in images if im[0] == scale] or list(images)
    for s, name, hr, lr in own:
        img = _fit(lr, size)
        out = e2e(img[None])[0].astype(np.int16)
        ref = inference.super_resolve(img, scale, model=keras_pred, tile=None).astype(np.int16)
        if out.shape != ref.shape:
            raise ValueError(f"end-to-end output {out.shape} != super_resolve {ref.shape}")
        d = np.abs(out - ref)
        within += int(np.sum(d <= LIMITS["e2e_levels"]))
        total += d.size
        worst = max(worst, int(d.max()))
    return {"fraction_within_1_level": within / total, "max_abs_diff_levels": worst,
            "images": "LR test pictures cropped/mirror-padded to the input size"}


def _fmt_scales(d: dict) -> str:
    return ", ".join(f"x{s} {v:.3f}" for s, v in d.items())


def _describe(m: dict) -> str:
    if "error" in m:
        return f"ERROR {m['error']}"
    if "fraction_within_1_level" in m:
        return (f"{100 * m['fraction_within_1_level']:.3f}% of pixels within 1 level of "
                f"super_resolve, max {m['max_abs_diff_levels']} levels")
    return (f"max|diff| {m['max_abs_diff']:.2e}, PSNR {_fmt_scales(m['psnr'])}, "
            f"drop {m['psnr_drop']:+.4f} dB (worst scale {m['psnr_drop_worst_scale']:+.4f})")


def check(art: dict, m: dict) -> tuple[bool, str]:
    """Applies :data:`LIMITS` to one artefact's measurement: (passed, reason)."""
    if "error" in m:
        return False, f"could not run: {m['error']}"
    precision = art["precision"]
    if art["kind"] == "e2e":
        ok = m["fraction_within_1_level"] >= LIMITS["e2e_fraction"]
        return ok, (f"{100 * m['fraction_within_1_level']:.3f}% within {LIMITS['e2e_levels']} level "
                    f"(need {100 * LIMITS['e2e_fraction']:.1f}%)")
    if precision == "float32":
        ok = m["max_abs_diff"] <= LIMITS["max_abs_diff"]
        return ok, f"max|diff| {m['max_abs_diff']:.2e} (limit {LIMITS['max_abs_diff']:g})"
    if precision == "float16":
        ok = m["psnr_drop_worst_scale"] <= LIMITS["float16_psnr_drop"]
        return ok, (f"PSNR drop {m['psnr_drop_worst_scale']:+.4f} dB at the worst scale "
                    f"(limit {LIMITS['float16_psnr_drop']} dB)")
    drop = m["psnr_drop"]
    target = "target met" if drop <= LIMITS["int8_psnr_drop_target"] else "ABOVE the target"
    ok = drop <= LIMITS["int8_psnr_drop_broken"]
    return ok, (f"PSNR drop {drop:+.4f} dB ({target} {LIMITS['int8_psnr_drop_target']} dB; "
                f"broken above {LIMITS['int8_psnr_drop_broken']} dB)")


# ---------------------------------------------------------------------------- manifest

def _weights_info(weights, model) -> dict:
    from vdsr_tf.weights import BUNDLED_WEIGHTS

    if weights is None:
        path, source = BUNDLED_WEIGHTS, "bundled"
    else:
        path, source = Path(weights), "file"
    convs = [l for l in model.layers if l.__class__.__name__ == "Conv2D"]
    return {
        "source": source,
        "file": path.name,
        # The bundled file is named relative to the package's parent, so the manifest does not
        # carry this machine's paths.
        "path": (path.resolve().relative_to(Path(__file__).resolve().parent.parent).as_posix()
                 if source == "bundled" else str(path.resolve())),
        "sha256": integrity.sha256(path),
        "depth": len(convs),
        "filters": int(convs[0].filters) if convs else None,
        "parameters": int(model.count_params()),
    }


def _luma_spec(shape) -> list[dict]:
    return [{"name": "input", "shape": shape, "dtype": "float32", "range": [0.0, 1.0],
             "meaning": "Matlab-bicubic-upscaled Matlab YCbCr luminance (Y/255)"}]


def _luma_out(shape) -> list[dict]:
    return [{"name": "output", "shape": shape, "dtype": "float32", "range": "about [0, 1], unclipped",
             "meaning": "super-resolved luminance; clip to [0, 1] before x255"}]


_INTERNAL = {
    "float32": "float32 weights and activations",
    "float16": "float16 weights, dequantized to float32 at load; float32 activations",
    "dynamic_int8": "int8 weights (per channel); activations quantized to int8 on the fly per tensor",
    "int8": "int8 weights (per channel) and int8 activations (per tensor, calibrated), except "
            "the layers in float_layers (float32); float32 input/output, QUANTIZE/DEQUANTIZE inside",
    "int16x8": "int8 weights, int16 activations (reference kernels: slow on CPU)",
}


def _signature(path: Path) -> list[int]:
    from vdsr_tf import backends

    return list(backends.TFLiteModel(path, num_threads=1, verify=False).shape_signature)


def _tflite_ops(path: Path) -> dict:
    from vdsr_tf import backends

    return backends.TFLiteModel(path, num_threads=1, verify=False).op_counts()


def export_all(
    out_dir,
    *,
    weights=None,
    precisions: Sequence[str] = LUMA_PRECISIONS,
    e2e_size: tuple[int, int] | str | None = (256, 256),
    e2e_scale: float = 2.0,
    e2e_precision: str = "float32",
    calibration_data=None,
    calibration_count: int = 240,
    calibration_size: int = 64,
    test_data=None,
    scales: Sequence[int] = (2, 3, 4),
    int8_float_layers: Sequence[str] = INT8_FLOAT_LAYERS,
    measure_parity: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Writes the SavedModel, the TFLite files and manifest.json into ``out_dir``.

    Args:
      out_dir: folder to write into (created; other files in it are left alone).
      weights: weights file for :func:`vdsr_tf.weights.load_model`; None: the bundled ones.
      precisions: TFLite precisions of the luminance network (:data:`LUMA_PRECISIONS`,
        plus "int16x8" on request).
      e2e_size: (H, W) or "HxW" input of the end-to-end model; None skips it.
      e2e_scale: its scale; e2e_precision: "float32" or "float16".
      calibration_data: HR training image folder(s) for int8 calibration (synthetic if None).
      test_data: benchmark folder for the measurements (synthetic if None), at ``scales``.
      int8_float_layers: layers the "int8" file keeps in float32 (see :data:`INT8_FLOAT_LAYERS`).
      measure_parity: False skips the measurements (e.g. for a quick benchmark export).
    Returns the manifest (also written to ``out_dir/manifest.json``, last, atomically).
    """
    from vdsr_tf import weights as weights_mod

    say = progress or (lambda line: None)
    for p in precisions:
        _check_precision(p, LUMA_PRECISIONS + EXTRA_PRECISIONS)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = weights_mod.load_model(weights)
    info = _weights_info(weights, model)
    say(f"weights: {info['source']} {info['file']} ({info['parameters']} parameters)")

    artifacts = []
    sm = export_saved_model(model, out_dir / SAVED_MODEL_DIR)
    say(f"wrote {sm}")
    artifacts.append({
        "name": "saved_model", "kind": "luma", "file": SAVED_MODEL_DIR, "format": "tf_saved_model",
        "precision": "float32", "signature": _SERVE,
        "inputs": _luma_spec([-1, -1, -1, 1]), "outputs": _luma_out([-1, -1, -1, 1]),
        "internal": _INTERNAL["float32"],
    })
    calibration = None
    for precision in precisions:
        rep = None
        if precision in ("int8", "int16x8"):
            if calibration is None:
                patches, source = calibration_patches(calibration_data, count=calibration_count,
                                                      size=calibration_size, scales=scales)
                calibration = {"patches": patches, "source": source}
                say(f"calibration: {source}")
            rep = calibration["patches"]
        path = out_dir / tflite_filename(precision)
        atomic.write_bytes(path, convert_tflite(sm, precision, representative=rep,
                                                float_layers=int8_float_layers))
        say(f"wrote {path}")
        art = {
            "name": f"tflite_{precision}", "kind": "luma", "file": path.name, "format": "tflite",
            "precision": precision, "inputs": _luma_spec(_signature(path)),
            "outputs": _luma_out(_signature(path)), "internal": _INTERNAL[precision],
        }
        if precision == "int8":
            art["float_layers"] = list(int8_float_layers)
        artifacts.append(art)
    if e2e_size is not None:
        size = parse_size(e2e_size)
        path = out_dir / e2e_filename(size, e2e_scale)
        export_e2e_tflite(model, path, size, e2e_scale, precision=e2e_precision)
        say(f"wrote {path}")
        out_hw = [matlab.output_length(size[0], e2e_scale), matlab.output_length(size[1], e2e_scale)]
        artifacts.append({
            "name": "tflite_e2e", "kind": "e2e", "file": path.name, "format": "tflite",
            "precision": e2e_precision, "scale": float(e2e_scale),
            "inputs": [{"name": "input", "shape": [1, size[0], size[1], 3], "dtype": "uint8",
                        "range": [0, 255], "meaning": "RGB picture (the low-resolution image)"}],
            "outputs": [{"name": "output", "shape": [1] + out_hw + [3], "dtype": "uint8",
                         "range": [0, 255],
                         "meaning": f"RGB picture super-resolved x{e2e_scale:g} (VDSR on Matlab Y, "
                                    "Matlab bicubic chroma)"}],
            "internal": _INTERNAL[e2e_precision] + "; Matlab YCbCr and bicubic as float32 ops",
        })
    for art in artifacts:
        path = out_dir / art["file"]
        art["size_bytes"] = _size(path)
        art["sha256"] = integrity.sha256(path)
        if art["format"] == "tflite":
            art["ops"] = _tflite_ops(path)
        art["weights"] = info["file"]

    manifest = {
        "format": MANIFEST_FORMAT,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
        "weights": info,
        "calibration": calibration["source"] if calibration else None,
        "limits": dict(LIMITS),
        "artifacts": artifacts,
    }
    if measure_parity:
        images, data_name = measurement_images(test_data, scales)
        say(f"measuring on {data_name} at x{'/x'.join(str(s) for s in scales)} ...")
        measured = measure(out_dir, manifest, model, images, progress=say)
        for art in artifacts:
            m = measured[art["name"]]
            ok, reason = check(art, m)
            art["measured"] = dict(m, data=data_name, passed=ok, summary=reason)
    atomic.write_json(out_dir / MANIFEST, manifest)
    say(f"wrote {out_dir / MANIFEST}")
    return manifest


def _versions() -> dict:
    import keras
    import tensorflow as tf

    import vdsr_tf

    try:
        from importlib.metadata import version

        litert = version("ai-edge-litert")
    except Exception:  # not installed as a distribution
        litert = None
    return {"vdsr_tf": vdsr_tf.__version__, "tensorflow": tf.__version__,
            "keras": keras.__version__, "ai_edge_litert": litert}


def read_manifest(out_dir) -> dict:
    """Reads and sanity-checks ``out_dir/manifest.json``."""
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no {MANIFEST} in {str(Path(out_dir))!r}: run tools/export.py first")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{str(path)!r} is not valid JSON: {e}") from e
    if manifest.get("format") != MANIFEST_FORMAT or "artifacts" not in manifest:
        raise ValueError(f"{str(path)!r} is not a {MANIFEST_FORMAT} manifest")
    return manifest


def verify(out_dir, *, weights=None, test_data=None, scales: Sequence[int] | None = None,
           progress: Callable[[str], None] | None = None) -> tuple[bool, list[dict]]:
    """Re-measures every artefact listed in ``out_dir/manifest.json`` against Keras.

    Every artefact's sha256 is checked first (seconds): when any differs from the manifest's,
    nothing is measured (minutes) and the result is returned at once, the changed files
    failing and the others marked not measured (``passed`` None).

    Args:
      weights: the reference weights; default: those the manifest names (their sha256
        must match the manifest's, else the comparison would be meaningless).
      test_data: benchmark folder (synthetic images when None or missing).
      scales: integer scales to measure (default 2, 3, 4).

    Returns (all passed, one row per artefact: name, file, passed, summary, measured,
    changed = the file is missing or its sha256 differs from the manifest's).
    """
    from vdsr_tf import weights as weights_mod

    say = progress or (lambda line: None)
    out_dir = Path(out_dir)
    manifest = read_manifest(out_dir)
    changed = {}
    for art in manifest["artifacts"]:
        path = out_dir / art["file"]
        if not path.exists():
            changed[art["name"]] = "FILE MISSING"
        elif integrity.sha256(path) != art.get("sha256"):
            changed[art["name"]] = (f"FILE CHANGED since export: sha256 {integrity.sha256(path)[:12]}... "
                                    f"differs from the manifest's {str(art.get('sha256'))[:12]}...")
    if changed:
        say(f"{len(changed)} of {len(manifest['artifacts'])} artefacts differ from the manifest: "
            "not measuring")
        rows = [{"name": art["name"], "file": art["file"], "passed": False if art["name"] in changed else None,
                 "changed": art["name"] in changed,
                 "summary": changed.get(art["name"], "sha256 matches the manifest; not measured"),
                 "measured": None} for art in manifest["artifacts"]]
        return False, rows
    info = manifest["weights"]
    if weights is None:
        if info["source"] == "bundled":
            weights_path, model = weights_mod.BUNDLED_WEIGHTS, weights_mod.load_model()
        else:
            weights_path = Path(info["path"])
            model = weights_mod.load_model(weights_path)
    else:
        weights_path, model = Path(weights), weights_mod.load_model(weights)
    sha = integrity.sha256(weights_path)
    if sha != info["sha256"]:
        raise ValueError(f"reference weights {str(weights_path)!r} (sha256 {sha[:12]}...) are not the "
                         f"weights the exports came from ({info['file']}, sha256 {info['sha256'][:12]}...)")
    if scales is None:
        scales = (2, 3, 4)
    images, data_name = measurement_images(test_data, scales)
    say(f"verifying {len(manifest['artifacts'])} artefacts on {data_name} at x{'/x'.join(map(str, scales))}")
    measured = measure(out_dir, manifest, model, images, progress=say)
    rows, all_ok = [], True
    for art in manifest["artifacts"]:
        m = measured[art["name"]]
        ok, reason = check(art, m)
        all_ok &= ok
        rows.append({"name": art["name"], "file": art["file"], "passed": ok, "changed": False,
                     "summary": reason, "measured": m})
    return all_ok, rows
