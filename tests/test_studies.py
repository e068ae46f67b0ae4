"""Tests for vdsr_tf.research.studies and tools/ablate.py: every study's grid end to end on a tiny config."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from vdsr_tf.core import matlab
from vdsr_tf.research import studies
from vdsr_tf.train.config import TrainConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("hr")
    rng = np.random.default_rng(0)
    for i in range(2):
        img = np.clip(matlab.imresize(rng.random((8, 8, 3)), output_shape=(48, 48)) * 255, 0, 255)
        Image.fromarray(img.astype(np.uint8)).save(d / f"{i}.png")
    return str(d)


def _base(folder):
    return TrainConfig(data=(folder,), val_data=folder, filters=4, depth=3, batch_size=4, patch_size=21,
                       stride=21, log_every=1, checkpoint_every=1)


def test_grids_are_the_papers():
    assert [c.label for c in studies.get("residual").cells] == [
        dict(residual=r, lr=lr) for r in (True, False) for lr in (0.1, 0.01, 0.001)]
    assert [c.label["depth"] for c in studies.get("depth").cells] == [5, 10, 15, 20]
    assert [tuple(c.label["train_scales"]) for c in studies.get("scales").cells] == [
        (2,), (3,), (4,), (2, 3), (2, 4), (3, 4), (2, 3, 4)]
    with pytest.raises(ValueError, match="study must be one of"):
        studies.get("width")
    assert list(studies.STUDIES) == list(EXPECTED)


# What each registered study must keep: whether its cells validate while training, and for
# _two_cells_done's results, snippets of its table and the table's last line.
EXPECTED = {
    "residual": (True, ("final Set5 x2 from the evaluation (bicubic 28.20).\n",
                        "| network | lr | 0.125 budget | 0.25 budget | 0.5 budget | 1 budget | Set5 x2 |\n|---|",
                        "| residual | 0.01 | 30.10 | 30.20 | 30.40 | 30.80 | 31.20 |"),
                 "| plain | 0.001 | - | - | - | - | - |"),
    "depth": (False, ("| depth | Set5 x2 | Set5 x3 | Set5 x4 |\n|---|", "| 10 | 31.20 | 31.30 | 31.40 |",
                      "| 20 | - | - | - |"),
              "| bicubic | 28.20 | 28.30 | 28.40 |"),
    "scales": (False, ("| train \\ test | Set5 x2 | Set5 x3 | Set5 x4 |\n|---|", "| x3 | 31.20 | 31.30 | 31.40 |",
                       "| x2, x3, x4 | - | - | - |"),
               "| bicubic | 28.20 | 28.30 | 28.40 |"),
}


def _two_cells_done(study):
    """Results of ``study`` with its first two cells scored on Set5 (and validated), and bicubic."""
    cells = {c.name: {"label": c.label, "patch_passes": 8,
                      "curve": [{"patch_passes": p, "psnr": {"2": 30 + p / 10}} for p in (1, 2, 4, 8)],
                      "scores": [{"dataset": "Set5", "scale": s, "psnr": 30 + s / 10 + i} for s in (2, 3, 4)]}
             for i, c in enumerate(study.cells[:2])}
    return {"study": study.name, "budget": 8, "batch_size": 4, "cells": cells,
            "bicubic": [{"dataset": "Set5", "scale": s, "psnr": 28 + s / 10} for s in (2, 3, 4)]}


@pytest.mark.parametrize("name", studies.STUDIES)
def test_each_study_owns_its_cells_configs_table_and_plot(folder, tmp_path, name):
    validates, snippets, last = EXPECTED[name]
    study, base = studies.get(name), _base(folder)
    assert study.name == name and len({c.name for c in study.cells}) == len(study.cells)
    for cell in study.cells:
        cfg = study.config(cell, base, budget=8)
        assert cfg.steps == 2 and all(getattr(cfg, k) == v for k, v in cell.changes.items())
        assert (cfg.val_data, cfg.val_every) == ((base.val_data, 1) if validates else (None, base.val_every))
    res = _two_cells_done(study)
    table = studies.format_table(res)
    assert table.startswith(f"{name} study: 8 patch passes per cell (batch 4); 2/{len(study.cells)} cells done\n\n")
    assert all(snippet in table for snippet in snippets) and table.endswith("\n" + last)
    study.plot(res, str(tmp_path / "p.png"))
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_cell_config_applies_the_cell_and_the_budget(folder):
    base = _base(folder)
    plain = studies.get("residual").cells[4]
    cfg = studies.get("residual").config(plain, base, budget=41)
    assert (cfg.residual, cfg.lr, cfg.lr_schedule, cfg.steps, cfg.val_every) == (False, 0.01, "constant", 11, 1)
    cfg = studies.get("scales").config(studies.get("scales").cells[3], base, budget=8)
    assert (cfg.scales, cfg.steps, cfg.val_data) == ((2.0, 3.0), 2, None)
    with pytest.raises(ValueError, match="budget"):
        studies.get("depth").config(studies.get("depth").cells[0], base, budget=0)


@pytest.mark.parametrize("study", studies.STUDIES)
def test_each_study_runs_end_to_end_and_writes_table_and_plot(folder, tmp_path, study):
    out = tmp_path / study
    s = studies.StudyRun(study, str(out), base=_base(folder), budget=8, eval_data=[folder])
    res = s.run()
    assert sorted(res["cells"]) == sorted(c.name for c in studies.get(study).cells)
    for cell in res["cells"].values():
        assert cell["patch_passes"] == 8
        assert {(r["scale"]) for r in cell["scores"]} == {2, 3, 4}
        assert all(np.isfinite(r["psnr"]) for r in cell["scores"])
    assert json.loads((out / "results.json").read_text())["cells"] == res["cells"]
    table = (out / f"{study}.md").read_text()
    assert f"{len(res['cells'])}/{len(res['cells'])} cells done" in table
    assert (out / f"{study}.png").stat().st_size > 1000
    # Bicubic is measured once per study, on the same folders and scales, as the reference.
    bicubic = {(r["scale"]): r["psnr"] for r in res["bicubic"]}
    assert sorted(bicubic) == [2, 3, 4]
    assert f"{bicubic[2]:.2f}" in table
    for cell in s.study.cells:
        # A validating cell has four curve points, at 1/8 .. all of the (2-step) budget: steps 1 and 2 here.
        validates = s.study.config(cell, s.base, 8).val_data is not None
        assert [p["patch_passes"] for p in res["cells"][cell.name]["curve"]] == ([4, 8] if validates else [])


def test_residual_table_reads_the_curve_at_its_budget_fractions():
    curve = [{"patch_passes": 64 * k, "psnr": {"2": 30.0 + k}} for k in (12, 24, 36, 48, 60, 72, 84, 96, 100)]
    cell = {"label": {}, "patch_passes": 6400, "scores": [{"dataset": "Set5", "scale": 2, "psnr": 31.0}],
            "curve": curve}
    res = {"study": "residual", "budget": 6400, "batch_size": 64, "cells": {"plain_lr0.1": cell}}
    row = [line for line in studies.format_table(res).splitlines() if line.startswith("| plain | 0.1 |")][0]
    # 1/8, 1/4, 1/2, 1 of 100 steps: the validations at steps 12, 24, 48 and 100.
    assert row == "| plain | 0.1 | 42.00 | 54.00 | 78.00 | 130.00 | 31.00 |"


def test_a_stopped_study_resumes_without_retraining_finished_cells(folder, tmp_path):
    out = str(tmp_path / "depth")
    base = _base(folder)
    s = studies.StudyRun("depth", out, base=base, budget=12, eval_data=[folder])

    def stop_at_second_cell(line):
        if line.startswith("[2/4] depth10: training"):
            s.request_stop()

    s.progress = stop_at_second_cell
    res = s.run()
    assert list(res["cells"]) == ["depth05"]
    first_card = os.path.join(out, "cells", "depth05", "model_card.json")
    mtime = os.stat(first_card).st_mtime_ns
    # The second cell stopped after one step with a checkpoint; the rerun continues from it.
    assert os.listdir(os.path.join(out, "cells", "depth10", "checkpoints"))
    lines = []
    again = studies.StudyRun("depth", out, base=base, budget=12, eval_data=[folder], progress=lines.append)
    res = again.run()
    assert sorted(res["cells"]) == ["depth05", "depth10", "depth15", "depth20"]
    assert os.stat(first_card).st_mtime_ns == mtime
    assert "[1/4] depth05: done earlier, skipped" in lines
    with open(os.path.join(out, "cells", "depth10", "model_card.json")) as f:
        assert json.load(f)["steps"] == 3


def test_results_of_another_study_or_budget_are_refused(folder, tmp_path):
    out = str(tmp_path / "s")
    studies.StudyRun("depth", out, base=_base(folder), budget=4, eval_data=[folder]).run(only=["depth05"])
    with pytest.raises(ValueError, match="budget"):
        studies.StudyRun("depth", out, base=_base(folder), budget=8, eval_data=[folder]).run()
    with pytest.raises(ValueError, match="no cells"):
        studies.StudyRun("depth", out, base=_base(folder), budget=4, eval_data=[folder]).run(only=["depth07"])


def test_ablate_tool_reports_bad_input_in_one_line(tmp_path):
    r = subprocess.run([sys.executable, os.path.join(REPO, "tools", "ablate.py"), "--study", "depth",
                        "--budget", "8", "--out", str(tmp_path / "o"), "--eval_data", str(tmp_path / "missing")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("ablate: error: evaluation folder")
    assert "Traceback" not in r.stderr


def test_ablate_tool_passes_zero_init_last_to_every_cell(folder, tmp_path):
    out = tmp_path / "o"
    r = subprocess.run([sys.executable, os.path.join(REPO, "tools", "ablate.py"), "--study", "scales",
                        "--only", "train_x2", "--budget", "4", "--out", str(out), "--zero_init_last",
                        "--filters", "4", "--depth", "3", "--batch_size", "4", "--precision", "float32",
                        "--data", folder, "--eval_data", folder, "--val_data", folder],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    with open(out / "results.json") as f:
        res = json.load(f)
    assert res["base_config"]["zero_init_last"] is True
    with open(out / "cells" / "train_x2" / "model_card.json") as f:
        card = json.load(f)
    assert card["config"]["zero_init_last"] is True and card["config"]["scales"] == [2.0]
