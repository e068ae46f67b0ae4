"""PSNR/SSIM against values derived by hand from their formulas (docs/protocol.md step 5)."""
import math

import numpy as np
import pytest

from vdsr_tf.core import metrics

C1 = (0.01 * 255) ** 2
C2 = (0.03 * 255) ** 2


def _textured(h=32, w=40, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 128 + 60 * np.sin(xx / 3.0) * np.cos(yy / 5.0)
    return np.clip(base + rng.normal(0, 10, (h, w)), 0, 255).round()


def test_psnr_constant_error():
    hr = np.full((20, 30), 100, np.uint8)
    sr = hr + np.uint8(5)
    # MSE = 25: 10 log10(255^2 / 25) = 10 log10(2601).
    assert metrics.psnr(sr, hr) == pytest.approx(10 * math.log10(2601), abs=1e-12)
    assert metrics.psnr(sr, hr) == pytest.approx(34.15140352195873, abs=1e-12)


def test_psnr_is_computed_in_float64_without_uint8_wraparound():
    hr = np.zeros((8, 8), np.uint8)
    sr = np.full((8, 8), 255, np.uint8)
    assert metrics.psnr(sr, hr) == pytest.approx(0.0, abs=1e-12)
    assert metrics.psnr(hr, sr) == pytest.approx(0.0, abs=1e-12)


def test_psnr_identical_is_inf():
    img = _textured()
    assert metrics.psnr(img, img) == math.inf


def test_psnr_shave_drops_the_border():
    hr = np.full((10, 10), 50.0)
    sr = hr.copy()
    sr[0, :] += 10
    sr[-1, :] += 10
    sr[:, 0] += 10
    sr[:, -1] += 10  # corners get 20
    # 36 border pixels: 32 with error 10, 4 corners with error 20.
    mse = (32 * 100 + 4 * 400) / 100
    assert metrics.psnr(sr, hr) == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-12)
    assert metrics.psnr(sr, hr, shave=1) == math.inf


def test_psnr_accepts_trailing_channel():
    hr = _textured()
    sr = hr + 3
    assert metrics.psnr(sr[..., None], hr[..., None]) == pytest.approx(10 * math.log10(255**2 / 9))


def test_ssim_identical_is_one():
    img = _textured()
    assert metrics.ssim(img, img) == pytest.approx(1.0, abs=1e-12)
    assert metrics.ssim(img.astype(np.uint8), img.astype(np.uint8), shave=4) == pytest.approx(1.0, abs=1e-12)


def test_ssim_of_constant_images_by_hand():
    # Zero local variances: the map is (2ab + C1) / (a^2 + b^2 + C1) everywhere.
    a, b = 100.0, 110.0
    expected = (2 * a * b + C1) / (a * a + b * b + C1)
    got = metrics.ssim(np.full((16, 16), a), np.full((16, 16), b))
    assert got == pytest.approx(expected, abs=1e-12)
    assert got == pytest.approx(22006.5025 / 22106.5025, abs=1e-12)


def test_ssim_constant_against_textured_by_hand():
    # sr constant c, hr with local variance v: luminance (2 c mu + C1) / (c^2 + mu^2 + C1),
    # contrast-structure C2 / (v + C2). A vertical stripe pattern has the same local mean and
    # variance along each column; check one 11x11 window by hand.
    hr = np.tile(np.array([80.0, 160.0] * 8)[None, :16], (11, 1))  # 11 x 16
    c = 120.0
    sr = np.full_like(hr, c)
    x = np.arange(11) - 5.0
    g = np.exp(-x * x / (2 * 1.5**2))
    g /= g.sum()
    expected = []
    for j in range(16 - 10):
        cols = hr[0, j : j + 11]
        mu = np.dot(g, cols)  # the rows are identical, so the 2-D window reduces to 1-D
        var = np.dot(g, cols * cols) - mu * mu
        expected.append((2 * c * mu + C1) / (c * c + mu * mu + C1) * C2 / (var + C2))
    assert metrics.ssim(sr, hr) == pytest.approx(np.mean(expected), abs=1e-12)


def test_ssim_matches_literal_window_sum_and_tf_image_ssim():
    import tensorflow as tf

    hr = _textured(24, 30, seed=1)
    sr = np.clip(hr + np.random.default_rng(2).normal(0, 12, hr.shape), 0, 255).round()
    # Literal 2-D transcription of ssim_index.m (fspecial window, filter2 'valid').
    x = np.arange(11) - 5.0
    w = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * 1.5**2))
    w /= w.sum()
    vals = []
    for i in range(hr.shape[0] - 10):
        for j in range(hr.shape[1] - 10):
            p, q = sr[i : i + 11, j : j + 11], hr[i : i + 11, j : j + 11]
            m1, m2 = (w * p).sum(), (w * q).sum()
            s1 = (w * p * p).sum() - m1 * m1
            s2 = (w * q * q).sum() - m2 * m2
            s12 = (w * p * q).sum() - m1 * m2
            vals.append((2 * m1 * m2 + C1) * (2 * s12 + C2) / ((m1**2 + m2**2 + C1) * (s1 + s2 + C2)))
    ours = metrics.ssim(sr, hr)
    assert ours == pytest.approx(np.mean(vals), abs=1e-12)
    theirs = float(tf.image.ssim(sr[..., None], hr[..., None], max_val=255.0))
    assert ours == pytest.approx(theirs, abs=1e-4)


