"""The run folder (``workdir``): what a run writes besides its checkpoints, all atomically.

  config.json        the TrainConfig of the run (guarded: a different network cannot resume, nor
                     another loss, patch size, scales or data unless allowed), with the settings
                     history: which settings each range of steps ran with
  history.json       validation PSNR/SSIM per scale and step, plus the bicubic baseline
  budget.json        the step count --max_minutes fixed (so a resumed run keeps it)
  vdsr.weights.h5    final weights (Keras), model_card.json, val_psnr.png (with the
                     official weights' and the paper's Set5 rows as reference lines)
"""
from __future__ import annotations

import json
import logging
import math
import os

from vdsr_tf.core import atomic
from vdsr_tf.train.config import SETTINGS_HISTORY, TrainConfig, check_resume
from vdsr_tf.train.validation import HELD_OUT

logger = logging.getLogger(__name__)

WEIGHTS_NAME = "vdsr.weights.h5"
MODEL_CARD_NAME = "model_card.json"
PLOT_NAME = "val_psnr.png"
HISTORY_NAME = "history.json"
BUDGET_NAME = "budget.json"


class RunFolder:
    """The run folder ``workdir``; it is created by the first write (a refused run makes none)."""

    def __init__(self, workdir: str, cfg: TrainConfig, *, is_chief: bool = True):
        self.path = os.path.abspath(workdir)
        self.cfg = cfg
        self.is_chief = is_chief
        self._old = None
        self._changes = {}
        self.settings_history: list[dict] = []

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    # ------------------------------------------------------------------ config
    def check_config(self, *, allow_changed_settings: bool = False) -> None:
        """Refuses, writing nothing, a config whose network/optimizer differs from the run's,
        or (unless ``allow_changed_settings``) its loss, patch size, scales or data."""
        path = self.file("config.json")
        if not os.path.exists(path):
            return
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
        self._changes = check_resume(old, self.cfg, self.path, allow_changed_settings=allow_changed_settings)
        self._old = old

    def write_config(self, step: int, command: str | None = None) -> list[dict]:
        """Records this config in config.json, with the settings history: the settings of
        step 0 on, then one entry per resume that changed any (``from_step``, ``changed``:
        {field: [old, new]}, ``command``). Entries past ``step`` (the checkpoint resumed from)
        are dropped; changes made twice at one step merge. Returns the history."""
        history = [dict(entry) for entry in (self._old or {}).get(SETTINGS_HISTORY) or []]
        if self._old is None:
            history = [{"from_step": int(step), "settings": self.cfg.to_dict(), "command": command}]
        elif not history:  # a config.json written before the history was kept
            old = {k: v for k, v in self._old.items() if k != SETTINGS_HISTORY}
            history = [{"from_step": 0, "settings": old, "command": None,
                        "note": "written before settings were kept per step range: the settings of the last "
                                f"command before step {int(step)}"}]
        history = [entry for entry in history if entry["from_step"] <= step or entry is history[0]]
        if self._changes:
            logger.info("resuming at step %d with changed settings (old, new): %s", step, self._changes)
            changed = {k: [a, b] for k, (a, b) in self._changes.items()}
            last = history[-1]
            if len(history) > 1 and last["from_step"] == step:  # changed again before a step was trained
                merged = dict(last["changed"])
                for k, (a, b) in changed.items():
                    merged[k] = [merged[k][0] if k in merged else a, b]
                last["changed"] = {k: v for k, v in merged.items() if v[0] != v[1]}
                last["command"] = command
                if not last["changed"]:
                    history.pop()
            else:
                history.append({"from_step": int(step), "changed": changed, "command": command})
        self.settings_history = history
        if self.is_chief:
            os.makedirs(self.path, exist_ok=True)
            record = {**self.cfg.to_dict(), SETTINGS_HISTORY: history}
            atomic.write_text(self.file("config.json"), json.dumps(record, indent=2, sort_keys=True) + "\n")
        return history

    # ------------------------------------------------------------------ history
    def load_history(self, step: int) -> dict:
        """The validation history, without rows newer than ``step`` (the checkpoint resumed from)."""
        path = self.file(HISTORY_NAME)
        hist = {"bicubic": None, "val": []}
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                hist = json.load(f)
            hist["val"] = [r for r in hist["val"] if r["step"] <= step]
        return hist

    def save_history(self, history: dict) -> None:
        if self.is_chief:
            atomic.write_text(self.file(HISTORY_NAME), json.dumps(history, indent=1) + "\n")

    # ------------------------------------------------------------------ time budget
    def load_budget(self) -> dict | None:
        path = self.file(BUDGET_NAME)
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def save_budget(self, budget: dict) -> None:
        if self.is_chief:
            atomic.write_json(self.file(BUDGET_NAME), budget)

    # ------------------------------------------------------------------ final artefacts
    def write_final(self, model, card: dict, history: dict) -> None:
        """Weights, model card and plot (chief only)."""
        if not self.is_chief:
            return
        with atomic.atomic_path(self.file(WEIGHTS_NAME), suffix=".weights.h5") as tmp:
            model.save_weights(tmp, overwrite=True)
        atomic.write_text(self.file(MODEL_CARD_NAME), json.dumps(card, indent=2) + "\n")
        if history.get("val"):
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                logger.info("matplotlib not installed (pip install 'vdsr_tf[train]'): no %s", PLOT_NAME)
            else:
                plot_history(history, self.file(PLOT_NAME))
        logger.info("wrote %s and %s in %s", WEIGHTS_NAME, MODEL_CARD_NAME, self.path)


