"""The TensorFlow side of a run: strategy, model and optimizer state, tf.train checkpoints, input.

Checkpoints are ``tf.train.Checkpoint(step, elapsed, model, optimizer[, ema])`` under
``workdir/checkpoints`` (tf.train.CheckpointManager: written to a temporary name, then
renamed), the layout every run of this project has written.
"""
from __future__ import annotations

import logging
import os

from vdsr_tf import atomic
from vdsr_tf import data as data_lib
from vdsr_tf.config import TrainConfig
from vdsr_tf.train import recipe
from vdsr_tf.train.tf_step import is_chief, make_strategy, make_tf_step

logger = logging.getLogger(__name__)


class TFBackend:
    """Model, optimizer and checkpoint of a TensorFlow run; see :class:`vdsr_tf.train.Trainer`."""

    name = "tensorflow"

    def __init__(self, cfg: TrainConfig, workdir: str, *, strategy=None):
        import keras
        import tensorflow as tf

        self.cfg = cfg
        self.strategy = strategy if strategy is not None else make_strategy(cfg.strategy)
        self.is_chief, self._task_type, self._task_id = is_chief(self.strategy)
        self.replicas = self.strategy.num_replicas_in_sync
        if cfg.batch_size % self.replicas:
            raise ValueError(f"batch_size {cfg.batch_size} is not divisible by the {self.replicas} replicas")
        keras.utils.set_random_seed(cfg.seed)
        with self.strategy.scope():
            self.model = recipe.build_model(cfg)
            self.optimizer = recipe.make_optimizer(cfg)
            # Keras 3 + tf.distribute: build the slots inside the scope before the first step.
            self.optimizer.build(self.model.trainable_variables)
            self._step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self._elapsed = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="elapsed_s")
            # The weights' moving average (cfg.ema_decay), one float32 copy per trainable variable.
            self.averages = tf.Module(name="ema")
            self.averages.values = [tf.Variable(v, trainable=False, name=v.path.replace("/", "_") + "_ema")
                                    for v in self.model.trainable_variables] if cfg.ema_decay else []
        state = dict(step=self._step, elapsed=self._elapsed, model=self.model, optimizer=self.optimizer)
        self.checkpoint = tf.train.Checkpoint(**state, **({"ema": self.averages} if cfg.ema_decay else {}))
        ckpt_dir = os.path.join(workdir, "checkpoints")
        if not self.is_chief:  # non-chief workers save too (collectives) but to a throwaway dir
            ckpt_dir = os.path.join(workdir, f".worker_{self._task_type}_{self._task_id}_ckpt")
        atomic.remove_stale_checkpoint_temps(ckpt_dir)  # ckpt-N_temp/ of a save killed halfway
        self.manager = tf.train.CheckpointManager(self.checkpoint, ckpt_dir, max_to_keep=cfg.keep_checkpoints)
        self.restored_from = self.manager.latest_checkpoint
        has_average = False
        if self.restored_from:
            has_average = any(name.startswith("ema/") for name, _ in tf.train.list_variables(self.restored_from))
            # A run that turns the average on restores a checkpoint without one: its weights
            # and optimizer only. Fail loudly rather than train from scratch on a mismatch.
            ckpt = self.checkpoint if has_average or not cfg.ema_decay else tf.train.Checkpoint(**state)
            ckpt.restore(self.restored_from).assert_existing_objects_matched()
        elif cfg.init_weights:
            recipe.warm_start(self.model, cfg)
        if cfg.ema_decay and not has_average:
            for a, v in zip(self.averages.values, self.model.trainable_variables):
                a.assign(v)
            logger.info("weight average (decay %g) starts at the weights of step %d", cfg.ema_decay, self.step)
        self._step_fn = make_tf_step(self.model, self.optimizer, cfg, self.strategy,
                                     averages=self.averages.values)
        self._average_model = None

    # ------------------------------------------------------------------ state
    @property
    def step(self) -> int:
        return int(self._step.numpy())

    @property
    def elapsed(self) -> float:
        return float(self._elapsed.numpy())

    def advance(self, step: int, seconds: float) -> None:
        """Records that ``step`` updates are done, ``seconds`` more of training time."""
        self._step.assign(step)
        self._elapsed.assign_add(seconds)

    @property
    def latest_checkpoint(self) -> str | None:
        return self.manager.latest_checkpoint

    def save(self) -> str:
        return self.manager.save(checkpoint_number=self.step)

    def discard_worker_checkpoints(self) -> None:
        if not self.is_chief:
            import shutil

            shutil.rmtree(self.manager.directory, ignore_errors=True)

    def versions(self) -> dict:
        import tensorflow as tf

        return {"backend": self.name, "tensorflow": tf.__version__, "replicas": self.replicas}

    # ------------------------------------------------------------------ training
    def train_step(self, batch, lr: float) -> tuple[float, float, float]:
        """One update on ``batch`` (from :meth:`batches`) at ``lr``: (loss, |g|, clipped fraction)."""
        import tensorflow as tf

        self.optimizer.learning_rate = lr
        x, y = batch
        loss, gnorm, frac = self._step_fn(x, y, tf.constant(lr, tf.float32))
        return float(loss), float(gnorm), float(frac)

    def batches(self, patch_set, start_step: int, num_steps: int):
        """Iterator over the batches of steps start_step.. (distributed over the replicas)."""
        import tensorflow as tf

        cfg, n_rep = self.cfg, self.replicas
        kw = dict(batch_size=cfg.batch_size, seed=cfg.seed, start_step=start_step, num_steps=num_steps,
                  augment=cfg.augment, random_crop=cfg.random_crop, sampling=cfg.sampling,
                  texture_floor=cfg.texture_floor, degradation=cfg.mixture)
        if n_rep == 1:
            return iter(data_lib.make_dataset(patch_set, **kw))

        def dataset_fn(ctx: tf.distribute.InputContext):
            per_pipeline = n_rep // ctx.num_input_pipelines
            first = ctx.input_pipeline_id * per_pipeline
            return data_lib.make_dataset(patch_set, num_slices=n_rep, slice_ids=range(first, first + per_pipeline),
                                         **kw)

        return iter(self.strategy.distribute_datasets_from_function(dataset_fn))

    def eval_model(self, average: bool = False):
        """The keras.Model holding the current weights (for validation and the final file), or
        with ``average`` a model holding their moving average (cfg.ema_decay must be on)."""
        if not average:
            return self.model
        if not self.averages.values:
            raise ValueError("this run keeps no weight average (ema_decay is 0)")
        self._average_model = recipe.holding(self.cfg, [a.numpy() for a in self.averages.values],
                                             self._average_model)
        return self._average_model

    def scalar_writer(self, folder: str):
        from vdsr_tf.train.metering import TFScalarWriter, NullScalarWriter

        return TFScalarWriter(folder) if self.is_chief else NullScalarWriter()
