"""The live training runs committed under runs/ resume on this code: each run's newest
checkpoint restores into the model, optimizer and weight average its config.json builds,
every saved object matched (the same check a resume makes), at the step it was saved."""
import json
import os
import pathlib
import shutil

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
RUNS = ("vdsr_long", "vdsr_jpeg")


def _newest_checkpoint(run: pathlib.Path):
    state = run / "checkpoints" / "checkpoint"
    if not state.is_file():
        return None
    for line in state.read_text().splitlines():
        if line.startswith("model_checkpoint_path:"):
            name = line.split('"')[1]
            files = sorted((run / "checkpoints").glob(name + ".*"))
            return (name, files) if any(f.suffix == ".index" for f in files) else None
    return None


@pytest.mark.parametrize("name", RUNS)
def test_committed_run_restores(name, tmp_path):
    run = ROOT / "runs" / name
    newest = _newest_checkpoint(run)
    if newest is None or not (run / "config.json").is_file():
        pytest.skip(f"runs/{name} has no checkpoint in this checkout")
    ckpt, files = newest
    os.makedirs(tmp_path / "checkpoints")
    for f in files:
        shutil.copy(f, tmp_path / "checkpoints" / f.name)
    (tmp_path / "checkpoints" / "checkpoint").write_text(
        f'model_checkpoint_path: "{ckpt}"\nall_model_checkpoint_paths: "{ckpt}"\n')

    from vdsr_tf.train.config import TrainConfig
    from vdsr_tf.train.tf_backend import TFBackend

    cfg = TrainConfig.from_dict(json.loads((run / "config.json").read_text()))
    backend = TFBackend(cfg, str(tmp_path))
    assert backend.restored_from is not None and backend.restored_from.endswith(ckpt)
    assert backend.step == int(ckpt.removeprefix("ckpt-"))
