"""Trainer: runs a TrainConfig in a run folder, on the TensorFlow or the JAX backend.

It only orchestrates; the parts live next to it:

  schedule.py      learning rate per step, the clip bound, fitting a run to --max_minutes
  recipe.py        loss, clipping, weight decay, optimizer, weight average (written once, used by both steps)
  tf_step.py       make_tf_step (tf.GradientTape under tf.distribute); tf_backend.py its state
  jax_step.py      make_jax_step (stateless_call + value_and_grad, jitted); jax_backend.py
  backend.py       TrainBackend, the Protocol both backends meet and the only way in to them
  rundir.py        config guard, history, budget, final weights, model card, plot
  metering.py      progress lines and TensorBoard scalars (tf.summary, or a TF-free event writer)
  validation.py    the project's evaluation on a benchmark folder (or on the held-out images)
  holdout.py       which training images a run holds out to validate on, without a benchmark folder

The run restores the newest checkpoint in ``workdir`` on start, so running the same command
again after a crash (even ``kill -9``) continues at the same step, learning rate and data
position (batches come from vdsr_tf.data.sampling, a pure function of (seed, step)).
"""
from __future__ import annotations

import logging
import math
import os
import shutil
import time

from vdsr_tf.data import geometry
from vdsr_tf.data import patches as data_lib
from vdsr_tf.train import holdout, rundir
from vdsr_tf.train.backend import TrainBackend
from vdsr_tf.train.config import TrainConfig
from vdsr_tf.train.metering import Meter
from vdsr_tf.train.schedule import fit_to_budget, learning_rate_at
from vdsr_tf.train.validation import score_on, source_name, validation_scales, validation_source

logger = logging.getLogger(__name__)

BUDGET_PROBE_STEPS = 20
"""Steps a --max_minutes run trains before it measures its speed (the first, compiling, untimed)."""


class TrainingDiverged(RuntimeError):
    """The loss or gradient became NaN/inf; the last good checkpoint is kept."""


def load_training_set(cfg: TrainConfig, cache_dir: str):
    """The PatchSet of ``cfg.data`` (image folders and/or .npz luminance archives) less the
    images ``cfg.held_out`` keeps for validation, degraded once and cached in ``cache_dir``."""
    if not cfg.data:
        raise ValueError("config.data is empty: pass the training image folders (or .npz luminance archives)")
    files = holdout.training_sources(cfg.data, cfg.held_out)
    if not files:
        raise ValueError(f"no images ({', '.join(data_lib.IMAGE_EXTENSIONS)}) under {list(cfg.data)}")
    t0 = time.time()
    logger.info("preparing %d training images at scales %s%s", len(files), cfg.scales,
                f" ({len(cfg.held_out)} more held out for validation)" if cfg.held_out else "")
    ps = data_lib.build_patch_set(files, cfg.scales, patch_size=cfg.patch_size, stride=cfg.stride,
                                  cache_dir=cache_dir, hr_scales=cfg.hr_scales,
                                  keep_lr=not cfg.mixture.is_clean)
    logger.info("%d patches of %dx%d from %d planes in %.1fs", ps.num_patches, cfg.patch_size, cfg.patch_size,
                len(ps.offsets), time.time() - t0)
    return ps


