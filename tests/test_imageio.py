"""vdsr_tf.core.imageio: validation of every accepted input kind, round trips, atomic writes."""
import builtins
import os

import numpy as np
import pytest
from PIL import Image

from vdsr_tf.core import imageio
from vdsr_tf.core.imageio import ImageError, ImageNotFoundError, OutputExistsError


def rgb(h=6, w=7, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def write_png(path, arr):
    Image.fromarray(arr).save(path)
    return str(path)


# ----------------------------------------------------------------------------- files

def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.png")
    with pytest.raises(ImageNotFoundError, match="nope.png"):
        imageio.load_image(path)
    # Catchable both as ValueError (the library's contract) and FileNotFoundError.
    with pytest.raises(ValueError):
        imageio.read_image(path)
    with pytest.raises(FileNotFoundError):
        imageio.read_image(path)


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(ImageError, match="folder"):
        imageio.load_image(tmp_path)


def test_unreadable_file(tmp_path, monkeypatch):
    path = write_png(tmp_path / "locked.png", rgb())
    if os.geteuid() != 0:
        os.chmod(path, 0)
    else:  # root reads anything: simulate the permission error the OS would give
        real_open = builtins.open

        def deny(file, *args, **kwargs):
            if os.fspath(file) == path:
                raise PermissionError(13, "Permission denied", path)
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", deny)
    with pytest.raises(ImageError, match="locked.png.*permission denied"):
        imageio.load_image(path)


def test_truncated_file(tmp_path):
    path = write_png(tmp_path / "full.png", rgb(64, 64))
    data = open(path, "rb").read()
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.png.*truncated or corrupt"):
        imageio.load_image(str(cut))


def test_non_image_file(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture\n")
    with pytest.raises(ImageError, match="notes.png.*not an image"):
        imageio.load_image(str(path))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match="empty.png.*empty file"):
        imageio.load_image(path)  # PathLike accepted


def test_path_returns_pil_spec_and_pathlike(tmp_path):
    arr = rgb()
    path = write_png(tmp_path / "a.png", arr)
    data, spec = imageio.load_image(tmp_path / "a.png")
    assert spec.kind == "path" and spec.mode == "RGB"
    out = imageio.restore_image(data, spec)
    assert isinstance(out, Image.Image)
    np.testing.assert_array_equal(np.asarray(out), arr)
    assert os.path.exists(path)


def test_exif_orientation_applied(tmp_path):
    arr = rgb(4, 6)
    image = Image.fromarray(arr)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rot.jpg"
    image.save(path, exif=exif, quality=100)
    assert imageio.read_image(path).size == (4, 6)


def test_bytes_path_is_type_error():
    with pytest.raises(TypeError):
        imageio.load_image(b"a.png")


# ----------------------------------------------------------------------------- sizes

@pytest.mark.parametrize("shape", [(0, 5, 3), (5, 0), (0, 0)])
def test_zero_size_array(shape):
    with pytest.raises(ValueError, match="empty"):
        imageio.load_image(np.zeros(shape, np.uint8))


@pytest.mark.parametrize("shape", [(1, 1), (1, 1, 3), (1, 9, 3), (9, 1)])
def test_one_pixel_array(shape):
    with pytest.raises(ValueError, match="too small"):
        imageio.load_image(np.zeros(shape, np.uint8))


def test_one_pixel_pil_image_and_file(tmp_path):
    with pytest.raises(ValueError, match="too small"):
        imageio.load_image(Image.new("RGB", (1, 1)))
    path = tmp_path / "dot.png"
    Image.new("L", (1, 1)).save(path)
    with pytest.raises(ValueError, match="dot.png.*too small"):
        imageio.load_image(str(path))


# ----------------------------------------------------------------------------- arrays

@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint32,
                                   np.complex64, object])
def test_wrong_dtype(dtype):
    with pytest.raises(TypeError, match="dtype"):
        imageio.load_image(np.zeros((4, 4, 3), dtype))


@pytest.mark.parametrize("shape", [(8,), (4, 4, 2), (4, 4, 5), (1, 4, 4, 3), (4, 4, 3, 1)])
def test_wrong_shape(shape):
    with pytest.raises(ValueError, match="shape"):
        imageio.load_image(np.zeros(shape, np.uint8))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_inf(bad):
    arr = np.full((4, 4), 0.5, np.float32)
    arr[1, 2] = bad
    with pytest.raises(ValueError, match="NaN|inf"):
        imageio.load_image(arr)


