"""The x8 self-ensemble (VDSR+): equivariant by construction, exact under tiling, wired through
super_resolve, Upscaler, evaluate and the CLI."""
import numpy as np
import pytest
from PIL import Image

from vdsr_tf import build_vdsr
from vdsr_tf.cli import main
from vdsr_tf.infer import upscaler
from vdsr_tf.infer.ensemble import TRANSFORMS, EnsemblePredictor, _backward, _forward


def lopsided(x):
    """A predictor that is not equivariant: it adds a ramp along the width and a row offset."""
    _, h, w, _ = x.shape
    ramp = np.linspace(0.0, 0.3, w, dtype=np.float32)[None, None, :, None]
    rows = np.linspace(0.0, 0.1, h, dtype=np.float32)[None, :, None, None] ** 2
    return x * 0.9 + ramp + rows


def plane(h=9, w=13, seed=0):
    return np.random.default_rng(seed).random((1, h, w, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def net():
    import keras

    keras.utils.set_random_seed(3)
    return build_vdsr(depth=upscaler.MIN_HALO, filters=4)


def test_the_eight_transforms_are_distinct_and_undo_exactly():
    x = plane()
    outs = [_forward(x, t, f) for t, f in TRANSFORMS]
    assert len({o.tobytes() + bytes(o.shape) for o in outs}) == 8
    for (t, f), y in zip(TRANSFORMS, outs):
        np.testing.assert_array_equal(_backward(y, t, f), x)


def test_the_ensemble_of_any_predictor_is_equivariant():
    ens = EnsemblePredictor(lopsided)
    x = plane()
    assert np.abs(ens(x) - lopsided(x)).max() > 1e-2  # it changes what a lopsided net does ...
    for t, f in TRANSFORMS:  # ... into something every flip and rotation commutes with
        np.testing.assert_allclose(ens(_forward(x, t, f)), _forward(ens(x), t, f), atol=1e-6)


def test_an_equivariant_predictor_is_its_own_ensemble():
    def blur(x):  # a symmetric 3x3 box filter commutes with every flip and rotation
        p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
        return sum(p[:, i:i + x.shape[1], j:j + x.shape[2]] for i in range(3) for j in range(3)) / 9

    x = plane(11, 7)
    np.testing.assert_allclose(EnsemblePredictor(blur)(x), blur(x), atol=1e-6)


def test_it_keeps_the_halo_and_says_what_it_is(net):
    plain = upscaler.Upscaler(model=net, tile=None)
    ens = upscaler.Upscaler(model=net, tile=None, ensemble=True)
    assert ens.halo == plain.halo == upscaler.MIN_HALO
    assert "x8 self-ensemble" in ens.predictor.description and ens.weights_label.endswith("+")


@pytest.mark.parametrize("scale", [2, 3])
def test_tiled_ensemble_equals_the_whole_image_ensemble(net, scale):
    data = np.random.default_rng(5).random((50, 46, 3)).astype(np.float32)
    whole = upscaler.super_resolve(data, scale, model=net, tile=None, ensemble=True)
    tiled = upscaler.super_resolve(data, scale, model=net, tile=80, ensemble=True)
    plain = upscaler.super_resolve(data, scale, model=net, tile=None)
    assert np.abs(whole - plain).max() > 1e-3  # a random net is not equivariant: the ensemble differs
    np.testing.assert_allclose(tiled, whole, atol=1e-5, rtol=0)


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_ensemble_must_be_a_bool(net, bad):
    with pytest.raises(TypeError, match="ensemble must be True or False"):
        upscaler.super_resolve(np.zeros((8, 8), np.uint8), 2, model=net, ensemble=bad)


def test_evaluate_names_ensembled_methods_with_a_plus(tmp_path, net):
    from vdsr_tf.evaluation import scoring

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    rows = scoring.evaluate(tmp_path, [2], [net, "bicubic"], ensemble=True)
    assert [r["method"] for r in rows] == [net.name + "+", "bicubic"]


def test_cli_ensemble(tmp_path, capsys):
    import keras

    keras.utils.set_random_seed(1)
    weights = tmp_path / "tiny.weights.h5"
    build_vdsr(depth=3, filters=8).save_weights(weights)
    src = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (8, 10, 3), dtype=np.uint8)).save(src)
    code = main(["upscale", str(src), "-o", str(tmp_path / "b.png"), "-s", "2", "-w", str(weights), "--ensemble"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "tiny.weights.h5+" in err and Image.open(tmp_path / "b.png").size == (20, 16)
    code = main(["upscale", str(src), "-o", str(tmp_path / "c.png"), "-s", "2", "--ensemble", "--bicubic"])
    err = capsys.readouterr().err
    assert code == 2 and "--ensemble" in err and not (tmp_path / "c.png").exists()
