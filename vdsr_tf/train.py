"""Trainer: the paper's optimisation (protocol.md, "Training protocol") as a custom GradientTape loop.

One :class:`Trainer` per run directory (``workdir``). It restores the newest checkpoint there
on start, so running the same command again after a crash (even ``kill -9``) continues at the
same step, learning rate and data position. Everything a run writes lives in ``workdir``:

  config.json            the TrainConfig of the run
  checkpoints/           tf.train.Checkpoint(step, elapsed, model, optimizer), atomic
  cache/                 the degraded training planes (see vdsr_tf.data), reused on resume
  history.json           validation PSNR per scale and step (plus the bicubic baseline)
  tensorboard/           scalars: loss, lr, gradient norm, clipped fraction, val PSNR
  vdsr.weights.h5        final weights (Keras), model_card.json, val_psnr.png

The step (one ``tf.function``) implements, for loss L = 1/2 sum_pixels (r - f(x))^2 averaged
over the batch (Caffe's Euclidean loss, the form the paper's theta values refer to; or
sum_pixels |r - f(x)| with ``loss="l1"``):
  g = clip(dL/dw, -theta/lr, theta/lr) + weight_decay * w      (w: conv kernels)
then an SGD-momentum (or Adam) update with the current learning rate lr.
Clipping to theta/lr (the paper's "adjustable gradient clipping") bounds the step lr * g by
theta whatever the learning rate, which is what lets lr start as high as 0.1.
"""
from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time

import numpy as np

from vdsr_tf import atomic
from vdsr_tf import data as data_lib
from vdsr_tf import matlab
from vdsr_tf.config import CHECKPOINT_SHAPING_FIELDS, TrainConfig

logger = logging.getLogger(__name__)

WEIGHTS_NAME = "vdsr.weights.h5"
MODEL_CARD_NAME = "model_card.json"
PLOT_NAME = "val_psnr.png"


class TrainingDiverged(RuntimeError):
    """The loss or gradient became NaN/inf; the last good checkpoint is kept."""


# ----------------------------------------------------------------------------- schedule
def learning_rate_at(cfg: TrainConfig, step: int) -> float:
    """The learning rate of (0-based) ``step``, a pure function of the step.

    "step": lr * lr_decay_factor ** floor(step / lr_decay_every) (the paper: 0.1, /10 every
    2490 steps); "cosine": from lr to lr * lr_min_factor over ``cfg.steps``; "constant";
    "wsd": lr until ``steps - decay_steps``, then linearly to lr * lr_min_factor at ``steps``.
    An optional linear warm-up over the first ``warmup_steps`` multiplies any of them.
    """
    step = int(step)
    if cfg.lr_schedule == "step":
        lr = cfg.lr * cfg.lr_decay_factor ** (step // cfg.lr_decay_every)
    elif cfg.lr_schedule == "cosine":
        t = min(step, cfg.steps) / cfg.steps
        lo = cfg.lr * cfg.lr_min_factor
        lr = lo + (cfg.lr - lo) * 0.5 * (1.0 + math.cos(math.pi * t))
    elif cfg.lr_schedule == "wsd":
        start = cfg.steps - cfg.decay_steps
        t = 0.0 if step < start else min(1.0, (step - start) / max(1, cfg.decay_steps))
        lr = cfg.lr * (1.0 - t * (1.0 - cfg.lr_min_factor))
    else:
        lr = cfg.lr
    if cfg.warmup_steps and step < cfg.warmup_steps:
        lr *= (step + 1) / cfg.warmup_steps
    return float(lr)


def clip_bound(theta: float, lr: float) -> float:
    """The paper's adjustable clipping bound theta / lr (inf when theta == 0: no clipping)."""
    return math.inf if theta == 0 else theta / lr


# ----------------------------------------------------------------------------- helpers
def _format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def _scalar(tag: str, value: float, step: int) -> None:
    """A TensorBoard scalar without needing the tensorboard package (tf.summary.scalar does)."""
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    md = summary_pb2.SummaryMetadata()
    md.plugin_data.plugin_name = "scalars"
    md.data_class = summary_pb2.DATA_CLASS_SCALAR
    tf.summary.write(tag, tf.constant(float(value), tf.float32), step=step, metadata=md.SerializeToString())


def make_strategy(name: str):
    """tf.distribute strategy for "default", "mirrored" or "multiworker".

    "mirrored" uses every local GPU, or every logical CPU device when there is no GPU
    (so two logical CPUs make a two-replica run).
    """
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy()
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=cpus)
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"strategy must be one of ('default', 'mirrored', 'multiworker'), got {name!r}")


