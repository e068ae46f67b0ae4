"""The paper's analyses (Kim et al. 2016, Sections 4.1-4.3) as grids of training runs.

Three studies, each one :class:`Study` object in :data:`STUDIES` (name -> study) that owns its
list of :class:`Cell` (a name, the TrainConfig changes, the labels the tables and plots use),
the TrainConfig of a cell, its Markdown table and its figure:

* ``residual`` (Table 1): residual vs plain network at constant learning rates 0.1, 0.01 and
  0.001, validated at 1/8, 1/4, 1/2 and all of the budget (the paper's 10/20/40/80 epochs).
* ``depth`` (Figure 3): 5, 10, 15 and 20 layers, one multi-scale (x2/x3/x4) model each,
  scored at every scale.
* ``scales`` (Table 2): one model per set of training scales ({2}, {3}, {4}, {2,3}, {2,4},
  {3,4}, {2,3,4}), each scored at x2, x3 and x4.

:class:`StudyRun` runs a study: every cell trains with :class:`vdsr_tf.train.Trainer` for the
same budget of patch passes in ``out/cells/<name>`` (so a killed study resumes inside the cell
it was in, from its checkpoint), and is then scored with
:func:`vdsr_tf.evaluation.scoring.evaluate` on the evaluation folders. ``out/results.json``
(rewritten after each cell) records finished cells, which a rerun does not train again;
``out/<study>.md`` and ``out/<study>.png`` are written from it.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from typing import Callable, Sequence

from vdsr_tf.core import atomic
from vdsr_tf.train.config import TrainConfig

logger = logging.getLogger(__name__)

RESIDUAL_LRS = (0.1, 0.01, 0.001)
DEPTHS = (5, 10, 15, 20)
TRAIN_SCALE_SETS = ((2,), (3,), (4,), (2, 3), (2, 4), (3, 4), (2, 3, 4))
TEST_SCALES = (2, 3, 4)
# Validation points of the residual study as fractions of the budget (the paper's epochs 10/20/40/80).
CURVE_FRACTIONS = (0.125, 0.25, 0.5, 1.0)


@dataclasses.dataclass(frozen=True)
class Cell:
    """One training run of a study: ``changes`` are applied to the base TrainConfig."""

    name: str
    changes: dict
    label: dict


# ----------------------------------------------------------------------------- report helpers
def _score(cell: dict, dataset: str, scale: int):
    for s in cell["scores"]:
        if s["dataset"] == dataset and s["scale"] == scale:
            return s["psnr"]
    return None


def _curve_at(cell: dict, fraction: float) -> dict:
    """The PSNRs of the validation nearest to ``fraction`` of the cell's budget ({} if none)."""
    if not cell["curve"]:
        return {}
    target = fraction * cell["patch_passes"]
    return min(cell["curve"], key=lambda p: abs(p["patch_passes"] - target))["psnr"]


def _datasets(res: dict) -> list[str]:
    """The evaluated datasets, in the order they were given."""
    return list(dict.fromkeys(s["dataset"] for c in res["cells"].values() for s in c["scores"]))


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.2f}"


def _network(residual: bool) -> str:
    return "residual" if residual else "plain"


def _bicubic(res: dict, dataset: str, scale: int):
    """Bicubic's PSNR on ``dataset`` at ``scale`` (None for results written before studies kept it)."""
    return _score({"scores": res.get("bicubic", [])}, dataset, scale)


def _scores_row(name: str, cell: dict | None, datasets: list[str]) -> str:
    """A table row of ``cell``'s PSNR on every dataset at every test scale ("-" where missing)."""
    return f"| {name} | " + " | ".join(_fmt(cell and _score(cell, d, s)) for d in datasets for s in TEST_SCALES) + " |"


def _panels(plt, datasets: list[str], width: float, height: float):
    """A figure with one panel per dataset, and its panels."""
    n = max(1, len(datasets))
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False)
    return fig, axes[0]


