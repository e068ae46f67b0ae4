"""Issue 26 item 6: a run without a validation folder validates on images held out of its own
--data (vdsr_tf.train.holdout), says so at the start, trains on the rest, and keeps the split
when it resumes."""
import json
import os
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from vdsr_tf.core import matlab
from vdsr_tf.train import holdout
from vdsr_tf.train.config import TrainConfig, check_resume

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _image(h, w, seed):
    rng = np.random.default_rng(seed)
    small = rng.random((h // 10 + 2, w // 10 + 2, 3))
    return np.clip(matlab.imresize(small, output_shape=(h, w)) * 255, 0, 255).astype(np.uint8)


def _folder(path, count, size=90):
    path.mkdir(parents=True)
    for i in range(count):
        Image.fromarray(_image(size, size, i)).save(path / f"img{i:02d}.png")
    return str(path)


# ----------------------------------------------------------------------------- the rule
def test_the_split_is_deterministic_disjoint_and_free_of_file_order():
    files = [f"photos/{name}.png" for name in ("cat", "dog", "sea", "sky", "car", "bus", "tree", "road")]
    files += [f"photos/more/{i}.jpg" for i in range(30)] + ["archive.npz"]
    train, held = holdout.split_sources(files)
    assert len(held) == 3 and set(held).isdisjoint(train)
    assert sorted(train + held) == sorted(map(os.path.abspath, files))  # absolute: a resume may run elsewhere
    assert os.path.abspath("archive.npz") in train  # a luminance archive is never held out
    for seed in range(5):  # any order, any spelling of the same paths: the same split
        shuffled = files[:]
        random.Random(seed).shuffle(shuffled)
        assert holdout.split_sources(shuffled)[1] == held
        assert holdout.split_sources(["./" + f for f in shuffled])[1] == held
    assert sorted(holdout.split_sources(shuffled)[0]) == sorted(train)
    # by file name: the same images in another folder are held out alike
    assert [os.path.basename(f) for f in holdout.split_sources(["/elsewhere/" + f for f in files])[1]] == \
        [os.path.basename(f) for f in held]


@pytest.mark.parametrize("images, held", [(0, 0), (1, 0), (2, 1), (9, 1), (19, 1), (20, 2), (99, 9), (100, 10),
                                          (291, 10)])
def test_a_tenth_at_least_one_at_most_ten_never_all(images, held):
    files = [f"d/{i}.png" for i in range(images)] + ["d/planes.npz"]
    train, out = holdout.split_sources(files)
    assert len(out) == held and len(train) == images + 1 - held


def test_training_sources_leave_the_held_out_images_out(tmp_path):
    data = _folder(tmp_path / "d", 12)
    _, held = holdout.split_sources(holdout.training_sources([data]))
    train = holdout.training_sources([data], held)
    assert len(held) == 1 and len(train) == 11 and held[0] not in train
    with pytest.raises(ValueError, match="no longer among the --data images"):
        holdout.training_sources([data], [os.path.join(data, "gone.png")])


@pytest.mark.parametrize("decode", [True, False])
def test_a_held_out_image_too_small_to_score_is_refused_before_the_run_starts(tmp_path, decode):
    from vdsr_tf.train.preflight import check_training_run

    data = _folder(tmp_path / "d", 3)
    Image.fromarray(_image(17, 60, 9)).save(tmp_path / "d" / "small.png")  # scores at x2 (16), not x3 (18)
    held = (str(tmp_path / "d" / "small.png"),)
    cfg = TrainConfig(data=(data,), held_out=held, scales=(2.0, 2.5))  # validates at x2 only
    assert len(check_training_run(cfg, tmp_path / "run", decode=decode)) == 3
    with pytest.raises(ValueError, match=r"^validation image held out of --data: '.*small\.png' is 17x60 pixels: "
                                         r"too small to score at x3, which needs 18x18 at least .*; pass "
                                         r"--val_data DIR or --val_data none$"):
        check_training_run(cfg.replace(scales=(2.0, 3.0)), tmp_path / "run", decode=decode)
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------- the plan
def test_the_plan_from_the_val_data_flag(tmp_path):
    data = [_folder(tmp_path / "d", 20)]
    bench = tmp_path / "Set5"
    missing = str(tmp_path / "no_benchmark")
    fresh = str(tmp_path / "fresh")
    assert holdout.plan_validation(data, "none", fresh, default=missing) == holdout.ValidationPlan()
    assert holdout.plan_validation(data, str(bench), fresh, default=missing).val_data == str(bench)
    bench.mkdir()
    assert holdout.plan_validation(data, None, fresh, default=str(bench)) == holdout.ValidationPlan(str(bench))

    plan = holdout.plan_validation(data, None, fresh, default=missing)
    assert plan.val_data is None and plan.held_out == tuple(holdout.split_sources(holdout.training_sources(data))[1])
    names = ", ".join(os.path.basename(f) for f in plan.held_out)
    assert plan.message == (f"validation: no --val_data given and {missing} does not exist, so 2 of the 20 images of "
                            f"--data are held out of training and validated on ({names}; kept in config.json for a "
                            "resume); --val_data DIR validates on a folder instead, --val_data none turns "
                            "validation off")

    one = [_folder(tmp_path / "one", 1)]
    plan = holdout.plan_validation(one, None, fresh, default=missing)
    assert plan.held_out == () and plan.val_data is None and plan.level == 30  # a warning
    assert plan.message.startswith("validation is off: ") and "--data holds 1 image, too few to hold one out" in \
        plan.message


def test_a_resumed_run_keeps_what_its_config_json_records(tmp_path):
    data = [_folder(tmp_path / "d", 20)]
    missing, bench = str(tmp_path / "no_benchmark"), tmp_path / "Set5"
    bench.mkdir()
    run = tmp_path / "run"
    run.mkdir()
    held = ("x/a.png", "x/b.png")
    (run / "config.json").write_text(TrainConfig(data=tuple(data), held_out=held).to_json())
    for default in (missing, str(bench)):  # the benchmark folder appearing later changes nothing
        plan = holdout.plan_validation(data, None, str(run), default=default)
        assert (plan.val_data, plan.held_out) == (None, held)
        assert plan.message == ("validation: on the 2 image(s) held out of --data when this run began (a.png, "
                                "b.png), still kept out of training")
    # A run recorded before hold-outs existed (as runs/vdsr_long: val_data is Set5, no held_out)
    # never gains one: without the benchmark folder it resumes with validation off, as before.
    old = json.loads(TrainConfig(data=tuple(data), val_data=str(bench)).to_json())
    del old["held_out"]
    (run / "config.json").write_text(json.dumps(old))
    assert holdout.plan_validation(data, None, str(run), default=missing) == holdout.ValidationPlan()
    assert holdout.plan_validation(data, None, str(run), default=str(bench)) == holdout.ValidationPlan(str(bench))


def test_the_committed_runs_configs_resume_with_nothing_held_out():
    for name in ("vdsr_long", "vdsr_jpeg"):
        path = os.path.join(REPO, "runs", name, "config.json")
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
        cfg = TrainConfig.from_dict(old)
        assert cfg.held_out == () and "held_out" not in check_resume(old, cfg, "run")


def test_the_config_records_the_split_and_a_changed_split_is_another_run(tmp_path):
    held = ("d/a.png", "d/b.png")
    cfg = TrainConfig(data=("d",), held_out=["./d/a.png", "d/b.png"])
    assert cfg.held_out == held and TrainConfig.from_dict(json.loads(cfg.to_json())) == cfg
    with pytest.raises(ValueError, match="held_out and val_data are two validation sets"):
        TrainConfig(data=("d",), held_out=held, val_data="Set5")
    old = cfg.to_dict()
    with pytest.raises(ValueError, match=r"^--workdir 'run' holds a run that holds 2 --data image\(s\) out of "
                                         r"training to validate on \(a.png, b.png\); this command trains on every "
                                         r"--data image \(none held out\), which makes it another run: leave "
                                         r"--val_data out to keep the run's split"):
        check_resume(old, cfg.replace(held_out=()), "run")
    assert check_resume(old, cfg.replace(held_out=()), "run", allow_changed_settings=True)["held_out"] == \
        (list(held), [])


def test_image_files_score_as_the_folder_they_come_from(tmp_path):
    from vdsr_tf.evaluation import scoring

    data = _folder(tmp_path / "d", 3, size=48)
    files = holdout.training_sources([data])
    by_files = scoring.evaluate(scoring.ImageFiles("held-out", files), [2, 3], weights="bicubic")
    by_folder = scoring.evaluate(data, [2, 3], weights="bicubic")
    assert [r["dataset"] for r in by_files] == ["held-out", "held-out"]
    for a, b in zip(by_files, by_folder):
        assert (a["psnr"], a["ssim"], a["images"]) == (b["psnr"], b["ssim"], b["images"]) and a["images"] == 3


# ----------------------------------------------------------------------------- through the command
_DRIVER = textwrap.dedent('''
    import json, sys
    from vdsr_tf import cli
    from vdsr_tf.cli import train
    train._DEFAULT_VAL = sys.argv[1]  # no benchmark folder beside this checkout
    for i, argv in enumerate(json.loads(sys.argv[2])):
        print(f"=== case {i}", file=sys.stderr, flush=True)
        print(f"=== exit {cli.main(['train'] + argv)}", file=sys.stderr, flush=True)
''')


def test_train_without_val_data_validates_on_held_out_images_and_resume_keeps_them(tmp_path):
    data = _folder(tmp_path / "mine", 20)
    one = _folder(tmp_path / "one", 1)
    run, off, single = tmp_path / "run", tmp_path / "off", tmp_path / "single"
    common = ["--depth=3", "--filters=8", "--batch_size=8", "--log_every=50", "--checkpoint_every=2"]
    cases = [
        [f"--data={data}", f"--workdir={run}", "--steps=4", "--val_every=2"] + common,
        [f"--data={data}", f"--workdir={run}", "--steps=6", "--val_every=2"] + common,  # resumed
        [f"--data={data}", f"--workdir={run}", "--steps=8", "--val_data=none"] + common,  # refused
        [f"--data={data}", f"--workdir={off}", "--steps=2", "--val_data=none"] + common,
        [f"--data={one}", f"--workdir={single}", "--steps=2"] + common,
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": REPO}
    proc = subprocess.run([sys.executable, "-c", _DRIVER, str(tmp_path / "no_benchmark"), json.dumps(cases)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    logs = proc.stderr.split("=== case ")[1:]
    assert [int(part.rsplit("=== exit ", 1)[1]) for part in logs] == [0, 0, 1, 0, 0], proc.stderr[-3000:]

    _, held = holdout.split_sources(holdout.training_sources([data]))
    assert len(held) == 2
    names = ", ".join(os.path.basename(f) for f in held)
    first, resumed, refused, no_val, one_image = logs
    assert (f"validation: no --val_data given and {tmp_path / 'no_benchmark'} does not exist, so 2 of the 20 images "
            f"of --data are held out of training and validated on ({names}; kept in config.json") in first
    assert "preparing 18 training images at scales (2.0, 3.0, 4.0) (2 more held out for validation)" in first
    assert first.index("validation: no --val_data given") < first.index("preparing 18 training images")
    config = json.load(open(run / "config.json"))
    assert config["held_out"] == held and config["val_data"] is None

    card = json.load(open(run / "model_card.json"))
    assert card["steps"] == 6 and card["data"]["images"] == 18 and card["data"]["held_out"] == 2
    val = card["validation"]
    assert val["data"] == "held-out" and val["held_out"] == held
    assert [r["step"] for r in val["history"]] == [2, 4, 6]
    assert set(val["final"]) == set(val["bicubic"]) == {"2", "3", "4"} and val["table"] is not None
    assert all(r["psnr"] is not None and r["bicubic_psnr"] is not None for r in val["table"])
    assert (run / "val_psnr.png").is_file()
    assert json.load(open(run / "history.json"))["val_set"] == "held-out"

    assert f"on the 2 image(s) held out of --data when this run began ({names}), still kept out of training" in resumed
    assert "resumed from" in resumed and "preparing 18 training images" in resumed
    assert json.load(open(run / "config.json"))["held_out"] == held
    assert len(json.load(open(run / "config.json"))["settings_history"]) == 2  # only --steps changed

    error = [line for line in refused.splitlines() if "error:" in line]
    assert len(error) == 1 and "holds 2 --data image(s) out of training to validate on" in error[0]
    assert "leave --val_data out to keep the run's split" in error[0]

    card = json.load(open(off / "model_card.json"))
    assert card["data"]["images"] == 20 and card["validation"]["final"] is None
    assert json.load(open(off / "config.json"))["held_out"] == [] and "held out" not in no_val
    assert not (off / "val_psnr.png").exists()

    assert "WARNING: validation is off: no --val_data given" in one_image
    assert "--data holds 1 image, too few to hold one out; --val_data DIR validates on a folder" in one_image
    card = json.load(open(single / "model_card.json"))
    assert card["data"]["images"] == 1 and card["validation"]["data"] is None
