"""Luminance archive: exact round trip of the Matlab Y planes, one-line errors, no TF to read."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from vdsr_tf.data import luma_archive
from vdsr_tf.data.patches import load_luma


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Five small images of mixed modes and sizes in two sub-folders (like T91 + BSDS200)."""
    root = tmp_path_factory.mktemp("hr")
    rng = np.random.default_rng(3)
    files = []
    for i, (h, w, mode) in enumerate([(17, 23, "RGB"), (30, 12, "L"), (9, 41, "RGBA"),
                                      (25, 25, "RGB"), (40, 33, "L")]):
        folder = root / ("a" if i < 3 else "b")
        folder.mkdir(exist_ok=True)
        shape = (h, w) if mode == "L" else (h, w, len(mode))
        path = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
        files.append(str(path))
    return files


def test_round_trip_is_exact(images, tmp_path):
    path = tmp_path / "luma.npz"
    seen = []
    summary = luma_archive.write_luma_archive(images, path, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (5, 5)
    pairs = luma_archive.read_luma_archive(path)
    assert [n for n, _ in pairs] == ["a/img0.png", "a/img1.png", "a/img2.png", "b/img3.png", "b/img4.png"]
    for f, (_, plane) in zip(images, pairs):
        expected = load_luma(f)
        assert plane.dtype == np.uint8 and plane.shape == expected.shape
        np.testing.assert_array_equal(plane, expected)
    assert summary == {"images": 5, "pixels": sum(p.size for _, p in pairs), "bytes": path.stat().st_size}
    assert sorted(os.listdir(tmp_path)) == ["luma.npz"]  # no temporaries left


def test_format_1_archives_still_read(images, tmp_path):
    """Format 1 stored the raw planes under "pixels"; archives made with it keep working."""
    planes = [load_luma(f) for f in images[:3]]
    path = tmp_path / "v1.npz"
    np.savez_compressed(path, format=np.array("vdsr_tf.luma_archive/1"), names=np.array(["x", "y", "z"]),
                        heights=np.array([p.shape[0] for p in planes]), widths=np.array([p.shape[1] for p in planes]),
                        pixels=np.concatenate([p.ravel() for p in planes]))
    pairs = luma_archive.read_luma_archive(path)
    assert [n for n, _ in pairs] == ["x", "y", "z"]
    for plane, (_, got) in zip(planes, pairs):
        np.testing.assert_array_equal(got, plane)


def test_differences_are_smaller_to_store_than_raw_planes(tmp_path):
    """Smooth planes (like photographs) shrink under the second differences; and 0/255 edges round-trip."""
    from PIL import Image

    yy, xx = np.mgrid[0:96, 0:128]
    smooth = (127 + 100 * np.sin(xx / 9.0) * np.cos(yy / 13.0)).astype(np.uint8)
    smooth[40:60, 50:70] = 255
    smooth[0:10, :] = 0
    folder = tmp_path / "img"
    folder.mkdir()
    Image.fromarray(smooth, "L").save(folder / "s.png")
    path = tmp_path / "luma.npz"
    summary = luma_archive.write_luma_archive([folder / "s.png"], path)
    np.testing.assert_array_equal(luma_archive.read_luma_archive(path)[0][1], smooth)
    raw = tmp_path / "raw.npz"
    np.savez_compressed(raw, pixels=smooth.ravel())
    assert summary["bytes"] < raw.stat().st_size


def test_reading_needs_no_tensorflow(images, tmp_path):
    path = tmp_path / "luma.npz"
    luma_archive.write_luma_archive(images[:2], path)
    code = ("import sys; sys.modules['tensorflow'] = None\n"  # importing tensorflow now raises
            "from vdsr_tf.data.luma_archive import read_luma_archive\n"
            f"print(len(read_luma_archive({str(path)!r})))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2"


def test_missing_file_is_one_line_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist") as e:
        luma_archive.read_luma_archive(tmp_path / "nope.npz")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign_npz", "inconsistent"])
def test_corrupt_file_is_one_line_error(images, tmp_path, damage):
    path = tmp_path / "luma.npz"
    luma_archive.write_luma_archive(images[:2], path)
    if damage == "garbage":
        path.write_bytes(b"not an archive at all")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "foreign_npz":
        np.savez(path, x=np.zeros(3))
    else:
        with np.load(path) as z:
            arrays = dict(z)
        arrays["deltas"] = arrays["deltas"][:-1]
        np.savez(path, **arrays)
    with pytest.raises(ValueError, match="luminance archive") as e:
        luma_archive.read_luma_archive(path)
    assert "\n" not in str(e.value)


def test_write_refuses_bad_input_and_keeps_old_archive(images, tmp_path):
    path = tmp_path / "luma.npz"
    luma_archive.write_luma_archive(images[:1], path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="cannot read training image"):
        luma_archive.write_luma_archive([images[0], str(tmp_path / "missing.png")], path)
    with pytest.raises(ValueError, match="no image files"):
        luma_archive.write_luma_archive([], path)
    with pytest.raises(ValueError, match="must end in .npz"):
        luma_archive.write_luma_archive(images, tmp_path / "luma.zip")
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["luma.npz"]
