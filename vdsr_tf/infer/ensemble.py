"""The geometric self-ensemble ("VDSR+"): a predictor run on the eight flips and rotations of
its input, each output turned back and the eight averaged.

The trick of EDSR+ and RCAN+ (Lim et al. 2017; Timofte et al. 2016): a network trained with
rotation/flip augmentation makes slightly different errors on each orientation, and their
mean is closer to the truth. It costs eight runs of the network. Wrapping the predictor, not
the image, keeps tiling exact: a tile's halo is the same context whichever way it is turned.
"""
from __future__ import annotations

import numpy as np

__all__ = ["TRANSFORMS", "EnsemblePredictor"]

TRANSFORMS = tuple((turns, flip) for flip in (False, True) for turns in range(4))
"""The dihedral group of the square: (quarter turns, mirrored first)."""


def _forward(x: np.ndarray, turns: int, flip: bool) -> np.ndarray:
    y = x[:, :, ::-1] if flip else x
    return np.ascontiguousarray(np.rot90(y, turns, axes=(1, 2)))


def _backward(y: np.ndarray, turns: int, flip: bool) -> np.ndarray:
    y = np.rot90(y, -turns, axes=(1, 2))
    return y[:, :, ::-1] if flip else y


class EnsemblePredictor:
    """``predictor`` (float32 (1, h, w, 1) in and out) as its x8 self-ensemble; the same
    receptive radius, so the same tiling halo."""

    def __init__(self, predictor):
        if not callable(predictor):
            raise TypeError(f"predictor must be callable, got {type(predictor).__name__}")
        self.predictor = predictor
        radius = getattr(predictor, "receptive_radius", None)
        if radius is not None:
            self.receptive_radius = radius
        inner = getattr(predictor, "description", None) or type(predictor).__name__
        self.description = f"{inner}, x8 self-ensemble"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        total = np.zeros(x.shape, np.float32)
        for turns, flip in TRANSFORMS:
            total += _backward(np.asarray(self.predictor(_forward(x, turns, flip)), np.float32), turns, flip)
        return total / np.float32(len(TRANSFORMS))
