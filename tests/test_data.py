"""Tests for vdsr_tf.data.patches: Y, degradation, patch grid, batches, augmentation, determinism."""
import os

import numpy as np
import pytest
from PIL import Image

from vdsr_tf.core import matlab
from vdsr_tf.data import geometry
from vdsr_tf.data import patches as data_lib
from vdsr_tf.data.sampling import BatchSampler, dihedral


def _smooth_image(h, w, seed=0, channels=3):
    """A smooth-ish uint8 picture (low-frequency noise) so resizing is meaningful."""
    rng = np.random.default_rng(seed)
    small = rng.random((h // 8 + 2, w // 8 + 2, channels))
    big = matlab.imresize(small, output_shape=(h, w))
    img = np.clip(big * 255 + rng.normal(0, 8, big.shape), 0, 255).astype(np.uint8)
    return img if channels > 1 else img[..., 0]


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("hr")
    Image.fromarray(_smooth_image(100, 90, 0)).save(d / "a.png")          # RGB 100x90
    Image.fromarray(_smooth_image(83, 84, 1, channels=1)).save(d / "b.png")  # grey 83x84
    sub = d / "sub"
    sub.mkdir()
    Image.fromarray(_smooth_image(50, 60, 2)).save(sub / "c.bmp")
    (d / "notes.txt").write_text("not an image")
    return str(d)


@pytest.fixture(scope="module")
def patch_set(image_dir):
    return data_lib.build_patch_set(data_lib.list_images(image_dir), (2, 3, 4))


def test_list_images_recursive_sorted(image_dir):
    files = data_lib.list_images(image_dir)
    assert [os.path.relpath(f, image_dir) for f in files] == ["a.png", "b.png", os.path.join("sub", "c.bmp")]
    with pytest.raises(ValueError, match="does not exist"):
        data_lib.list_images(os.path.join(image_dir, "missing"))


def test_luma_is_matlab_y(image_dir):
    rgb = np.asarray(Image.open(os.path.join(image_dir, "a.png")))
    y = data_lib.load_luma(os.path.join(image_dir, "a.png"))
    np.testing.assert_array_equal(y, matlab.rgb2ycbcr(rgb)[..., 0])
    assert y.dtype == np.uint8 and 16 <= y.min() and y.max() <= 235
    grey = np.asarray(Image.open(os.path.join(image_dir, "b.png")))
    np.testing.assert_array_equal(data_lib.load_luma(os.path.join(image_dir, "b.png")), grey)  # grey: as is


def test_load_luma_refuses_what_imageio_refuses(tmp_path):
    Image.new("CMYK", (8, 8), (10, 20, 30, 40)).save(tmp_path / "cmyk.jpg")
    with pytest.raises(ValueError, match=r"^cannot read training image '.*cmyk\.jpg': unsupported image mode "
                                         r"'CMYK' .*colour profile") as e:
        data_lib.load_luma(tmp_path / "cmyk.jpg")
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match=r"^cannot read training image '.*missing\.png': image file not found"):
        data_lib.load_luma(tmp_path / "missing.png")


def test_load_luma_reads_16_bit_and_palette_files(tmp_path):
    grey16 = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    np.testing.assert_array_equal(data_lib.load_luma(tmp_path / "g16.png"),
                                  np.floor(grey16 / 257.0 + 0.5).astype(np.uint8))
    rgb = _smooth_image(16, 16, 4)
    Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=16).save(tmp_path / "p.png")
    with Image.open(tmp_path / "p.png") as im:
        expanded = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(data_lib.load_luma(tmp_path / "p.png"), matlab.rgb2ycbcr(expanded)[..., 0])


@pytest.mark.parametrize("scale", [2, 3, 4, 2.5])
def test_degradation_equals_numpy_imresize(scale):
    y = matlab.rgb2ycbcr(_smooth_image(61, 47, 3))[..., 0]
    x, t = data_lib.degrade(y, scale)
    ref = y if not float(scale).is_integer() else matlab.modcrop(y, int(scale))
    ref = ref.astype(np.float64) / 255.0
    expect = matlab.imresize(matlab.imresize(ref, 1.0 / scale), output_shape=ref.shape)
    assert x.dtype == np.float32 and t.dtype == np.float32
    assert x.shape == t.shape == ref.shape
    np.testing.assert_allclose(t, ref, atol=1e-7)
    np.testing.assert_allclose(x, expect, atol=1e-5)