@pytest.mark.parametrize("lo, hi", [(-0.1, 0.5), (0.0, 1.5), (0.0, 255.0)])
def test_float_out_of_range(lo, hi):
    arr = np.linspace(lo, hi, 16, dtype=np.float64).reshape(4, 4)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        imageio.load_image(arr)


def test_not_an_image_type():
    for bad in ([[0, 1], [1, 0]], 3, None):
        with pytest.raises(TypeError, match="PIL image, a numpy array or a file path"):
            imageio.load_image(bad)


@pytest.mark.parametrize("shape", [(5, 6), (5, 6, 1), (5, 6, 3), (5, 6, 4)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float16, np.float32, np.float64])
def test_array_round_trip(shape, dtype):
    rng = np.random.default_rng(1)
    if np.issubdtype(dtype, np.integer):
        arr = rng.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
    else:
        arr = rng.random(shape).astype(dtype)
    data, spec = imageio.load_image(arr)
    assert data.dtype == np.float32 and data.ndim == 3 and data.shape[2] == spec.channels
    assert 0 <= data.min() and data.max() <= 1
    out = imageio.restore_image(data, spec)
    assert out.dtype == arr.dtype and out.shape == arr.shape
    np.testing.assert_allclose(out.astype(np.float64), arr.astype(np.float64), atol=1e-6)


def test_big_endian_uint16():
    arr = np.arange(12, dtype=">u2").reshape(3, 4) * 1000
    data, spec = imageio.load_image(arr)
    np.testing.assert_allclose(data[..., 0] * 65535, arr.astype(np.float64), atol=1e-2)
    assert spec.dtype == np.uint16


def test_input_array_not_modified():
    arr = rgb()
    keep = arr.copy()
    data, _ = imageio.load_image(arr)
    data[:] = 0
    np.testing.assert_array_equal(arr, keep)


# ----------------------------------------------------------------------------- PIL modes

@pytest.mark.parametrize("mode, channels, back", [
    ("L", 1, "L"), ("LA", 2, "LA"), ("RGB", 3, "RGB"), ("RGBA", 4, "RGBA"),
    ("I;16", 1, "I;16"), ("I", 1, "I"), ("F", 1, "F"),
    ("1", 1, "L"), ("P", 3, "RGB"), ("PA", 4, "RGBA"), ("RGBX", 3, "RGB"),
])
def test_pil_modes(mode, channels, back):
    base = Image.fromarray(rgb(5, 6))
    if mode in ("I;16", "I"):
        image = Image.fromarray((np.arange(30).reshape(5, 6) * 2000).astype(np.uint16))
        if mode == "I":
            image = image.convert("I")
    elif mode == "F":
        image = Image.fromarray(np.linspace(0, 1, 30, dtype=np.float32).reshape(5, 6))
    else:
        image = base.convert(mode)
    data, spec = imageio.load_image(image)
    assert spec.channels == channels and spec.mode == back
    out = imageio.restore_image(data, spec)
    assert out.mode == back and out.size == image.size
    if mode in ("L", "LA", "RGB", "RGBA", "I;16", "I", "F"):
        np.testing.assert_allclose(np.asarray(out, np.float64), np.asarray(image, np.float64),
                                   atol=1e-6)


def test_palette_with_transparency_becomes_rgba():
    image = Image.new("P", (4, 4))
    image.info["transparency"] = 0
    _, spec = imageio.load_image(image)
    assert spec.mode == "RGBA"


@pytest.mark.parametrize("mode", ["CMYK", "YCbCr", "LAB", "HSV", "RGBa", "La"])
def test_refused_modes(mode):
    image = Image.new("RGB", (4, 4), (10, 200, 30)).convert(mode) if mode not in (
        "LAB", "HSV", "RGBa", "La") else Image.new(mode, (4, 4))
    with pytest.raises(ValueError, match=f"unsupported image mode '{mode}'.*convert"):
        imageio.load_image(image)


def test_refused_mode_from_file_names_file(tmp_path):
    path = tmp_path / "print.jpg"
    Image.new("CMYK", (4, 4)).save(path)
    with pytest.raises(ValueError, match="print.jpg"):
        imageio.load_image(str(path))


def test_mode_i_out_of_range():
    image = Image.fromarray(np.array([[0, 70000], [5, 6]], np.int32))
    with pytest.raises(ValueError, match="65535"):
        imageio.load_image(image)


def test_mode_f_out_of_range_and_nan():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        imageio.load_image(Image.fromarray(np.full((3, 3), 2.0, np.float32)))
    with pytest.raises(ValueError, match="NaN"):
        imageio.load_image(Image.fromarray(np.full((3, 3), np.nan, np.float32)))