class Trainer:
    """Trains VDSR per a :class:`TrainConfig` in ``workdir`` (resuming automatically).

    Args:
      config: the run's settings (``config.backend`` picks the step).
      workdir: the run directory (created). Re-running with the same workdir resumes.
      strategy: an explicit tf.distribute strategy (TensorFlow backend; default: built from
        config.strategy). MultiWorkerMirroredStrategy must exist before any other TF op runs
        in the process: build it first (make_strategy) when you also build a patch_set yourself.
      patch_set: an already built :class:`vdsr_tf.data.patches.PatchSet` (default: built from
        config.data, cached under workdir/cache).
      command: the command line, recorded in the model card.
      cache_dir: where the degraded training planes are cached (default workdir/cache).
      allow_changed_settings: resume even when the config changes the run's loss, patch size,
        scales or data (refused otherwise; every change is kept in the settings history).
    """

    def __init__(self, config: TrainConfig, workdir: str, *, strategy=None, patch_set=None,
                 command: str | None = None, cache_dir: str | None = None,
                 allow_changed_settings: bool = False):
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        self._t_created = time.time()
        self.cfg = config
        self.command = command
        is_chief = True
        if config.backend == "tensorflow":
            from vdsr_tf.train.tf_step import is_chief as _is_chief
            from vdsr_tf.train.tf_step import make_strategy

            strategy = strategy if strategy is not None else make_strategy(config.strategy)
            is_chief = _is_chief(strategy)[0]
        elif strategy is not None:
            raise ValueError("strategy= is a tf.distribute strategy; config.backend is 'jax'")
        self.folder = rundir.RunFolder(workdir, config, is_chief=is_chief)
        self.workdir = self.folder.path
        self.is_chief = is_chief
        # Every refusal comes before anything is written: the settings, then the checkpoint
        # (or --init_weights), then the training set; config.json is written last. A refused
        # run removes the folders it made (a cache it built included).
        self.folder.check_config(allow_changed_settings=allow_changed_settings)
        cache_dir = cache_dir or os.path.join(self.workdir, "cache")
        made = [p for p in (self.workdir, os.path.abspath(cache_dir)) if not os.path.exists(p)]
        try:
            if config.backend == "tensorflow":
                from vdsr_tf.train.tf_backend import TFBackend

                self.backend: TrainBackend = TFBackend(config, self.workdir, strategy=strategy)
            else:
                from vdsr_tf.train.jax_backend import JaxBackend

                self.backend = JaxBackend(config, self.workdir)
            if patch_set is None:
                patch_set = load_training_set(config, cache_dir)
            self.folder.write_config(self.backend.step, command)
        except Exception:
            for path in made:
                shutil.rmtree(path, ignore_errors=True)
            raise
        self.patch_set = patch_set
        self.steps_per_epoch = geometry.steps_per_epoch(patch_set.num_patches, config.batch_size)
        self.val_every = config.val_every or self.steps_per_epoch
        self.budget = self.folder.load_budget() if config.max_minutes else None
        if self.budget:  # a resumed --max_minutes run keeps the length it fixed
            self.cfg = self.cfg.replace(**self.budget["schedule"])
        if self.backend.restored_from:
            logger.info("resumed from %s at step %d (lr %.3g)", self.backend.restored_from, self.current_step,
                        learning_rate_at(self.cfg, self.current_step))
        self.history = self.folder.load_history(self.current_step)
        self._stop_requested = False
        self._saved_step = self.current_step if self.backend.restored_from else None

    def _save(self) -> None:
        self.backend.save()
        self._saved_step = self.current_step

    # ------------------------------------------------------------------ public state
    @property
    def current_step(self) -> int:
        """Updates done so far (what the newest checkpoint holds after a save)."""
        return self.backend.step

    @property
    def model(self):
        """The keras.Model with the current weights."""
        return self.backend.eval_model()

    @property
    def strategy(self):
        """The tf.distribute strategy (TensorFlow backend), else None."""
        return self.backend.strategy

    @property
    def optimizer(self):
        return self.backend.optimizer

    @property
    def latest_checkpoint(self) -> str | None:
        return self.backend.latest_checkpoint

    def request_stop(self) -> None:
        """Asks :meth:`run` to save a checkpoint after the current step and return None.

        Safe to call from a signal handler (tools/train.py wires SIGINT and SIGTERM to it).
        """
        self._stop_requested = True

    # ------------------------------------------------------------------ run
    def run(self) -> dict | None:
        """Trains up to ``config.steps``; returns the model card (also written to workdir).

        Returns None if :meth:`request_stop` stopped it early (after saving a checkpoint).
        """
        start = self.current_step
        writer = self.backend.scalar_writer(os.path.join(self.workdir, "tensorboard"))
        val_folder = self._prepare_validation()
        if self.cfg.max_minutes and self.budget is None and start < self.cfg.steps:
            timing = {}
            if self._train(start, min(self.cfg.steps, start + BUDGET_PROBE_STEPS), writer, val_folder,
                           timing) is None:
                return None
            self._fix_budget(timing, val_folder, writer)
        if self._train(self.current_step, self.cfg.steps, writer, val_folder, {}) is None:
            return None
        final = self.current_step
        if self._saved_step != final:
            self._save()
        if val_folder is not None and not any(r["step"] == final and ("ema" in r or not self.cfg.ema_decay)
                                              for r in self.history["val"]):
            # A run resumed at or past its end (e.g. re-run with a smaller --steps to write the
            # weights of a stopped run): the card must describe these weights (and their
            # average, when the run keeps one), not an older step.
            self._record_validation(val_folder, final, writer)
        writer.close()
        return self._finish()

    def _train(self, start: int, end: int, writer, val_folder, timing: dict):
        """Steps start..end-1; returns the number of steps done, or None if stopped on request."""
        cfg, backend = self.cfg, self.backend
        if start >= end:
            logger.info("already at step %d >= steps %d: nothing to train", start, end)
            return 0
        logger.info("training steps %d..%d (%d per epoch of %d patches), batch %d, %s, %s, %s, %d replica(s)",
                    start, end, self.steps_per_epoch, self.patch_set.num_patches, cfg.batch_size,
                    cfg.precision, cfg.optimizer, backend.name, backend.replicas)
        meter = Meter(writer, total_steps=cfg.steps, batch_size=cfg.batch_size, log_every=cfg.log_every)
        it = backend.batches(self.patch_set, start, end - start)
        last_saved = start
        t_prev = time.time()
        for step in range(start, end):
            lr = learning_rate_at(cfg, step)
            t_wait = time.perf_counter()
            batch = next(it)
            meter.waited(time.perf_counter() - t_wait)
            loss, gnorm, frac = backend.train_step(batch, lr)
            if not (math.isfinite(loss) and math.isfinite(gnorm)):
                msg = (f"training diverged at step {step}: loss={loss}, gradient norm={gnorm}, lr={lr:g}, "
                       f"theta={cfg.theta:g}. Stopped without saving; the last good checkpoint is "
                       f"{backend.latest_checkpoint or 'none'} (step {last_saved}). "
                       f"Try a smaller --theta or --lr.")
                logger.error(msg)
                raise TrainingDiverged(msg)
            now = time.time()
            backend.advance(step + 1, now - t_prev)
            t_prev = now
            if step == start:
                timing["first_done"] = time.perf_counter()
            done = step + 1
            meter.update(done, lr, loss, gnorm, frac)
            if val_folder is not None and (done % self.val_every == 0 or done == cfg.steps):
                t_val = time.time()
                try:
                    self._record_validation(val_folder, done, writer)
                except Exception:  # a broken benchmark folder must not end a long run
                    logger.exception("validation at step %d failed; training goes on", done)
                meter.pause(time.time() - t_val)
                timing["paused"] = timing.get("paused", 0.0) + time.time() - t_val
                t_prev = time.time()  # validation is not training time
            if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                self._save()
                last_saved = done
            if self._stop_requested and done < cfg.steps:
                if done > last_saved:  # between steps: the checkpoint holds exactly `done` updates
                    self._save()
                writer.close()
                logger.warning("stopped on request at step %d (checkpoint saved); run the same command "
                               "again to resume", done)
                return None
        timing["end"] = time.perf_counter()
        timing["steps"] = end - start
        return end - start

    def _fix_budget(self, timing: dict, val_folder, writer) -> None:
        """After the probe: measure steps/s, fix the step count to fit --max_minutes, record it."""
        cfg = self.cfg
        if val_folder is not None and not self._val_seconds:
            self._record_validation(val_folder, self.current_step, writer)  # how long one validation takes
        timed = timing["steps"] - 1
        if timed >= 1:
            steps_per_s = timed / max(timing["end"] - timing["first_done"] - timing.get("paused", 0.0), 1e-9)
        else:  # a one-step probe: only the (compiling) step itself to go by
            steps_per_s = 1.0 / max(time.time() - self._t_created, 1e-9)
        seconds_left = cfg.max_minutes * 60.0 - (time.time() - self._t_created)
        rate = steps_per_s
        if val_folder is not None and self._val_seconds:
            # Validation every val_every steps costs time too: the effective rate counts it.
            rate = 1.0 / (1.0 / steps_per_s + self._val_seconds / self.val_every)
            seconds_left -= self._val_seconds  # the final validation
        fitted = fit_to_budget(cfg, self.current_step, rate, seconds_left)
        self.budget = {"max_minutes": cfg.max_minutes, "measured_steps_per_s": round(steps_per_s, 4),
                       "effective_steps_per_s": round(rate, 4), "probe_steps": timing["steps"],
                       "planned_at_step": self.current_step, "seconds_left_at_plan": round(seconds_left, 1),
                       "configured": {k: getattr(cfg, k) for k in ("steps", "lr_decay_every", "decay_steps",
                                                                    "warmup_steps")},
                       "schedule": {k: getattr(fitted, k) for k in ("steps", "lr_decay_every", "decay_steps",
                                                                     "warmup_steps")}}
        self.folder.save_budget(self.budget)
        self.cfg = fitted
        logger.info("time budget %.1f min: %.2f steps/s measured over %d steps -> %d steps in all "
                    "(schedule %s)", cfg.max_minutes, steps_per_s, timed, fitted.steps, self.budget["schedule"])

    # ------------------------------------------------------------------ validation
    _val_seconds = 0.0

    def _prepare_validation(self):
        cfg = self.cfg
        source = validation_source(cfg.val_data, cfg.held_out)
        if source is None:
            return None
        found = os.path.isdir(source) if cfg.val_data else all(os.path.isfile(f) for f in cfg.held_out)
        if not (found and validation_scales(cfg.scales, source)):
            logger.warning("validation %s %s not found (or no integer scale): no validation",
                           "folder" if cfg.val_data else "images", cfg.val_data or ", ".join(cfg.held_out))
            return None
        self.history["val_set"] = source_name(source)
        if self.history.get("bicubic") is None:
            bic = score_on("bicubic", source, cfg.scales)
            self.history["bicubic"] = {str(k): v["psnr"] for k, v in bic.items()}
            self.history["bicubic_ssim"] = {str(k): v["ssim"] for k, v in bic.items()}
            self.folder.save_history(self.history)
        by_deg = self.history.setdefault("bicubic_by_degradation", {})
        for deg in cfg.extra_val_degradations:
            if deg.name not in by_deg:
                bic = score_on("bicubic", source, cfg.scales, deg)
                by_deg[deg.name] = {m: {str(k): v[m] for k, v in bic.items()} for m in ("psnr", "ssim")}
                self.folder.save_history(self.history)
        logger.info("validation on %s; bicubic PSNR %s",
                    cfg.val_data or f"{len(cfg.held_out)} images held out of the training data",
                    {k: round(v, 2) for k, v in self.history["bicubic"].items()})
        return source

    def _record_validation(self, folder, step, writer):
        """Scores the weights (and their moving average, when the run keeps one) at ``step``."""
        t0 = time.time()
        scalars = {}

        def scores(average: bool, tag: str) -> dict:
            res = score_on(self.backend.eval_model(average=average), folder, self.cfg.scales)
            for metric in ("psnr", "ssim"):
                scalars.update({f"{tag}/{metric}_x{s}": v[metric] for s, v in res.items()})
            return {metric: {str(s): v[metric] for s, v in res.items()} for metric in ("psnr", "ssim")}

        row = {"step": step, **scores(False, "val")}
        bic = self.history.get("bicubic") or {}
        line = "  ".join(f"x{s} {v:.2f} dB (bicubic {bic.get(s, float('nan')):.2f})" for s, v in row["psnr"].items())
        if self.cfg.ema_decay:
            row["ema"] = scores(True, "val_ema")
            line += "; average: " + "  ".join(f"x{s} {v:.2f} dB" for s, v in row["ema"]["psnr"].items())
        for deg in self.cfg.extra_val_degradations:  # the weights the run would hand out
            res = score_on(self.backend.eval_model(average=bool(self.cfg.ema_decay)), folder, self.cfg.scales, deg)
            row.setdefault("by_degradation", {})[deg.name] = {
                m: {str(s): v[m] for s, v in res.items()} for m in ("psnr", "ssim")}
            for metric in ("psnr", "ssim"):
                scalars.update({f"val_{deg.name.replace(':', '_q')}/{metric}_x{s}": v[metric] for s, v in res.items()})
            line += f"; {deg.name}: " + "  ".join(f"x{s} {v['psnr']:.2f} dB" for s, v in res.items())
        self.history["val"] = [r for r in self.history["val"] if r["step"] != step]
        self.history["val"].append(row)
        self.folder.save_history(self.history)
        self._val_seconds = time.time() - t0
        logger.info("val step %d: %s (%.1fs)", step, line, self._val_seconds)
        writer.scalars(scalars, step)

    # ------------------------------------------------------------------ end
    def _finish(self) -> dict:
        card = rundir.model_card(self.cfg, command=self.command, steps=self.current_step,
                                 train_time_s=self.backend.elapsed, patch_set=self.patch_set,
                                 history=self.history, runtime=self.backend.versions(), budget=self.budget,
                                 settings_history=self.folder.settings_history)
        if not self.is_chief:
            self.backend.discard_worker_checkpoints()
            return card
        self.folder.write_final(self.backend.eval_model(average=bool(self.cfg.ema_decay)), card, self.history)
        return card
