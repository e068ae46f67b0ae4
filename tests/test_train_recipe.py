"""Tests for the weights run's recipe options: wsd schedule, warm start, zero last layer, L1 loss."""
import numpy as np
import pytest

from vdsr_tf import data as data_lib
from vdsr_tf import matlab
from vdsr_tf.config import TrainConfig
from vdsr_tf.model import build_vdsr
from vdsr_tf.train import Trainer, learning_rate_at

TINY = dict(depth=3, filters=8, batch_size=4, log_every=5, checkpoint_every=5)


@pytest.fixture(scope="module")
def patch_set():
    rng = np.random.default_rng(0)
    planes = [np.clip(matlab.imresize(rng.random((12, 12)), output_shape=(90, 90)) * 255, 0, 255).astype(np.uint8)
              for _ in range(2)]
    return data_lib.patch_set_from_planes(planes, ["a", "b"], (2.0, 3.0))


def test_wsd_schedule_warms_up_holds_then_decays_linearly():
    c = TrainConfig(lr_schedule="wsd", lr=1.0, steps=100, decay_steps=10, warmup_steps=4, lr_min_factor=0.1)
    lrs = [learning_rate_at(c, s) for s in range(100)]
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lrs[4:90] == pytest.approx([1.0] * 86)
    # From 1.0 at the decay's first step down by 0.09 a step toward 0.1 at `steps`.
    assert lrs[90:] == pytest.approx([1.0 - 0.09 * k for k in range(10)])
    # A branch resumed with a nearer end decays from where the open-ended run stands.
    branch = c.replace(steps=60)
    assert learning_rate_at(branch, 49) == pytest.approx(1.0)
    assert learning_rate_at(branch, 55) == pytest.approx(1.0 - 0.09 * 5)


def test_wsd_without_decay_steps_is_constant_after_warm_up():
    c = TrainConfig(lr_schedule="wsd", lr=0.5, steps=50, warmup_steps=2)
    assert [learning_rate_at(c, s) for s in (0, 1, 2, 49)] == pytest.approx([0.25, 0.5, 0.5, 0.5])


@pytest.mark.parametrize("bad, match", [
    (dict(loss="l3"), "loss"), (dict(decay_steps=-1), "decay_steps"), (dict(init_weights=""), "init_weights"),
    (dict(zero_init_last=1), "zero_init_last"),
])
def test_recipe_options_are_validated(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**bad)


def test_init_weights_warm_starts_the_model_and_not_a_resumed_run(patch_set, tmp_path):
    src = build_vdsr(depth=3, filters=8)
    src.set_weights([w + 0.01 * (i + 1) for i, w in enumerate(src.get_weights())])
    path = str(tmp_path / "src.weights.h5")
    src.save_weights(path)
    cfg = TrainConfig(init_weights=path, steps=5, **TINY)
    tr = Trainer(cfg, str(tmp_path / "run"), patch_set=patch_set)
    for a, b in zip(tr.model.get_weights(), src.get_weights()):
        np.testing.assert_array_equal(a, b)
    tr.run()
    trained = tr.model.get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(trained, src.get_weights()))
    # Resuming restores the checkpoint; the warm start applies only to a fresh run.
    again = Trainer(cfg, str(tmp_path / "run"), patch_set=patch_set)
    for a, b in zip(again.model.get_weights(), trained):
        np.testing.assert_array_equal(a, b)


def test_init_weights_of_another_shape_is_refused(patch_set, tmp_path):
    path = str(tmp_path / "deep.weights.h5")
    build_vdsr(depth=4, filters=8).save_weights(path)
    with pytest.raises(ValueError, match="depth"):
        Trainer(TrainConfig(init_weights=path, steps=1, **TINY), str(tmp_path / "run"), patch_set=patch_set)


def test_zero_init_last_starts_at_the_bicubic_input(patch_set, tmp_path):
    tr = Trainer(TrainConfig(zero_init_last=True, steps=1, **TINY), str(tmp_path), patch_set=patch_set)
    x = np.random.default_rng(1).random((1, 17, 17, 1)).astype(np.float32)
    np.testing.assert_array_equal(tr.model.predict(x, verbose=0), x)
    plain = Trainer(TrainConfig(steps=1, **TINY), str(tmp_path / "p"), patch_set=patch_set)
    assert not np.array_equal(plain.model.predict(x, verbose=0), x)


@pytest.mark.parametrize("loss", ["l1", "l2"])
def test_l1_and_l2_losses_lower_their_error_over_the_patch_set(patch_set, tmp_path, loss):
    cfg = TrainConfig(loss=loss, optimizer="adam", lr=1e-3, theta=0, weight_decay=0, steps=30, **TINY)
    tr = Trainer(cfg, str(tmp_path), patch_set=patch_set)
    x, y = (np.stack(a)[..., None] for a in zip(*(patch_set.patch(i) for i in range(patch_set.num_patches))))

    def err():
        d = y - tr.model.predict(x, verbose=0)
        return float(np.abs(d).mean()) if loss == "l1" else float((d ** 2).mean())

    before = err()
    tr.run()
    after = err()
    assert after < 0.8 * before


def test_l1_and_l2_take_different_steps(patch_set, tmp_path):
    weights = []
    for loss in ("l1", "l2"):
        tr = Trainer(TrainConfig(loss=loss, steps=2, **TINY), str(tmp_path / loss), patch_set=patch_set)
        tr.run()
        weights.append(tr.model.get_weights())
    assert any(not np.allclose(a, b) for a, b in zip(*weights))
