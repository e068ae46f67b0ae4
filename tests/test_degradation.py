"""vdsr_tf.core.degradation: the text forms, the JPEG round trip, the 8x8 grid on the picture,
per-step determinism of JPEG training batches, quality estimation, and evaluation columns."""
import io

import numpy as np
import pytest
from PIL import Image

from vdsr_tf.core import degradation as deg
from vdsr_tf.core import matlab
from vdsr_tf.data import patches as data_lib
from vdsr_tf.data.sampling import BatchSampler


def _picture(h, w, seed=0, channels=3):
    rng = np.random.default_rng(seed)
    small = rng.random((h // 6 + 2, w // 6 + 2, channels))
    big = matlab.imresize(small, output_shape=(h, w))
    img = np.clip(big * 255 + rng.normal(0, 6, big.shape), 0, 255).astype(np.uint8)
    return img if channels > 1 else img[..., 0]


@pytest.fixture(scope="module")
def lr_patch_set():
    pictures = [_picture(120, 110, 0), _picture(97, 130, 1, channels=1)]
    planes = [(matlab.luma_uint8(p), p) for p in pictures]
    return data_lib.patch_set_from_planes(planes, ["a", "b"], (2, 3, 4), keep_lr=True)


# ------------------------------------------------------------------------- text forms

def test_mixture_shares_and_names():
    m = deg.parse_mixture("clean:0.25,jpeg:20-95")
    assert [t.name for t in m.terms] == ["clean", "jpeg:20-95"]
    assert m.shares == (0.25, 0.75)
    assert m.name == "clean:0.25,jpeg:20-95:0.75"
    assert deg.parse_mixture(m.name) == m  # the canonical text reads back the same
    assert deg.parse_mixture("clean").is_clean and deg.parse_mixture("clean:1").is_clean
    assert deg.parse_mixture("jpeg:50:0.5,jpeg:90").shares == (0.5, 0.5)


@pytest.mark.parametrize("text, words", [
    ("jpeg", "needs a quality"),
    ("jpeg:0", "from 1 to 100"),
    ("jpeg:101", "from 1 to 100"),
    ("jpeg:90-20", "low to high"),
    ("clean:1.5", "share must be"),
    ("clean:0.5,jpeg:50:0.7", "add up to 1.2"),
    ("clean:1,jpeg:50", "leaving nothing"),
    ("png", "not a degradation"),
    ("clean,,jpeg:50", "empty term"),
    ("clean,clean", "listed twice"),
    ("", "non-empty"),
])
def test_bad_mixtures_get_one_line_errors(text, words):
    with pytest.raises(ValueError, match=words) as info:
        deg.parse_mixture(text)
    assert "\n" not in str(info.value)


def test_evaluation_columns_are_fixed_settings():
    cols = deg.parse_list("clean,jpeg:90,jpeg:75")
    assert [c.name for c in cols] == ["clean", "jpeg:90", "jpeg:75"]
    for bad in ("jpeg:20-95", "clean:0.5", "jpeg:75,jpeg:75"):
        with pytest.raises(ValueError):
            deg.parse_list(bad)


def test_a_column_name_gives_its_quality():
    assert deg.column_quality("clean") is None
    assert deg.column_quality("jpeg:75") == 75
    assert deg.column_quality(" JPEG:30") == 30
    for bad in ("jpeg:20-95", "jpeg", "png:3", "clean,jpeg:75"):
        with pytest.raises(ValueError, match="evaluation column"):
            deg.column_quality(bad)


def test_draw_is_a_function_of_seed_and_step_with_the_shares():
    m = deg.parse_mixture("clean:0.25,jpeg:20-95")
    a = m.draw(3, 17, 64)
    assert np.array_equal(a, m.draw(3, 17, 64))
    assert not np.array_equal(a, m.draw(3, 18, 64)) and not np.array_equal(a, m.draw(4, 17, 64))
    many = np.concatenate([m.draw(0, k, 64) for k in range(200)])
    assert abs(np.mean(many == 0) - 0.25) < 0.02
    jpeg = many[many > 0]
    assert jpeg.min() == 20 and jpeg.max() == 95
    assert abs(jpeg.mean() - 57.5) < 1.0  # uniform over 20..95


# ------------------------------------------------------------------------- pixels

@pytest.mark.parametrize("channels", [3, 1])
def test_round_trip_equals_pillows_own_jpeg(channels):
    img = _picture(45, 67, 3, channels)
    for q in (30, 75, 95):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "JPEG", quality=q)  # Pillow's defaults: 4:2:0 for RGB
        buf.seek(0)
        expected = np.asarray(Image.open(buf))
        out = deg.jpeg_roundtrip(img, q)
        assert out.shape == img.shape and out.dtype == np.uint8
        assert np.array_equal(out, expected)
    assert not np.array_equal(deg.jpeg_roundtrip(img, 30), img)


def test_rgb_is_written_with_4_2_0_chroma():
    data = deg.jpeg_bytes(_picture(32, 32), 80)
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "JPEG" and im.layer[0][1:3] == (2, 2)  # luma sampled 2x2 per chroma sample


def test_block_grid_starts_at_the_pictures_top_left():
    # A smooth ramp at a low quality: the steps between decoded pixels are largest across
    # the 8x8 block edges, which sit at columns 8, 16, ... of the whole picture.
    ramp = np.tile(np.linspace(20, 230, 96), (40, 1))
    ramp = (ramp + 12 * np.sin(np.arange(40) / 5)[:, None]).astype(np.uint8)
    out = deg.jpeg_roundtrip(ramp, 15).astype(np.float64)
    steps = np.abs(np.diff(out, axis=1)).mean(axis=0)  # steps[c] is between columns c and c+1
    at_edges = steps[7::8].mean()
    inside = np.delete(steps, np.arange(7, steps.size, 8)).mean()
    assert at_edges > 1.5 * inside


def test_training_windows_come_from_the_whole_compressed_picture(lr_patch_set):
    ps = lr_patch_set
    mix = deg.parse_mixture("jpeg:10-40")
    s = BatchSampler(ps, batch_size=16, seed=5, random_crop=True, augment=False, degradation=mix)
    x, y, _ = s.batch(7)
    plane, top, left = s.rows(7)
    quality = mix.draw(5, 7, 16)
    p = ps.patch_size
    for i in range(16):
        k = int(plane[i])
        h, w = int(ps.heights[k]), int(ps.widths[k])
        whole = matlab.imresize(deg.lr_luma(deg.jpeg_roundtrip(ps.lr_picture(k), int(quality[i]))),
                                output_shape=(h, w))
        np.testing.assert_allclose(x[i, :, :, 0], whole[top[i]:top[i] + p, left[i]:left[i] + p], atol=1e-6)
        o = int(ps.offsets[k])
        target = ps.targets[o:o + h * w].reshape(h, w)[top[i]:top[i] + p, left[i]:left[i] + p] / 255.0
        np.testing.assert_allclose(y[i, :, :, 0], target, atol=1e-7)
    # and not from compressing the patch's own corner of the picture: that moves the grid
    i = int(np.flatnonzero((top % 16 != 0) | (left % 16 != 0))[0])
    k = int(plane[i])
    scale = ps.heights[k] / ps.lr_heights[k]
    r0, c0 = int(top[i] / scale), int(left[i] / scale)
    cut = np.ascontiguousarray(ps.lr_picture(k)[r0:, c0:])
    assert not np.array_equal(deg.jpeg_roundtrip(cut, int(quality[i])),
                              deg.jpeg_roundtrip(ps.lr_picture(k), int(quality[i]))[r0:, c0:])


def test_lr_pictures_are_the_matlab_bicubic_of_the_colour_hr(lr_patch_set):
    ps = lr_patch_set
    picture = _picture(120, 110, 0)
    for k in np.flatnonzero(ps.plane_scales == 3):
        if ps.lr_channels[k] == 3:
            np.testing.assert_array_equal(ps.lr_picture(k), matlab.imresize(matlab.modcrop(picture, 3), 1 / 3))
    assert set(ps.lr_channels.tolist()) == {1, 3}  # the grey picture stays grey


def test_jpeg_batches_are_deterministic_per_step_and_differ_from_clean(lr_patch_set):
    mix = deg.parse_mixture("clean:0.5,jpeg:20-95")
    a = BatchSampler(lr_patch_set, batch_size=12, seed=1, random_crop=True, degradation=mix)
    b = BatchSampler(lr_patch_set, batch_size=12, seed=1, random_crop=True, degradation=mix)
    clean = BatchSampler(lr_patch_set, batch_size=12, seed=1, random_crop=True)
    for step in (0, 9, 3):
        xa, ya, _ = a.batch(step)
        xb, yb, _ = b.batch(step)
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
        xc, yc, _ = clean.batch(step)
        np.testing.assert_array_equal(ya, yc)  # the same patches and targets ...
        jpeg_rows = mix.draw(1, step, 12) > 0
        np.testing.assert_array_equal(xa[~jpeg_rows], xc[~jpeg_rows])  # ... lossless rows as the paper's
        assert all(not np.array_equal(xa[i], xc[i]) for i in np.flatnonzero(jpeg_rows))


def test_jpeg_training_needs_the_lr_pictures():
    pictures = [_picture(60, 60, 0)]
    ps = data_lib.patch_set_from_planes([matlab.luma_uint8(p) for p in pictures], ["a"], (2,))
    with pytest.raises(ValueError, match="keep_lr"):
        BatchSampler(ps, batch_size=4, degradation=deg.parse_mixture("jpeg:50"))


def test_resize_matrix_equals_imresize():
    y = np.random.default_rng(0).random((23, 31))
    for out in ((46, 62), (69, 93), (50, 40)):
        m = matlab.resize_matrix(23, out[0]) @ y @ matlab.resize_matrix(31, out[1]).T
        np.testing.assert_allclose(m, matlab.imresize(y, output_shape=out), atol=1e-12)


# ------------------------------------------------------------------------- quality

def test_quality_is_read_back_from_the_tables():
    img = _picture(24, 24)
    for q in (10, 30, 50, 75, 85, 90, 95, 100):
        im = deg.open_jpeg(deg.jpeg_bytes(img, q))
        assert deg.estimate_quality(im) == q
    png = io.BytesIO()
    Image.fromarray(img).save(png, "PNG")
    png.seek(0)
    assert deg.estimate_quality(Image.open(png)) is None


def test_make_lr_as_a_file_opens_like_a_users_jpeg():
    hr = _picture(64, 48)
    d = deg.parse_list("jpeg:60")[0]
    as_file = deg.make_lr(hr, 2, d, as_file=True)
    assert as_file.format == "JPEG" and as_file.size == (24, 32)
    np.testing.assert_array_equal(np.asarray(as_file), deg.make_lr(hr, 2, d))
    np.testing.assert_array_equal(deg.make_lr(hr, 2, deg.Degradation()), matlab.imresize(hr, 0.5))
