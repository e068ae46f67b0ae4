"""vdsr_tf.train.preflight: a training run is refused in one line, before anything is written."""
import numpy as np
import pytest
from PIL import Image

from vdsr_tf.data import patches as data_lib
from vdsr_tf.train import preflight
from vdsr_tf.train.config import TrainConfig


def _images(folder, sizes):
    folder.mkdir()
    for i, (w, h) in enumerate(sizes):
        Image.fromarray(np.full((h, w), 128, np.uint8)).save(folder / f"{i}.png")
    return folder


@pytest.mark.parametrize("size", [(41, 41), (43, 45), (44, 44), (90, 60), (83, 41)])
def test_usable_planes_agree_with_the_patch_set(tmp_path, size):
    folder = _images(tmp_path / "d", [size])
    cfg = TrainConfig(data=(str(folder),), scales=(2.0, 3.0, 4.0))
    expected = preflight.usable_planes(size[0], size[1], cfg)
    if expected == 0:
        with pytest.raises(ValueError, match="41x41"):
            data_lib.build_patch_set(data_lib.list_images(str(folder)), cfg.scales)
    else:
        ps = data_lib.build_patch_set(data_lib.list_images(str(folder)), cfg.scales)
        assert len(ps.offsets) == expected


def test_workdir_checks(tmp_path):
    cfg = TrainConfig(depth=3)
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        preflight.check_workdir(cfg, tmp_path / "f")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot read"):
        preflight.check_workdir(cfg, run)
    (run / "config.json").write_text(TrainConfig(depth=3, optimizer="adam").to_json())
    with pytest.raises(ValueError, match="optimizer='adam'"):
        preflight.check_workdir(cfg, run)
    (run / "config.json").write_text(TrainConfig(depth=3, steps=7).to_json())
    preflight.check_workdir(cfg, run)  # other settings may change on resume
    preflight.check_workdir(cfg, tmp_path / "new")  # not there yet: fine, and not created
    assert not (tmp_path / "new").exists()


def test_init_weights_and_headers_only(tmp_path):
    folder = _images(tmp_path / "d", [(50, 50)])
    cut = (folder / "0.png").read_bytes()
    (folder / "1.png").write_bytes(cut[: len(cut) // 2])
    cfg = TrainConfig(data=(str(folder),))
    with pytest.raises(ValueError, match=r"--init_weights"):
        preflight.check_training_run(cfg.replace(init_weights=str(tmp_path / "none.h5")), tmp_path / "w")
    with pytest.raises(ValueError, match=r"1\.png.*truncated"):
        preflight.check_training_run(cfg, tmp_path / "w")
    assert len(preflight.check_training_run(cfg, tmp_path / "w", decode=False)) == 2  # header only


def test_a_luminance_archive_is_checked_through_its_planes(tmp_path):
    from vdsr_tf.data.luma_archive import write_luma_archive

    folder = _images(tmp_path / "imgs", [(60, 50), (30, 30)])
    archive = str(tmp_path / "train.npz")
    write_luma_archive(data_lib.list_images(str(folder)), archive)
    assert preflight.check_training_run(TrainConfig(data=(archive,)), tmp_path / "run") == [archive]
    with pytest.raises(ValueError, match="--patch_size 80.*60x50"):
        preflight.check_training_run(TrainConfig(data=(archive,), patch_size=80), tmp_path / "run")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="broken.npz"):
        preflight.check_training_run(TrainConfig(data=(str(broken),)), tmp_path / "run")


@pytest.mark.parametrize("field, old", [("depth", 5), ("filters", 8), ("optimizer", "adam"), ("residual", False)])
def test_the_run_guard_is_one_rule_for_preflight_and_the_trainer(tmp_path, field, old):
    """A changed network or optimizer is refused with one message by the check before the run
    and by the Trainer's own run folder, --allow_changed_settings or not."""
    from vdsr_tf.train.rundir import RunFolder

    cfg = TrainConfig(depth=3, filters=4)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(TrainConfig(depth=3, filters=4).replace(**{field: old}).to_json())
    messages = []
    for allow in (False, True):
        for check in (lambda: preflight.check_workdir(cfg, str(run), allow_changed_settings=allow),
                      lambda: RunFolder(str(run), cfg).check_config(allow_changed_settings=allow)):
            with pytest.raises(ValueError, match=rf"holds a run with {field}={old!r}, this one has --{field}=") as e:
                check()
            messages.append(str(e.value))
    assert len(set(messages)) == 1, messages