def _is_chief(strategy) -> tuple[bool, str | None, int]:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True, None, 0
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    spec = resolver.cluster_spec().as_dict() if resolver.cluster_spec() else {}
    if task_type == "chief":
        return True, task_type, task_id
    if task_type == "worker" and task_id == 0 and "chief" not in spec:
        return True, task_type, task_id
    return False, task_type, task_id


# ----------------------------------------------------------------------------- validation
def validation_scales(scales, folder: str | None = None) -> list[int]:
    """The integer scales of ``scales`` (benchmarks are scored at integer scales only) that
    ``folder`` can be scored at (a Huang-layout folder only at its ``image_SRF_<s>`` scales)."""
    out = [int(s) for s in scales if float(s).is_integer()]
    if folder is not None and os.path.isdir(folder):
        huang = {n for n in os.listdir(folder) if n.startswith("image_SRF_")}
        if huang:
            out = [s for s in out if f"image_SRF_{s}" in huang]
    return out


def validate(model, folder: str, scales) -> dict[int, dict[str, float]]:
    """Mean PSNR/SSIM per scale on a benchmark folder, by the project's evaluation.

    ``model``: a keras.Model, or "bicubic" for the baseline. Uses
    :func:`vdsr_tf.evaluation.evaluate` (super_resolve + metrics.score: the full protocol of
    protocol.md, Huang layout with shipped LR or a plain HR folder), so the numbers are the
    ones tools/evaluate.py prints. Returns {scale: {"psnr": dB, "ssim": ...}}.
    """
    from vdsr_tf import evaluation

    rows = evaluation.evaluate(folder, validation_scales(scales, folder), weights=model)
    return {int(r["scale"]): {"psnr": float(r["psnr"]), "ssim": float(r["ssim"])} for r in rows}