# ----------------------------------------------------------------------------- studies
class Study:
    """One of the paper's analyses: its grid of cells and how its results read.

    Subclasses set ``name`` and ``cells`` and write ``_table_lines`` and ``_figure``; a cell
    is scored once at the end by the evaluation unless ``_validation`` says otherwise.
    """

    name: str
    cells: tuple[Cell, ...]

    def config(self, cell: Cell, base: TrainConfig, budget: int) -> TrainConfig:
        """The TrainConfig of ``cell``: ``base`` with the cell's changes, trained for ``budget``
        patch passes (rounded up to whole batches)."""
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise ValueError(f"budget must be a positive number of patch passes, got {budget!r}")
        steps = max(1, math.ceil(budget / base.batch_size))
        return base.replace(**{**cell.changes, "steps": steps, **self._validation(steps)})

    def _validation(self, steps: int) -> dict:
        return {"val_data": None}

    def table(self, res: dict) -> str:
        """``res`` as a Markdown table laid out like the paper's (PSNR in dB, Y, shave = scale)."""
        head = (f"{self.name} study: {res['budget']:,} patch passes per cell (batch {res['batch_size']}); "
                f"{len(res['cells'])}/{len(self.cells)} cells done\n\n")
        return head + "\n".join(self._table_lines(res, _datasets(res)))

    def plot(self, res: dict, path: str) -> None:
        """``res`` as the study's figure, written atomically as PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig = self._figure(plt, res, _datasets(res))
        fig.tight_layout()
        atomic.save_figure(fig, path)

    def _table_lines(self, res: dict, datasets: list[str]) -> list[str]:
        raise NotImplementedError

    def _figure(self, plt, res: dict, datasets: list[str]):
        raise NotImplementedError


class _ScoreGrid(Study):
    """A study tabled as one row per cell (named by ``_row``): its PSNR on every dataset at
    every test scale, with bicubic's row as the reference."""

    row_title: str

    def _row(self, cell: Cell) -> str:
        raise NotImplementedError

    def _table_lines(self, res: dict, datasets: list[str]) -> list[str]:
        lines = [f"| {self.row_title} | " + " | ".join(f"{d} x{s}" for d in datasets for s in TEST_SCALES) + " |",
                 "|---|" + "---|" * (len(datasets) * len(TEST_SCALES))]
        lines += [_scores_row(self._row(cell), res["cells"].get(cell.name), datasets) for cell in self.cells]
        if "bicubic" in res:  # absent from results written before studies kept it
            lines.append(_scores_row("bicubic", {"scores": res["bicubic"]}, datasets))
        return lines


class ResidualStudy(Study):
    """Table 1: residual vs plain at constant learning rates, as validation curves."""

    name = "residual"
    cells = tuple(Cell(f"{_network(res)}_lr{lr:g}", dict(residual=res, lr=lr, lr_schedule="constant", warmup_steps=0),
                       dict(residual=res, lr=lr))
                  for res in (True, False) for lr in RESIDUAL_LRS)

    def _validation(self, steps: int) -> dict:
        # The curve is the study's result: validate (on base's val_data) at its points.
        return {"val_every": max(1, round(steps * CURVE_FRACTIONS[0]))}

    def _table_lines(self, res: dict, datasets: list[str]) -> list[str]:
        first = datasets[0] if datasets else "Set5"
        bic = _bicubic(res, first, 2)
        lines = [f"Validation PSNR (dB), x2, on the validation folder at 1/8, 1/4, 1/2 and all of the budget "
                 f"(the paper's epochs 10/20/40/80); final {first} x2 from the evaluation"
                 + (f" (bicubic {bic:.2f})" if bic is not None else "") + ".\n",
                 "| network | lr | " + " | ".join(f"{f:g} budget" for f in CURVE_FRACTIONS) + f" | {first} x2 |",
                 "|---|---|" + "---|" * (len(CURVE_FRACTIONS) + 1)]
        for cell in self.cells:
            c = res["cells"].get(cell.name)
            pts = [None if c is None else _curve_at(c, f).get("2") for f in CURVE_FRACTIONS]
            lines.append(f"| {_network(cell.label['residual'])} | {cell.label['lr']:g} | "
                         + " | ".join(_fmt(p) for p in pts) + f" | {_fmt(c and _score(c, first, 2))} |")
        return lines

    def _figure(self, plt, res: dict, datasets: list[str]):
        """PSNR vs patch passes, one line per cell, coloured by learning rate."""
        fig, ax = plt.subplots(figsize=(6, 4))
        for k, lr in enumerate(RESIDUAL_LRS):
            for cell in (cell for cell in self.cells if cell.label["lr"] == lr):
                c = res["cells"].get(cell.name)
                if not c:
                    continue
                residual = cell.label["residual"]
                pts = [(p["patch_passes"], p["psnr"]["2"]) for p in c["curve"] if "2" in p["psnr"]]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-" if residual else "s--", color=f"C{k}",
                        label=f"{_network(residual)}, lr {lr:g}")
        bic = _bicubic(res, datasets[0], 2) if datasets else None
        if bic is not None:
            ax.axhline(bic, color="gray", ls=":", lw=1, label=f"bicubic ({datasets[0]})")
        ax.set(xlabel="patch passes", ylabel="validation PSNR x2 (dB)")
        ax.legend(fontsize=8)
        return fig


