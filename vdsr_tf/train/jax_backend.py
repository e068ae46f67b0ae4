"""The JAX side of a run: state, ``.npz`` checkpoints and batches, without TensorFlow.

Checkpoints are ``workdir/checkpoints/ckpt-<step>.npz`` holding every model and optimizer
variable (by path, checked on restore), the weights' moving average when the run keeps one
(``ema/<path>``), the step and the training time. Each is written to a
temporary name and renamed (vdsr_tf.core.atomic), so a ``kill -9`` leaves the previous one
intact; the newest ``keep_checkpoints`` are kept.
"""
from __future__ import annotations

import glob
import logging
import os
import queue
import re
import threading

import numpy as np

from vdsr_tf.core import atomic
from vdsr_tf.core.errors import first_line
from vdsr_tf.train import recipe
from vdsr_tf.train.config import TrainConfig
from vdsr_tf.train.jax_step import initial_state, make_jax_step
from vdsr_tf.train.resume import Damaged, restore_newest_intact

logger = logging.getLogger(__name__)

_CKPT = re.compile(r"^ckpt-(\d+)\.npz$")
_AVERAGE = "ema/"  # prefix of the weight average's arrays in a checkpoint


def list_checkpoints(folder: str) -> list[tuple[int, str]]:
    """(step, path) of the finished checkpoints in ``folder``, oldest first."""
    out = []
    for path in glob.glob(os.path.join(folder, "ckpt-*.npz")):
        m = _CKPT.match(os.path.basename(path))
        if m:
            out.append((int(m.group(1)), path))
    return sorted(out)


