"""Tests for the weights run's recipe options: wsd schedule, warm start, zero last layer, L1 loss."""
import numpy as np
import pytest

from vdsr_tf.core import matlab
from vdsr_tf.data import patches as data_lib
from vdsr_tf.nn.model import build_vdsr
from vdsr_tf.train import Trainer, learning_rate_at
from vdsr_tf.train.config import TrainConfig

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


# ----------------------------------------------------------------------------- weight average
ADAM = dict(optimizer="adam", lr=1e-3, theta=0, weight_decay=0)


def _weights(model):
    return [np.array(v.numpy()) for v in model.trainable_variables]


def _averages(tr):
    return _weights(tr.backend.eval_model(average=True))


def test_weight_average_is_the_ema_of_the_weights_and_leaves_training_alone(patch_set, tmp_path):
    d = 0.6
    cfg = TrainConfig(steps=4, ema_decay=d, **ADAM, **TINY)
    tr = Trainer(cfg, str(tmp_path / "ema"), patch_set=patch_set)
    expect = _weights(tr.model)
    batches = tr.backend.batches(patch_set, 0, 4)
    for _ in range(4):
        tr.backend.train_step(next(batches), 1e-3)
        tr.backend.advance(tr.current_step + 1, 0.0)
        expect = [d * a + (1 - d) * w for a, w in zip(expect, _weights(tr.model))]
    for got, want in zip(_averages(tr), expect):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    assert any(not np.allclose(a, w) for a, w in zip(expect, _weights(tr.model)))
    # The average only watches: the weights are those of the same run without it.
    plain = Trainer(cfg.replace(ema_decay=0.0), str(tmp_path / "plain"), patch_set=patch_set)
    plain.run()
    for a, b in zip(_weights(plain.model), _weights(tr.model)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="no weight average"):
        plain.backend.eval_model(average=True)


@pytest.mark.parametrize("bad", [-0.1, 1.0, float("nan")])
def test_ema_decay_must_be_in_0_1(bad):
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(ema_decay=bad)


def test_a_run_with_a_weight_average_validates_it_and_ships_it(patch_set, tmp_path):
    import json

    from PIL import Image

    val = tmp_path / "val"
    val.mkdir()
    rng = np.random.default_rng(5)
    for i in range(2):
        plane = matlab.imresize(rng.random((8, 8, 3)), output_shape=(48, 48))
        Image.fromarray(np.clip(plane * 255, 0, 255).astype(np.uint8)).save(val / f"{i}.png")
    cfg = TrainConfig(steps=6, ema_decay=0.5, val_data=str(val), val_every=3, **ADAM, **TINY)
    work = tmp_path / "run"
    tr = Trainer(cfg, str(work), patch_set=patch_set)
    card = tr.run()
    hist = json.loads((work / "history.json").read_text())
    assert [r["step"] for r in hist["val"]] == [3, 6]
    for row in hist["val"]:
        assert set(row["ema"]["psnr"]) == set(row["psnr"]) == {"2", "3", "4"}
    last = hist["val"][-1]
    assert last["ema"]["psnr"] != last["psnr"]  # two different sets of weights were scored
    # The file holds the average, and the card describes the average.
    shipped = build_vdsr(depth=3, filters=8)
    shipped.load_weights(str(work / "vdsr.weights.h5"))
    for a, b in zip(_weights(shipped), _averages(tr)):
        np.testing.assert_array_equal(a, b)
    assert "moving average" in card["weights_are"]
    assert card["validation"]["final"] == last["ema"]["psnr"]
    assert [r["psnr"] for r in card["validation"]["table"]] == [last["ema"]["psnr"][s] for s in ("2", "3", "4")]


def test_writing_a_stopped_runs_average_scores_it_even_where_the_step_was_scored_without(patch_set, tmp_path):
    # runs/branch_decay.sh 0: the open run's checkpoint re-run with --steps at its own step.
    val = tmp_path / "val"
    val.mkdir()
    plane = matlab.imresize(np.random.default_rng(6).random((8, 8)), output_shape=(48, 48))
    from PIL import Image

    Image.fromarray(np.clip(plane * 255, 0, 255).astype(np.uint8)).save(val / "0.png")
    cfg = TrainConfig(steps=5, val_data=str(val), val_every=5, scales=(2.0, 3.0), **ADAM, **TINY)
    work = str(tmp_path / "run")
    Trainer(cfg, work, patch_set=patch_set).run()
    card = Trainer(cfg.replace(ema_decay=0.9), work, patch_set=patch_set).run()
    row = card["validation"]["history"][-1]
    assert row["step"] == 5 and set(row["ema"]["psnr"]) == {"2", "3"}
    assert [r["step"] for r in card["validation"]["history"]] == [5]
    assert card["validation"]["final"] == row["ema"]["psnr"]


def test_turning_the_average_on_when_resuming_starts_it_at_the_weights_and_checkpoints_keep_it(
        patch_set, tmp_path):
    cfg = TrainConfig(steps=5, **ADAM, **TINY)
    work = str(tmp_path / "run")
    Trainer(cfg, work, patch_set=patch_set).run()  # a checkpoint at step 5 without an average
    on = Trainer(cfg.replace(steps=10, ema_decay=0.7), work, patch_set=patch_set)
    assert on.current_step == 5
    for a, w in zip(_averages(on), _weights(on.model)):
        np.testing.assert_array_equal(a, w)
    on.run()
    kept = _averages(on)
    assert any(not np.array_equal(a, w) for a, w in zip(kept, _weights(on.model)))
    # The step-10 checkpoint holds the average: resuming restores it rather than restarting it.
    again = Trainer(cfg.replace(steps=10, ema_decay=0.7), work, patch_set=patch_set)
    for a, b in zip(_averages(again), kept):
        np.testing.assert_array_equal(a, b)
    # A stopped and resumed run has the average of an uninterrupted one.
    whole = Trainer(cfg.replace(steps=10, ema_decay=0.7), str(tmp_path / "whole"), patch_set=patch_set)
    whole.run()
    split = str(tmp_path / "split")
    Trainer(cfg.replace(steps=5, ema_decay=0.7), split, patch_set=patch_set).run()
    resumed = Trainer(cfg.replace(steps=10, ema_decay=0.7), split, patch_set=patch_set)
    resumed.run()
    for a, b in zip(_averages(resumed), _averages(whole)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)
    # Turning it off again resumes from a checkpoint that holds one.
    off = Trainer(cfg.replace(steps=10), work, patch_set=patch_set)
    for a, b in zip(_weights(off.model), _weights(again.model)):
        np.testing.assert_array_equal(a, b)