class DepthStudy(_ScoreGrid):
    """Figure 3: one multi-scale model per depth, scored at every scale."""

    name = "depth"
    cells = tuple(Cell(f"depth{d:02d}", dict(depth=d), dict(depth=d)) for d in DEPTHS)
    row_title = "depth"

    def _row(self, cell: Cell) -> str:
        return str(cell.label["depth"])

    def _figure(self, plt, res: dict, datasets: list[str]):
        """PSNR vs depth, one panel per dataset, one line per test scale."""
        done = res["cells"]
        fig, axes = _panels(plt, datasets, 4.5, 3.5)
        for ax, d in zip(axes, datasets):
            for s in TEST_SCALES:
                pts = [(cell.label["depth"], _score(done[cell.name], d, s)) for cell in self.cells
                       if cell.name in done]
                line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"x{s}")
                bic = _bicubic(res, d, s)
                if bic is not None:
                    ax.axhline(bic, color=line.get_color(), ls=":", lw=1)
            ax.set_title(d + (" (dotted: bicubic)" if res.get("bicubic") else ""))
            ax.set_xticks(DEPTHS)
            ax.set(xlabel="depth (layers)", ylabel="PSNR (dB)")
            ax.legend(fontsize=8)
        return fig


class ScalesStudy(_ScoreGrid):
    """Table 2: one model per set of training scales, scored at every test scale."""

    name = "scales"
    cells = tuple(Cell("train_x" + "".join(str(s) for s in ss), dict(scales=tuple(float(s) for s in ss)),
                       dict(train_scales=list(ss)))
                  for ss in TRAIN_SCALE_SETS)
    row_title = "train \\ test"

    def _row(self, cell: Cell) -> str:
        return "x" + ", x".join(str(s) for s in cell.label["train_scales"])

    def _figure(self, plt, res: dict, datasets: list[str]):
        """The train x test scale matrix as a heat map, one panel per dataset."""
        import numpy as np

        done = res["cells"]
        fig, axes = _panels(plt, datasets, 4, 4)
        for ax, d in zip(axes, datasets):
            m = np.full((len(self.cells), len(TEST_SCALES)), np.nan)
            for i, cell in enumerate(self.cells):
                for j, s in enumerate(TEST_SCALES):
                    v = _score(done[cell.name], d, s) if cell.name in done else None
                    m[i, j] = np.nan if v is None else v
            # Colour by the gap to the best model at each test scale, so scales are comparable.
            gap = m - np.nanmax(m, axis=0, keepdims=True) if np.isfinite(m).any() else m
            img = ax.imshow(gap, cmap="viridis", aspect="auto")
            lo, hi = img.get_clim()
            for i in range(m.shape[0]):
                for j in range(m.shape[1]):
                    if np.isfinite(m[i, j]):
                        # Dark text on the bright (near-best) cells, light text on the dark ones.
                        bright = hi > lo and (gap[i, j] - lo) / (hi - lo) > 0.6
                        ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7,
                                color="k" if bright else "w")
            ax.set_xticks(range(len(TEST_SCALES)), [f"x{s}" for s in TEST_SCALES])
            ax.set_yticks(range(len(self.cells)),
                          ["x" + ",".join(str(s) for s in c.label["train_scales"]) for c in self.cells])
            ax.set(xlabel="test scale", ylabel="train scales")
            ax.set_title(f"{d} (colour: dB below the best at that test scale)", fontsize=9)
        return fig


STUDIES: dict[str, Study] = {s.name: s for s in (ResidualStudy(), DepthStudy(), ScalesStudy())}


def get(name: str) -> Study:
    """The study called ``name`` (a key of STUDIES)."""
    try:
        return STUDIES[name]
    except KeyError:
        raise ValueError(f"study must be one of {tuple(STUDIES)}, got {name!r}") from None


def format_table(res: dict) -> str:
    """The Markdown table of a results.json (see :meth:`Study.table`)."""
    return get(res["study"]).table(res)


