"""The learning-rate schedule, the paper's clip bound, and fitting a run into a time budget.

Pure functions of the config and the step: a resumed run, and either backend, sees the
same learning rate (and clip bound) at the same step.
"""
from __future__ import annotations

import math

from vdsr_tf.train.config import TrainConfig


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
    """The paper's adjustable clipping bound theta / lr (inf when theta == 0: no clipping).

    Every element of the loss gradient is clipped to [-bound, bound], so the plain SGD step
    lr * g stays within theta whatever the learning rate.
    """
    return math.inf if theta == 0 else theta / lr


def fit_to_budget(cfg: TrainConfig, start_step: int, steps_per_s: float, seconds_left: float) -> TrainConfig:
    """``cfg`` with its length set to what ``seconds_left`` at ``steps_per_s`` allows.

    The run ends at step N = start_step + floor(steps_per_s * seconds_left) (at least
    start_step + 1). ``cfg.steps`` describes the shape of the schedule and N its length: the
    schedule is stretched or squeezed so that its shape over N equals its shape over
    ``cfg.steps`` (the step schedule's ``lr_decay_every``, the wsd ``decay_steps`` and the
    ``warmup_steps`` scale by N / cfg.steps; cosine follows ``steps`` by itself), so the
    final decay ends exactly when the time does. Parts already behind ``start_step`` are not
    touched when they are over (a finished warm-up stays as it was).
    """
    if not (steps_per_s > 0 and math.isfinite(steps_per_s)):
        raise ValueError(f"steps_per_s must be a positive number, got {steps_per_s!r}")
    n = max(int(start_step) + 1, int(start_step) + int(math.floor(steps_per_s * max(0.0, seconds_left))))
    f = n / cfg.steps

    def scaled(v, minimum):
        return max(minimum, int(round(v * f))) if v else v

    warmup = cfg.warmup_steps if cfg.warmup_steps <= start_step else min(scaled(cfg.warmup_steps, 1), n)
    return cfg.replace(steps=n, lr_decay_every=scaled(cfg.lr_decay_every, 1),
                       decay_steps=min(scaled(cfg.decay_steps, 1), n), warmup_steps=warmup)
