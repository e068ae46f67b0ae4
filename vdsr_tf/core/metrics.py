"""PSNR and SSIM exactly as the VDSR paper's evaluation (Huang et al.'s framework).

Scoring protocol (docs/protocol.md step 5): both the super-resolved and the ground-truth
image go to luminance with Matlab's ``rgb2ycbcr`` on uint8 (rounded to integers;
grey images are used raw) -- see :func:`scoring_luma` -- then ``shave`` pixels are
dropped off every border and

* PSNR = 10 log10(255^2 / MSE), in float64;
* SSIM = Wang et al.'s original ``ssim_index.m`` (2003): 11x11 Gaussian window with
  sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, 'valid' filtering, mean of the map,
  no automatic downsampling (that came with the later ``ssim.m``).

SSIM is a direct float64 numpy implementation (separable Gaussian; it agrees with a
literal 2-D ``filter2`` transcription of ``ssim_index.m`` to 1e-14 on Set5).
``tf.image.ssim`` computes the same formula but always casts to float32 (even float64
input): on Set5 (shipped LR upscaled, Y, shaved) it is within 1.7e-5 of
``ssim_index``, but biased low on every image (the local variances are differences
of large float32 sums). Scoring runs on numpy arrays anyway, so the exact float64
version is used and ``tf.image.ssim`` only serves as a cross-check in the tests.
"""
from __future__ import annotations

import numpy as np

from vdsr_tf.core import matlab

__all__ = ["min_scored_side", "psnr", "ssim", "scoring_luma", "score"]

_DATA_RANGE = 255.0
_SSIM_WINDOW = 11
_SSIM_SIGMA = 1.5
_SSIM_K1 = 0.01
_SSIM_K2 = 0.03


def _pair(sr, hr, shave: int, data_range) -> tuple[np.ndarray, np.ndarray]:
    """Validates a pair of luminance planes and returns them shaved, as float64.

    Float planes that all lie in [0, 1] scored with the default range of 255 are refused:
    they are nearly always [0, 1] images, and their PSNR would be about 48 dB too high,
    silently (a 0..255 picture that dark is black to the eye)."""
    if isinstance(shave, bool) or not isinstance(shave, (int, np.integer)) or shave < 0:
        raise ValueError(f"shave must be an int >= 0, got {shave!r}")
    if (isinstance(data_range, bool) or not isinstance(data_range, (int, float, np.integer, np.floating))
            or not np.isfinite(data_range) or data_range <= 0):
        raise ValueError(f"data_range must be a number > 0 (255 for 0..255 levels, 1.0 for [0, 1]), "
                         f"got {data_range!r}")
    arrays = []
    for name, a in (("sr", sr), ("hr", hr)):
        a = np.asarray(a)
        if a.dtype == object or not (
            np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)
        ):
            raise TypeError(f"{name} must be a numeric array, got dtype {a.dtype}")
        if a.ndim == 3 and a.shape[-1] == 1:
            a = a[..., 0]
        if a.ndim != 2:
            raise ValueError(
                f"{name} must be a single luminance plane (H, W) or (H, W, 1), "
                f"got shape {a.shape}; convert colour images with scoring_luma first"
            )
        a = a.astype(np.float64)
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or inf values")
        arrays.append(a)
    a, b = arrays
    if a.shape != b.shape:
        raise ValueError(f"sr and hr shapes differ: {a.shape} vs {b.shape}")
    if (data_range == _DATA_RANGE and all(np.issubdtype(np.asarray(x).dtype, np.floating) for x in (sr, hr))
            and a.size and min(a.min(), b.min()) >= 0 and 0 < max(a.max(), b.max()) <= 1):
        raise ValueError("sr and hr are floats in [0, 1], but the range is 255: pass data_range=1.0 "
                         "(or scale them to 0..255)")
    return matlab.shave(a, int(shave)), matlab.shave(b, int(shave))