# ----------------------------------------------------------------------------- running
class StudyRun:
    """Runs one study's cells into ``out`` (see the module docstring).

    Args:
      study: a key of STUDIES.
      out: the output folder (created).
      base: the TrainConfig every cell starts from (data, patch size, precision, recipe).
      budget: patch passes per cell.
      eval_data: benchmark folders every finished cell is scored on (Huang layout or plain HR).
      progress: called with one line per event (default: the logger).
    """

    def __init__(self, study: str, out: str, *, base: TrainConfig, budget: int,
                 eval_data: Sequence[str], progress: Callable[[str], None] | None = None):
        self.study = get(study)
        self.out = os.path.abspath(out)
        self.base = base
        self.budget = budget
        self.eval_data = [os.fspath(d) for d in eval_data]
        if not self.eval_data:
            raise ValueError("eval_data is empty: give at least one benchmark folder")
        for d in self.eval_data:
            if not os.path.isdir(d):
                raise ValueError(f"evaluation folder {d!r} does not exist")
        self.study.config(self.study.cells[0], base, budget)  # checks the budget early
        self.progress = progress or logger.info
        self.results_path = os.path.join(self.out, "results.json")
        self._trainer = None
        self._stop = False

    @property
    def stopped(self) -> bool:
        return self._stop

    def request_stop(self) -> None:
        """Asks the running cell to checkpoint and :meth:`run` to return (signal-handler safe)."""
        self._stop = True
        if self._trainer is not None:
            self._trainer.request_stop()

    # ------------------------------------------------------------------ results
    def load_results(self) -> dict:
        name = self.study.name
        if os.path.exists(self.results_path):
            with open(self.results_path, encoding="utf-8") as f:
                res = json.load(f)
            if res.get("study") != name or res.get("budget") != self.budget:
                raise ValueError(
                    f"{self.results_path} holds study {res.get('study')!r} at budget {res.get('budget')}; "
                    f"this is {name!r} at {self.budget}: use another --out")
            return res
        return {"study": name, "budget": self.budget, "batch_size": self.base.batch_size,
                "base_config": self.base.to_dict(), "eval_data": self.eval_data, "cells": {}}

    def _save(self, res: dict) -> None:
        atomic.write_text(self.results_path, json.dumps(res, indent=1) + "\n")

    # ------------------------------------------------------------------ run
    def run(self, only: Sequence[str] | None = None) -> dict:
        """Trains and scores every unfinished cell (or the cells named in ``only``), then
        writes the table and plot. Returns the results."""
        from vdsr_tf.evaluation import scoring
        from vdsr_tf.train import Trainer

        os.makedirs(self.out, exist_ok=True)
        res = self.load_results()
        cells = self.study.cells
        todo = [c for c in cells if only is None or c.name in only]
        unknown = set(only or ()) - {c.name for c in cells}
        if unknown:
            raise ValueError(f"no cells {sorted(unknown)} in study {self.study.name!r}; "
                             f"cells: {[c.name for c in cells]}")
        if "bicubic" not in res:  # the reference every table and plot is read against
            res["bicubic"] = _scores(scoring.evaluate(self.eval_data, TEST_SCALES, weights="bicubic"))
            self._save(res)
        for i, cell in enumerate(todo, 1):
            if self._stop:
                return res
            if cell.name in res["cells"]:
                self.progress(f"[{i}/{len(todo)}] {cell.name}: done earlier, skipped")
                continue
            cfg = self.study.config(cell, self.base, self.budget)
            self.progress(f"[{i}/{len(todo)}] {cell.name}: training {cfg.steps} steps "
                          f"({cfg.steps * cfg.batch_size} patch passes)")
            trainer = self._trainer = Trainer(cfg, os.path.join(self.out, "cells", cell.name),
                                              cache_dir=os.path.join(self.out, "cache"),
                                              command=f"vdsr_tf.research.studies {self.study.name}")
            if self._stop:
                trainer.request_stop()
            card = trainer.run()
            self._trainer = None
            if card is None:  # stopped on request: the cell's checkpoint resumes it
                return res
            rows = scoring.evaluate(self.eval_data, TEST_SCALES, weights=trainer.model)
            res["cells"][cell.name] = {
                "label": cell.label, "steps": cfg.steps, "patch_passes": cfg.steps * cfg.batch_size,
                "train_time_s": card["train_time_s"],
                "scores": _scores(rows),
                "curve": [{"patch_passes": v["step"] * cfg.batch_size, "psnr": v["psnr"]}
                          for v in trainer.history.get("val", [])],
            }
            self._save(res)
            self.progress(f"{cell.name}: " + "  ".join(
                f"{r['dataset']} x{r['scale']} {r['psnr']:.2f}" for r in res["cells"][cell.name]["scores"]))
        self.write_reports(res)
        return res

    def write_reports(self, res: dict | None = None) -> tuple[str, str | None]:
        """Writes ``<study>.md`` (and ``<study>.png`` when matplotlib is present); returns their paths."""
        res = res if res is not None else self.load_results()
        md = os.path.join(self.out, f"{self.study.name}.md")
        atomic.write_text(md, self.study.table(res) + "\n")
        png = os.path.join(self.out, f"{self.study.name}.png")
        try:
            self.study.plot(res, png)
        except ImportError:
            logger.info("matplotlib not installed: no %s", png)
            png = None
        return md, png


def _scores(rows: list[dict]) -> list[dict]:
    """The parts of evaluation rows a study keeps."""
    return [{"dataset": r["dataset"], "scale": int(r["scale"]), "psnr": float(r["psnr"]),
             "ssim": float(r["ssim"])} for r in rows]
