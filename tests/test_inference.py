"""vdsr_tf.infer.upscaler: kinds in = kinds out, the colour pipeline, scales, tiling, predictors."""
import math

import numpy as np
import pytest
from PIL import Image

from vdsr_tf import build_vdsr
from vdsr_tf.core import matlab
from vdsr_tf.infer import upscaler
from vdsr_tf.infer.upscaler import bicubic_upscale, super_resolve


@pytest.fixture(scope="module")
def tiny():
    import keras

    keras.utils.set_random_seed(0)
    return build_vdsr(depth=3, filters=8)


def identity(x):
    return x


def image(shape=(12, 15, 3), dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
    return rng.random(shape).astype(dtype)


# ----------------------------------------------------------------------------- scale

@pytest.mark.parametrize("scale", [0.5, 0, -2, 0.999, math.nan, math.inf, -math.inf, 8.5, 1e9])
def test_bad_scale_values(tiny, scale):
    with pytest.raises(ValueError, match=r"scale must be (a finite number in \[1, 8\], got"
                                         r"|>= 1 \(super-resolution enlarges\), got|<= 8, got)"):
        super_resolve(image(), scale, model=tiny)


@pytest.mark.parametrize("scale", [True, "2", None, [2], 2 + 0j])
def test_bad_scale_types(tiny, scale):
    with pytest.raises(TypeError, match=r"scale must be a real number in \[1, 8\], got"):
        super_resolve(image(), scale, model=tiny)


def test_scale_checked_before_anything_else():
    # No model, no weights: a bad scale must still be reported as the scale's fault.
    with pytest.raises(ValueError, match="scale must be >= 1"):
        super_resolve(image(), 0.5)
    with pytest.raises(ValueError, match="scale must be <= 8, got 100"):
        bicubic_upscale(image(), 100)


def test_scale_cap_accepts_limit_and_numpy_numbers(tiny):
    assert upscaler.check_scale(np.float32(2.5)) == 2.5
    assert upscaler.check_scale(np.int64(3)) == 3.0
    assert upscaler.check_scale(upscaler.MAX_SCALE) == upscaler.MAX_SCALE


@pytest.mark.parametrize("hw, scale", [((12, 15), 2), ((12, 15), 3), ((12, 15), 4),
                                       ((12, 15), 2.5), ((13, 7), 2.3), ((9, 11), 1),
                                       ((10, 10), 1.25), ((7, 9), 8)])
def test_output_size_is_matlab_ceil(tiny, hw, scale):
    out = super_resolve(image(hw + (3,)), scale, model=tiny)
    expect = (matlab.output_length(hw[0], scale), matlab.output_length(hw[1], scale))
    assert out.shape == expect + (3,)
    assert expect == (math.ceil(hw[0] * scale - 1e-9), math.ceil(hw[1] * scale - 1e-9))


def test_output_pixel_limit(tiny, monkeypatch):
    monkeypatch.setattr(upscaler, "MAX_OUTPUT_PIXELS", 1000)
    with pytest.raises(ValueError, match="pixel limit"):
        super_resolve(image((20, 20)), 2, model=tiny)


# ----------------------------------------------------------------------------- arguments

def test_model_and_weights_exclusive(tiny, tmp_path):
    with pytest.raises(ValueError, match="not both"):
        super_resolve(image(), 2, model=tiny, weights=tmp_path / "w.weights.h5")


def test_bad_backend_and_model_types(tiny):
    with pytest.raises(ValueError, match=r"backend must be one of \('keras', 'tflite', 'saved_model'\), got 'onnx'"):
        super_resolve(image(), 2, model=tiny, backend="onnx")
    with pytest.raises(ValueError, match="backend='saved_model' needs weights=<path to the exported model>"):
        super_resolve(image(), 2, backend="saved_model")  # (tflite without weights: the bundled int8 model)
    for backend in ("tflite", "saved_model"):  # make_predictor has no bundled TFLite fallback: it says so too
        with pytest.raises(ValueError, match=rf"backend='{backend}' needs weights=<path to the exported model> "
                                             r"\(vdsr-tf export writes one\)$"):
            upscaler.make_predictor(backend=backend)
    with pytest.raises(ValueError, match="model= is a Keras model; backend='tflite' reads an exported file"):
        super_resolve(image(), 2, model=tiny, backend="tflite")
    with pytest.raises(TypeError, match="model must be a keras.Model or a predictor callable, got str"):
        super_resolve(image(), 2, model="vdsr")
    with pytest.raises(TypeError, match="weights"):
        super_resolve(image(), 2, weights=3)


def test_model_with_wrong_input_channels():
    import keras

    inp = keras.Input((None, None, 3))
    bad = keras.Model(inp, keras.layers.Conv2D(3, 3, padding="same")(inp))
    with pytest.raises(ValueError, match="input shape"):
        super_resolve(image(), 2, model=bad)


@pytest.mark.parametrize("tile, error", [(10, ValueError), (40, ValueError), (41, ValueError), (79, ValueError),
                                         (-5, ValueError),
                                         (True, TypeError), (64.0, TypeError), ("64", TypeError)])
def test_bad_tile(tiny, tile, error):
    with pytest.raises(error, match="tile"):
        super_resolve(image(), 2, model=tiny, tile=tile)


def test_a_small_tile_is_refused_naming_the_floor_that_bounds_the_overhead(tiny):
    # 41 was accepted and kept one pixel per tile: 6,400 tiles for a 60x60 input at x2.
    assert upscaler.MIN_TILE_HALOS * upscaler.MIN_HALO == 80
    with pytest.raises(ValueError, match=r"^tile must be None/0 \(whole image\) or >= 80 \(4 times the 20-pixel "
                                         r"halo, which keeps tiling under 4x the work of a whole-image run\), got 41$"):
        upscaler.Upscaler(model=tiny, tile=41)
    calls = []
    up = upscaler.Upscaler(model=lambda x: calls.append(x.shape) or x, tile=80)
    up(image((60, 60)), 2)
    assert len(calls) == 4  # 120x120 output: 2x2 tiles
    pixels = sum(h * w for _, h, w, _ in calls)
    assert pixels <= 4 * 120 * 120


def test_a_predictor_returning_nan_or_inf_is_an_error_naming_it(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    broken = build_vdsr(depth=3, filters=8)
    kernel = broken.get_layer("conv_03").kernel  # the last conv: no ReLU to hide the NaN
    kernel.assign(np.where(np.arange(kernel.numpy().size).reshape(kernel.shape) == 5, np.nan, kernel.numpy()))
    with pytest.raises(ValueError, match=r"^Keras model 'vdsr' returned NaN or inf \(\d+ of 720 values of a 24x30 "
                                         r"tile\): the network or its file is damaged; restore or re-create it$"):
        super_resolve(image(), 2, model=broken)  # was: a black picture, no error

    def overflowing(x):
        return np.where(x > 0.5, np.inf, x).astype(np.float32)

    with pytest.raises(ValueError, match=r"^predictor test_a_predictor.*overflowing returned NaN or inf"):
        upscaler.Upscaler(model=overflowing, tile=80)(image((60, 60)), 2)  # checked per tile too

    class Described:
        description = "my network 'x.bin'"

        def __call__(self, x):
            return np.full_like(x, np.nan)

    with pytest.raises(ValueError, match=r"^my network 'x\.bin' returned NaN"):
        super_resolve(image(), 2, model=Described())


def test_missing_default_weights_say_how(monkeypatch, tmp_path):
    from vdsr_tf.nn import weights

    monkeypatch.setattr(weights, "BUNDLED_WEIGHTS", tmp_path / "none.weights.h5")
    with pytest.raises(FileNotFoundError, match="weights="):
        super_resolve(image(), 2)


def test_weights_file_matches_model(tiny, tmp_path):
    path = tmp_path / "tiny.weights.h5"
    tiny.save_weights(path)
    a = image()
    np.testing.assert_array_equal(super_resolve(a, 2, weights=path),
                                  super_resolve(a, 2, model=tiny))


def test_path_gives_pil_and_input_untouched(tiny, tmp_path):
    path = tmp_path / "in.png"
    Image.fromarray(image()).save(path)
    before = path.read_bytes()
    out = super_resolve(str(path), 2, model=tiny)
    assert isinstance(out, Image.Image) and out.mode == "RGB" and out.size == (30, 24)
    assert path.read_bytes() == before


def test_input_array_not_modified(tiny):
    a = image()
    keep = a.copy()
    super_resolve(a, 3, model=tiny)
    np.testing.assert_array_equal(a, keep)


def test_bad_input_reaches_caller(tiny, tmp_path):
    with pytest.raises(ValueError, match="NaN"):
        super_resolve(np.full((5, 5), np.nan, np.float32), 2, model=tiny)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        super_resolve(str(tmp_path / "missing.png"), 2, model=tiny)
    with pytest.raises(ValueError, match="CMYK"):
        super_resolve(Image.new("CMYK", (5, 5)), 2, model=tiny)


# ----------------------------------------------------------------------------- pipeline

def reference_rgb(a, scale, net=identity):
    """docs/protocol.md steps 3-4 spelt out with the matlab module, float64 throughout."""
    ycc = matlab.rgb2ycbcr(a.astype(np.float64) / 255)
    y = net(matlab.imresize(ycc[..., 0], scale))
    cb, cr = matlab.imresize(ycc[..., 1], scale), matlab.imresize(ycc[..., 2], scale)
    rgb = matlab.ycbcr2rgb(np.stack([y, cb, cr], -1))
    return np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("scale", [2, 3, 2.5])
def test_bicubic_matches_protocol(scale):
    a = image((16, 13, 3))
    got = bicubic_upscale(a, scale)
    want = reference_rgb(a, scale)
    # float32 vs float64 rounding may flip an exact .5 at most by one level
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    assert (got != want).mean() < 0.01


def test_network_on_luminance_only(tiny):
    a = image((10, 11, 3))
    net = lambda y: tiny.predict(y[None, ..., None].astype(np.float32), verbose=0)[0, ..., 0]
    got = super_resolve(a, 2, model=tiny, tile=None)
    want = reference_rgb(a, 2, net)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_identity_predictor_equals_bicubic():
    for shape in [(12, 15), (12, 15, 3), (12, 15, 4)]:
        a = image(shape)
        np.testing.assert_array_equal(super_resolve(a, 2.5, model=identity), bicubic_upscale(a, 2.5))


def test_grey_used_as_is(tiny):
    a = image((10, 12))
    got = super_resolve(a, 2, model=tiny)
    y = matlab.imresize(a.astype(np.float64) / 255, 2).astype(np.float32)
    net = tiny.predict(y[None, ..., None], verbose=0)[0, ..., 0]
    want = np.clip(np.round(net * 255), 0, 255).astype(np.uint8)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_alpha_bicubic_and_kept(tiny):
    a = image((10, 12, 4))
    got = super_resolve(a, 2, model=tiny)
    alpha = matlab.imresize(a[..., 3].astype(np.float64) / 255, 2)
    want = np.clip(np.round(alpha * 255), 0, 255)
    assert np.abs(got[..., 3] - want).max() <= 1
    # colour channels equal the RGB result without alpha
    np.testing.assert_array_equal(got[..., :3], super_resolve(a[..., :3], 2, model=tiny))


def test_uint16_precision_kept(tiny):
    a = (image((10, 12), np.uint16) // 4 + 1000).astype(np.uint16)
    out = super_resolve(a, 2, model=identity)
    want = matlab.imresize(a.astype(np.float64) / 65535, 2) * 65535
    assert out.dtype == np.uint16
    assert np.abs(out - np.clip(np.round(want), 0, 65535)).max() <= 1
    assert len(np.unique(out)) > 256  # not squeezed through 8 bits


# ----------------------------------------------------------------------------- tiling

def test_tile_spans_partition():
    for length in range(1, 300, 7):
        for tile in (41, 64, 100, 257):
            spans = upscaler.tile_spans(length, tile, 20)
            assert len({stop - start for start, stop, _, _ in spans}) == 1
            assert spans[0][2] == 0 and spans[-1][3] == length
            for (s, e, k0, k1), nxt in zip(spans, spans[1:] + [None]):
                assert 0 <= s and e <= length and e - s <= tile
                assert s == 0 or s <= k0 - 20
                assert e == length or e >= k1 + 20
                if nxt is not None:
                    assert nxt[2] == k1


@pytest.mark.parametrize("scale", [2, 2.5])
def test_tiled_equals_whole(tiny, scale):
    data = image((70, 70, 3), np.float32, seed=3)
    whole = upscaler.Upscaler(model=tiny, tile=None)
    calls = []

    def counting(x):
        calls.append(x.shape)
        return whole.predictor(x)

    tiled = upscaler.Upscaler(model=counting, tile=80)
    assert tiled.halo == upscaler.MIN_HALO  # a bare callable gets the smallest halo
    np.testing.assert_allclose(tiled(data, scale), whole(data, scale), atol=1e-5, rtol=0)
    assert len(calls) >= 9 and len(set(calls)) == 1  # many tiles, one shape


@pytest.mark.parametrize("scale", [2, 3])
def test_tiled_equals_whole_when_the_network_sees_the_whole_halo(scale):
    """A network whose receptive radius is the halo: a tile that kept less context than the
    radius would differ from the whole-image run at its seams (checked below by shrinking the
    halo by 3 px), and a zero residual, which would make any halo pass, is ruled out."""
    import keras

    keras.utils.set_random_seed(1)
    net = build_vdsr(depth=upscaler.MIN_HALO, filters=4)
    data = image((70, 70, 3), np.float32, seed=3)
    whole = upscaler.Upscaler(model=net, tile=None)(data, scale)
    tiled = upscaler.Upscaler(model=net, tile=80)
    assert tiled.halo == tiled.predictor.receptive_radius == upscaler.MIN_HALO
    assert np.abs(whole - upscaler.bicubic_upscale(data, scale)).max() > 1e-2  # the network does something
    np.testing.assert_allclose(tiled(data, scale), whole, atol=1e-5, rtol=0)
    tiled.halo = upscaler.MIN_HALO - 3  # what a halo bug of 3 px would do
    assert np.abs(tiled(data, scale) - whole).max() > 1e-5


def test_tiled_equals_whole_public_api(tiny):
    a = image((40, 50), np.float32, seed=4)
    np.testing.assert_allclose(super_resolve(a, 2, model=tiny, tile=80),
                               super_resolve(a, 2, model=tiny, tile=None), atol=1e-5, rtol=0)


def test_halo_follows_deep_models():
    import keras

    keras.utils.set_random_seed(2)
    deep = build_vdsr(depth=25, filters=4)
    predictor = upscaler.make_predictor(model=deep)
    assert predictor.receptive_radius == 25
    a = image((60, 60), np.float32, seed=5)
    with pytest.raises(ValueError, match=">= 100 .*25-pixel halo"):
        super_resolve(a, 2, model=deep, tile=99)
    whole = super_resolve(a, 2, model=deep, tile=None)
    assert np.abs(whole - upscaler.bicubic_upscale(a, 2)).max() > 1e-2  # a zero residual would pass any halo
    tiled = upscaler.Upscaler(model=deep, tile=100)
    assert tiled.halo == 25
    np.testing.assert_allclose(tiled(a, 2), whole, atol=1e-5, rtol=0)
    tiled.halo = upscaler.MIN_HALO  # the paper network's halo would be too short for this one
    assert np.abs(tiled(a, 2) - whole).max() > 1e-5


def test_one_trace_for_many_sizes(tiny):
    up = upscaler.Upscaler(model=tiny, tile=80)
    for hw in [(8, 9), (13, 6), (20, 20)]:
        up(image(hw), 2.5)  # each fits one tile: a whole-image run
    up(image((50, 50)), 2)  # 100x100: tiled
    assert up.predictor.traces == 1


def test_predictors_are_not_shared():
    from vdsr_tf.nn import weights

    model = build_vdsr(depth=2, filters=2)
    first = upscaler.make_predictor(model=model)
    assert isinstance(first, upscaler.Predictor) and first.model is model
    assert upscaler.make_predictor(model=model) is not first  # nothing stashed on the model
    a, b = upscaler.Upscaler(), upscaler.Upscaler()  # the bundled weights
    shared = weights.load_model()
    assert a.predictor.model is not b.predictor.model
    assert shared not in (a.predictor.model, b.predictor.model)
    np.testing.assert_array_equal(a.predictor.model.get_layer("conv_01").kernel.numpy(),
                                  shared.get_layer("conv_01").kernel.numpy())


def test_min_halo_is_the_paper_network_radius():
    from vdsr_tf.nn import model as model_lib

    assert upscaler.MIN_HALO == model_lib.receptive_radius(build_vdsr()) == model_lib.DEPTH


def test_super_resolve_keeps_no_model_alive():
    import gc
    import weakref

    model = build_vdsr(depth=2, filters=2)
    super_resolve(image((8, 8)), 2, model=model)
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


# ---------------------------------------------------------------------------- precision

def test_bfloat16_precision_close_to_float32():
    from vdsr_tf import build_vdsr
    from vdsr_tf.infer import upscaler

    model = build_vdsr(depth=3, filters=8)
    img = np.random.default_rng(11).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    f32 = upscaler.super_resolve(img, 2, model=model, tile=None)
    bf16 = upscaler.super_resolve(img, 2, model=model, tile=None, precision="bfloat16")
    assert bf16.shape == f32.shape and bf16.dtype == np.uint8
    # bfloat16 keeps ~3 significant digits in the hidden layers: a grey level or two at most.
    assert np.abs(bf16.astype(int) - f32.astype(int)).max() <= 3
    pred = upscaler.Upscaler(model=model, precision="bfloat16").predictor
    assert pred.model is not model and model.get_layer("conv_01").compute_dtype == "float32"
    assert pred.model.get_layer("conv_01").compute_dtype == "bfloat16"
    assert pred.model.get_layer("conv_03").compute_dtype == "float32"


@pytest.mark.parametrize("kwargs, message", [
    ({"precision": "float16"}, r"precision must be one of \('float32', 'bfloat16', 'auto'\), got 'float16'"),
    ({"precision": None}, "precision must be one of .* got None"),
    ({"precision": "bfloat16", "backend": "tflite", "weights": "x.tflite"},
     "precision='bfloat16' applies to backend='keras'"),
])
def test_bad_precision_rejected(kwargs, message):
    from vdsr_tf.infer import upscaler

    with pytest.raises(ValueError, match=message):
        upscaler.make_predictor(**kwargs)
