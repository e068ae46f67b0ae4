"""The reference device pipeline: one static tile model, numpy and LiteRT. An app ports this.

A phone's GPU delegate, NNAPI and most NPUs run static shapes only. VDSR's network does not
depend on the scale (the bicubic comes before it), so one tile model of T x T luminance pixels
(``exports/vdsr_tile<T>_<precision>.tflite``) serves every scale and every picture size. The
exports README's Kotlin section follows these steps one by one:

1. Colour: RGB in [0, 1] to Matlab YCbCr.
2. Bicubic: Matlab's imresize of Y, Cb and Cr to ceil(scale * H) x ceil(scale * W).
3. Tiles (:func:`windows`, :func:`run_tiles`): Y is cut into T x T windows, T - 2 * halo apart
   along each axis, where halo is the network's receptive radius (20: its 20 3x3 convolutions).
   A window reaching past the picture is filled with zeros, and the model's second input, the
   mask, is 1 on the picture and 0 past it. The model multiplies every hidden layer by the mask,
   so past the picture each convolution sees zeros, exactly as on the whole picture, and edge
   windows need no special case. Each window keeps its middle: it drops ``halo`` pixels on
   each side that lies inside the picture, where the window's own edge would show.
4. Merge: the network's Y with the bicubic Cb and Cr, back to RGB, clipped to [0, 1].

Float32 tiles give :func:`vdsr_tf.super_resolve`'s result to float rounding (tested to 1e-5);
the float16 and int8 tiles give it within their manifest's measured PSNR drop.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from vdsr_tf.core import matlab
from vdsr_tf.device.litert import op_counts
from vdsr_tf.nn.quiet import stderr_silenced

__all__ = ["SIGNATURE", "TileModel", "TilePredictor", "run_tiles", "upscale", "windows"]

SIGNATURE = "serve"
"""The tile model's signature: inputs ``input`` (1, T, T, 1) float32 luminance in [0, 1] and
``mask`` (1, T, T, 1) float32 (1 on the picture, 0 past it); output ``output`` (1, T, T, 1)."""


class TileModel:
    """A static tile model in a LiteRT interpreter.

    Attributes:
      tile: T, the side of the square tile the model takes.
      halo: pixels each output pixel sees each way (the number of 3x3 convolutions).
    ``__call__(tile, mask)`` takes and returns float32 (1, T, T, 1) arrays.
    """

    def __init__(self, path, *, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"tile model not found: {str(self.path)!r}")
        threads = num_threads or os.cpu_count() or 1
        try:
            self._interpreter = Interpreter(model_path=str(self.path), num_threads=threads)
            with stderr_silenced():  # "Created TensorFlow Lite XNNPACK delegate for CPU."
                self._run = self._interpreter.get_signature_runner(SIGNATURE)
            inputs = self._run.get_input_details()
            ops = op_counts(self._interpreter)
        except Exception as e:  # a damaged file or a model with another signature
            raise ValueError(f"{str(self.path)!r} is not a tile model ({type(e).__name__}: {e})") from e
        shapes = {name: tuple(int(d) for d in inputs[name]["shape"]) for name in ("input", "mask") if name in inputs}
        side = shapes.get("input", (0, 0))[1]
        if len(shapes) != 2 or shapes["input"] != (1, side, side, 1) or shapes["mask"] != shapes["input"]:
            raise ValueError(f"{str(self.path)!r} is not a tile model: it needs inputs 'input' and 'mask' "
                             f"of one static shape (1, T, T, 1), and has {shapes or sorted(inputs)}")
        self.tile = side
        self.halo = ops.get("CONV_2D", 0)  # 3x3 convolutions: one pixel of reach each
        if self.tile <= 2 * self.halo:
            raise ValueError(f"{str(self.path)!r}: a {self.tile}-pixel tile keeps nothing inside its "
                             f"{self.halo}-pixel halo")

    def __call__(self, tile: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self._run(input=tile, mask=mask)["output"]


def windows(length: int, tile: int, halo: int) -> list[tuple[int, int, int]]:
    """The windows along one axis of ``length`` pixels: ``(start, keep_start, keep_stop)`` each.

    A window covers ``[start, start + tile)`` (past ``length`` it is padding) and its result is
    kept on ``[keep_start, keep_stop)``; the kept ranges cover ``[0, length)`` once. A kept pixel
    is at least ``halo`` from every window edge inside the picture.
    """
    step = tile - 2 * halo
    if step < 1:
        raise ValueError(f"a {tile}-pixel tile keeps nothing inside a {halo}-pixel halo")
    spans = []
    start, keep_start = 0, 0
    while start + tile - halo < length:  # this window's kept part stops short of the picture's end
        spans.append((start, keep_start, start + tile - halo))
        start, keep_start = start + step, start + tile - halo
    spans.append((start, keep_start, length))
    return spans


def run_tiles(y: np.ndarray, model: TileModel,
              progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """The network on bicubic-upscaled luminance ``y`` (H, W) in [0, 1], tile by tile: (H, W)
    float32, unclipped. ``progress(done, total)`` is called after each tile."""
    height, width = y.shape
    size, halo = model.tile, model.halo
    rows, cols = windows(height, size, halo), windows(width, size, halo)
    out = np.empty((height, width), np.float32)
    tile = np.zeros((1, size, size, 1), np.float32)
    mask = np.zeros((1, size, size, 1), np.float32)
    done, total = 0, len(rows) * len(cols)
    for r0, keep_r0, keep_r1 in rows:
        for c0, keep_c0, keep_c1 in cols:
            part = y[r0:r0 + size, c0:c0 + size]
            h, w = part.shape
            tile.fill(0.0)
            mask.fill(0.0)
            tile[0, :h, :w, 0] = part
            mask[0, :h, :w, 0] = 1.0
            result = model(tile, mask)[0, :, :, 0]
            out[keep_r0:keep_r1, keep_c0:keep_c1] = result[keep_r0 - r0:keep_r1 - r0, keep_c0 - c0:keep_c1 - c0]
            done += 1
            if progress is not None:
                progress(done, total)
    return out


def upscale(rgb: np.ndarray, scale: float, model: TileModel,
            progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Super-resolves float RGB (H, W, 3) or grey (H, W) in [0, 1] by ``scale`` (>= 1, fractional
    allowed): float32 (ceil(scale * H), ceil(scale * W)[, 3]) in [0, 1]."""
    img = np.asarray(rgb, dtype=np.float64)
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[-1] == 3)):
        raise ValueError(f"expected float RGB (H, W, 3) or grey (H, W) in [0, 1], got shape {img.shape}")
    if img.ndim == 2:
        y = matlab.imresize(img, scale).astype(np.float32)
        return np.clip(run_tiles(y, model, progress), 0.0, 1.0)
    ycc = matlab.rgb2ycbcr(img)
    up = np.stack([matlab.imresize(ycc[:, :, c], scale) for c in range(3)], axis=-1)
    up[:, :, 0] = run_tiles(up[:, :, 0].astype(np.float32), model, progress)
    return np.clip(matlab.ycbcr2rgb(up), 0.0, 1.0).astype(np.float32)


class TilePredictor:
    """A tile model as a whole-image predictor (float32 (1, H, W, 1) -> the same), so the
    exporter measures tile files with the same code as every other export."""

    def __init__(self, path, *, num_threads: int | None = None):
        self.model = TileModel(path, num_threads=num_threads)
        self.receptive_radius = self.model.halo
        self.description = f"tile model {str(self.model.path)!r}"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return run_tiles(np.asarray(x, np.float32)[0, :, :, 0], self.model)[None, :, :, None]