def test_icc_profile_carried(tmp_path):
    image = Image.fromarray(rgb())
    image.info["icc_profile"] = b"fake-profile"
    data, spec = imageio.load_image(image)
    assert imageio.restore_image(data, spec).info["icc_profile"] == b"fake-profile"


def test_restore_rounds_half_away_and_clips():
    # Matlab's uint8() rounds halves away from zero: 0.5 -> 1 (np.rint would give 0).
    spec = imageio.ImageSpec(kind="array", dtype=np.dtype(np.uint8), channels=1, ndim=2)
    data = np.array([[-0.2, 0.5 / 255], [1.6 / 255, 1.3]], np.float32)[..., None]
    assert np.float32(data[0, 1, 0]) * np.float32(255) == 0.5
    keep = data.copy()
    np.testing.assert_array_equal(imageio.restore_image(data, spec), [[0, 1], [2, 255]])
    np.testing.assert_array_equal(data, keep)  # the public call does not consume its input


# ----------------------------------------------------------------------------- writing

def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_save_and_refuse_overwrite(tmp_path):
    path = tmp_path / "out.png"
    imageio.save_image(rgb(), path)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), rgb())
    with pytest.raises(OutputExistsError, match="out.png"):
        imageio.save_image(rgb(seed=5), path)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), rgb())
    imageio.save_image(rgb(seed=5), path, overwrite=True)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), rgb(seed=5))
    assert leftovers(tmp_path) == []
    assert os.stat(path).st_mode & 0o777 != 0o600  # not mkstemp's private mode


def test_save_uint16_grey(tmp_path):
    arr = (np.arange(20).reshape(4, 5) * 3000).astype(np.uint16)
    imageio.save_image(arr, tmp_path / "deep.png")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "deep.png")), arr)


def test_failed_encode_leaves_nothing(tmp_path):
    path = tmp_path / "alpha.jpg"
    with pytest.raises(ImageError, match="alpha.jpg"):
        imageio.save_image(Image.new("RGBA", (4, 4)), path)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    imageio.save_image(rgb(), path)
    before = path.read_bytes()

    def explode(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", explode)
    with pytest.raises(KeyboardInterrupt):
        imageio.save_image(rgb(seed=3), path, overwrite=True)
    assert path.read_bytes() == before  # the old file is untouched
    assert leftovers(tmp_path) == []


def test_output_that_appears_while_writing_is_not_replaced(tmp_path, monkeypatch):
    path = tmp_path / "race.png"
    real_save = Image.Image.save

    def racing(self, fp, *args, **kwargs):
        path.write_bytes(b"another writer's file")
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", racing)
    with pytest.raises(OutputExistsError, match=r"race\.png' exists; pass overwrite=True"):
        imageio.save_image(rgb(), path)
    assert path.read_bytes() == b"another writer's file"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["out.xyz", "out", "out.psd"])
def test_save_unknown_extension(tmp_path, name):
    with pytest.raises(ImageError, match="extension"):
        imageio.save_image(rgb(), tmp_path / name)


def test_save_missing_folder_and_float(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        imageio.save_image(rgb(), tmp_path / "no" / "out.png")
    with pytest.raises(TypeError, match="uint8"):
        imageio.save_image(np.zeros((4, 4), np.float32), tmp_path / "f.png")


# ----------------------------------------------------------------------------- 16-bit colour

def deep(h=6, w=7, channels=3, seed=0):
    # Values whose low byte matters: an 8-bit round trip cannot reproduce them.
    return np.random.default_rng(seed).integers(0, 65536, (h, w, channels), dtype=np.uint16)


@pytest.mark.parametrize("ext", [".png", ".tif", ".tiff"])
@pytest.mark.parametrize("channels", [3, 4])
def test_16bit_colour_files_keep_16_bits_in_and_out(tmp_path, ext, channels):
    arr = deep(channels=channels)
    path = tmp_path / f"deep{ext}"
    imageio.save_image(arr, path)
    back = imageio.read_pixels(path)
    assert isinstance(back, np.ndarray) and back.dtype == np.uint16
    np.testing.assert_array_equal(back, arr)
    data, spec = imageio.load_image(path)
    assert spec.dtype == np.uint16 and spec.channels == channels
    np.testing.assert_array_equal(imageio.restore_image(data, spec), arr)  # exact both ways


def test_16bit_rgb_png_written_by_another_encoder_is_read_at_16_bits(tmp_path):
    import tifffile

    arr = deep(channels=3, seed=4)
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(arr, -1, 0), photometric="rgb",
                     planarconfig="separate")
    np.testing.assert_array_equal(imageio.read_pixels(tmp_path / "planar.tif"), arr)