def model_card(cfg: TrainConfig, *, command, steps: int, train_time_s: float, patch_set, history: dict,
               runtime: dict, budget: dict | None = None, settings_history: list | None = None) -> dict:
    """The model card of a finished run (what, on which data, how long, how good; with
    ``settings_history``, which settings each range of steps ran with: see
    :meth:`RunFolder.write_config`)."""
    rows = history.get("val") or []
    if cfg.ema_decay:  # the weights file holds the moving average: describe it, not the raw weights
        rows = [{"step": r["step"], **r["ema"]} for r in rows if "ema" in r]
    last = rows[-1] if rows else None
    bic, bic_ssim = history.get("bicubic") or {}, history.get("bicubic_ssim") or {}
    table = None
    if last is not None:
        table = [{"scale": int(k), "step": last["step"], "psnr": v, "ssim": (last.get("ssim") or {}).get(k),
                  "bicubic_psnr": bic.get(k), "bicubic_ssim": bic_ssim.get(k),
                  "gain_db": None if bic.get(k) is None else v - bic[k]}
                 for k, v in sorted(last["psnr"].items(), key=lambda kv: float(kv[0]))]
    card = {
        "model": "VDSR", "depth": cfg.depth, "filters": cfg.filters, "residual": cfg.residual,
        "config": cfg.to_dict(),
        "command": command,
        "settings_history": settings_history or [],
        "steps": int(steps),
        "patch_passes": int(steps) * cfg.batch_size,
        "train_time_s": round(float(train_time_s), 1),
        "data": {"folders": list(cfg.data), "images": len(patch_set.files), "held_out": len(cfg.held_out),
                 "grid_patches": patch_set.num_patches, "scales": list(cfg.scales),
                 "hr_scales": list(cfg.hr_scales), "patch_size": cfg.patch_size, "stride": cfg.stride,
                 "sampling": cfg.sampling, "degradation": cfg.mixture.name},
        "validation": {"data": cfg.val_data or (HELD_OUT if cfg.held_out else None),
                       "held_out": list(cfg.held_out),
                       "metric": "PSNR (dB) / SSIM, Y, shave=scale, "
                                 "vdsr_tf.evaluation.scoring.evaluate (docs/protocol.md)",
                       "bicubic": history.get("bicubic"), "bicubic_ssim": history.get("bicubic_ssim"),
                       "table": table,
                       "history": history.get("val", []),
                       "final": last["psnr"] if last else None,
                       "final_ssim": last.get("ssim") if last else None},
        "weights": WEIGHTS_NAME,
        "weights_are": (f"the moving average of the weights (decay {cfg.ema_decay:g})" if cfg.ema_decay
                        else "the weights after the last step"),
        **runtime,
    }
    if budget is not None:
        card["time_budget"] = budget
    return card


def plot_history(history: dict, path: str) -> dict[str, list[str]]:
    """PNG of validation PSNR against step per scale, written atomically.

    Dashed grey: bicubic; dotted: the official weights' and the paper's Set5 rows
    (vdsr_tf.train.references), drawn when the validation set is Set5 (``history["val_set"]``,
    Set5 when absent: the default validation set). Returns {scale: labels of the lines drawn}.
    """
    return plot_runs([("VDSR (ours)", history, 1, 0)], path, xlabel="step")