class JaxBackend:
    """Model, optimizer and checkpoint of a JAX run: a :class:`vdsr_tf.train.backend.TrainBackend`."""

    name = "jax"
    is_chief = True
    replicas = 1
    strategy = None

    def __init__(self, cfg: TrainConfig, workdir: str):
        import keras

        if keras.backend.backend() != "jax":
            raise RuntimeError(f"backend='jax' needs Keras on JAX (set KERAS_BACKEND=jax before keras is "
                               f"imported); this process runs Keras on {keras.backend.backend()!r}")
        self.cfg = cfg
        keras.utils.set_random_seed(cfg.seed)
        self.model = recipe.build_model(cfg)
        self.optimizer = recipe.make_optimizer(cfg)
        self.optimizer.build(self.model.trainable_variables)
        self.folder = os.path.join(workdir, "checkpoints")
        self._step, self._elapsed = 0, 0.0
        self.averages = None  # the weights' moving average (cfg.ema_decay), per trainable variable
        self.restored_from = self._restore_newest_intact()
        if not self.restored_from and cfg.init_weights:
            recipe.warm_start(self.model, cfg)
        self.state = initial_state(self.model, self.optimizer)
        self._step_fn = make_jax_step(self.model, self.optimizer, cfg)
        self._synced = True
        if cfg.ema_decay and self.averages is None:
            self.averages = [np.asarray(v.numpy()) for v in self.model.trainable_variables]
            logger.info("weight average (decay %g) starts at the weights of step %d", cfg.ema_decay, self._step)
        self._average_fn = None
        self._average_model = None

    # ------------------------------------------------------------------ state
    @property
    def step(self) -> int:
        return self._step

    @property
    def elapsed(self) -> float:
        return self._elapsed

    def advance(self, step: int, seconds: float) -> None:
        self._step = int(step)
        self._elapsed += float(seconds)

    @property
    def latest_checkpoint(self) -> str | None:
        latest = list_checkpoints(self.folder)
        return latest[-1][1] if latest else None

    def _variables(self):
        return ([("model/" + v.path, v) for v in self.model.variables]
                + [("optimizer/" + v.path, v) for v in self.optimizer.variables])

    def _restore_newest_intact(self) -> str | None:
        """Restores the newest checkpoint that reads (vdsr_tf.train.resume): the path, or None
        when the folder holds none."""
        paths = dict(list_checkpoints(self.folder))
        step, _, _ = restore_newest_intact(self.folder, sorted(paths, reverse=True),
                                           lambda s: self._restore(paths[s]))
        return None if step is None else paths[step]

    def _restore(self, path: str) -> None:
        try:
            with np.load(path) as z:
                saved = {k: z[k] for k in z.files}
            step, elapsed = int(saved.pop("__step__")), float(saved.pop("__elapsed__"))
        except Exception as e:  # noqa: BLE001 - BadZipFile, zlib, EOF, a missing key: a damaged file
            raise Damaged(first_line(e)) from e
        averages = {k[len(_AVERAGE):]: saved.pop(k) for k in list(saved) if k.startswith(_AVERAGE)}
        want = self._variables()
        names = [n for n, _ in want]
        if sorted(names) != sorted(saved):
            missing, extra = sorted(set(names) - set(saved)), sorted(set(saved) - set(names))
            raise ValueError(f"checkpoint {path} does not match this network/optimizer "
                             f"(missing {missing[:3]}, unexpected {extra[:3]})")
        for name, v in want:
            if tuple(saved[name].shape) != tuple(v.shape):
                raise ValueError(f"checkpoint {path}: {name} has shape {saved[name].shape}, "
                                 f"this network needs {tuple(v.shape)}")
            v.assign(saved[name])
        self._step, self._elapsed = step, elapsed
        # A run that turns the average on resumes from a checkpoint without one (it then starts
        # at these weights); one that turns it off ignores it.
        if self.cfg.ema_decay and averages:
            paths = [v.path for v in self.model.trainable_variables]
            if sorted(paths) != sorted(averages):
                raise ValueError(f"checkpoint {path}: its weight average does not match this network")
            self.averages = [averages[p] for p in paths]

    def save(self) -> str:
        self.sync()
        os.makedirs(self.folder, exist_ok=True)
        arrays = {name: np.asarray(v.numpy()) for name, v in self._variables()}
        if self.averages is not None:
            arrays.update({_AVERAGE + v.path: np.asarray(a)
                           for v, a in zip(self.model.trainable_variables, self.averages)})
        arrays["__step__"] = np.asarray(self._step, np.int64)
        arrays["__elapsed__"] = np.asarray(self._elapsed, np.float64)
        path = os.path.join(self.folder, f"ckpt-{self._step}.npz")
        with atomic.atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
        for _, old in list_checkpoints(self.folder)[:-self.cfg.keep_checkpoints]:
            os.remove(old)
        return path

    def sync(self) -> None:
        """Writes the jitted state back into the Keras model and optimizer variables."""
        if self._synced:
            return
        trainable, non_trainable, opt_vars = self.state
        for vs, vals in ((self.model.trainable_variables, trainable),
                         (self.model.non_trainable_variables, non_trainable),
                         (self.optimizer.variables, opt_vars)):
            for v, val in zip(vs, vals):
                v.assign(val)
        self._synced = True

    def discard_worker_checkpoints(self) -> None:
        pass

    def versions(self) -> dict:
        import jax

        return {"backend": self.name, "jax": jax.__version__, "device": str(jax.devices()[0].platform),
                "replicas": 1}

    # ------------------------------------------------------------------ training
    def train_step(self, batch, lr: float) -> tuple[float, float, float]:
        import jax.numpy as jnp

        x, y = batch
        self.state, (loss, gnorm, frac) = self._step_fn(self.state, jnp.asarray(x), jnp.asarray(y),
                                                        jnp.float32(lr))
        self._synced = False
        if self.averages is not None:
            if self._average_fn is None:
                import jax

                decay = self.cfg.ema_decay
                self._average_fn = jax.jit(lambda a, w: recipe.update_average(a, w, decay))
            self.averages = self._average_fn(self.averages, self.state[0])
        return float(loss), float(gnorm), float(frac)

    def batches(self, patch_set, start_step: int, num_steps: int):
        """Batches of steps start_step.. from the numpy sampler, prepared one ahead in a thread."""
        from vdsr_tf.data.sampling import BatchSampler

        cfg = self.cfg
        sampler = BatchSampler(patch_set, batch_size=cfg.batch_size, seed=cfg.seed, augment=cfg.augment,
                               random_crop=cfg.random_crop, sampling=cfg.sampling,
                               texture_floor=cfg.texture_floor, degradation=cfg.mixture)
        return _prefetch((sampler.batch(k)[:2] for k in range(start_step, start_step + num_steps)), depth=2)

    def eval_model(self, average: bool = False):
        """The keras.Model with the current weights, or with ``average`` their moving average."""
        self.sync()
        if not average:
            return self.model
        if self.averages is None:
            raise ValueError("this run keeps no weight average (ema_decay is 0)")
        self._average_model = recipe.holding(self.cfg, self.averages, self._average_model)
        return self._average_model

    def scalar_writer(self, folder: str):
        from vdsr_tf.train.metering import EventFileScalarWriter

        return EventFileScalarWriter(folder)


def _prefetch(iterable, depth: int):
    """Runs ``iterable`` in a daemon thread, ``depth`` items ahead of the consumer."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()

    def work():
        try:
            for item in iterable:
                q.put(item)
        except BaseException as e:  # handed to the consumer, raised there
            q.put(e)
        q.put(done)

    threading.Thread(target=work, daemon=True).start()
    while True:
        item = q.get()
        if item is done:
            return
        if isinstance(item, BaseException):
            raise item
        yield item