# ----------------------------------------------------------------------------- trainer
class Trainer:
    """Trains VDSR per a :class:`TrainConfig` in ``workdir`` (resuming automatically).

    Args:
      config: the run's settings.
      workdir: the run directory (created). Re-running with the same workdir resumes.
      strategy: an explicit tf.distribute strategy (default: built from config.strategy).
        MultiWorkerMirroredStrategy must exist before any other TF op runs in the process:
        build it first (make_strategy) when you also build a patch_set yourself.
      patch_set: an already built :class:`vdsr_tf.data.PatchSet` (default: built from
        config.data, cached under workdir/cache).
      command: the command line, recorded in the model card.
      cache_dir: where the degraded training planes are cached (default workdir/cache);
        runs on the same data and scales may share one.
    """

    def __init__(self, config: TrainConfig, workdir: str, *, strategy=None, patch_set=None,
                 command: str | None = None, cache_dir: str | None = None):
        import keras
        import tensorflow as tf

        from vdsr_tf.model import build_vdsr

        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        self.cfg = config
        self.workdir = os.path.abspath(workdir)
        self.command = command
        os.makedirs(self.workdir, exist_ok=True)
        self.strategy = strategy if strategy is not None else make_strategy(config.strategy)
        self.is_chief, self._task_type, self._task_id = _is_chief(self.strategy)
        self._check_and_write_config()

        # --- data
        if patch_set is None:
            if not config.data:
                raise ValueError("config.data is empty: pass the training image folders")
            files = data_lib.list_images(config.data)
            if not files:
                raise ValueError(f"no images ({', '.join(data_lib.IMAGE_EXTENSIONS)}) under {list(config.data)}")
            t0 = time.time()
            logger.info("preparing %d training images at scales %s", len(files), config.scales)
            patch_set = data_lib.build_patch_set(
                files, config.scales, patch_size=config.patch_size, stride=config.stride,
                cache_dir=cache_dir or os.path.join(self.workdir, "cache"), hr_scales=config.hr_scales)
            logger.info("%d patches of %dx%d from %d planes in %.1fs", patch_set.num_patches,
                        config.patch_size, config.patch_size, len(patch_set.offsets), time.time() - t0)
        self.patch_set = patch_set
        self.steps_per_epoch = data_lib.steps_per_epoch(patch_set, config.batch_size)
        self.val_every = config.val_every or self.steps_per_epoch
        n_rep = self.strategy.num_replicas_in_sync
        if config.batch_size % n_rep:
            raise ValueError(f"batch_size {config.batch_size} is not divisible by the {n_rep} replicas")

        # --- model, optimizer, checkpoint (all inside the strategy scope)
        keras.utils.set_random_seed(config.seed)
        with self.strategy.scope():
            self.model = build_vdsr(
                depth=config.depth, filters=config.filters, residual=config.residual,
                dtype_policy="mixed_bfloat16" if config.precision == "mixed_bfloat16" else None)
            if config.zero_init_last:
                last = self.model.get_layer(f"conv_{config.depth:02d}")
                for v in last.weights:
                    v.assign(np.zeros(v.shape, v.dtype))
            lr0 = learning_rate_at(config, 0)
            if config.optimizer == "sgd":
                self.optimizer = keras.optimizers.SGD(learning_rate=lr0, momentum=config.momentum)
            else:
                self.optimizer = keras.optimizers.Adam(learning_rate=lr0)
            # Keras 3 + tf.distribute: build the slots inside the scope before the first step.
            self.optimizer.build(self.model.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.elapsed = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="elapsed_s")
        self.checkpoint = tf.train.Checkpoint(
            step=self.step, elapsed=self.elapsed, model=self.model, optimizer=self.optimizer)
        ckpt_dir = os.path.join(self.workdir, "checkpoints")
        if not self.is_chief:  # non-chief workers save too (collectives) but to a throwaway dir
            ckpt_dir = os.path.join(self.workdir, f".worker_{self._task_type}_{self._task_id}_ckpt")
        atomic.remove_stale_checkpoint_temps(ckpt_dir)  # ckpt-N_temp/ of a save killed halfway
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, ckpt_dir, max_to_keep=config.keep_checkpoints)
        restored = self.manager.latest_checkpoint
        if restored:
            # Fail loudly rather than silently training from scratch on a mismatched checkpoint.
            self.checkpoint.restore(restored).assert_existing_objects_matched()
            logger.info("resumed from %s at step %d (lr %.3g)", restored, int(self.step.numpy()),
                        learning_rate_at(config, int(self.step.numpy())))
        elif config.init_weights:
            from vdsr_tf.weights import load_model

            # Read (and checked) by the library's loader, so .mat files and shape errors are handled once.
            src = load_model(config.init_weights, depth=config.depth, filters=config.filters)
            for i in range(1, config.depth + 1):
                name = f"conv_{i:02d}"
                self.model.get_layer(name).set_weights(src.get_layer(name).get_weights())
            logger.info("warm start from %s (fresh optimizer)", config.init_weights)
        self._kernel_flags = ["kernel" in v.path for v in self.model.trainable_variables]
        self._train_step = self._make_train_step()
        self.history = self._load_history()
        self._stop_requested = False

    # ------------------------------------------------------------------ config / history
    def _check_and_write_config(self):
        path = os.path.join(self.workdir, "config.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                old = json.load(f)
            for key in CHECKPOINT_SHAPING_FIELDS:
                if key in old and old[key] != getattr(self.cfg, key):
                    raise ValueError(
                        f"{self.workdir} holds a run with {key}={old[key]!r}; this config has "
                        f"{key}={getattr(self.cfg, key)!r}: use a new --workdir")
            changed = {k: (old.get(k), v) for k, v in self.cfg.to_dict().items() if old.get(k) != v}
            if changed:
                logger.info("resuming with changed settings (old, new): %s", changed)
        if self.is_chief:
            atomic.write_text(path, self.cfg.to_json() + "\n")

    def _history_path(self):
        return os.path.join(self.workdir, "history.json")

    def _load_history(self) -> dict:
        path = self._history_path()
        hist = {"bicubic": None, "val": []}
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                hist = json.load(f)
            # Drop validations newer than the checkpoint we resumed from.
            step = int(self.step.numpy())
            hist["val"] = [r for r in hist["val"] if r["step"] <= step]
        return hist

    def _save_history(self):
        if self.is_chief:
            atomic.write_text(self._history_path(), json.dumps(self.history, indent=1) + "\n")

    # ------------------------------------------------------------------ step
    def _make_train_step(self):
        import tensorflow as tf

        cfg, model, opt, strategy = self.cfg, self.model, self.optimizer, self.strategy
        global_batch = float(cfg.batch_size)
        n_rep = float(strategy.num_replicas_in_sync)
        kernel_flags = self._kernel_flags
        theta = float(cfg.theta)
        wd = float(cfg.weight_decay)
        l1 = cfg.loss == "l1"

        def replica_step(x, y, lr):
            variables = model.trainable_variables
            with tf.GradientTape() as tape:
                pred = model(x, training=True)
                # Caffe Euclidean loss: 1/2 sum over pixels, averaged over the GLOBAL batch
                # (each replica holds batch/n rows, so replicas' losses sum to the batch mean).
                err = tf.cast(y, tf.float32) - pred
                if l1:
                    per_example = tf.reduce_sum(tf.abs(err), axis=[1, 2, 3])
                else:
                    per_example = 0.5 * tf.reduce_sum(tf.square(err), axis=[1, 2, 3])
                loss = tf.reduce_sum(per_example) / global_batch
            grads = tape.gradient(loss, variables)
            ctx = tf.distribute.get_replica_context()
            # The full-batch gradient on every replica, so clipping sees what one device sees.
            grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
            loss = ctx.all_reduce(tf.distribute.ReduceOp.SUM, loss)
            grad_norm = tf.linalg.global_norm(grads)
            total = tf.add_n([tf.cast(tf.size(g), tf.float32) for g in grads])
            if theta > 0:
                bound = theta / lr  # the paper's adjustable clip: the step lr*g stays within theta
                n_clipped = tf.add_n([tf.reduce_sum(tf.cast(tf.abs(g) > bound, tf.float32)) for g in grads])
                grads = [tf.clip_by_value(g, -bound, bound) for g in grads]
            else:
                n_clipped = tf.constant(0.0)
            if wd > 0:  # the paper's L2 penalty wd/2 ||w||^2 on the weights, added after clipping
                grads = [g + wd * v if k else g for g, v, k in zip(grads, variables, kernel_flags)]
            # Keras' optimizer sums gradients over replicas once more; hand it 1/n of the
            # (identical) full gradient so the update equals the single-device one.
            if n_rep > 1:
                grads = [g / n_rep for g in grads]
            opt.apply(grads, variables)
            return loss, grad_norm, n_clipped / total

        @tf.function
        def train_step(x, y, lr):
            loss, gnorm, frac = strategy.run(replica_step, args=(x, y, lr))
            # Values are identical on every replica after the all-reduce: take one.
            mean = tf.distribute.ReduceOp.MEAN
            return (strategy.reduce(mean, loss, axis=None), strategy.reduce(mean, gnorm, axis=None),
                    strategy.reduce(mean, frac, axis=None))

        return train_step

    def _dataset(self, start_step: int, num_steps: int):
        import tensorflow as tf

        cfg, ps, strategy = self.cfg, self.patch_set, self.strategy
        n_rep = strategy.num_replicas_in_sync
        kw = dict(batch_size=cfg.batch_size, seed=cfg.seed, start_step=start_step, num_steps=num_steps,
                  augment=cfg.augment, random_crop=cfg.random_crop)
        if n_rep == 1:
            return iter(data_lib.make_dataset(ps, **kw))

        def dataset_fn(ctx: tf.distribute.InputContext):
            per_pipeline = n_rep // ctx.num_input_pipelines
            first = ctx.input_pipeline_id * per_pipeline
            return data_lib.make_dataset(ps, num_slices=n_rep, slice_ids=range(first, first + per_pipeline), **kw)

        return iter(strategy.distribute_datasets_from_function(dataset_fn))

    # ------------------------------------------------------------------ run
    def run(self) -> dict | None:
        """Trains up to ``config.steps``; returns the model card (also written to workdir).

        Returns None if :meth:`request_stop` stopped it early (after saving a checkpoint).
        """
        import tensorflow as tf

        cfg = self.cfg
        start = int(self.step.numpy())
        writer = tf.summary.create_file_writer(os.path.join(self.workdir, "tensorboard")) \
            if self.is_chief else tf.summary.create_noop_writer()
        val_folder = None
        if cfg.val_data and os.path.isdir(cfg.val_data) and validation_scales(cfg.scales, cfg.val_data):
            val_folder = cfg.val_data
            if self.history.get("bicubic") is None:
                bic = validate("bicubic", val_folder, cfg.scales)
                self.history["bicubic"] = {str(k): v["psnr"] for k, v in bic.items()}
                self.history["bicubic_ssim"] = {str(k): v["ssim"] for k, v in bic.items()}
                self._save_history()
            logger.info("validation on %s; bicubic PSNR %s", val_folder,
                        {k: round(v, 2) for k, v in self.history["bicubic"].items()})
        elif cfg.val_data:
            logger.warning("validation folder %s not found (or no integer scale): no validation", cfg.val_data)

        if start >= cfg.steps:
            logger.info("already at step %d >= steps %d: nothing to train", start, cfg.steps)
        else:
            logger.info("training steps %d..%d (%d per epoch of %d patches), batch %d, %s, %s, %d replica(s)",
                        start, cfg.steps, self.steps_per_epoch, self.patch_set.num_patches, cfg.batch_size,
                        cfg.precision, cfg.optimizer, self.strategy.num_replicas_in_sync)
        it = self._dataset(start, max(0, cfg.steps - start))
        window_t0, window_steps, window = time.time(), 0, {"loss": 0.0, "gnorm": 0.0, "frac": 0.0}
        wait = 0.0
        last_saved = int(self.step.numpy())
        t_prev = time.time()
        for step in range(start, cfg.steps):
            lr = learning_rate_at(cfg, step)
            self.optimizer.learning_rate = lr
            t_wait = time.perf_counter()
            x, y = next(it)
            wait += time.perf_counter() - t_wait  # time the step waited for the input pipeline
            loss, gnorm, frac = self._train_step(x, y, tf.constant(lr, tf.float32))
            loss, gnorm, frac = float(loss), float(gnorm), float(frac)
            if not (math.isfinite(loss) and math.isfinite(gnorm)):
                msg = (f"training diverged at step {step}: loss={loss}, gradient norm={gnorm}, lr={lr:g}, "
                       f"theta={cfg.theta:g}. Stopped without saving; the last good checkpoint is "
                       f"{self.manager.latest_checkpoint or 'none'} (step {last_saved}). "
                       f"Try a smaller --theta or --lr.")
                logger.error(msg)
                raise TrainingDiverged(msg)
            self.step.assign(step + 1)
            now = time.time()
            self.elapsed.assign_add(now - t_prev)
            t_prev = now
            window["loss"] += loss
            window["gnorm"] += gnorm
            window["frac"] += frac
            window_steps += 1
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.steps:
                dt = max(time.time() - window_t0, 1e-9)
                pps = window_steps * cfg.batch_size / dt
                eta = (cfg.steps - done) * dt / window_steps
                mean = {k: v / window_steps for k, v in window.items()}
                logger.info("step %d/%d  loss %.5f  lr %.3g  |g| %.3g  clipped %.1f%%  %.1f patches/s  "
                            "input wait %.1f%%  ETA %s", done, cfg.steps, mean["loss"], lr, mean["gnorm"],
                            100 * mean["frac"], pps, 100 * wait / dt, _format_duration(eta))
                with writer.as_default(step=done):
                    _scalar("train/loss", mean["loss"], done)
                    _scalar("train/learning_rate", lr, done)
                    _scalar("train/grad_norm", mean["gnorm"], done)
                    _scalar("train/clipped_fraction", mean["frac"], done)
                    _scalar("train/patches_per_s", pps, done)
                    _scalar("train/input_wait_fraction", wait / dt, done)
                writer.flush()
                window_t0, window_steps, window = time.time(), 0, {k: 0.0 for k in window}
                wait = 0.0
            if val_folder is not None and (done % self.val_every == 0 or done == cfg.steps):
                t_val = time.time()
                try:
                    self._validate(val_folder, done, writer)
                except Exception:  # a broken benchmark folder must not end a long run
                    logger.exception("validation at step %d failed; training goes on", done)
                window_t0 += time.time() - t_val  # keep validation time out of patches/s
            if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                self.manager.save(checkpoint_number=done)
                last_saved = done
            if self._stop_requested and done < cfg.steps:
                # Between steps: the checkpoint holds exactly `done` updates.
                if done > last_saved:
                    self.manager.save(checkpoint_number=done)
                writer.flush()
                logger.warning("stopped on request at step %d (checkpoint saved); run the same command "
                               "again to resume", done)
                return None
        if int(self.step.numpy()) > last_saved or self.manager.latest_checkpoint is None:
            self.manager.save(checkpoint_number=int(self.step.numpy()))
        final = int(self.step.numpy())
        if val_folder is not None and not any(r["step"] == final for r in self.history["val"]):
            # A run resumed at or past its end (e.g. re-run with a smaller --steps to write the
            # weights of a stopped run): the card must describe these weights, not an older step.
            self._validate(val_folder, final, writer)
        writer.flush()
        return self._finish()

    def request_stop(self) -> None:
        """Asks :meth:`run` to save a checkpoint after the current step and return None.

        Safe to call from a signal handler (tools/train.py wires SIGINT and SIGTERM to it).
        """
        self._stop_requested = True

    def _validate(self, folder, step, writer):
        t0 = time.time()
        res = validate(self.model, folder, self.cfg.scales)
        self.history["val"] = [r for r in self.history["val"] if r["step"] != step]
        self.history["val"].append({"step": step, "psnr": {str(k): v["psnr"] for k, v in res.items()},
                                    "ssim": {str(k): v["ssim"] for k, v in res.items()}})
        self._save_history()
        bic = self.history.get("bicubic") or {}
        logger.info("val step %d: %s (%.1fs)", step, "  ".join(
            f"x{s} {v['psnr']:.2f} dB (bicubic {bic.get(str(s), float('nan')):.2f})" for s, v in res.items()),
            time.time() - t0)
        with writer.as_default(step=step):
            for s, v in res.items():
                _scalar(f"val/psnr_x{s}", v["psnr"], step)
                _scalar(f"val/ssim_x{s}", v["ssim"], step)
        writer.flush()

    def _finish(self) -> dict:
        import tensorflow as tf

        cfg = self.cfg
        last = self.history["val"][-1] if self.history.get("val") else None
        bic, bic_ssim = self.history.get("bicubic") or {}, self.history.get("bicubic_ssim") or {}
        table = None
        if last is not None:
            table = [{"scale": int(k), "step": last["step"], "psnr": v, "ssim": (last.get("ssim") or {}).get(k),
                      "bicubic_psnr": bic.get(k), "bicubic_ssim": bic_ssim.get(k),
                      "gain_db": None if bic.get(k) is None else v - bic[k]}
                     for k, v in sorted(last["psnr"].items(), key=lambda kv: float(kv[0]))]
        card = {
            "model": "VDSR", "depth": cfg.depth, "filters": cfg.filters, "residual": cfg.residual,
            "config": cfg.to_dict(),
            "command": self.command,
            "steps": int(self.step.numpy()),
            "train_time_s": round(float(self.elapsed.numpy()), 1),
            "data": {"folders": list(cfg.data), "images": len(self.patch_set.files),
                     "grid_patches": self.patch_set.num_patches, "scales": list(cfg.scales),
                     "hr_scales": list(cfg.hr_scales),
                     "patch_size": cfg.patch_size, "stride": cfg.stride},
            "validation": {"data": cfg.val_data,
                           "metric": "PSNR (dB) / SSIM, Y, shave=scale, vdsr_tf.evaluation.evaluate (protocol.md)",
                           "bicubic": self.history.get("bicubic"), "bicubic_ssim": self.history.get("bicubic_ssim"),
                           "table": table,
                           "history": self.history.get("val", []),
                           "final": self.history["val"][-1]["psnr"] if self.history.get("val") else None,
                           "final_ssim": self.history["val"][-1].get("ssim") if self.history.get("val") else None},
            "weights": WEIGHTS_NAME,
            "tensorflow": tf.__version__,
            "replicas": self.strategy.num_replicas_in_sync,
        }
        if not self.is_chief:
            import shutil

            shutil.rmtree(self.manager.directory, ignore_errors=True)  # the throwaway checkpoints
            return card
        with atomic.atomic_path(os.path.join(self.workdir, WEIGHTS_NAME), suffix=".weights.h5") as tmp:
            self.model.save_weights(tmp, overwrite=True)
        atomic.write_text(os.path.join(self.workdir, MODEL_CARD_NAME), json.dumps(card, indent=2) + "\n")
        self._plot()
        logger.info("wrote %s and %s in %s", WEIGHTS_NAME, MODEL_CARD_NAME, self.workdir)
        return card

    def _plot(self):
        if not self.history.get("val"):
            return
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            logger.info("matplotlib not installed: no %s", PLOT_NAME)
            return
        plot_history(self.history, os.path.join(self.workdir, PLOT_NAME))


def plot_history(history: dict, path: str) -> None:
    """PNG of validation PSNR against step per scale (dashed: bicubic), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(history["val"], key=lambda r: r["step"])
    scales = sorted({s for r in rows for s in r["psnr"]}, key=float)
    fig, axes = plt.subplots(1, len(scales), figsize=(4 * len(scales), 3.2), squeeze=False)
    for ax, s in zip(axes[0], scales):
        pts = [(r["step"], r["psnr"][s]) for r in rows if s in r["psnr"]]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=3, label="VDSR (ours)")
        bic = (history.get("bicubic") or {}).get(s)
        if bic is not None:
            ax.axhline(bic, ls="--", c="gray", label="bicubic")
        ax.set_title(f"x{s}")
        ax.set_xlabel("step")
        ax.set_ylabel("PSNR (dB)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(loc="lower right")
    fig.tight_layout()
    try:
        with atomic.atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)


# ----------------------------------------------------------------------------- benchmark
def synthetic_patch_set(num_images: int = 8, size: int = 256, scales=(2.0, 3.0, 4.0), seed: int = 0):
    """A PatchSet from smooth random uint8 luminance images (for benchmarks and tests)."""
    rng = np.random.default_rng(seed)
    files, planes = [], []
    for i in range(num_images):
        small = rng.random((size // 8 + 2, size // 8 + 2))
        y = np.clip(matlab.imresize(small, output_shape=(size, size)) * 219 + 16 + rng.normal(0, 4, (size, size)),
                    0, 255).astype(np.uint8)
        planes.append(y)
        files.append(f"synthetic_{i}")
    return data_lib.patch_set_from_planes(planes, files, scales)


def benchmark_pipeline(patch_set, *, batch_size: int = 64, batches: int = 200, augment: bool = True) -> dict:
    """Patches/s of the input pipeline alone (make_dataset, augmentation on), after 5 warm-up batches."""
    ds = data_lib.make_dataset(patch_set, batch_size=batch_size, num_steps=batches + 5, augment=augment)
    it = iter(ds)
    for _ in range(5):
        next(it)
    t0 = time.perf_counter()
    for _ in range(batches):
        x, _y = next(it)
    x.numpy()
    dt = time.perf_counter() - t0
    return {"batches": batches, "batch_size": batch_size, "seconds": dt, "patches_per_s": batches * batch_size / dt}


def benchmark_step(patch_set, *, precision: str = "float32", batch_size: int = 64, steps: int = 20,
                   warmup: int = 3, depth: int = 20, filters: int = 64) -> dict:
    """Patches/s of full training steps (the Trainer's compiled step fed by its pipeline).

    Uses a throwaway workdir; the first ``warmup`` steps (tracing) are not timed.
    """
    import tensorflow as tf

    cfg = TrainConfig(depth=depth, filters=filters, batch_size=batch_size, precision=precision,
                      steps=warmup + steps)
    with tempfile.TemporaryDirectory() as d:
        tr = Trainer(cfg, d, patch_set=patch_set)
        it = tr._dataset(0, warmup + steps)
        lr = tf.constant(cfg.lr, tf.float32)
        for _ in range(warmup):
            x, y = next(it)
            float(tr._train_step(x, y, lr)[0])
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            x, y = next(it)
            float(tr._train_step(x, y, lr)[0])  # fetch the loss each step, as run() does
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    # On a shared machine wall time mostly measures the neighbours; CPU seconds per step over
    # the cores gives a (pessimistic: spinning threads count too) estimate for a quiet machine.
    return {"precision": precision, "steps": steps, "batch_size": batch_size, "seconds": dt,
            "seconds_per_step": dt / steps, "patches_per_s": steps * batch_size / dt,
            "cpu_seconds_per_step": cpu / steps, "cores": cores,
            "quiet_estimate_patches_per_s": steps * batch_size / (cpu / cores)}