def psnr(sr, hr, *, shave: int = 0, data_range: float = _DATA_RANGE) -> float:
    """Peak signal-to-noise ratio in dB, 10 log10(data_range^2 / MSE).

    ``sr``, ``hr``: (H, W) or (H, W, 1) arrays of luminance (any integer or float dtype;
    computed in float64), on the 0..255 scale unless ``data_range`` says otherwise (1.0 for
    [0, 1] floats, which the default refuses). ``shave`` pixels are dropped off every border
    of both first. Returns ``inf`` for identical planes.
    """
    a, b = _pair(sr, hr, shave, data_range)
    mse = np.mean((a - b) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(float(data_range) ** 2 / mse))


def _gaussian_window() -> np.ndarray:
    """Matlab ``fspecial('gaussian', 11, 1.5)`` as a normalised 1-D factor (it is separable)."""
    x = np.arange(_SSIM_WINDOW, dtype=np.float64) - (_SSIM_WINDOW - 1) / 2.0
    g = np.exp(-(x**2) / (2.0 * _SSIM_SIGMA**2))
    # fspecial zeroes values below eps * max; none are that small for 11 / 1.5.
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Matlab ``filter2(g' * g, img, 'valid')`` for a symmetric separable window."""
    n = g.size
    rows = np.lib.stride_tricks.sliding_window_view(img, n, axis=0) @ g
    return np.lib.stride_tricks.sliding_window_view(rows, n, axis=1) @ g


def min_scored_side(shave: int) -> int:
    """The shortest image side :func:`score` accepts with ``shave``: SSIM's window once the
    shaved borders are gone."""
    return _SSIM_WINDOW + 2 * int(shave)


def ssim(sr, hr, *, shave: int = 0, data_range: float = _DATA_RANGE) -> float:
    """Mean SSIM, Wang et al.'s ``ssim_index`` with its default parameters.

    ``sr``, ``hr``: (H, W) or (H, W, 1) luminance on the 0..255 scale (data range
    L = 255; computed in float64), or another range given as ``data_range`` (1.0 for [0, 1]
    floats, which the default refuses). ``shave`` pixels are dropped off every border first;
    what is left must be at least 11x11 (the window, 'valid' filtering).
    """
    a, b = _pair(sr, hr, shave, data_range)
    if min(a.shape) < _SSIM_WINDOW:
        raise ValueError(
            f"ssim needs at least {_SSIM_WINDOW}x{_SSIM_WINDOW} pixels after shaving, "
            f"got {a.shape[0]}x{a.shape[1]}"
        )
    g = _gaussian_window()
    c1 = (_SSIM_K1 * float(data_range)) ** 2
    c2 = (_SSIM_K2 * float(data_range)) ** 2
    mu1 = _filter_valid(a, g)
    mu2 = _filter_valid(b, g)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq = _filter_valid(a * a, g) - mu1_sq
    sigma2_sq = _filter_valid(b * b, g) - mu2_sq
    sigma12 = _filter_valid(a * b, g) - mu1_mu2
    ssim_map = ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / (
        (mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2)
    )
    return float(np.mean(ssim_map))


def scoring_luma(img) -> np.ndarray:
    """The luminance the paper scores: Matlab ``rgb2ycbcr`` Y of a uint8 image, rounded.

    ``img``: uint8 (H, W), (H, W, 1) or (H, W, 3) RGB. RGB goes through
    :func:`vdsr_tf.core.matlab.rgb2ycbcr` on uint8 (integer Y in 16..235); grey is returned
    raw. Returns float64 (H, W) on the 0..255 scale.
    """
    return matlab.luma_uint8(img).astype(np.float64)


def score(sr, hr, *, shave: int = 0) -> tuple[float, float]:
    """(PSNR, SSIM) of two uint8 images per docs/protocol.md step 5.

    Both go to :func:`scoring_luma` and lose ``shave`` border pixels (the paper uses
    ``shave = scale``). Returns python floats.
    """
    y_sr, y_hr = scoring_luma(sr), scoring_luma(hr)
    return psnr(y_sr, y_hr, shave=shave), ssim(y_sr, y_hr, shave=shave)
