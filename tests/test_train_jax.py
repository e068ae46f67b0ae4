"""The JAX training path: TensorFlow-free runs (subprocesses where importing tensorflow raises),
kill -9 and resume, and parity of the JAX step with the TensorFlow step (weights and outputs)."""
import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import kill_once
from PIL import Image

from vdsr_tf.core import matlab
from vdsr_tf.train.config import TrainConfig

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed (test extra)")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Prepended to every JAX subprocess: importing tensorflow raises, Keras runs on JAX.
NO_TF = textwrap.dedent("""
    import os, sys
    os.environ["KERAS_BACKEND"] = "jax"
    class _NoTensorFlow:
        def find_spec(self, name, path=None, target=None):
            if name == "tensorflow" or name.startswith("tensorflow."):
                raise ImportError(f"{name} is blocked: the JAX path must not import TensorFlow")
    sys.meta_path.insert(0, _NoTensorFlow())
""")


def _env():
    return {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "2", "JAX_PLATFORMS": "cpu"}


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("jax_hr")
    for i in range(3):
        rng = np.random.default_rng(i)
        small = rng.random((11, 11, 3))
        img = np.clip(matlab.imresize(small, output_shape=(90, 90)) * 255, 0, 255).astype(np.uint8)
        Image.fromarray(img).save(d / f"{i}.png")
    return str(d)


def _train_tool(args):
    """A python -c command running tools/train.py with ``args`` where TensorFlow cannot be imported."""
    code = NO_TF + textwrap.dedent(f"""
        import runpy
        sys.argv = ["train.py"] + {list(args)!r}
        runpy.run_path({os.path.join(REPO, "tools", "train.py")!r}, run_name="__main__")
    """)
    return [sys.executable, "-c", code]


def _tiny_args(image_dir, workdir, steps, *extra):
    return ["--backend=jax", f"--data={image_dir}", f"--workdir={workdir}", "--depth=3", "--filters=8",
            "--batch_size=8", f"--steps={steps}", "--checkpoint_every=5", "--log_every=5", "--lr_decay_every=40",
            *extra]


