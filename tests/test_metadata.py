"""Photos keep their EXIF (camera, date, GPS; upright, size updated) and ICC profile through
super_resolve, save_image and the CLI, in every format that can hold them; --quality sets
JPEG/WebP quality (issue 26 item 3)."""
import io
import os

import numpy as np
import pytest
from PIL import Image

from vdsr_tf.cli import main
from vdsr_tf.core import imageio
from vdsr_tf.infer import upscaler

ICC = b"\x00\x00\x02\x0cfake-but-carried-icc-profile" * 4
MAKE, DATE, GPS_IFD = 0x010F, 0x9003, 0x8825


def photo(path, size=(24, 16), orientation=6):
    """A JPEG as a camera writes it: EXIF with make, date, GPS, orientation and pixel size."""
    exif = Image.Exif()
    exif[MAKE] = "TestCam"
    exif[0x0112] = orientation
    sub = exif.get_ifd(0x8769)
    sub[DATE] = "2026:12:06 10:00:00"
    sub[0xA002], sub[0xA003] = size
    exif.get_ifd(GPS_IFD)[1] = "N"
    arr = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).save(path, "JPEG", quality=95, exif=exif.tobytes(), icc_profile=ICC)
    return str(path)


def check(image, size):
    exif = image.getexif()
    assert exif[MAKE] == "TestCam" and exif.get(0x0112, 1) == 1
    sub = exif.get_ifd(0x8769)
    assert sub[DATE] == "2026:12:06 10:00:00" and (sub[0xA002], sub[0xA003]) == size
    assert exif.get_ifd(GPS_IFD)[1] == "N"
    assert image.info.get("icc_profile") == ICC


def test_super_resolve_result_carries_exif_and_icc(tmp_path):
    src = photo(tmp_path / "a.jpg")
    out = upscaler.bicubic_upscale(src, 2)
    assert out.size == (32, 48)  # orientation 6: turned upright, then doubled
    check(out, out.size)


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp", ".tif"])
def test_save_image_writes_them_in_every_format_that_holds_them(tmp_path, ext):
    out = upscaler.bicubic_upscale(photo(tmp_path / "a.jpg"), 2)
    dst = imageio.save_image(out, tmp_path / f"b{ext}")
    with Image.open(dst) as written:
        check(written, (32, 48))


@pytest.mark.parametrize("ext", [".jpg", ".tif"])
def test_a_tiff_photo_keeps_its_exif_but_not_its_layout_tags(tmp_path, ext):
    """A TIFF keeps EXIF in its own tags (Pillow gives no info["exif"] for it): camera, date,
    GPS and the Exif IFD ride on, the file's strip and size tags do not."""
    with Image.open(photo(tmp_path / "a.jpg")) as jpeg:
        src = tmp_path / "a.tif"
        jpeg.save(src, exif=jpeg.getexif().tobytes(), icc_profile=ICC)
    out = upscaler.bicubic_upscale(str(src), 2)
    assert out.size == (32, 48)  # orientation 6 applied on reading
    check(out, out.size)
    assert not {256, 257, 273, 279} & set(out.getexif())  # width, height, strip offsets and counts
    with Image.open(imageio.save_image(out, tmp_path / f"b{ext}")) as written:
        check(written, (32, 48))


def test_bmp_and_arrays_have_no_metadata_and_that_is_fine(tmp_path):
    out = upscaler.bicubic_upscale(photo(tmp_path / "a.jpg"), 2)
    imageio.save_image(out, tmp_path / "b.bmp")
    assert Image.open(tmp_path / "b.bmp").size == (32, 48)
    arr = upscaler.bicubic_upscale(np.asarray(Image.open(tmp_path / "a.jpg")), 2)
    assert isinstance(arr, np.ndarray)


def test_a_damaged_exif_block_is_dropped_not_fatal(tmp_path):
    img = Image.new("RGB", (8, 8))
    img.info["exif"] = b"Exif\x00\x00garbage"
    out = upscaler.bicubic_upscale(img, 2)
    assert out.size == (16, 16)


def test_cli_keeps_metadata_and_takes_quality(tmp_path, capsys):
    src = photo(tmp_path / "a.jpg", size=(64, 48), orientation=1)
    sizes = {}
    for q in (30, 95):
        dst = tmp_path / f"q{q}.jpg"
        assert main(["upscale", src, "-o", str(dst), "-s", "2", "--bicubic", "--quality", str(q)]) == 0
        with Image.open(dst) as written:
            check(written, (128, 96))
        sizes[q] = os.path.getsize(dst)
    assert sizes[30] < sizes[95] * 0.8
    for bad in ("0", "101", "high"):
        assert main(["upscale", src, "-o", str(tmp_path / "x.jpg"), "-s", "2", "--quality", bad]) == 2
        assert "quality must be" in capsys.readouterr().err
    assert not (tmp_path / "x.jpg").exists()
    assert main(["upscale", src, "-o", str(tmp_path / "x.png"), "-s", "2", "--bicubic", "--quality", "50"]) == 2
    assert "--quality applies to JPEG and WebP outputs" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_pil_input_keeps_exif_through_a_png_round_trip(tmp_path):
    buf = io.BytesIO()
    Image.open(photo(tmp_path / "a.jpg", orientation=1)).save(buf, "PNG", exif=Image.open(tmp_path / "a.jpg").getexif())
    buf.seek(0)
    out = upscaler.bicubic_upscale(Image.open(buf), 3)
    assert out.getexif()[MAKE] == "TestCam" and out.getexif().get_ifd(0x8769)[0xA002] == 72


def test_a_pil_image_keeps_its_orientation_since_its_pixels_are_not_turned(tmp_path):
    img = Image.open(photo(tmp_path / "a.jpg", size=(24, 16), orientation=6))
    out = upscaler.bicubic_upscale(img, 2)
    assert out.size == (48, 32) and out.getexif()[0x0112] == 6  # stored as the input: a viewer turns both


def test_what_a_format_cannot_hold_is_refused_or_left_behind(tmp_path):
    grey16 = Image.fromarray(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)
    with pytest.raises(imageio.ImageError, match="16-bit or float grey .* only be written as .png or .tif"):
        imageio.save_image(grey16, tmp_path / "g.webp")
    assert not (tmp_path / "g.webp").exists()
    big = Image.new("RGB", (8, 8))
    exif = Image.Exif()
    exif[0x010E] = "x" * 70000  # ImageDescription: more than one JPEG APP1 segment holds
    big.info["exif"] = exif.tobytes()
    imageio.save_image(big, tmp_path / "big.jpg")  # the picture is written, its EXIF left behind
    assert Image.open(tmp_path / "big.jpg").size == (8, 8)


def test_quality_reaches_every_jpeg_extension(tmp_path):
    src = photo(tmp_path / "a.jpg", size=(64, 48), orientation=1)
    sizes = {}
    for q in (30, 95):
        out = tmp_path / f"q{q}.jfif"
        assert main(["upscale", src, "-o", str(out), "-s", "2", "--bicubic", "--quality", str(q)]) == 0
        sizes[q] = os.path.getsize(out)
    assert sizes[30] < sizes[95] * 0.8