def test_ssim_shave():
    hr = _textured()
    sr = hr.copy()
    sr[:3, :] = 0  # damage only the top 3 rows
    assert metrics.ssim(sr, hr) < 0.99
    assert metrics.ssim(sr, hr, shave=3) == pytest.approx(1.0, abs=1e-12)
    assert metrics.ssim(sr, hr, shave=3) == metrics.ssim(sr[3:-3, 3:-3], hr[3:-3, 3:-3])


@pytest.mark.parametrize("fn", [metrics.psnr, metrics.ssim])
def test_shape_and_dtype_errors(fn):
    a = _textured()
    with pytest.raises(ValueError, match="shapes differ"):
        fn(a, a[:-1])
    with pytest.raises(ValueError, match="single luminance plane"):
        fn(np.stack([a] * 3, -1), np.stack([a] * 3, -1))
    with pytest.raises(TypeError, match="numeric"):
        fn(a.astype(str), a)
    with pytest.raises(ValueError, match="shave"):
        fn(a, a, shave=-1)
    with pytest.raises(ValueError, match="shave"):
        fn(a, a, shave=1.5)
    with pytest.raises(ValueError, match="leaves nothing"):
        fn(a, a, shave=16)
    bad = a.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fn(bad, a)


def test_ssim_needs_a_full_window():
    a = _textured(12, 12)
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="11x11"):
        metrics.ssim(a, a, shave=1)


def test_scoring_luma_rgb_grey_and_errors():
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 0] = 255  # white -> 235
    rgb[0, 1] = (255, 0, 0)  # 16 + 65.481 = 81.481 -> 81
    rgb[0, 2] = (0, 255, 0)  # 16 + 128.553 = 144.553 -> 145
    rgb[1, 0] = (0, 0, 255)  # 16 + 24.966 = 40.966 -> 41
    y = metrics.scoring_luma(rgb)
    assert y.dtype == np.float64 and y.shape == (2, 3)
    np.testing.assert_array_equal(y, [[235, 81, 145], [41, 16, 16]])
    grey = np.arange(6, dtype=np.uint8).reshape(2, 3)
    np.testing.assert_array_equal(metrics.scoring_luma(grey), grey)
    np.testing.assert_array_equal(metrics.scoring_luma(grey[..., None]), grey)
    with pytest.raises(TypeError, match="uint8"):
        metrics.scoring_luma(rgb.astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        metrics.scoring_luma(np.zeros((4, 4, 4), np.uint8))


def test_score_rgb_uses_rounded_y_and_shave():
    rng = np.random.default_rng(3)
    hr = rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)
    sr = np.clip(hr.astype(int) + rng.integers(-4, 5, hr.shape), 0, 255).astype(np.uint8)
    p, s = metrics.score(sr, hr, shave=2)
    ys, yh = metrics.scoring_luma(sr), metrics.scoring_luma(hr)
    assert np.all(ys == np.round(ys))
    assert p == metrics.psnr(ys, yh, shave=2)
    assert s == metrics.ssim(ys, yh, shave=2)


@pytest.mark.parametrize("fn", [metrics.psnr, metrics.ssim])
def test_unit_range_floats_need_their_data_range(fn):
    """[0, 1] floats scored on the 255 scale gave ~102 dB PSNR silently; now they are refused
    in one line, and data_range=1.0 scores them as their 0..255 copies score."""
    hr = _textured() / 255.0
    sr = np.clip(hr + np.random.default_rng(1).normal(0, 0.02, hr.shape), 0, 1)
    with pytest.raises(ValueError, match=r"floats in \[0, 1\], but the range is 255: pass data_range=1.0"):
        fn(sr, hr)
    assert fn(sr, hr, data_range=1.0) == pytest.approx(fn(sr * 255, hr * 255), abs=1e-9)
    if fn is metrics.psnr:
        assert 20 < fn(sr, hr, data_range=1.0) < 50
    with pytest.raises(ValueError, match="data_range must be a number > 0"):
        fn(sr, hr, data_range=0)
    dark = np.zeros((16, 16), np.uint8)  # integer levels are never taken for [0, 1]
    assert fn(dark, dark + np.uint8(1)) > 0
