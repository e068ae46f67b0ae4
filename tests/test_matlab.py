"""Matlab numerics against values derived by hand from the kernel and colour formulas."""
import re

import numpy as np
import pytest

from vdsr_tf.core import matlab


def keys(x):
    # Written independently of matlab.cubic, straight from the formula in docs/protocol.md.
    x = abs(x)
    if x <= 1:
        return 1.5 * x**3 - 2.5 * x**2 + 1
    if x <= 2:
        return -0.5 * x**3 + 2.5 * x**2 - 4 * x + 2
    return 0.0


def test_cubic_kernel_values():
    # k(0)=1, k(1)=0, k(2)=0, k(0.5)=0.5625, k(1.5)=-0.0625.
    got = matlab.cubic(np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, -0.5]))
    np.testing.assert_allclose(got, [1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0, 0.5625], atol=1e-15)


def test_upscale_x2_first_sample_by_hand():
    # x=1 maps to u = 1/2 + 0.5*(1 - 1/2) = 0.75; taps at 1-based -2..3, distances
    # 2.75, 1.75, 0.75, -0.25, -1.25, -2.25. Indices -1 and 0 mirror to 2 and 1.
    # out[0] = (k(.75) + k(.25)) * a + (k(1.75) + k(1.25)) * b = 1.09375 a - 0.09375 b
    a, b, c, d = 0.2, 0.9, 0.4, 0.7
    out = matlab.imresize(np.array([[a, b, c, d]]), output_shape=(1, 8))
    # The height is resized 1 -> 1 (identity); the width doubles.
    expected0 = (keys(0.75) + keys(0.25)) * a + (keys(1.75) + keys(1.25)) * b
    assert expected0 == pytest.approx(1.09375 * a - 0.09375 * b, abs=1e-15)
    assert out.shape == (1, 8)
    assert out[0, 0] == pytest.approx(expected0, abs=1e-12)
    # x=4: u = 2 + 0.25 = 2.25; taps 0..5 (1-based) at distances 2.25, 1.25, .25, -.75, -1.75, -2.75
    expected3 = keys(1.25) * a + keys(0.25) * b + keys(0.75) * c + keys(1.75) * d
    assert out[0, 3] == pytest.approx(expected3, abs=1e-12)


def test_downscale_antialias_by_hand():
    # Shrinking by 1/2: kernel h(d) = 0.5 k(0.5 d), width 8, u = 2x - 0.5.
    n = 12
    sig = np.linspace(0, 1, n) ** 2
    out = matlab.imresize(sig[:, None], output_shape=(6, 1))
    x = 3  # 1-based output index
    u = x / 0.5 + 0.5 * (1 - 2)
    left = int(np.floor(u - 4))
    taps = range(left, left + 10)
    w = np.array([0.5 * keys(0.5 * (u - j)) for j in taps])
    w /= w.sum()
    vals = np.array([sig[j - 1] for j in taps])  # all taps inside for x = 3
    assert out[x - 1, 0] == pytest.approx(float(w @ vals), abs=1e-12)


def test_symmetric_border_mirrors_edge():
    w, idx = matlab.contributions(4, 8, 2.0)
    # 1-based taps -2..3 mirror to 3, 2, 1, 1, 2, 3 -> 0-based 2, 1, 0, 0, 1, 2
    assert idx[0].tolist() == [2, 1, 0, 0, 1, 2]
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    # A constant image stays constant through any resize (weights sum to one, borders too).
    const = np.full((7, 5), 0.3)
    for s in (0.5, 1 / 3, 2, 3, 2.5):
        np.testing.assert_allclose(matlab.imresize(const, s), 0.3, atol=1e-12)


@pytest.mark.parametrize("shape,scale,expected", [
    ((5, 7), 2, (10, 14)), ((5, 7), 3, (15, 21)), ((5, 7), 2.5, (13, 18)),
    ((255, 255), 1 / 3, (85, 85)), ((9, 11), 0.5, (5, 6)), ((1, 1), 4, (4, 4)),
])
def test_output_sizes_ceil(shape, scale, expected):
    assert matlab.imresize(np.zeros(shape), scale).shape == expected


