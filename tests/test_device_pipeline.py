"""The reference device pipeline (vdsr_tf.device.reference) and the static tile models it runs:
equal to super_resolve (float32 to 1e-5) at several sizes and scales, including pictures smaller
than a tile and tiles reaching past the picture; the mask is what makes the edges exact."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vdsr_tf.core import matlab
from vdsr_tf.device import reference

ROOT = Path(__file__).resolve().parents[1]
TILE = 16  # tiny network: depth 3, so halo 3 and tiles 10 apart


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import keras

    from vdsr_tf.export import convert
    from vdsr_tf.nn.model import build_vdsr

    keras.utils.set_random_seed(5)
    model = build_vdsr(depth=3, filters=4)
    rng = np.random.default_rng(1)
    # He-normal biases start at 0; non-zero ones make padding errors visible (ReLU(bias) != 0).
    model.set_weights([w + 0.05 * rng.standard_normal(w.shape).astype(np.float32) for w in model.get_weights()])
    out = tmp_path_factory.mktemp("tiles")
    # int8 calibration on the kind of picture the tests upscale (bicubic luminance of _picture).
    cal = []
    for seed in range(6):
        y = matlab.imresize(matlab.rgb2ycbcr(_picture(20, 20, seed))[:, :, 0], 2).astype(np.float32)
        cal += [y[None, r:r + 12, c:c + 12, None] for r in (0, 20) for c in (0, 20)]
    paths = convert.export_tile_tflite(model, out, TILE, representative=cal)
    files = dict(zip(convert.TILE_PRECISIONS, paths))
    # The dynamic int8 model of the same calibration: what the int8 tile is held to.
    files["dynamic int8"] = out / "dynamic_int8.tflite"
    files["dynamic int8"].write_bytes(convert.convert_tflite(convert.export_saved_model(model, out / "sm"), "int8",
                                                             representative=cal))
    return model, files


def _picture(h, w, seed=0):
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 1, h * w * 3).reshape(h, w, 3)
    return np.clip(base + 0.2 * rng.random((h, w, 3)), 0, 1).astype(np.float32)


def test_windows_cover_the_axis_once_and_keep_the_halo_inside_the_picture():
    for length in (1, 15, 16, 17, 26, 27, 100, 257):
        spans = reference.windows(length, 16, 3)
        kept = [i for _, k0, k1 in spans for i in range(k0, k1)]
        assert kept == list(range(length))
        for start, k0, k1 in spans:
            assert start <= k0 and k1 <= start + 16
            if start > 0:
                assert k0 - start >= 3  # a window edge inside the picture is a halo away
            if start + 16 < length:
                assert start + 16 - k1 >= 3
    with pytest.raises(ValueError, match="keeps nothing"):
        reference.windows(50, 6, 3)


@pytest.mark.parametrize("size", [(5, 7), (9, 13), (14, 23)])
@pytest.mark.parametrize("scale", [2, 3, 4, 2.5])
def test_float32_tiles_give_super_resolve(tiny, size, scale):
    import vdsr_tf

    model, files = tiny
    img = _picture(*size, seed=size[0])
    want = vdsr_tf.super_resolve(img, scale, model=model, tile=None)
    got = reference.upscale(img, scale, reference.TileModel(files["float32"]))
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-5


def test_grey_pictures_and_the_tile_predictor(tiny):
    import vdsr_tf

    model, files = tiny
    grey = _picture(11, 8)[:, :, 0]
    want = vdsr_tf.super_resolve(grey, 3, model=model, tile=None)
    assert np.abs(reference.upscale(grey, 3, reference.TileModel(files["float32"])) - want).max() <= 1e-5
    # super_resolve runs a tile model given as a TFLite file (the predictor tiles for it).
    via_backend = vdsr_tf.super_resolve(grey, 3, backend="tflite", weights=str(files["float32"]))
    assert np.abs(via_backend - want).max() <= 1e-5


def test_the_mask_is_what_makes_the_edges_exact(tiny):
    """Tiles padded with zeros but told the whole tile is picture differ at the edges."""
    import vdsr_tf

    model, files = tiny
    img = _picture(9, 13)
    want = vdsr_tf.super_resolve(img, 2, model=model, tile=None)
    tm = reference.TileModel(files["float32"])

    class Unmasked:
        tile, halo = tm.tile, tm.halo

        def __call__(self, x, mask):
            return tm(x, np.ones_like(mask))

    assert np.abs(reference.upscale(img, 2, Unmasked()) - want).max() > 1e-3


def test_quantised_tiles_stay_near_float(tiny):
    """float16 tiles within 1e-3 of float32; int8 tiles as near as the dynamic int8 model of the same
    calibration (the patches laid out with masked gaps give the same activation ranges)."""
    import vdsr_tf
    from vdsr_tf.infer.runtimes import TFLitePredictor

    model, files = tiny
    img = _picture(14, 23)
    ref = reference.upscale(img, 2, reference.TileModel(files["float32"]))
    half = reference.upscale(img, 2, reference.TileModel(files["float16"]))
    assert 0 < np.abs(half - ref).max() < 1e-3
    tile8 = np.abs(reference.upscale(img, 2, reference.TileModel(files["int8"])) - ref).mean()
    dyn8 = np.abs(vdsr_tf.super_resolve(img, 2, model=TFLitePredictor(files["dynamic int8"]), tile=None) - ref).mean()
    assert 0 < tile8 <= 1.2 * dyn8


def test_a_dynamic_model_is_not_a_tile_model(tmp_path):
    with pytest.raises(ValueError, match="not a tile model"):
        reference.TileModel(ROOT / "vdsr_tf" / "weights" / "vdsr_x234_float32.tflite")
    with pytest.raises(FileNotFoundError, match="tile model not found"):
        reference.TileModel(tmp_path / "none.tflite")


def _psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - b) ** 2))


@pytest.mark.parametrize("scale", [2, 3, 4, 2.5])
def test_the_exported_tile_models_match_super_resolve_within_their_manifest(scale):
    """exports/vdsr_tile256_*: float32 to 1e-5, float16 and int8 within the manifest's limits."""
    import vdsr_tf

    manifest = json.loads((ROOT / "exports" / "manifest.json").read_text())
    tiles = [a for a in manifest["artifacts"] if a["kind"] == "tile"]
    assert {a["precision"] for a in tiles} == {"float32", "float16", "int8"}
    hr = np.asarray(Image.open(ROOT / "tests" / "device" / "picture.png").convert("RGB"), np.float32) / 255
    hr = hr[:120, :150]
    lr = np.clip(matlab.imresize(hr.astype(np.float64), 1 / scale), 0, 1).astype(np.float32)
    want = vdsr_tf.super_resolve(lr, scale, weights="paper", tile=None)
    h, w = min(want.shape[0], hr.shape[0]), min(want.shape[1], hr.shape[1])
    limits = manifest["limits"]
    for art in tiles:
        got = reference.upscale(lr, scale, reference.TileModel(ROOT / "exports" / art["file"]))
        assert got.shape == want.shape
        if art["precision"] == "float32":
            assert np.abs(got - want).max() <= 1e-5
            continue
        drop = _psnr(want[:h, :w], hr[:h, :w]) - _psnr(got[:h, :w], hr[:h, :w])
        limit = limits["float16_psnr_drop" if art["precision"] == "float16" else "int8_psnr_drop_target"]
        assert drop <= limit, (art["file"], drop)