def test_patch_counts_for_known_sizes(patch_set):
    # a 100x90: x2 100x90 -> 2x2, x3 99x90 -> 2x2, x4 100x88 -> 2x2 grid patches (stride 41)
    # b 83x84:  x2 82x84 -> 2x2, x3 81x84 -> 1x2, x4 80x84 -> 1x2
    # c 50x60:  x2 50x60 -> 1x1, x3 48x60 -> 1x1, x4 48x60 -> 1x1
    assert patch_set.num_patches == 12 + 8 + 3
    assert sorted(set(patch_set.plane_scales.tolist())) == [2.0, 3.0, 4.0]
    assert geometry.grid_positions(100, 90, 41, 41) == [(0, 0), (0, 41), (41, 0), (41, 41)]
    assert len(geometry.grid_positions(100, 90, 41, 20)) == 9  # overlapping stride


def test_patch_matches_degraded_plane(patch_set):
    x_full, t_full = data_lib.degrade(patch_set_luma(patch_set, 0), 2)
    x, t = patch_set.patch(3)  # plane 0 (a.png, x2), top 41, left 41
    np.testing.assert_array_equal(x, x_full[41:82, 41:82])
    np.testing.assert_allclose(t, t_full[41:82, 41:82], atol=1e-7)


def patch_set_luma(ps, i):
    return data_lib.load_luma(ps.files[i])


def test_batches_shapes_ranges_and_mixed_scales(patch_set):
    ds = data_lib.make_dataset(patch_set, batch_size=16, seed=1, num_steps=3, with_scale=True)
    batches = list(ds.as_numpy_iterator())
    assert len(batches) == 3
    for x, y, s in batches:
        assert x.shape == y.shape == (16, 41, 41, 1) and x.dtype == y.dtype == np.float32
        assert 0 <= y.min() and y.max() <= 1 and -0.2 < x.min() and x.max() < 1.2
        assert len(set(s.tolist())) >= 2  # scales mixed inside one batch
    # one epoch (23 patches) fits in the first 23 rows of the stream: every patch once
    rows = BatchSampler(patch_set, batch_size=23, seed=1, augment=False, random_crop=False).rows(0)
    keys = {tuple(int(v) for v in r) for r in np.stack(rows, 1)}
    assert keys == {tuple(int(v) for v in r) for r in patch_set.grid}


def test_deterministic_and_resumable(patch_set):
    a = list(data_lib.make_dataset(patch_set, batch_size=8, seed=5, num_steps=4).as_numpy_iterator())
    b = list(data_lib.make_dataset(patch_set, batch_size=8, seed=5, num_steps=4).as_numpy_iterator())
    late = list(data_lib.make_dataset(patch_set, batch_size=8, seed=5, start_step=2, num_steps=2).as_numpy_iterator())
    other = list(data_lib.make_dataset(patch_set, batch_size=8, seed=6, num_steps=1).as_numpy_iterator())
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    for (xa, _), (xl, _) in zip(a[2:], late):  # resuming at step 2 gives the same batches
        np.testing.assert_array_equal(xa, xl)
    assert not np.array_equal(a[0][0], other[0][0])


def test_augmentation_is_a_dihedral_transform_of_the_pair(patch_set):
    plain = list(data_lib.make_dataset(patch_set, batch_size=23, seed=2, num_steps=1,
                                       augment=False).as_numpy_iterator())
    aug = list(data_lib.make_dataset(patch_set, batch_size=23, seed=2, num_steps=1, augment=True).as_numpy_iterator())
    (xp, yp), (xa, ya) = plain[0], aug[0]
    seen = set()
    for i in range(23):
        variants = [np.rot90(np.flip(xp[i], 1) if f else xp[i], k) for k in range(4) for f in (0, 1)]
        match = [j for j, v in enumerate(variants) if np.array_equal(v, xa[i])]
        assert match, f"row {i} is not a rotation/flip of its source"
        j = match[0]
        k, f = divmod(j, 2)
        np.testing.assert_array_equal(np.rot90(np.flip(yp[i], 1) if f else yp[i], k), ya[i])  # same transform
        seen.add(j)
    assert len(seen) >= 4


def test_dihedral_gives_eight_distinct_transforms():
    x = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 1)[:1].repeat(8, 0)
    out = dihedral(x, np.arange(8, dtype=np.int32))
    assert len({o.tobytes() for o in out}) == 8


def test_random_crops(patch_set):
    ds = data_lib.make_dataset(patch_set, batch_size=32, seed=0, num_steps=2, random_crop=True, with_scale=True)
    for x, y, s in ds.as_numpy_iterator():
        assert x.shape == (32, 41, 41, 1) and 0 <= y.min() and y.max() <= 1
    sampler = BatchSampler(patch_set, batch_size=256, seed=0, augment=False, random_crop=True)
    plane, top, left = sampler.rows(0)
    assert (top + 41 <= patch_set.heights[plane]).all() and (left + 41 <= patch_set.widths[plane]).all()
    assert len(set(zip(plane, top, left))) > 200  # not the grid