def test_uint8_rounds_and_clips_and_keeps_dtype():
    img = np.array([[0, 255, 0, 255], [255, 0, 255, 0]], dtype=np.uint8)
    out = matlab.imresize(img, 2)
    assert out.dtype == np.uint8
    ref = matlab.imresize(img.astype(np.float64), 2)
    np.testing.assert_array_equal(out, np.floor(np.clip(ref, 0, 255) + 0.5).astype(np.uint8))
    assert ref.min() < 0 and ref.max() > 255  # overshoot really was clipped


def test_colour_channels_resized_independently():
    rng = np.random.default_rng(0)
    img = rng.random((6, 9, 3))
    out = matlab.imresize(img, 2)
    for c in range(3):
        np.testing.assert_allclose(out[..., c], matlab.imresize(img[..., c], 2), atol=1e-14)


def test_resize_is_separable_in_order():
    # Height first on equal scales: resizing H then W by hand must match.
    rng = np.random.default_rng(1)
    img = rng.random((7, 6))
    h_first = matlab.imresize(matlab.imresize(img, output_shape=(14, 6)), output_shape=(14, 12))
    np.testing.assert_allclose(matlab.imresize(img, 2), h_first, atol=1e-14)


@pytest.mark.parametrize("scale", [2, 3, 4, 2.5, 0.5, 1 / 3, 0.77])
@pytest.mark.parametrize("shape", [(17, 13), (9, 20, 3), (1, 5, 2)])
def test_tf_matches_numpy(scale, shape):
    import tensorflow as tf

    from vdsr_tf.nn import matlab_tf

    rng = np.random.default_rng(2)
    img = rng.random(shape).astype(np.float32)
    ref = matlab.imresize(img.astype(np.float64), scale)
    got = matlab_tf.imresize_tf(tf.constant(img), scale).numpy()
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_tf_dynamic_shapes_and_batch():
    import tensorflow as tf

    from vdsr_tf.nn import matlab_tf

    fn = tf.function(lambda t: matlab_tf.imresize_tf(t, 3.0),
                     input_signature=[tf.TensorSpec([None, None, None, 1], tf.float32)])
    rng = np.random.default_rng(3)
    for shape in [(2, 11, 7, 1), (1, 5, 13, 1)]:
        img = rng.random(shape).astype(np.float32)
        got = fn(tf.constant(img)).numpy()
        for n in range(shape[0]):
            np.testing.assert_allclose(got[n, ..., 0], matlab.imresize(img[n, ..., 0].astype(np.float64), 3),
                                       atol=1e-5)


def test_rgb2ycbcr_hand_values():
    # White: Y = 16 + (65.481 + 128.553 + 24.966) = 235; Cb = Cr = 128 + 0 = 128.
    # Pure red: Y = 16 + 65.481 = 81.481 -> 81; Cb = 128 - 37.797 = 90.203 -> 90; Cr = 240.
    img = np.array([[[255, 255, 255], [255, 0, 0], [0, 0, 0]]], dtype=np.uint8)
    out = matlab.rgb2ycbcr(img)
    assert out.dtype == np.uint8
    assert out[0].tolist() == [[235, 128, 128], [81, 90, 240], [16, 128, 128]]
    f = matlab.rgb2ycbcr(img.astype(np.float64) / 255)
    np.testing.assert_allclose(f[0, 1] * 255, [81.481, 90.203, 240.0], atol=1e-9)


def test_ycbcr_round_trip():
    rng = np.random.default_rng(4)
    img = rng.random((5, 6, 3))
    np.testing.assert_allclose(matlab.ycbcr2rgb(matlab.rgb2ycbcr(img)), img, atol=1e-12)
    u8 = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    back = matlab.ycbcr2rgb(matlab.rgb2ycbcr(u8)).astype(int)
    assert np.abs(back - u8).max() <= 2  # studio swing loses a little to rounding


