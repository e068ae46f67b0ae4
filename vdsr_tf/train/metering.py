"""Progress lines and scalar logs of a run: loss, lr, |g|, clipped fraction, patches/s, ETA.

Scalars go to TensorBoard event files on both paths: written with tf.summary on the
TensorFlow path, and by a small writer of the same file format (:class:`EventFileScalarWriter`)
on the JAX path, which imports neither TensorFlow nor the tensorboard package.
"""
from __future__ import annotations

import logging
import math
import os
import socket
import struct
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


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1  # Castagnoli polynomial, reflected
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def _masked_crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C[(crc ^ b) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF  # TFRecord's masking


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:  # a length-delimited protobuf field
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int, *, file_version: str | None = None, scalars: dict | None = None) -> bytes:
    """A serialized tensorflow.Event: wall_time (1), step (2), file_version (3), summary (5) whose
    values (1) carry tag (1) and simple_value (2), the form TensorBoard's scalar plugin reads."""
    out = b"\x09" + struct.pack("<d", wall_time) + _varint(2 << 3) + _varint(int(step))
    if file_version is not None:
        out += _field(3, file_version.encode())
    if scalars:
        values = b"".join(_field(1, _field(1, tag.encode()) + b"\x15" + struct.pack("<f", float(v)))
                          for tag, v in scalars.items())
        out += _field(5, values)
    return out


class EventFileScalarWriter:
    """TensorBoard scalars in ``folder`` without TensorFlow or the tensorboard package.

    Writes an ``events.out.tfevents.*`` file (TFRecord framing, CRC32C, Event protos with
    simple_value scalars), flushed per call, so a killed run keeps what it logged.
    """

    def __init__(self, folder: str):
        os.makedirs(folder, exist_ok=True)
        self.path = os.path.join(folder, f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.jax")
        self._write(_event(time.time(), 0, file_version="brain.Event:2"))

    def _write(self, record: bytes) -> None:
        header = struct.pack("<Q", len(record))
        with open(self.path, "ab") as f:
            f.write(header + struct.pack("<I", _masked_crc32c(header)) + record
                    + struct.pack("<I", _masked_crc32c(record)))

    def scalars(self, values: dict, step: int) -> None:
        self._write(_event(time.time(), step, scalars=values))

    def close(self) -> None:
        pass


class Meter:
    """Averages the per-step numbers over ``log_every`` steps, then logs a line and scalars.

    Time spent waiting for the input (:meth:`waited`) and outside training (:meth:`pause`,
    e.g. validation) is kept out of patches/s.
    """

    def __init__(self, writer, *, total_steps: int, batch_size: int, log_every: int):
        self.writer, self.total, self.batch, self.every = writer, total_steps, batch_size, log_every
        self._first = True  # a run's first step is logged at once: minutes pass before step log_every
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
        first, self._first = self._first, False
        if done % self.every and done != self.total and not first:
            return
        dt = max(time.time() - self.t0, 1e-9)
        pps = self.n * self.batch / dt
        mean = {k: v / self.n for k, v in self.sums.items()}
        logger.info("step %d/%d  loss %.5f  lr %.3g  |g| %.3g  clipped %.1f%%  %.1f patches/s  "
                    "input wait %.1f%%  ETA %s%s", done, self.total, mean["loss"], lr, mean["gnorm"],
                    100 * mean["frac"], pps, 100 * self.wait / dt,
                    format_duration((self.total - done) * dt / self.n),
                    "  (first step: it includes building the step, so the ETA is high)" if first else "")
        self.writer.scalars({"train/loss": mean["loss"], "train/learning_rate": lr,
                             "train/grad_norm": mean["gnorm"], "train/clipped_fraction": mean["frac"],
                             "train/patches_per_s": pps, "train/input_wait_fraction": self.wait / dt}, done)
        self._reset()
