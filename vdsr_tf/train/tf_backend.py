"""The TensorFlow side of a run: strategy, model and optimizer state, tf.train checkpoints, input.

Checkpoints are ``tf.train.Checkpoint(step, elapsed, model, optimizer[, ema])`` under
``workdir/checkpoints`` (tf.train.CheckpointManager: written to a temporary name, then
renamed), the layout every run of this project has written. A damaged state file or newest
checkpoint never sends a run back to step 0 (:func:`restore_checkpoint`).
"""
from __future__ import annotations

import logging
import os
import re

from vdsr_tf.core import atomic
from vdsr_tf.core.errors import first_line
from vdsr_tf.data import patches as data_lib
from vdsr_tf.train import recipe
from vdsr_tf.train.config import TrainConfig
from vdsr_tf.train.resume import Damaged, restore_newest_intact
from vdsr_tf.train.tf_step import is_chief, make_strategy, make_tf_step

logger = logging.getLogger(__name__)


_CHECKPOINT_FILE = re.compile(r"^ckpt-(\d+)\.(index|data-\d+-of-\d+)$")
_STATE_LINE = re.compile(r'^(model_checkpoint_path|all_model_checkpoint_paths): "([^"]*)"$|'
                         r'^(all_model_checkpoint_timestamps|last_preserved_timestamp): [0-9.eE+-]+$')
STATE_FILE = "checkpoint"


def checkpoint_steps(folder: str) -> list[int]:
    """Steps N of the ``ckpt-N`` checkpoints with any file (index or data) in ``folder``, oldest first."""
    if not os.path.isdir(folder):
        return []
    return sorted({int(m.group(1)) for m in map(_CHECKPOINT_FILE.match, os.listdir(folder)) if m})


def read_state_file(folder: str) -> tuple[int | None, str | None]:
    """(step of the checkpoint the state file ``folder/checkpoint`` names, None) when it is
    sound; (None, what is wrong) when it is missing, damaged or names no checkpoint here."""
    path = os.path.join(folder, STATE_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.strip() for line in f.read().splitlines() if line.strip()]
    except FileNotFoundError:
        return None, "it is missing"
    except (OSError, UnicodeDecodeError) as e:
        return None, f"it cannot be read ({type(e).__name__})"
    named = [m.group(2) for m in map(_STATE_LINE.match, lines) if m and m.group(1) == "model_checkpoint_path"]
    if any(_STATE_LINE.match(line) is None for line in lines) or len(named) != 1:
        return None, "it is not a checkpoint state file"
    m = re.fullmatch(r"ckpt-(\d+)", os.path.basename(named[0]))
    if m is None or int(m.group(1)) not in checkpoint_steps(folder):
        return None, f"it names {named[0]!r}, which is not in the folder"
    return int(m.group(1)), None


def _write_state_file(folder: str, step: int, kept: list[int]) -> None:
    """The state file CheckpointManager writes, naming ``ckpt-<step>`` and the ``kept`` steps
    (relative names and the index files' times, as TensorFlow writes it), atomically."""
    lines = [f'model_checkpoint_path: "ckpt-{step}"']
    lines += [f'all_model_checkpoint_paths: "ckpt-{s}"' for s in kept]
    lines += [f"all_model_checkpoint_timestamps: {os.path.getmtime(os.path.join(folder, f'ckpt-{s}.index'))!r}"
              for s in kept]
    atomic.write_text(os.path.join(folder, STATE_FILE), "\n".join(lines) + "\n")


def restore_checkpoint(folder: str, restore) -> tuple[str | None, bool]:
    """Restores the run's checkpoint from ``folder`` with ``restore(prefix) -> bool``; returns
    (the prefix restored or None when the folder holds no checkpoint, what ``restore`` returned).

    The checkpoint the state file names is restored, or the newest in the folder when the state
    file is missing or damaged (one warning; the state file is rewritten). A checkpoint that
    cannot be restored (a truncated or changed data file, a missing or damaged index) gives way
    to the newest intact older one (one warning naming both). When none can be restored: a
    one-line ValueError naming the folder and the fix; a run never starts again at step 0 over
    checkpoints it has.
    """
    steps = checkpoint_steps(folder)
    if not steps:
        return None, False
    named, state_problem = read_state_file(folder)
    first = named if named is not None else steps[-1]

    def read(step):
        prefix = os.path.join(folder, f"ckpt-{step}")
        try:
            return restore(prefix)
        except AssertionError as e:  # intact, but another network or optimizer
            raise ValueError(f"checkpoint {prefix!r} does not match this run's network or optimizer "
                             f"({first_line(e, folder)}): use a new --workdir") from None
        except Exception as e:  # noqa: BLE001 - every reader error is a damaged checkpoint here
            raise Damaged(first_line(e, folder)) from e

    step, result, damaged = restore_newest_intact(folder, [first] + [s for s in reversed(steps) if s < first], read)
    if state_problem is not None or damaged:
        _write_state_file(folder, step, [s for s in steps if s <= step and s not in damaged
                                         and os.path.exists(os.path.join(folder, f"ckpt-{s}.index"))])
    if state_problem is not None and not damaged:
        logger.warning("checkpoint state file %s is damaged (%s): resuming from the newest checkpoint in the "
                       "folder, ckpt-%d, and rewriting the state file", os.path.join(folder, STATE_FILE),
                       state_problem, step)
    return os.path.join(folder, f"ckpt-{step}"), result


class TFBackend:
    """Model, optimizer and checkpoint of a TensorFlow run: a :class:`vdsr_tf.train.backend.TrainBackend`."""

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

        def restore(prefix: str) -> bool:
            """Restores ``prefix``; whether it holds the weight average."""
            with_average = any(name.startswith("ema/") for name, _ in tf.train.list_variables(prefix))
            # A run that turns the average on restores a checkpoint without one: its weights
            # and optimizer only. Fail loudly rather than train from scratch on a mismatch.
            ckpt = self.checkpoint if with_average or not cfg.ema_decay else tf.train.Checkpoint(**state)
            ckpt.restore(prefix).assert_existing_objects_matched()
            return with_average

        # Before the manager exists (it reads the state file): the state file is repaired first
        # when it is damaged, and a damaged newest checkpoint gives way to an older intact one.
        self.restored_from, has_average = restore_checkpoint(ckpt_dir, restore)
        self.manager = tf.train.CheckpointManager(self.checkpoint, ckpt_dir, max_to_keep=cfg.keep_checkpoints)
        if not self.restored_from and cfg.init_weights:
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
        from vdsr_tf.train.metering import NullScalarWriter, TFScalarWriter

        return TFScalarWriter(folder) if self.is_chief else NullScalarWriter()
