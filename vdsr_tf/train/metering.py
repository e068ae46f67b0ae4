"""Progress lines and scalar logs of a run: loss, lr, |g|, clipped fraction, patches/s, ETA.

Scalars go to TensorBoard event files on the TensorFlow path (written with tf.summary, so
the tensorboard package is not needed) and to ``scalars.jsonl`` (one JSON object per line:
tag, value, step) on the JAX path, which imports no TensorFlow.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time

logger = logging.getLogger(__name__)


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class NullScalarWriter:
    def scalars(self, values: dict, step: int) -> None:
        pass

    def close(self) -> None:
        pass


class TFScalarWriter:
    """TensorBoard scalars in ``folder`` via tf.summary (no tensorboard package needed)."""

    def __init__(self, folder: str):
        import tensorflow as tf

        self._writer = tf.summary.create_file_writer(folder)

    def scalars(self, values: dict, step: int) -> None:
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        md = summary_pb2.SummaryMetadata()
        md.plugin_data.plugin_name = "scalars"
        md.data_class = summary_pb2.DATA_CLASS_SCALAR
        meta = md.SerializeToString()
        with self._writer.as_default(step=step):
            for tag, value in values.items():
                tf.summary.write(tag, tf.constant(float(value), tf.float32), step=step, metadata=meta)
        self._writer.flush()

    def close(self) -> None:
        self._writer.flush()


class JsonlScalarWriter:
    """Scalars appended to ``folder/scalars.jsonl`` (flushed per call: a killed run keeps them)."""

    def __init__(self, folder: str):
        os.makedirs(folder, exist_ok=True)
        self.path = os.path.join(folder, "scalars.jsonl")

    def scalars(self, values: dict, step: int) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            for tag, value in values.items():
                f.write(json.dumps({"tag": tag, "value": float(value), "step": int(step)}) + "\n")

    def close(self) -> None:
        pass


class Meter:
    """Averages the per-step numbers over ``log_every`` steps, then logs a line and scalars.

    Time spent waiting for the input (:meth:`waited`) and outside training (:meth:`pause`,
    e.g. validation) is kept out of patches/s.
    """

    def __init__(self, writer, *, total_steps: int, batch_size: int, log_every: int):
        self.writer, self.total, self.batch, self.every = writer, total_steps, batch_size, log_every
        self._reset()

    def _reset(self):
        self.t0, self.n, self.wait = time.time(), 0, 0.0
        self.sums = {"loss": 0.0, "gnorm": 0.0, "frac": 0.0}

    def waited(self, seconds: float) -> None:
        self.wait += seconds

    def pause(self, seconds: float) -> None:
        self.t0 += seconds

    def update(self, done: int, lr: float, loss: float, gnorm: float, frac: float) -> None:
        for k, v in (("loss", loss), ("gnorm", gnorm), ("frac", frac)):
            self.sums[k] += v
        self.n += 1
        if done % self.every and done != self.total:
            return
        dt = max(time.time() - self.t0, 1e-9)
        pps = self.n * self.batch / dt
        mean = {k: v / self.n for k, v in self.sums.items()}
        logger.info("step %d/%d  loss %.5f  lr %.3g  |g| %.3g  clipped %.1f%%  %.1f patches/s  "
                    "input wait %.1f%%  ETA %s", done, self.total, mean["loss"], lr, mean["gnorm"],
                    100 * mean["frac"], pps, 100 * self.wait / dt,
                    format_duration((self.total - done) * dt / self.n))
        self.writer.scalars({"train/loss": mean["loss"], "train/learning_rate": lr,
                             "train/grad_norm": mean["gnorm"], "train/clipped_fraction": mean["frac"],
                             "train/patches_per_s": pps, "train/input_wait_fraction": self.wait / dt}, done)
        self._reset()