def test_replica_slices_concatenate_to_the_global_batch(patch_set):
    full = list(data_lib.make_dataset(patch_set, batch_size=8, seed=3, num_steps=2).as_numpy_iterator())
    sl = list(data_lib.make_dataset(patch_set, batch_size=8, seed=3, num_steps=2, num_slices=2).as_numpy_iterator())
    assert len(sl) == 4 and sl[0][0].shape == (4, 41, 41, 1)
    np.testing.assert_array_equal(np.concatenate([sl[0][0], sl[1][0]]), full[0][0])
    np.testing.assert_array_equal(np.concatenate([sl[2][1], sl[3][1]]), full[1][1])
    with pytest.raises(ValueError, match="divisible"):
        data_lib.make_dataset(patch_set, batch_size=7, num_slices=2)


def test_cache_roundtrip(image_dir, tmp_path, patch_set):
    files = data_lib.list_images(image_dir)
    a = data_lib.build_patch_set(files, (2, 3, 4), cache_dir=str(tmp_path))
    cached = [f for f in os.listdir(tmp_path) if f.endswith(".npz")]
    assert len(cached) == 1
    b = data_lib.build_patch_set(files, (2, 3, 4), cache_dir=str(tmp_path))
    np.testing.assert_array_equal(a.inputs, b.inputs)
    np.testing.assert_array_equal(a.grid, b.grid)
    np.testing.assert_array_equal(a.inputs, patch_set.inputs)
    data_lib.build_patch_set(files, (2, 3), cache_dir=str(tmp_path))  # other scales: another entry
    assert len([f for f in os.listdir(tmp_path) if f.endswith(".npz")]) == 2


