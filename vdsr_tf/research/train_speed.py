"""Training throughput on this machine: the input alone and full steps, per backend and precision."""
from __future__ import annotations

import os
import tempfile
import time

import numpy as np

from vdsr_tf.core import matlab
from vdsr_tf.data import patches as data_lib
from vdsr_tf.train.config import TrainConfig


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


def benchmark_sampler(patch_set, *, batch_size: int = 64, batches: int = 200, augment: bool = True,
                      random_crop: bool = False, sampling: str = "uniform") -> dict:
    """Patches/s of the numpy sampler alone (what the JAX path is fed with)."""
    from vdsr_tf.data.sampling import BatchSampler

    s = BatchSampler(patch_set, batch_size=batch_size, augment=augment, random_crop=random_crop, sampling=sampling)
    s.batch(0)
    t0 = time.perf_counter()
    for k in range(1, batches + 1):
        s.batch(k)
    dt = time.perf_counter() - t0
    return {"batches": batches, "batch_size": batch_size, "seconds": dt, "patches_per_s": batches * batch_size / dt}


def benchmark_pipeline(patch_set, *, batch_size: int = 64, batches: int = 200, augment: bool = True,
                       random_crop: bool = False, sampling: str = "uniform") -> dict:
    """Patches/s of the TensorFlow input pipeline alone (make_dataset), after 5 warm-up batches."""
    ds = data_lib.make_dataset(patch_set, batch_size=batch_size, num_steps=batches + 5, augment=augment,
                               random_crop=random_crop, sampling=sampling)
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
                   warmup: int = 3, depth: int = 20, filters: int = 64, backend: str = "tensorflow") -> dict:
    """Patches/s of full training steps (the Trainer's backend step fed by its input).

    ``backend`` must be the one this process's Keras runs on. Uses a throwaway workdir; the
    first ``warmup`` steps (tracing/compiling) are not timed.
    """
    from vdsr_tf.train.trainer import Trainer

    cfg = TrainConfig(depth=depth, filters=filters, batch_size=batch_size, precision=precision,
                      steps=warmup + steps, backend=backend)
    with tempfile.TemporaryDirectory() as d:
        tr = Trainer(cfg, d, patch_set=patch_set)
        it = tr.backend.batches(patch_set, 0, warmup + steps)
        for _ in range(warmup):
            tr.backend.train_step(next(it), cfg.lr)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            tr.backend.train_step(next(it), cfg.lr)  # fetches the loss each step, as run() does
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    # On a shared machine wall time mostly measures the neighbours; CPU seconds per step over
    # the cores gives a (pessimistic: spinning threads count too) estimate for a quiet machine.
    return {"backend": backend, "precision": precision, "steps": steps, "batch_size": batch_size, "seconds": dt,
            "seconds_per_step": dt / steps, "patches_per_s": steps * batch_size / dt,
            "cpu_seconds_per_step": cpu / steps, "cores": cores,
            "quiet_estimate_patches_per_s": steps * batch_size / (cpu / cores)}