def test_16bit_colour_super_resolves_to_16_bits(tmp_path):
    from vdsr_tf.infer import upscaler

    arr = deep(h=10, w=12, channels=3)
    path = tmp_path / "deep.png"
    imageio.save_image(arr, path)
    out = upscaler.bicubic_upscale(str(path), 2)
    assert out.dtype == np.uint16 and out.shape == (20, 24, 3)
    assert np.any(out % 257 != 0)  # not 8-bit values scaled up
    ref = upscaler.bicubic_upscale(arr, 2)
    np.testing.assert_array_equal(out, ref)


def test_16bit_colour_exif_orientation_matches_pillows(tmp_path):
    for code in range(1, 9):
        arr8 = rgb(h=3, w=5, seed=code)
        exif = Image.Exif()
        exif[0x0112] = code
        Image.fromarray(arr8).save(tmp_path / "o8.tif", exif=exif)
        expect = np.asarray(imageio.read_image(tmp_path / "o8.tif"))
        got = imageio._orient(arr8, code)
        np.testing.assert_array_equal(got, expect, err_msg=f"orientation {code}")


def test_16bit_colour_cannot_be_written_where_8_bits_only(tmp_path):
    for name in ("deep.jpg", "deep.bmp", "deep.webp"):
        with pytest.raises(ImageError, match=r"16-bit colour can only be written as \.png or \.tif"):
            imageio.save_image(deep(), tmp_path / name)
    assert leftovers(tmp_path) == [] and os.listdir(tmp_path) == []


def test_16bit_grey_alpha_is_refused_not_truncated(tmp_path):
    import imagecodecs

    path = tmp_path / "la16.png"
    path.write_bytes(imagecodecs.png_encode(deep(channels=2)))
    with pytest.raises(ImageError, match="la16.png.*16-bit grey\\+alpha"):
        imageio.load_image(path)


def test_truncated_16bit_png_names_the_file(tmp_path):
    path = tmp_path / "cut.png"
    imageio.save_image(deep(h=40, w=40), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.png.*truncated or corrupt"):
        imageio.load_image(path)


# ----------------------------------------------------------------------------- declared size

def declared_png(path, width, height):
    """A valid PNG header declaring width x height, followed by a cut-off pixel stream: only a
    reader that decodes before checking the size would notice the truncation."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (width + 1) * 4)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat))
    return path


def test_image_size_reads_the_header_only(tmp_path):
    path = declared_png(tmp_path / "huge.png", 12000, 9000)
    assert imageio.image_size(path) == (12000, 9000)


def test_declared_size_refused_before_decoding(tmp_path, recwarn):
    from vdsr_tf.infer import upscaler

    path = declared_png(tmp_path / "huge.png", 12000, 9000)
    with pytest.raises(ValueError, match="output would be 18000x24000"):
        upscaler.bicubic_upscale(str(path), 2)  # not "truncated": nothing was decoded
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


# ----------------------------------------------------------------------------- kill -9 leftovers

def test_temporaries_of_a_killed_writer_are_removed_on_the_next_write(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "b0.png"
    script = (
        "import os, signal, sys\n"
        "from PIL import Image\n"
        "import numpy as np\n"
        "from vdsr_tf.core import imageio\n"
        "def die(self, fp, *a, **k):\n"
        "    fp.write(b'partial' * 1000); fp.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"
        "Image.Image.save = die\n"
        "imageio.save_image(np.zeros((8, 8, 3), np.uint8), sys.argv[1])\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", script, str(out)], cwd=root, timeout=120,
                          env=dict(os.environ, PYTHONPATH=root))
    assert proc.returncode == -9
    assert len(leftovers(tmp_path)) == 1 and not out.exists()  # what kill -9 leaves
    imageio.save_image(rgb(), out)
    assert leftovers(tmp_path) == [] and os.listdir(tmp_path) == ["b0.png"]


def test_temporaries_of_live_writers_are_kept(tmp_path):
    from vdsr_tf.core import atomic

    mine = tmp_path / (atomic.temp_prefix(tmp_path / "x.png") + "abcdefgh.tmp")
    mine.write_bytes(b"in progress")
    imageio.save_image(rgb(), tmp_path / "x.png")
    assert mine.exists()


def test_16bit_tiff_with_premultiplied_alpha_is_refused(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "assoc.tif", deep(channels=4), photometric="rgb", extrasamples=["assocalpha"])
    with pytest.raises(ImageError, match="assoc.tif.*premultiplied"):
        imageio.load_image(tmp_path / "assoc.tif")
