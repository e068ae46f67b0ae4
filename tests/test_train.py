"""Tests for vdsr_tf.train.config and vdsr_tf.train: schedule, clipping, decay, loss, resume, NaN, outputs."""
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from conftest import kill_once
from PIL import Image

from vdsr_tf.core import matlab
from vdsr_tf.data import patches as data_lib
from vdsr_tf.train import Trainer, TrainingDiverged, clip_bound, learning_rate_at
from vdsr_tf.train.config import TrainConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(depth=3, filters=8, batch_size=8, log_every=5, checkpoint_every=5)


def _smooth_image(h, w, seed):
    rng = np.random.default_rng(seed)
    small = rng.random((h // 10 + 2, w // 10 + 2, 3))
    return np.clip(matlab.imresize(small, output_shape=(h, w)) * 255, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("train_hr")
    for i in range(3):
        Image.fromarray(_smooth_image(90, 90, i)).save(d / f"{i}.png")
    return str(d)


@pytest.fixture(scope="module")
def patch_set(image_dir):
    return data_lib.build_patch_set(data_lib.list_images(image_dir), (2.0, 3.0, 4.0))


# ----------------------------------------------------------------------------- config
def test_config_defaults_are_the_papers():
    c = TrainConfig()
    assert (c.lr, c.momentum, c.weight_decay, c.batch_size) == (0.1, 0.9, 1e-4, 64)
    assert (c.patch_size, c.stride, c.scales, c.depth, c.filters) == (41, 41, (2.0, 3.0, 4.0), 20, 64)
    assert (c.steps, c.lr_decay_every, c.lr_decay_factor, c.optimizer) == (9960, 2490, 0.1, "sgd")
    assert TrainConfig.from_dict(json.loads(c.to_json())) == c
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.lr = 1.0


@pytest.mark.parametrize("bad, match", [
    (dict(scales=(1.0,)), "scale"), (dict(precision="fp16"), "precision"), (dict(lr=0), "lr"),
    (dict(theta=-1), "theta"), (dict(batch_size=0), "batch_size"), (dict(strategy="tpu"), "strategy"),
    (dict(lr_schedule="poly"), "lr_schedule"), (dict(momentum=1.0), "momentum"), (dict(depth=True), "depth"),
])
def test_config_rejects_bad_values(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**bad)


# ----------------------------------------------------------------------------- schedule
def test_step_schedule_boundaries():
    c = TrainConfig()
    assert learning_rate_at(c, 0) == 0.1
    assert learning_rate_at(c, 2489) == 0.1
    assert learning_rate_at(c, 2490) == pytest.approx(0.01)
    assert learning_rate_at(c, 4979) == pytest.approx(0.01)
    assert learning_rate_at(c, 4980) == pytest.approx(0.001)
    assert learning_rate_at(c, 9959) == pytest.approx(1e-4)


def test_cosine_constant_and_warmup():
    c = TrainConfig(lr_schedule="cosine", lr=0.1, steps=100, lr_min_factor=0.01)
    assert learning_rate_at(c, 0) == pytest.approx(0.1)
    assert learning_rate_at(c, 50) == pytest.approx(0.001 + 0.099 * 0.5)
    assert learning_rate_at(c, 100) == pytest.approx(0.001)
    assert learning_rate_at(TrainConfig(lr_schedule="constant"), 10**6) == 0.1
    w = TrainConfig(warmup_steps=10)
    assert learning_rate_at(w, 0) == pytest.approx(0.01)
    assert learning_rate_at(w, 9) == pytest.approx(0.1)
    assert clip_bound(1e-4, 0.1) == pytest.approx(1e-3)
    assert clip_bound(0.0, 0.1) == float("inf")


# ----------------------------------------------------------------------------- one step, by hand
def _one_step_check(patch_set, *, theta, weight_decay, step, lr_decay_every):
    """Runs make_tf_step at ``step``'s lr and checks w' = w - lr * (clip(g) + wd * w)."""
    import tensorflow as tf

    from vdsr_tf.data.sampling import BatchSampler
    from vdsr_tf.train import make_tf_step, recipe

    cfg = TrainConfig(depth=3, filters=8, batch_size=8, momentum=0.0, theta=theta, weight_decay=weight_decay,
                      lr=0.1, lr_decay_every=lr_decay_every, steps=step + 1, augment=False)
    model, opt = recipe.build_model(cfg), recipe.make_optimizer(cfg)
    opt.build(model.trainable_variables)
    train_step = make_tf_step(model, opt, cfg)
    x, y, _ = BatchSampler(patch_set, batch_size=8, seed=0, augment=False).batch(step)
    lr = learning_rate_at(cfg, step)
    w0 = [v.numpy().copy() for v in model.trainable_variables]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(0.5 * tf.reduce_sum(tf.square(y - model(x)), axis=[1, 2, 3]))
    g = [t.numpy() for t in tape.gradient(loss, model.trainable_variables)]
    opt.learning_rate = lr
    train_step(x, y, tf.constant(lr, tf.float32))
    bound = clip_bound(theta, lr)
    for v, w, gi in zip(model.trainable_variables, w0, g):
        decay = weight_decay * w if "kernel" in v.path else 0.0
        expect = w - lr * (np.clip(gi, -bound, bound) + decay)
        np.testing.assert_allclose(v.numpy(), expect, rtol=1e-4, atol=1e-7)
    return g, bound


def test_clip_bound_follows_the_learning_rate(tmp_path, patch_set):
    # lr 0.1 at step 0; lr 0.01 at step 3 (decay every 3): the bound theta/lr moves with it.
    g, bound = _one_step_check(patch_set, theta=1e-4, weight_decay=0.0, step=0, lr_decay_every=3)
    assert bound == pytest.approx(1e-3)
    assert any((np.abs(x) > bound).any() for x in g)  # clipping really acted
    g, bound = _one_step_check(patch_set, theta=1e-4, weight_decay=0.0, step=3, lr_decay_every=3)
    assert bound == pytest.approx(1e-2)
    assert any((np.abs(x) > bound).any() for x in g)


def test_weight_decay_is_applied_to_kernels(tmp_path, patch_set):
    _one_step_check(patch_set, theta=0.0, weight_decay=0.5, step=0, lr_decay_every=10)


def test_validation_scales(tmp_path):
    (tmp_path / "image_SRF_2").mkdir()
    (tmp_path / "image_SRF_4").mkdir()
    from vdsr_tf.train import validation_scales

    assert validation_scales((2.0, 2.5, 3.0, 4.0), str(tmp_path)) == [2, 4]  # Huang: only present scales
    assert validation_scales((2.0, 2.5, 3.0)) == [2, 3]                    # integer scales only


# ----------------------------------------------------------------------------- training runs
def test_loss_falls_and_outputs_are_written(tmp_path, patch_set, image_dir):
    cfg = TrainConfig(**TINY, steps=60, val_data=image_dir, val_every=30, scales=(2.0, 3.0, 4.0))
    tr = Trainer(cfg, str(tmp_path), patch_set=patch_set, command="pytest")
    card = tr.run()
    for name in ("vdsr.weights.h5", "model_card.json", "config.json", "history.json", "val_psnr.png"):
        assert os.path.exists(tmp_path / name), name
    import tensorflow as tf

    tags, losses = set(), {}
    for f in (tmp_path / "tensorboard").iterdir():
        for ev in tf.compat.v1.train.summary_iterator(str(f)):
            tags.update(v.tag for v in ev.summary.value if v.metadata.plugin_data.plugin_name == "scalars")
            losses.update({ev.step: tf.make_ndarray(v.tensor) for v in ev.summary.value if v.tag == "train/loss"})
    # the loss logged at the first step, then every 5 steps (means over the window), falls
    assert sorted(losses) == [1] + list(range(5, 61, 5))
    assert np.mean([losses[55], losses[60]]) < 0.7 * np.mean([losses[5], losses[10]])
    assert {"train/loss", "train/learning_rate", "train/grad_norm", "train/clipped_fraction",
            "val/psnr_x2", "val/psnr_x4", "val/ssim_x3"} <= tags
    on_disk = json.load(open(tmp_path / "model_card.json"))
    assert on_disk["steps"] == 60 and on_disk["config"]["depth"] == 3 and on_disk["command"] == "pytest"
    assert [r["step"] for r in card["validation"]["history"]] == [30, 60]
    assert set(card["validation"]["final"]) == {"2", "3", "4"} and set(card["validation"]["bicubic"]) == {"2", "3", "4"}
    assert card["data"]["grid_patches"] == patch_set.num_patches
    table = card["validation"]["table"]
    assert [r["scale"] for r in table] == [2, 3, 4] and all(r["step"] == 60 for r in table)
    assert all(r["gain_db"] == pytest.approx(r["psnr"] - r["bicubic_psnr"]) and 0 < r["ssim"] <= 1 for r in table)
    # weights load into a fresh model
    from vdsr_tf.nn.model import build_vdsr

    m = build_vdsr(depth=3, filters=8)
    m.load_weights(str(tmp_path / "vdsr.weights.h5"))
    np.testing.assert_array_equal(m.get_layer("conv_01").kernel.numpy(), tr.model.get_layer("conv_01").kernel.numpy())
    # running again is a no-op resume at the end
    tr2 = Trainer(cfg, str(tmp_path), patch_set=patch_set)
    assert tr2.current_step == 60
    # a different network size cannot resume here
    with pytest.raises(ValueError, match="filters"):
        Trainer(cfg.replace(filters=4), str(tmp_path), patch_set=patch_set)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, patch_set):
    cfg = TrainConfig(**TINY, steps=5)
    Trainer(cfg, str(tmp_path), patch_set=patch_set).run()
    bad = data_lib.PatchSet(**{**patch_set.__dict__, "inputs": np.full_like(patch_set.inputs, np.nan)})
    tr = Trainer(cfg.replace(steps=10), str(tmp_path), patch_set=bad)
    assert tr.current_step == 5
    with pytest.raises(TrainingDiverged, match="step 5.*ckpt-5"):
        tr.run()
    assert tr.latest_checkpoint.endswith("ckpt-5")
    assert sorted(f for f in os.listdir(tmp_path / "checkpoints") if f.endswith(".index")) == ["ckpt-5.index"]


def _train_cmd(image_dir, workdir, steps):
    return [sys.executable, os.path.join(REPO, "tools", "train.py"), f"--data={image_dir}", f"--workdir={workdir}",
            "--depth=3", "--filters=8", "--batch_size=8", f"--steps={steps}", "--checkpoint_every=5",
            "--log_every=50", "--val_data=none", "--lr_decay_every=40"]


def test_kill_9_then_rerun_resumes(tmp_path, image_dir):
    """A real subprocess is SIGKILLed mid-run; the same command continues at the saved step and lr."""
    workdir = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": REPO}
    cmd = _train_cmd(image_dir, workdir, 3000)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt_dir = workdir / "checkpoints"
    kill_once(proc, lambda: any(int(p.stem.split("-")[1]) >= 15 for p in ckpt_dir.glob("ckpt-*.index")),
              timeout=120)
    import tensorflow as tf

    saved = tf.train.latest_checkpoint(str(ckpt_dir))
    assert saved is not None
    saved_step = int(saved.rsplit("-", 1)[1])
    assert saved_step < 3000
    # the same command again (with a short total so the test ends): resumes at saved_step
    out = subprocess.run(_train_cmd(image_dir, workdir, saved_step + 45), env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"resumed from {saved} at step {saved_step} (lr {0.1 * 0.1 ** (saved_step // 40):.3g})" in out.stderr
    card = json.load(open(workdir / "model_card.json"))
    assert card["steps"] == saved_step + 45


def test_sigterm_saves_a_checkpoint_and_exits(tmp_path, image_dir):
    workdir = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": REPO}
    cmd = _train_cmd(image_dir, workdir, 3000)
    cmd[cmd.index("--checkpoint_every=5")] = "--checkpoint_every=1000"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (workdir / "config.json").exists() and time.time() < deadline:  # written by Trainer()
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.05)
    time.sleep(2.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    import re

    stopped = int(re.search(r"stopped at step (\d+);", err).group(1))
    assert 0 < stopped < 3000
    import tensorflow as tf

    assert tf.train.latest_checkpoint(str(workdir / "checkpoints")).endswith(f"ckpt-{stopped}")
    assert not (workdir / "vdsr.weights.h5").exists()  # not finished: no final artefacts


@pytest.mark.slow
def test_resumed_run_equals_uninterrupted_run(tmp_path, patch_set):
    cfg = TrainConfig(**TINY, steps=20)
    a = Trainer(cfg, str(tmp_path / "a"), patch_set=patch_set)
    a.run()
    Trainer(cfg.replace(steps=10), str(tmp_path / "b"), patch_set=patch_set).run()
    b = Trainer(cfg, str(tmp_path / "b"), patch_set=patch_set)
    b.run()
    for va, vb in zip(a.model.trainable_variables, b.model.trainable_variables):
        np.testing.assert_allclose(va.numpy(), vb.numpy(), rtol=1e-4, atol=1e-6)


_DIST_SCRIPT = textwrap.dedent("""
    import sys, numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from vdsr_tf.data import patches as data_lib
    from vdsr_tf.train.config import TrainConfig
    from vdsr_tf.train import Trainer
    ps = data_lib.build_patch_set(data_lib.list_images(sys.argv[1]), (2.0, 3.0, 4.0))
    # ema_decay: the weight average is updated in cross-replica context, once per mirrored copy.
    cfg = TrainConfig(depth=3, filters=8, batch_size=8, steps=6, log_every=3, checkpoint_every=3, ema_decay=0.5)
    single = Trainer(cfg, sys.argv[2] + "/single", patch_set=ps)
    single.run()
    multi = Trainer(cfg.replace(strategy="mirrored"), sys.argv[2] + "/mirrored", patch_set=ps)
    assert multi.strategy.num_replicas_in_sync == 2, multi.strategy.num_replicas_in_sync
    multi.run()
    pairs = [*zip(single.model.trainable_variables, multi.model.trainable_variables),
             *zip(single.backend.averages.values, multi.backend.averages.values)]
    diff = max(float(np.max(np.abs(a.numpy() - b.numpy()))) for a, b in pairs)
    scale = max(float(np.max(np.abs(a.numpy()))) for a in single.model.trainable_variables)
    print("MAXDIFF", diff, scale)
""")


def test_two_logical_cpus_match_single_device(tmp_path, image_dir):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": REPO}
    out = subprocess.run([sys.executable, "-c", _DIST_SCRIPT, image_dir, str(tmp_path)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    line = [l for l in out.stdout.splitlines() if l.startswith("MAXDIFF")][0]
    diff, scale = (float(v) for v in line.split()[1:])
    assert diff <= 1e-4 * scale + 1e-6, line
    assert os.path.exists(tmp_path / "mirrored" / "vdsr.weights.h5")


_WORKER_SCRIPT = textwrap.dedent("""
    import json, os, sys
    idx, ports, out, data = int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3], sys.argv[4]
    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                                          "task": {"type": "worker", "index": idx}})
    import numpy as np
    from vdsr_tf.train import Trainer, make_strategy
    strategy = make_strategy("multiworker")  # before any other TF op
    from vdsr_tf.data import patches as data_lib
    from vdsr_tf.train.config import TrainConfig
    ps = data_lib.build_patch_set(data_lib.list_images(data), (2.0, 3.0, 4.0))
    cfg = TrainConfig(depth=3, filters=8, batch_size=8, steps=6, log_every=3, checkpoint_every=3,
                      strategy="multiworker")
    tr = Trainer(cfg, out, patch_set=ps, strategy=strategy)
    tr.run()
    np.save(os.path.join(out, f"w{idx}.npy"), tr.model.get_layer("conv_01").kernel.numpy())
    print("WORKER", idx, tr.is_chief, tr.strategy.num_replicas_in_sync)
""")


@pytest.mark.slow
def test_two_workers_only_chief_writes(tmp_path, image_dir, patch_set):
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("localhost", 0))
            ports.append(str(s.getsockname()[1]))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": REPO}
    out = tmp_path / "run"
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER_SCRIPT, str(i), ",".join(ports), str(out), image_dir],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (o, e) in zip(procs, outs):
        assert p.returncode == 0, e[-3000:]
    assert "WORKER 0 True 2" in outs[0][0] and "WORKER 1 False 2" in outs[1][0]
    assert sorted(f.name for f in (out / "checkpoints").glob("*.index")) == ["ckpt-3.index", "ckpt-6.index"]
    assert not list(out.glob(".worker_*"))  # the non-chief's throwaway checkpoints are gone
    np.testing.assert_array_equal(np.load(out / "w0.npy"), np.load(out / "w1.npy"))
    single = Trainer(TrainConfig(depth=3, filters=8, batch_size=8, steps=6, log_every=3, checkpoint_every=3),
                     str(tmp_path / "single"), patch_set=patch_set)
    single.run()
    np.testing.assert_allclose(np.load(out / "w0.npy"), single.model.get_layer("conv_01").kernel.numpy(),
                               rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("changes", [
    dict(optimizer="adam", lr=1e-3, lr_schedule="cosine", theta=0.0),
    dict(random_crop=True, precision="mixed_bfloat16", warmup_steps=2),
    dict(sampling="texture", texture_floor=0.2, random_crop=True),
])
def test_other_recipes_run(tmp_path, patch_set, changes):
    cfg = TrainConfig(**TINY, steps=4, **changes)
    card = Trainer(cfg, str(tmp_path), patch_set=patch_set).run()
    assert card["steps"] == 4 and card["config"]["optimizer"] == cfg.optimizer
    tr = Trainer(cfg.replace(steps=5), str(tmp_path), patch_set=patch_set)
    assert tr.current_step == 4
    assert float(tr.optimizer.learning_rate.numpy()) == pytest.approx(learning_rate_at(cfg, 3), rel=1e-6)


def test_finishing_a_stopped_run_validates_the_final_weights(tmp_path, patch_set, image_dir):
    # Train without validation, then re-run at the same step count with validation on: nothing
    # is trained, but the model card must describe the weights at that step.
    Trainer(TrainConfig(**TINY, steps=5), str(tmp_path), patch_set=patch_set, command="pytest").run()
    cfg = TrainConfig(**TINY, steps=5, val_data=image_dir, val_every=1000, scales=(2.0, 3.0, 4.0))
    card = Trainer(cfg, str(tmp_path), patch_set=patch_set, command="pytest").run()
    assert card["steps"] == 5
    assert [row["step"] for row in card["validation"]["table"]] == [5, 5, 5]


def test_every_config_field_has_a_train_flag():
    from vdsr_tf.cli import train as train_tool  # the only absl command this process imports

    names = {f.name for f in dataclasses.fields(TrainConfig)}
    assert names <= set(train_tool.FLAGS) | {"data", "val_data", "held_out"}  # held_out: from --val_data


# ----------------------------------------------------------------------------- time budget
def test_fit_to_budget_keeps_the_schedule_shape():
    from vdsr_tf.train import fit_to_budget

    c = TrainConfig(lr_schedule="wsd", steps=1000, decay_steps=200, warmup_steps=100)
    f = fit_to_budget(c, 0, steps_per_s=2.0, seconds_left=250.0)
    assert (f.steps, f.decay_steps, f.warmup_steps) == (500, 100, 50)
    assert learning_rate_at(f, 399) == pytest.approx(c.lr) and learning_rate_at(f, 500) == pytest.approx(0.0)
    s = fit_to_budget(TrainConfig(steps=9960, lr_decay_every=2490), 0, 1.0, 4980.0)
    assert (s.steps, s.lr_decay_every) == (4980, 1245)  # still four lr phases
    done = fit_to_budget(c, 150, 1.0, 10.0)  # warm-up already over: left as it was
    assert (done.steps, done.warmup_steps) == (160, 100)
    with pytest.raises(ValueError, match="steps_per_s"):
        fit_to_budget(c, 0, 0.0, 10.0)


def test_max_minutes_fixes_the_step_count_so_the_decay_ends_in_time(tmp_path, patch_set, image_dir):
    budget_s = 12.0
    cfg = TrainConfig(**TINY, steps=100000, lr_schedule="cosine", lr=0.01, max_minutes=budget_s / 60,
                      val_data=image_dir, val_every=100)
    t0 = time.time()
    tr = Trainer(cfg, str(tmp_path), patch_set=patch_set)
    card = tr.run()
    took = time.time() - t0
    plan = card["time_budget"]
    assert plan["configured"]["steps"] == 100000 and plan["schedule"]["steps"] == card["steps"] == tr.current_step
    assert 20 < card["steps"] < 100000 and plan["measured_steps_per_s"] > 0
    assert plan["effective_steps_per_s"] < plan["measured_steps_per_s"]  # validation time is counted
    assert card["validation"]["history"][0]["step"] == 20  # the timed validation after the probe
    assert learning_rate_at(tr.cfg, card["steps"]) == pytest.approx(0.0, abs=1e-12)  # the decay ran out at the end
    assert took < 3 * budget_s + 10, took  # in time (generous: the machine is shared)
    assert json.load(open(tmp_path / "budget.json"))["schedule"]["steps"] == card["steps"]
    assert tr.latest_checkpoint.endswith(f"ckpt-{card['steps']}")
    # resuming keeps the fixed length instead of measuring again
    again = Trainer(cfg, str(tmp_path), patch_set=patch_set)
    assert again.cfg.steps == card["steps"] and again.run()["steps"] == card["steps"]


def test_plot_draws_the_official_and_paper_set5_rows(tmp_path):
    from vdsr_tf.train import plot_history
    from vdsr_tf.train.references import set5_references

    refs = set5_references()
    assert refs["official weights"] == {2: 37.47, 3: 33.64, 4: 31.33}  # docs/protocol.md
    assert refs["paper (Table 3)"] == {2: 37.53, 3: 33.66, 4: 31.35}
    hist = {"bicubic": {"2": 33.7, "4": 28.4}, "val_set": "Set5",
            "val": [{"step": 10, "psnr": {"2": 35.0, "4": 29.0}}, {"step": 20, "psnr": {"2": 36.0, "4": 30.0}}]}
    drawn = plot_history(hist, str(tmp_path / "a.png"))
    assert drawn["2"] == ["VDSR (ours)", "bicubic", "official weights (Set5)", "paper (Table 3) (Set5)"]
    assert (tmp_path / "a.png").stat().st_size > 1000
    other = plot_history({**hist, "val_set": "my_images"}, str(tmp_path / "b.png"))
    assert other["4"] == ["VDSR (ours)", "bicubic"]  # Set5's rows mean nothing on another set


def test_plot_runs_chains_a_warm_started_run_after_its_parent(tmp_path):
    from vdsr_tf.train import plot_runs

    parent = {"bicubic": {"2": 33.7}, "val": [{"step": 10, "psnr": {"2": 35.0}}, {"step": 20, "psnr": {"2": 36.0}}]}
    child = {"bicubic": {"2": 33.7}, "val": [{"step": 5, "psnr": {"2": 36.2}, "ema": {"psnr": {"2": 36.3}}}]}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seen = {}
    real_plot = plt.Axes.plot

    def spy(ax, xs, ys, *a, label=None, **k):
        seen[label] = (list(xs), list(ys))
        return real_plot(ax, xs, ys, *a, label=label, **k)

    plt.Axes.plot = spy
    try:
        drawn = plot_runs([("paper recipe", parent, 64, 0), ("long run", child, 64, 20 * 64)],
                          str(tmp_path / "c.png"))
    finally:
        plt.Axes.plot = real_plot
    assert drawn["2"][:4] == ["paper recipe", "long run", "long run, weight average", "bicubic"]
    # The child's step 5 sits 5 batches after the parent's last point.
    assert seen["paper recipe"] == ([640, 1280], [35.0, 36.0])
    assert seen["long run"] == ([1280 + 320], [36.2])
    assert seen["long run, weight average"] == ([1280 + 320], [36.3])  # a run's ema_decay average
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_plot_runs_zoom_row_frames_the_top_under_the_set5_references(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vdsr_tf.core import atomic
    from vdsr_tf.train import plot_runs
    from vdsr_tf.train.references import set5_references

    hist = {"bicubic": {"2": 33.7}, "val": [{"step": s, "psnr": {"2": y}, "ema": {"psnr": {"2": y + 0.01}}}
                                          for s, y in [(10, 30.0), (20, 36.5), (30, 37.1), (40, 37.3)]]}
    figs = []
    real_save = atomic.save_figure
    monkeypatch.setattr(atomic, "save_figure", lambda fig, path: (figs.append(fig), real_save(fig, path)))
    drawn = plot_runs([("run", hist, 64, 0)], str(tmp_path / "z.png"), zoom_db=0.6)
    top = max(row[2] for row in set5_references().values())
    fig, = figs
    full, zoom = fig.axes[:2]  # one scale: the full panel, then its zoomed row
    assert drawn["2"][:3] == ["run", "run, weight average", "bicubic"]
    assert zoom.get_ylim() == pytest.approx((top - 0.6, top + 0.12))
    assert zoom.get_xlim()[0] == pytest.approx(30 * 64)  # from the first point inside the window
    assert full.get_ylim()[0] < 30.0  # the full row keeps the whole curve
    assert [ln.get_label() for ln in zoom.get_lines()] == [ln.get_label() for ln in full.get_lines()]
    plt.close("all")
    # Another validation set has no references: the top is the highest finite point, never NaN.
    other = {"val_set": "B100", "val": [{"step": 10, "psnr": {"2": float("nan")}}, {"step": 20, "psnr": {"2": 30.0}},
                                        {"step": 30, "psnr": {"2": 30.2}}]}
    figs.clear()
    plot_runs([("run", other, 64, 0)], str(tmp_path / "b.png"), zoom_db=0.3)
    assert figs[0].axes[1].get_ylim() == pytest.approx((29.9, 30.26))
    plt.close("all")


# ----------------------------------------------------------------------------- refusals, leftovers

def test_stale_checkpoint_temp_of_a_killed_save_is_removed_on_start(tmp_path, patch_set):
    stale = tmp_path / "run" / "checkpoints" / "ckpt-7_temp"
    stale.mkdir(parents=True)
    (stale / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"half a save")
    Trainer(TrainConfig(**TINY, steps=5), str(tmp_path / "run"), patch_set=patch_set)
    assert not stale.exists()


_TOOL_DRIVER = textwrap.dedent('''
    import contextlib, io, json, sys
    from vdsr_tf.cli import train as tool
    cases = json.loads(sys.argv[1])
    out = []
    for argv in cases:
        tool.FLAGS.unparse_flags()
        tool.FLAGS(["train.py"] + argv)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = tool._main_one_line(["train.py"])
        out.append([code, err.getvalue()])
    print(json.dumps(out))
''')


def test_train_tool_refuses_bad_runs_in_one_line_writing_nothing(tmp_path, image_dir):
    """The train command's main, as absl's app.run calls it, on each bad command line (one process)."""
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    empty = tmp_path / "empty"
    empty.mkdir()
    not_images = tmp_path / "not_images"
    not_images.mkdir()
    (not_images / "x.png").write_text("text, not a picture")
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    for name in os.listdir(image_dir):
        (truncated / name).write_bytes(open(os.path.join(image_dir, name), "rb").read())
    data = (truncated / "1.png").read_bytes()
    (truncated / "1.png").write_bytes(data[: len(data) // 2])
    old_run = tmp_path / "old_run"
    old_run.mkdir()
    (old_run / "config.json").write_text(TrainConfig(depth=20).to_json())
    old_config = (old_run / "config.json").read_text()
    fresh = tmp_path / "fresh"
    base = ["--depth=3", "--filters=8", "--val_data=none", "--steps=5"]
    cases = [
        ([f"--data={image_dir}", f"--workdir={fresh}", "--scales=2,abc"], "--scales must be numbers"),
        ([f"--data={image_dir}", f"--workdir={a_file}"], "is a file, not a folder"),
        ([f"--data={tmp_path / 'missing'}", f"--workdir={fresh}"], "does not exist"),
        ([f"--data={empty}", f"--workdir={fresh}"], "--data: no images"),
        ([f"--data={not_images}", f"--workdir={fresh}"], "x.png"),
        ([f"--data={image_dir}", f"--workdir={fresh}", "--patch_size=200"], "--patch_size 200"),
        ([f"--data={image_dir}", f"--workdir={old_run}"], "depth=20"),
        ([f"--data={truncated}", f"--workdir={fresh}"], "1.png"),
        ([f"--data={image_dir}"], "--workdir is required"),
    ]
    driver = _TOOL_DRIVER
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": REPO}
    proc = subprocess.run([sys.executable, "-c", driver, json.dumps([argv + base for argv, _ in cases])],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for (argv, message), (code, err) in zip(cases, results):
        lines = err.strip().splitlines()
        assert code == 1 and len(lines) == 1, (argv, err)
        assert lines[0].startswith("train.py: error: ") and message in lines[0], (argv, err)
    assert not fresh.exists()  # nothing created, nothing written
    assert os.listdir(old_run) == ["config.json"] and (old_run / "config.json").read_text() == old_config
    assert a_file.read_text() == "x"


def test_jpeg_training_resumes_exactly_and_validates_per_degradation(tmp_path, image_dir):
    # The patch set keeps the LR pictures, each batch's JPEG qualities are a function of
    # (seed, step), so a resumed JPEG run ends where an uninterrupted one does.
    cfg = TrainConfig(**TINY, steps=10, data=(image_dir,), degradation="clean:0.25,jpeg:20-95",
                      random_crop=True, val_data=image_dir, val_every=10, val_degradations="jpeg:50")
    a = Trainer(cfg, str(tmp_path / "a"))
    assert a.patch_set.has_lr
    card = a.run()
    Trainer(cfg.replace(steps=5), str(tmp_path / "b")).run()
    b = Trainer(cfg, str(tmp_path / "b"))
    b.run()
    for va, vb in zip(a.model.trainable_variables, b.model.trainable_variables):
        np.testing.assert_allclose(va.numpy(), vb.numpy(), rtol=1e-4, atol=1e-6)
    assert card["data"]["degradation"] == "clean:0.25,jpeg:20-95:0.75"
    last = card["validation"]["history"][-1]
    assert set(last["by_degradation"]) == {"jpeg:50"}
    assert set(last["by_degradation"]["jpeg:50"]["psnr"]) == {"2", "3", "4"}
    bic = json.load(open(tmp_path / "a" / "history.json"))["bicubic_by_degradation"]["jpeg:50"]["psnr"]
    assert all(bic[s] < card["validation"]["bicubic"][s] for s in bic)  # JPEG LR is worse for bicubic too


# ----------------------------------------------------------------------------- damaged checkpoints
_TOOL_RUN = dict(depth=3, filters=8, batch_size=8, checkpoint_every=5, log_every=50, lr_decay_every=40)


@pytest.fixture(scope="module")
def run_at_10(tmp_path_factory, image_dir, patch_set):
    """A run folder with ckpt-5 and ckpt-10, made with the settings of _train_cmd."""
    workdir = tmp_path_factory.mktemp("run_at_10") / "run"
    cfg = TrainConfig(**_TOOL_RUN, steps=10, data=(image_dir,))
    Trainer(cfg, str(workdir), patch_set=patch_set).run()
    return workdir, cfg


def _flip_middle_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _cut_in_half(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


_DATA_10 = "ckpt-10.data-00000-of-00001"
_DAMAGE = {
    "state file garbage": (lambda c: (c / "checkpoint").write_text("garbage\n"), 10,
                           r"checkpoint state file .*/checkpoints/checkpoint is damaged \(it is not a checkpoint state "
                           r"file\): resuming from the newest checkpoint in the folder, ckpt-10, and rewriting the "
                           r"state file$"),
    "state file deleted": (lambda c: (c / "checkpoint").unlink(), 10, r"is damaged \(it is missing\)"),
    "state file garbage, an older data file alone": (
        lambda c: ((c / "checkpoint").write_text("garbage\n"), (c / "ckpt-3.data-00000-of-00001").write_bytes(b"x")),
        10, r"is damaged \(it is not a checkpoint state file\)"),
    "state file naming a checkpoint not there": (
        lambda c: (c / "checkpoint").write_text('model_checkpoint_path: "ckpt-99"\n'), 10,
        r"is damaged \(it names 'ckpt-99', which is not in the folder\)"),
    "data truncated": (lambda c: _cut_in_half(c / _DATA_10), 5,
                       r"^damaged checkpoint ckpt-10 \(IndexError: Read less bytes than requested\) in .*/checkpoints: "
                       r"resuming from the previous intact checkpoint, ckpt-5 \(step 5\); the damaged files stay "
                       r"until the run saves over them$"),
    "data byte flipped": (lambda c: _flip_middle_byte(c / _DATA_10), 5,
                          r"^damaged checkpoint ckpt-10 \(DataLossError: "),
    "index deleted": (lambda c: (c / "ckpt-10.index").unlink(), 5, r"^damaged checkpoint ckpt-10 \(NotFoundError: "),
    "index byte flipped": (lambda c: _flip_middle_byte(c / "ckpt-10.index"), 5, r"^damaged checkpoint ckpt-10 \("),
}


@pytest.mark.parametrize("damage", list(_DAMAGE))
def test_a_damaged_checkpoint_never_restarts_the_run_at_step_0(tmp_path, run_at_10, patch_set, damage, caplog):
    """Issue 22, items 2 and 7: the run resumes from the newest intact checkpoint, saying so in
    one line (was: two TensorFlow warnings and step 0 over the old checkpoints, or a traceback)."""
    import re

    base, cfg = run_at_10
    workdir = tmp_path / "run"
    import shutil

    shutil.copytree(base, workdir)
    edit, step, says = _DAMAGE[damage]
    edit(workdir / "checkpoints")
    with caplog.at_level("WARNING"):
        trainer = Trainer(cfg.replace(steps=15), str(workdir), patch_set=patch_set)
    assert trainer.current_step == step
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "\n" not in warnings[0] and re.search(says, warnings[0]), warnings
    trainer.run()
    import tensorflow as tf

    assert tf.train.latest_checkpoint(str(workdir / "checkpoints")).endswith("ckpt-15")
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert Trainer(cfg.replace(steps=15), str(workdir), patch_set=patch_set).current_step == 15
    assert not [r for r in caplog.records if r.levelname == "WARNING"]  # the state file is sound again


def test_no_intact_checkpoint_stops_the_tool_in_one_line_naming_the_folder(tmp_path, run_at_10, image_dir):
    import shutil

    base, _ = run_at_10
    workdir = tmp_path / "run"
    shutil.copytree(base, workdir)
    _cut_in_half(workdir / "checkpoints" / _DATA_10)
    (workdir / "checkpoints" / "ckpt-5.index").unlink()
    before = {p.name: p.stat().st_mtime_ns for p in workdir.rglob("*")}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": REPO}
    proc = subprocess.run(_train_cmd(image_dir, workdir, 15), env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last == (f"train.py: error: no checkpoint in '{workdir}/checkpoints' can be restored (ckpt-10: IndexError: "
                    f"Read less bytes than requested; ckpt-5: NotFoundError: Unsuccessful TensorSliceReader "
                    f"constructor: Failed to find any matching files for ckpt-5): restore the "
                    "folder from a copy, or move it away to start again at step 0"), proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert {p.name: p.stat().st_mtime_ns for p in workdir.rglob("*")} == before


def test_a_refused_run_writes_nothing_so_the_corrected_command_runs(tmp_path, image_dir):
    """Issue 22, item 11: --init_weights of a depth-3 file with --depth 5 left config.json and
    cache/ behind, and the corrected command was then refused ('holds a run with depth=5')."""
    from vdsr_tf import build_vdsr

    d3 = tmp_path / "d3.weights.h5"
    build_vdsr(depth=3, filters=8).save_weights(d3)
    fresh, cache = tmp_path / "fresh", tmp_path / "shared_cache"
    common = [f"--data={image_dir}", f"--workdir={fresh}", f"--init_weights={d3}", "--filters=8", "--val_data=none",
              "--steps=5", "--batch_size=8", "--log_every=50"]
    driver = _TOOL_DRIVER
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": REPO}
    cases = [common + ["--depth=5"], common + ["--depth=5", f"--cache_dir={cache}"], common + ["--depth=3"]]
    proc = subprocess.run([sys.executable, "-c", driver, json.dumps(cases)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (code5, err5), (code5c, err5c), (code3, err3) = json.loads(proc.stdout.strip().splitlines()[-1])
    for code, err in ((code5, err5), (code5c, err5c)):
        lines = err.strip().splitlines()
        assert code == 1 and len(lines) == 1, err
        assert lines[0].startswith("train.py: error: ") and "d3.weights.h5" in lines[0], err
    assert code3 == 0, err3[-3000:]  # was: refused, "holds a run with depth=5"
    assert not cache.exists()  # the refused run's cache went with it
    assert json.load(open(fresh / "config.json"))["depth"] == 3


# ----------------------------------------------------------------------------- changed settings on resume
@pytest.mark.parametrize("change, flag, says", [
    (dict(loss="l1"), "loss", "--loss=l2; this command has --loss=l1"),
    (dict(patch_size=33, stride=33), "patch_size", "--patch_size=41; this command has --patch_size=33"),
    (dict(scales=(2.0, 3.0)), "scales", "--scales=2,3,4; this command has --scales=2,3"),
    (dict(data=("elsewhere",)), "data", "--data={data}; this command has --data=elsewhere"),
])
def test_resume_changing_what_the_run_is_is_refused_unless_allowed(tmp_path, patch_set, image_dir, change, flag,
                                                                     says, caplog):
    """Issue 22, item 14: --loss, --patch_size, --scales, --data changes were accepted with one INFO line."""
    import re

    from vdsr_tf.train import preflight

    cfg = TrainConfig(**TINY, steps=5, data=(image_dir,))
    workdir = tmp_path / "run"
    Trainer(cfg, str(workdir), patch_set=patch_set, command="first").run()
    before = (workdir / "config.json").read_text()
    changed = cfg.replace(steps=10, **change)
    message = (rf"^--workdir '{workdir}' holds a run trained with {re.escape(says.format(data=image_dir))}, "
               rf"which makes it another "
               rf"run: give the run's --{flag}, a new --workdir, or --allow_changed_settings to continue it so \(the "
               r"change is recorded in its settings history\)$")
    with pytest.raises(ValueError, match=message):
        preflight.check_workdir(changed, workdir)
    with pytest.raises(ValueError, match=message):
        Trainer(changed, str(workdir), patch_set=patch_set)
    assert (workdir / "config.json").read_text() == before  # nothing written

    with caplog.at_level("INFO"):
        preflight.check_workdir(changed, workdir, allow_changed_settings=True)
        trainer = Trainer(changed, str(workdir), patch_set=patch_set, command="second", allow_changed_settings=True)
    assert any(r.getMessage().startswith("resuming at step 5 with changed settings") for r in caplog.records)
    history = json.load(open(workdir / "config.json"))["settings_history"]
    assert [e["from_step"] for e in history] == [0, 5] and history[0]["command"] == "first"
    assert history[0]["settings"] == cfg.to_dict()
    first_value = cfg.to_dict()[flag]
    assert history[1]["changed"][flag] == [first_value, changed.to_dict()[flag]]
    assert history[1]["changed"]["steps"] == [5, 10] and history[1]["command"] == "second"
    card = trainer.run()
    assert card["settings_history"] == history
    assert json.load(open(workdir / "model_card.json"))["settings_history"] == history


def test_a_changed_precision_is_accepted_and_recorded_and_old_configs_resume(tmp_path, patch_set, image_dir, caplog):
    """The decision for item 14: --precision is the same model on other hardware (the run scripts pick
    it per machine), so it is not refused, but it is recorded with an INFO line. A config.json written
    before the history (no settings_history, fields added since missing) resumes unchanged."""
    cfg = TrainConfig(**TINY, steps=5, data=(image_dir,))
    workdir = tmp_path / "run"
    Trainer(cfg, str(workdir), patch_set=patch_set).run()
    old = cfg.to_dict()
    del old["degradation"], old["val_degradations"]  # as runs/vdsr_long/config.json: written before issue 21
    (workdir / "config.json").write_text(json.dumps(old, indent=2, sort_keys=True) + "\n")
    with caplog.at_level("INFO"):
        Trainer(cfg, str(workdir), patch_set=patch_set)  # the same command: no change recorded
    assert not any("changed settings" in r.getMessage() for r in caplog.records)
    history = json.load(open(workdir / "config.json"))["settings_history"]
    assert len(history) == 1 and history[0]["settings"] == old and history[0]["from_step"] == 0
    assert history[0]["note"].startswith("written before settings were kept per step range")

    caplog.clear()
    with caplog.at_level("INFO"):
        Trainer(cfg.replace(precision="mixed_bfloat16"), str(workdir), patch_set=patch_set, command="bf16")
    lines = [r.getMessage() for r in caplog.records if "changed settings" in r.getMessage()]
    assert lines == ["resuming at step 5 with changed settings (old, new): {'precision': ('float32', "
                     "'mixed_bfloat16')}"]
    saved = json.load(open(workdir / "config.json"))
    assert saved["precision"] == "mixed_bfloat16"
    assert saved["settings_history"][1] == {"from_step": 5, "changed": {"precision": ["float32", "mixed_bfloat16"]},
                                            "command": "bf16"}
    assert TrainConfig.from_dict(saved) == cfg.replace(precision="mixed_bfloat16")  # the history is no setting
    # Back to float32 before a step was trained: the two changes cancel out.
    Trainer(cfg, str(workdir), patch_set=patch_set, command="f32")
    assert len(json.load(open(workdir / "config.json"))["settings_history"]) == 1


def test_the_last_line_gives_validation_psnr_rounded(tmp_path, image_dir):
    cmd = _train_cmd(image_dir, tmp_path / "run", 6)
    cmd[cmd.index("--val_data=none")] = f"--val_data={image_dir}"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": REPO}
    out = subprocess.run(cmd + ["--val_every=6"], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    last = out.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"done: 6 steps in \d+s; weights .*vdsr\.weights\.h5; val PSNR x2 \d+\.\d\d dB, "
                        r"x3 \d+\.\d\d dB, x4 \d+\.\d\d dB", last), last