def plot_runs(runs, path: str, *, xlabel: str = "patch passes",
              refs_by_degradation: dict | None = None, reference_label: str = "reference",
              zoom_db: float | None = None) -> dict[str, list[str]]:
    """One PSNR-per-scale figure of several runs' validation histories, written atomically.

    ``runs``: (label, history, x per step, x offset) tuples; a run's point at ``step`` is drawn
    at ``offset + step * x_per_step`` (with x per step = batch size and offset = the patch
    passes behind a warm start, runs that continue one another form one curve). Bicubic and the
    reference rows come from the first history, as in :func:`plot_history`. Validation at other
    degradations (``by_degradation`` rows) is drawn dash-dotted, with bicubic on that LR, and
    ``refs_by_degradation`` ({degradation: {scale: PSNR}}) adds reference lines
    labelled ``reference_label``. ``zoom_db`` adds a second row with the same lines over the top
    ``zoom_db`` dB under the highest line (a reference or a point), where the gaps of a long
    run's last hundredths of a dB show. Returns {scale: labels of the lines drawn}.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vdsr_tf.train.references import set5_references

    first = runs[0][1]
    scales = sorted({s for _, h, _, _ in runs for r in h["val"] for s in r["psnr"]}, key=float)
    refs = set5_references() if first.get("val_set", "Set5") == "Set5" else {}
    rows_n = 2 if zoom_db else 1
    fig, axes = plt.subplots(rows_n, len(scales), figsize=(4 * len(scales), 3.2 * rows_n), squeeze=False)

    def draw(ax, s):  # -> the runs' lines, without the horizontal reference lines
        curves = []
        for label, history, per_step, offset in runs:
            rows = sorted(history["val"], key=lambda r: r["step"])
            pts = [(offset + r["step"] * per_step, r["psnr"][s]) for r in rows if s in r["psnr"]]
            avg = [(offset + r["step"] * per_step, r["ema"]["psnr"][s]) for r in rows
                   if s in r.get("ema", {}).get("psnr", {})]
            # A run's weight average (ema_decay) is what ships: its curve is drawn bold over the
            # faded raw weights' in the same colour, so the two stay apart where points are dense.
            line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=3, label=label,
                            alpha=0.35 if avg else 1.0)
            curves.append(line)
            if avg:
                curves += ax.plot([p[0] for p in avg], [p[1] for p in avg], "-", lw=2, c=line.get_color(),
                                  label=f"{label}, weight average")
            for deg in dict.fromkeys(d for r in rows for d in r.get("by_degradation", {})):
                pts = [(offset + r["step"] * per_step, r["by_degradation"][deg]["psnr"][s]) for r in rows
                       if s in r.get("by_degradation", {}).get(deg, {}).get("psnr", {})]
                curves += ax.plot([p[0] for p in pts], [p[1] for p in pts], "^-.", ms=3, c=line.get_color(),
                                  label=f"{label}, {deg} LR")
        for deg, bic in (first.get("bicubic_by_degradation") or {}).items():
            if s in bic.get("psnr", {}):  # bicubic on that LR
                ax.axhline(bic["psnr"][s], ls="-.", c="silver", label=f"bicubic, {deg} LR")
        for deg, row in (refs_by_degradation or {}).items():
            if s in row:
                ax.axhline(row[s], ls=":", c="tab:purple" if deg != "clean" else "tab:blue",
                           label=f"{reference_label}, {deg} LR")
        bic = (first.get("bicubic") or {}).get(s)
        if bic is not None:
            ax.axhline(bic, ls="--", c="gray", label="bicubic")
        for (label, row), colour in zip(refs.items(), ("tab:red", "tab:green")):
            if int(float(s)) in row:
                ax.axhline(row[int(float(s))], ls=":", c=colour, label=f"{label} (Set5)")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("PSNR (dB)")
        ax.grid(alpha=0.3)
        return [c for c in curves if len(c.get_xdata())]

    drawn = {}
    for col, s in enumerate(scales):
        ax = axes[0][col]
        draw(ax, s)
        ax.set_title(f"x{s}")
        drawn[s] = [line.get_label() for line in ax.get_lines()]
        if zoom_db:
            zax = axes[1][col]
            curves = draw(zax, s)
            # The highest line of the panel, reference or point, so nothing drawn is cut at the top.
            tops = [row[int(float(s))] for row in refs.values() if int(float(s)) in row]
            tops += [row[s] for row in (refs_by_degradation or {}).values() if s in row]
            tops += [y for line in curves for y in line.get_ydata()]
            top = max((float(y) for y in tops if math.isfinite(y)), default=None)
            if top is None:
                continue
            low = top - zoom_db
            inside = [x for line in curves for x, y in zip(line.get_xdata(), line.get_ydata()) if y >= low]
            zax.set_ylim(low, top + 0.2 * zoom_db)
            right = max(max(line.get_xdata()) for line in curves)
            if inside and right > min(inside):
                zax.set_xlim(min(inside), right + 0.02 * (right - min(inside)))
            zax.set_title(f"x{s}, the top {zoom_db:g} dB")
    # The legend goes under the panels: inside one it hid curves once runs validate at JPEG LR too.
    handles, labels = axes[0][0].get_legend_handles_labels()
    ncol = min(3, len(labels)) or 1
    legend_lines = -(-len(labels) // ncol)
    legend_h = 0.2 * legend_lines + 0.15
    width, height = fig.get_size_inches()
    fig.set_size_inches(width, height + legend_h)
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, legend_h / (height + legend_h), 1, 1))
    atomic.save_figure(fig, path)
    return drawn