def test_jax_run_without_tensorflow_writes_the_same_artefacts(tmp_path, image_dir):
    from vdsr_tf.data.luma_archive import write_luma_archive
    from vdsr_tf.data.patches import list_images

    archive = str(tmp_path / "train.npz")  # the training images as a luminance archive (no image decoding)
    write_luma_archive(list_images(image_dir), archive)
    work = tmp_path / "run"
    out = subprocess.run(_train_tool(_tiny_args(archive, work, 10, f"--val_data={image_dir}", "--val_every=5",
                                                "--precision=mixed_bfloat16")),
                         env=_env(), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    for name in ("vdsr.weights.h5", "model_card.json", "config.json", "history.json", "val_psnr.png"):
        assert (work / name).exists(), name
    card = json.loads((work / "model_card.json").read_text())
    assert card["backend"] == "jax" and card["steps"] == 10 and card["config"]["precision"] == "mixed_bfloat16"
    assert card["data"]["images"] == 3 and card["data"]["folders"] == [archive]
    assert [r["step"] for r in card["validation"]["history"]] == [5, 10]
    assert sorted(p.name for p in (work / "checkpoints").glob("ckpt-*.npz")) == ["ckpt-10.npz", "ckpt-5.npz"]
    # TensorBoard event files written without TensorFlow, read here by TensorFlow's own reader
    import tensorflow as tf

    scalars = {}
    for f in (work / "tensorboard").iterdir():
        for ev in tf.compat.v1.train.summary_iterator(str(f)):
            scalars.update({(v.tag, ev.step): v.simple_value for v in ev.summary.value})
    assert {"train/loss", "train/learning_rate", "train/clipped_fraction", "val/psnr_x2"} <= {t for t, _ in scalars}
    assert scalars[("train/learning_rate", 10)] == pytest.approx(0.1)
    assert scalars[("val/psnr_x2", 10)] == pytest.approx(card["validation"]["final"]["2"], abs=1e-4)
    # the weights load on TensorFlow (this process) through the library's loader
    from vdsr_tf.nn.weights import load_model

    assert load_model(str(work / "vdsr.weights.h5")).count_params() > 0


def test_jax_kill_9_then_rerun_resumes_at_the_same_step_and_lr(tmp_path, image_dir):
    work = tmp_path / "run"
    proc = subprocess.Popen(_train_tool(_tiny_args(image_dir, work, 3000, "--val_data=none")), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpts = work / "checkpoints"
    kill_once(proc, lambda: any(int(p.stem.split("-")[1]) >= 15 for p in ckpts.glob("ckpt-*.npz")))
    saved = max(int(p.stem.split("-")[1]) for p in ckpts.glob("ckpt-*.npz"))
    assert saved < 3000
    with np.load(ckpts / f"ckpt-{saved}.npz") as z:
        assert int(z["__step__"]) == saved and int(z["optimizer/sgd/iteration"]) == saved
    out = subprocess.run(_train_tool(_tiny_args(image_dir, work, saved + 5, "--val_data=none")), env=_env(),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lr = 0.1 * 0.1 ** (saved // 40)
    assert f"resumed from {ckpts / f'ckpt-{saved}.npz'} at step {saved} (lr {lr:.3g})" in out.stderr
    assert json.loads((work / "model_card.json").read_text())["steps"] == saved + 5


def test_jax_weight_average_is_checkpointed_resumed_and_shipped(tmp_path, image_dir):
    work = tmp_path / "run"
    logs = []
    for steps in (5, 10):  # the second run resumes from the first's step-5 checkpoint, average included
        out = subprocess.run(_train_tool(_tiny_args(image_dir, work, steps, "--val_data=none", "--ema_decay=0.5")),
                             env=_env(), capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        logs.append(out.stderr)
    assert "weight average (decay 0.5) starts at the weights of step 0" in logs[0]
    assert "resumed from" in logs[1] and "starts at the weights" not in logs[1]  # restored, not restarted
    with np.load(work / "checkpoints" / "ckpt-10.npz") as z:
        averages = {k[4:]: z[k] for k in z.files if k.startswith("ema/")}
        weights = {k[6:]: z[k] for k in z.files if k.startswith("model/")}
    assert averages and set(averages) == set(weights)
    assert any(not np.array_equal(averages[k], weights[k]) for k in averages)
    from vdsr_tf.nn.weights import load_model

    shipped = load_model(str(work / "vdsr.weights.h5"), depth=3, filters=8)
    for v in shipped.trainable_variables:
        np.testing.assert_array_equal(v.numpy(), averages[v.path])
    assert "moving average" in json.loads((work / "model_card.json").read_text())["weights_are"]


# ----------------------------------------------------------------------------- parity
_JAX_STEPS = NO_TF + textwrap.dedent("""
    import json
    import numpy as np
    from vdsr_tf.train.config import TrainConfig
    from vdsr_tf.infer.upscaler import super_resolve
    from vdsr_tf.train import make_jax_step, recipe
    from vdsr_tf.train.jax_step import initial_state
    folder = sys.argv[1]
    cfg = TrainConfig.from_dict(json.load(open(folder + "/config.json")))
    model, opt = recipe.build_model(cfg), recipe.make_optimizer(cfg)
    model.load_weights(folder + "/init.weights.h5")
    opt.build(model.trainable_variables)
    step = make_jax_step(model, opt, cfg)
    state = initial_state(model, opt)
    batches = np.load(folder + "/batches.npz")
    metrics = []
    for k, lr in enumerate(json.load(open(folder + "/lrs.json"))):
        state, m = step(state, batches[f"x{k}"], batches[f"y{k}"], np.float32(lr))
        metrics.append([float(v) for v in m])
    for v, val in zip(model.trainable_variables, state[0]):
        v.assign(val)
    np.savez(folder + "/jax_weights.npz", *[np.asarray(v.numpy()) for v in model.trainable_variables])
    json.dump(metrics, open(folder + "/jax_metrics.json", "w"))
    model.save_weights(folder + "/jax.weights.h5")
    np.save(folder + "/jax_sr.npy", super_resolve(np.load(folder + "/probe.npy"), 2, model=model))
    assert "tensorflow" not in sys.modules
""")


def _parity(tmp_path, cfg, lrs):
    """Three steps from the same weights and batches on TF (here) and JAX (a TF-free subprocess)."""
    import tensorflow as tf

    from vdsr_tf.data.sampling import BatchSampler
    from vdsr_tf.research import train_speed
    from vdsr_tf.train import make_tf_step, recipe

    ps = train_speed.synthetic_patch_set(num_images=2, size=96)
    model, opt = recipe.build_model(cfg), recipe.make_optimizer(cfg)
    opt.build(model.trainable_variables)
    model.save_weights(str(tmp_path / "init.weights.h5"))
    sampler = BatchSampler(ps, batch_size=cfg.batch_size, seed=3)
    batches = {}
    for k in range(len(lrs)):
        batches[f"x{k}"], batches[f"y{k}"], _ = sampler.batch(k)
    np.savez(tmp_path / "batches.npz", **batches)
    (tmp_path / "config.json").write_text(cfg.to_json())
    (tmp_path / "lrs.json").write_text(json.dumps(lrs))
    probe = np.random.default_rng(0).random((23, 19)).astype(np.float32)
    np.save(tmp_path / "probe.npy", probe)
    out = subprocess.run([sys.executable, "-c", _JAX_STEPS, str(tmp_path)], env=_env(), capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    step = make_tf_step(model, opt, cfg)
    tf_metrics = []
    for k, lr in enumerate(lrs):
        opt.learning_rate = lr
        tf_metrics.append([float(v) for v in step(batches[f"x{k}"], batches[f"y{k}"], tf.constant(lr, tf.float32))])
    jax_metrics = json.loads((tmp_path / "jax_metrics.json").read_text())
    with np.load(tmp_path / "jax_weights.npz") as z:
        jax_w = [z[f"arr_{i}"] for i in range(len(z.files))]
    diff = max(float(np.max(np.abs(v.numpy() - w))) for v, w in zip(model.trainable_variables, jax_w))
    moved = max(float(np.max(np.abs(v.numpy() - w0))) for v, w0 in zip(
        model.trainable_variables, _weights_of(tmp_path / "init.weights.h5", cfg)))
    return diff, moved, tf_metrics, jax_metrics, probe


def _weights_of(path, cfg):
    from vdsr_tf.train import recipe

    m = recipe.build_model(cfg)
    m.load_weights(str(path))
    return [v.numpy() for v in m.trainable_variables]


def test_sgd_step_parity_and_jax_weights_infer_the_same_on_tensorflow(tmp_path):
    cfg = TrainConfig(depth=3, filters=8, batch_size=8)  # the paper's recipe: SGD 0.1, theta 1e-4, wd 1e-4
    diff, moved, tf_m, jax_m, probe = _parity(tmp_path, cfg, [0.1, 0.1, 0.01])
    print("SGD parity: max |TF - JAX| =", diff, "max movement =", moved)
    assert moved > 3e-4  # the three steps really moved the weights (each step is capped near theta)
    assert diff < 1e-4 and diff < moved / 100, (diff, moved)
    for a, b in zip(tf_m, jax_m):
        np.testing.assert_allclose(a, b, rtol=1e-4)
    assert all(m[2] > 0 for m in tf_m)  # clipping was active
    # weights trained on JAX, loaded on TensorFlow: the same super-resolved output
    from vdsr_tf import load_model, super_resolve

    sr_tf = super_resolve(probe, 2, model=load_model(str(tmp_path / "jax.weights.h5")))
    np.testing.assert_allclose(sr_tf, np.load(tmp_path / "jax_sr.npy"), atol=1e-5, rtol=0)


def test_adam_step_parity_with_clipping(tmp_path):
    cfg = TrainConfig(depth=3, filters=8, batch_size=8, optimizer="adam", lr=1e-3, theta=1e-5,
                      weight_decay=1e-4, loss="l1")
    diff, moved, tf_m, jax_m, _ = _parity(tmp_path, cfg, [1e-3, 1e-3, 5e-4])
    print("Adam parity: max |TF - JAX| =", diff, "max movement =", moved, "clipped", [m[2] for m in tf_m])
    assert moved > 1e-3
    assert all(m[2] > 0.05 for m in tf_m) and all(m[2] > 0.05 for m in jax_m)  # clipping active
    assert diff < 1e-4 and diff < moved / 100, (diff, moved)


def test_a_jax_process_does_not_load_tensorflow_even_where_it_is_installed(image_dir):
    # TensorFlow would cost start-up time and, on a GPU, take the memory JAX needs.
    code = textwrap.dedent(f"""
        import os, sys
        os.environ["KERAS_BACKEND"] = "jax"
        from vdsr_tf.data import patches
        ps = patches.build_patch_set(patches.list_sources([{image_dir!r}]), (2.0, 3.0))
        from vdsr_tf.research import train_speed
        train_speed.synthetic_patch_set(num_images=1, size=64)
        print(ps.num_patches, "tensorflow" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    n, loaded = out.stdout.split()
    assert int(n) > 0 and loaded == "False"


def test_ablation_study_runs_on_jax_without_tensorflow(tmp_path, image_dir):
    """tools/ablate.py --backend jax: two cells of the residual study train on a luminance
    archive, are scored on a plain image folder, and leave results, table and plot."""
    from vdsr_tf.data.luma_archive import write_luma_archive
    from vdsr_tf.data.patches import list_images

    archive = str(tmp_path / "train.npz")
    write_luma_archive(list_images(image_dir), archive)
    out = tmp_path / "study"
    code = NO_TF + textwrap.dedent(f"""
        import runpy
        sys.argv = ["ablate.py", "--backend=jax", "--study=residual", "--budget=8", "--out={out}",
                    "--data={archive}", "--eval_data={image_dir}", "--val_data={image_dir}", "--depth=3",
                    "--filters=4", "--batch_size=4", "--precision=float32", "--log_every=1",
                    "--only=residual_lr0.1,plain_lr0.1"]
        runpy.run_path({os.path.join(REPO, "tools", "ablate.py")!r}, run_name="__main__")
    """)
    r = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    assert res["base_config"]["backend"] == "jax" and res["base_config"]["data"] == [archive]
    assert sorted(res["cells"]) == ["plain_lr0.1", "residual_lr0.1"]
    for cell in res["cells"].values():
        assert cell["patch_passes"] == 8 and [p["patch_passes"] for p in cell["curve"]] == [4, 8]
        assert {s["scale"] for s in cell["scores"]} == {2, 3, 4}
        assert all(np.isfinite(s["psnr"]) for s in cell["scores"])
    for name in ("plain_lr0.1", "residual_lr0.1"):
        assert json.loads((out / "cells" / name / "model_card.json").read_text())["backend"] == "jax"
    assert "| plain | 0.1 |" in (out / "residual.md").read_text()
    assert (out / "residual.png").stat().st_size > 1000


_FRESH_KERNELS = textwrap.dedent("""
    import keras, numpy as np
    from keras import ops
    from vdsr_tf.train.config import TrainConfig
    from vdsr_tf.train import recipe
    out = {}
    for seed in (0, 1):
        keras.utils.set_random_seed(seed)
        m = recipe.build_model(TrainConfig(depth=5, filters=16, seed=seed))
        for i in range(1, 6):
            out[f"s{seed}_conv_{i:02d}"] = ops.convert_to_numpy(m.get_layer(f"conv_{i:02d}").kernel)
    np.savez(OUT, **out)
""")


def test_fresh_kernels_are_independent_he_draws_on_both_backends(tmp_path):
    """The seeding path of a fresh network (keras.utils.set_random_seed, then build_model) gives
    every layer its own He-normal draw on either backend: spreads at sqrt(2/fan_in), no two
    layers alike. (The two backends' RNGs differ, so the same seed gives different weights.)"""
    path = str(tmp_path / "jax.npz")
    r = subprocess.run([sys.executable, "-c", NO_TF + f"OUT = {path!r}\n" + _FRESH_KERNELS], env=_env(),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    draws = {"jax": dict(np.load(path))}
    exec(f"OUT = {str(tmp_path / 'tensorflow.npz')!r}\n" + _FRESH_KERNELS, {})  # this process: TensorFlow
    draws["tensorflow"] = dict(np.load(tmp_path / "tensorflow.npz"))
    for backend, d in draws.items():
        for seed in (0, 1):
            ks = [d[f"s{seed}_conv_{i:02d}"] for i in range(1, 6)]
            for k in ks:
                he = np.sqrt(2.0 / np.prod(k.shape[:3]))
                assert abs(k.std() / he - 1) < 0.15, (backend, seed, k.shape, k.std(), he)
                assert abs(k.mean()) < 4 * he / np.sqrt(k.size), (backend, seed, k.mean())
            hidden = [k.ravel() for k in ks[1:4]]  # conv_02..conv_04: same shape
            c = np.corrcoef(hidden)
            assert np.abs(c[np.triu_indices(3, 1)]).max() < 0.2, (backend, seed, c)
        assert np.abs(np.corrcoef(d["s0_conv_02"].ravel(), d["s1_conv_02"].ravel())[0, 1]) < 0.2, backend


def test_a_damaged_jax_checkpoint_falls_back_then_stops_in_one_line(tmp_path, image_dir):
    """Issue 22, items 2 and 7 on the JAX path: a flipped byte in the newest ckpt-N.npz gives
    way to the previous checkpoint (one warning); none readable stops in one line."""
    work = tmp_path / "run"
    env = _env()
    first = subprocess.run(_train_tool(_tiny_args(image_dir, work, 10)), env=env, capture_output=True, text=True,
                           timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    newest = work / "checkpoints" / "ckpt-10.npz"
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0x01
    newest.write_bytes(bytes(data))
    again = subprocess.run(_train_tool(_tiny_args(image_dir, work, 12)), env=env, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    warned = [line for line in again.stderr.splitlines() if "damaged checkpoint" in line]
    assert len(warned) == 1 and "damaged checkpoint ckpt-10 (BadZipFile: " in warned[0], again.stderr[-3000:]
    assert "resuming from the previous intact checkpoint, ckpt-5 (step 5)" in warned[0]
    assert json.load(open(work / "model_card.json"))["steps"] == 12
    for ckpt in (work / "checkpoints").glob("ckpt-*.npz"):
        ckpt.write_bytes(ckpt.read_bytes()[:100])
    stopped = subprocess.run(_train_tool(_tiny_args(image_dir, work, 20)), env=env, capture_output=True, text=True,
                             timeout=300)
    assert stopped.returncode == 1 and "Traceback" not in stopped.stderr, stopped.stderr[-3000:]
    last = stopped.stderr.strip().splitlines()[-1]
    assert last.startswith(f"train.py: error: no checkpoint in '{work}/checkpoints' can be restored (ckpt-12: ")
    assert last.endswith("): restore the folder from a copy, or move it away to start again at step 0")