@pytest.mark.parametrize("damage", ["cut", "garbage", "empty"])
def test_a_damaged_cache_is_rebuilt_saying_so(image_dir, tmp_path, patch_set, caplog, damage):
    files = data_lib.list_images(image_dir)
    data_lib.build_patch_set(files, (2, 3, 4), cache_dir=str(tmp_path))
    (cache,) = tmp_path.glob("patches_*.npz")
    raw = cache.read_bytes()
    cache.write_bytes({"cut": raw[:len(raw) // 2], "garbage": b"garbage" * 100, "empty": b""}[damage])
    with caplog.at_level("WARNING"):
        again = data_lib.build_patch_set(files, (2, 3, 4), cache_dir=str(tmp_path))
    assert any("is damaged" in r.getMessage() and "rebuilding" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(again.inputs, patch_set.inputs)
    assert cache.read_bytes() == raw  # rewritten whole


def test_cache_keeps_the_lr_pictures_apart(image_dir, tmp_path):
    files = data_lib.list_images(image_dir)
    plain = data_lib.build_patch_set(files, (2, 3), cache_dir=str(tmp_path))
    with_lr = data_lib.build_patch_set(files, (2, 3), cache_dir=str(tmp_path), keep_lr=True)
    assert not plain.has_lr and with_lr.has_lr and len(list(tmp_path.glob("patches_*.npz"))) == 2
    again = data_lib.build_patch_set(files, (2, 3), cache_dir=str(tmp_path), keep_lr=True)
    np.testing.assert_array_equal(again.lr, with_lr.lr)
    np.testing.assert_array_equal(again.inputs, plain.inputs)
    for k in range(len(again.offsets)):  # every plane's LR is its HR size over the scale
        assert again.lr_picture(k).shape[:2] == (again.heights[k] // again.plane_scales[k],
                                                 again.widths[k] // again.plane_scales[k])


def test_too_small_images_are_rejected(tmp_path):
    Image.fromarray(_smooth_image(30, 30, 0)).save(tmp_path / "tiny.png")
    with pytest.raises(ValueError, match="41x41"):
        data_lib.build_patch_set(data_lib.list_images(str(tmp_path)), (2,))


def test_hr_scales_add_downsized_copies(image_dir, patch_set):
    files = data_lib.list_images(image_dir)
    ps = data_lib.build_patch_set(files, (2, 3, 4), hr_scales=(1.0, 0.5))
    # at 0.5: a 50x45 -> one patch per scale; b 42x42 -> x2, x3 one each (x4 40x40 too small); c too small
    assert ps.num_patches == patch_set.num_patches + 5
    y_half = matlab.imresize(data_lib.load_luma(files[0]), 0.5)
    x, _ = data_lib.degrade(y_half, 2)
    plane = int(np.flatnonzero(ps.heights == x.shape[0])[0])
    np.testing.assert_array_equal(ps.inputs[ps.offsets[plane]:ps.offsets[plane] + x.size], x.ravel())
    with pytest.raises(ValueError, match="hr_scales"):
        data_lib.build_patch_set(files, (2,), hr_scales=(1.5,))


def test_hr_scales_are_part_of_the_cache_key(image_dir, tmp_path):
    files = data_lib.list_images(image_dir)

    def cached():
        return sorted(f for f in os.listdir(tmp_path) if f.endswith(".npz"))

    data_lib.build_patch_set(files, (2,), cache_dir=str(tmp_path))
    first = cached()
    data_lib.build_patch_set(files, (2,), cache_dir=str(tmp_path), hr_scales=(1.0,))  # the same entry
    assert cached() == first and len(first) == 1
    data_lib.build_patch_set(files, (2,), cache_dir=str(tmp_path), hr_scales=(1.0, 0.5))  # another
    assert len(cached()) == 2


@pytest.mark.parametrize("scales,hr_scales,patch_size,stride", [
    ((2, 3, 4), (1.0,), 41, 41), ((2, 3, 4), (1.0, 0.5), 41, 41), ((2.5, 3), (0.7,), 41, 41),
    ((2, 3), (1.0, 0.55), 21, 13)])
def test_count_patches_equals_the_built_patch_set(image_dir, scales, hr_scales, patch_size, stride):
    files = data_lib.list_images(image_dir)
    built = data_lib.build_patch_set(files, scales, hr_scales=hr_scales, patch_size=patch_size, stride=stride)
    assert data_lib.count_patches(files, scales, hr_scales=hr_scales, patch_size=patch_size,
                                  stride=stride) == built.num_patches > 0


def test_a_luminance_archive_trains_like_its_folder(image_dir, tmp_path, patch_set):
    from vdsr_tf.data.luma_archive import write_luma_archive

    files = data_lib.list_images(image_dir)
    archive = str(tmp_path / "train.npz")
    write_luma_archive(files, archive)
    sources = data_lib.list_sources([archive])
    assert sources == [archive]
    assert data_lib.source_sizes(sources) == data_lib.source_sizes(files)
    ps = data_lib.build_patch_set(sources, (2, 3, 4), cache_dir=str(tmp_path / "cache"))
    np.testing.assert_array_equal(ps.grid, patch_set.grid)
    np.testing.assert_allclose(ps.inputs, patch_set.inputs, atol=1e-6)
    assert len(ps.files) == len(files) and all(f.startswith(archive + ":") for f in ps.files)
    again = data_lib.build_patch_set(sources, (2, 3, 4), cache_dir=str(tmp_path / "cache"))  # from the cache
    assert again.files == ps.files
    with pytest.raises(ValueError, match="does not exist"):
        data_lib.list_sources([str(tmp_path / "missing.npz")])
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="neither a folder"):
        data_lib.list_sources([str(tmp_path / "notes.txt")])


@pytest.mark.parametrize("scale", [2, 3, 4, 2.5])
def test_tensorflow_free_degradation_matches(scale):
    # Without TensorFlow (the JAX path) degrade() uses matlab.imresize in numpy: the same data.
    y = _smooth_image(77, 64, 3, channels=1)
    x_tf, t = data_lib.degrade(y, scale)
    h, w = t.shape
    x_np = matlab.imresize(matlab.imresize(t.astype(np.float64), 1.0 / scale), output_shape=(h, w))
    np.testing.assert_allclose(x_tf, x_np, atol=2e-6)


def test_truncated_training_image_is_named(tmp_path):
    Image.fromarray(_smooth_image(60, 60, 0)).save(tmp_path / "a.png")
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "b.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cannot read training image '.*b\.png'.*truncated"):
        data_lib.build_patch_set(data_lib.list_images(str(tmp_path)), (2,))
    (tmp_path / "c.png").write_text("not an image")
    with pytest.raises(ValueError, match=r"c\.png"):
        data_lib.load_luma(str(tmp_path / "c.png"))


def test_images_too_small_for_a_scale_are_skipped_with_one_counting_warning(tmp_path, caplog):
    Image.fromarray(_smooth_image(90, 90, 0)).save(tmp_path / "big.png")
    Image.fromarray(_smooth_image(43, 43, 1)).save(tmp_path / "small1.png")  # x2: 42x42, x3: 42x42, x4: 40x40
    Image.fromarray(_smooth_image(44, 42, 2)).save(tmp_path / "small2.png")  # x4: 44x40, x3: 42x42
    with caplog.at_level("WARNING", logger="vdsr_tf.data.patches"):
        ps = data_lib.build_patch_set(data_lib.list_images(str(tmp_path)), (2, 3, 4))
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1, warnings
    assert "2 at x4 of 3" in warnings[0]
    assert sorted(ps.plane_scales.tolist()) == [2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0]