def test_colour_tf_matches_numpy():
    import tensorflow as tf

    from vdsr_tf.nn import matlab_tf

    rng = np.random.default_rng(5)
    img = rng.random((4, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(matlab_tf.rgb2ycbcr_tf(tf.constant(img)).numpy(),
                               matlab.rgb2ycbcr(img.astype(np.float64)), atol=1e-6)
    np.testing.assert_allclose(matlab_tf.ycbcr2rgb_tf(tf.constant(img)).numpy(),
                               matlab.ycbcr2rgb(img.astype(np.float64)), atol=1e-5)


def test_modcrop_and_shave():
    img = np.arange(7 * 10).reshape(7, 10)
    assert matlab.modcrop(img, 3).shape == (6, 9)
    assert matlab.modcrop(np.zeros((8, 8, 3)), 4).shape == (8, 8, 3)
    np.testing.assert_array_equal(matlab.shave(img, 2), img[2:5, 2:8])
    assert matlab.shave(img, 0) is not None and matlab.shave(img, 0).shape == (7, 10)


@pytest.mark.parametrize("bad,error,match", [
    (0, ValueError, "scale must be a positive finite number, got 0.0"),
    (-1, ValueError, "scale must be a positive finite number, got -1.0"),
    (float("nan"), ValueError, "scale must be a positive finite number, got nan"),
    (float("inf"), ValueError, "scale must be a positive finite number, got inf"),
    ("2", TypeError, "scale must be a positive real number, got '2'"),
    (None, ValueError, "needs exactly one of scale or output_shape"),
    (True, TypeError, "scale must be a positive real number, got True")])
def test_bad_scale_rejected(bad, error, match):
    with pytest.raises(error, match=re.escape(match)):
        matlab.imresize(np.zeros((4, 4)), bad)


def test_bad_inputs_rejected():
    with pytest.raises(ValueError, match=re.escape("imresize expects an (H, W) or (H, W, C) array, got shape (2, 2")):
        matlab.imresize(np.zeros((2, 2, 2, 2)), 2)
    with pytest.raises(ValueError, match="modcrop scale must be an int >= 1, got 0"):
        matlab.modcrop(np.zeros((4, 4)), 0)
    with pytest.raises(ValueError, match="modcrop scale must be an int >= 1, got 2.5"):
        matlab.modcrop(np.zeros((4, 4)), 2.5)
    with pytest.raises(ValueError, match="shave border 2 leaves nothing of a 4x4 image"):
        matlab.shave(np.zeros((4, 4)), 2)
    with pytest.raises(ValueError, match=re.escape("rgb2ycbcr expects (..., 3) channels last, got shape (4, 4, 4)")):
        matlab.rgb2ycbcr(np.zeros((4, 4, 4)))
    with pytest.raises(TypeError, match="rgb2ycbcr expects uint8 or float in \\[0, 1\\], got dtype int32"):
        matlab.rgb2ycbcr(np.zeros((4, 4, 3), dtype=np.int32))


def test_luma_uint8_matches_hand_values_and_layouts():
    img = np.array([[[255, 255, 255], [255, 0, 0]]], dtype=np.uint8)
    assert matlab.luma_uint8(img).tolist() == [[235, 81]]  # 16 + 219; round(16 + 65.481)
    grey = np.array([[7, 200]], dtype=np.uint8)
    np.testing.assert_array_equal(matlab.luma_uint8(grey), grey)
    np.testing.assert_array_equal(matlab.luma_uint8(grey[..., None]), grey)
    rgba = np.concatenate([img, np.zeros((1, 2, 1), np.uint8)], axis=-1)
    assert matlab.luma_uint8(rgba, alpha=True).tolist() == [[235, 81]]
    with pytest.raises(ValueError, match=re.escape("expected an image of shape (H, W), (H, W, 1), (H, W, 3), got")):
        matlab.luma_uint8(rgba)
    with pytest.raises(TypeError, match="expected a uint8 image, got dtype float32"):
        matlab.luma_uint8(img.astype(np.float32))
