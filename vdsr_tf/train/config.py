"""Typed, frozen training settings with the paper's defaults (docs/protocol.md, "Training protocol").

Everything the trainer does is decided by one :class:`TrainConfig`; nothing is read from
globals or flags deep inside the library. ``tools/train.py`` turns flags into a config.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any

from vdsr_tf.core.checks import check_int
from vdsr_tf.data.sampling import SAMPLINGS  # the sampler owns its choices
from vdsr_tf.nn.model import BFLOAT16_NAMES, BFLOAT16_POLICY

PRECISIONS = ("float32", BFLOAT16_POLICY)
PRECISION_NAMES = PRECISIONS + tuple(n for n in BFLOAT16_NAMES if n not in PRECISIONS)
"""What --precision takes: "bfloat16" (inference's name) is kept as "mixed_bfloat16"."""
STRATEGIES = ("default", "mirrored", "multiworker")
OPTIMIZERS = ("sgd", "adam")
LR_SCHEDULES = ("step", "cosine", "constant", "wsd")
LOSSES = ("l2", "l1")
BACKENDS = ("tensorflow", "jax")

# Fields that change the shape of what a checkpoint holds: a run may not resume with
# different values (everything else, e.g. steps or the schedule, may change on resume).
CHECKPOINT_SHAPING_FIELDS = ("depth", "filters", "optimizer", "residual", "backend")

# Fields whose change makes a resumed run another run (another objective, other patches, other
# data, other images held out of it): refused on resume unless the user says
# --allow_changed_settings. Other changes (precision, the schedule, validation, ...) are accepted;
# every change is recorded in the run's settings history (config.json and the model card) except
# the bookkeeping ones below.
RUN_DEFINING_FIELDS = ("loss", "patch_size", "scales", "data", "held_out")
UNRECORDED_FIELDS = ("log_every", "checkpoint_every", "keep_checkpoints")
SETTINGS_HISTORY = "settings_history"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run. Defaults reproduce the paper (Kim et al., CVPR 2016).

    Data:
      data: folders of HR training images (searched recursively for png/jpg/bmp/tif) and/or
        luminance archives (``.npz`` files of vdsr_tf.data.luma_archive: the Y planes, no decoding).
      scales: the upscaling factors mixed in every batch (fractional allowed).
      hr_scales: each HR image is also used downsized by these factors in (0, 1] before
        degradation (a common VDSR augmentation is (1.0, 0.7, 0.5)); (1.0,) = the images as they are.
      patch_size, stride: sub-image size and grid stride (41 and 41: no overlap).
      random_crop: if True, patches are cropped at random positions instead of the grid
        (an epoch then still has as many patches as the grid would give).
      augment: random rotation by 0/90/180/270 degrees and flip per patch.
      sampling: "uniform" (every patch equally often: the grid shuffled per epoch, or
        uniform random crops) or "texture" (patches drawn with probability growing with the
        energy of their bicubic residual, with a floor: see vdsr_tf.data.sampling).
      texture_floor: in (0, 1], the relative weight of a patch without any residual under
        "texture" sampling (a patch of average residual energy has weight 1).
      batch_size: global batch (split over replicas under a distribution strategy).
      degradation: what the LR of each patch went through, as a mixture
        (vdsr_tf.core.degradation): "clean" (the paper: Matlab bicubic only) or e.g.
        "clean:0.25,jpeg:20-95" (a quarter lossless, the rest saved as JPEG at a quality
        drawn uniformly from 20 to 95 per patch's image; the whole LR picture is compressed).
    Model:
      depth, filters: network size (20, 64 in the paper).
      residual: output = input + network (the paper's VDSR); False trains the plain network
        (the paper's non-residual baseline of Table 1).
      precision: "float32" or "mixed_bfloat16" (Keras dtype policy of the hidden convs).
      zero_init_last: start the last convolution at zero, so the untrained network is the
        bicubic input (only for runs from scratch; a warm start or checkpoint overrides it).
      init_weights: a ``.weights.h5`` to warm-start from (e.g. the bundled weights); used
        only when the run has no checkpoint yet. The optimizer starts fresh.
    Optimisation:
      optimizer: "sgd" (momentum, the paper) or "adam".
      lr, momentum, weight_decay: 0.1, 0.9, 1e-4 (L2 penalty added to the clipped gradient).
      theta: adjustable gradient clipping constant; every element of the loss gradient is
        clipped to [-theta/lr, theta/lr] (lr = current learning rate). 0 disables clipping.
        1e-4 is the default because, with the loss summed over the 41x41 pixels
        (Caffe's Euclidean loss), 1e-3 and 1e-2 diverge at lr 0.1 (docs/protocol.md, measured).
      loss: "l2" (1/2 sum over pixels of the squared error, Caffe's Euclidean loss, the paper)
        or "l1" (sum over pixels of the absolute error); both averaged over the batch.
      lr_schedule: "step" (multiply by lr_decay_factor every lr_decay_every steps, the paper),
        "cosine" (from lr down to lr * lr_min_factor over ``steps``), "constant", or "wsd"
        (warm-up, stable, decay: lr until the last ``decay_steps`` steps, then linearly down
        to lr * lr_min_factor at ``steps``; an open-ended run keeps ``steps`` far away and a
        branch resumed with a nearer ``steps`` decays from wherever the run stands).
      decay_steps: length of the final decay of the "wsd" schedule.
      ema_decay: 0 (off, the paper) or the decay d in [0, 1) of an exponential moving average
        of the trainable weights, a <- d * a + (1 - d) * w after every update. When on,
        validation scores the average too and the final weights are the average: at a
        constant learning rate it stands in for a decay branch without spending steps
        (BUILD_NOTES, "Weight averaging"). A run may turn it on when resuming (the average
        then starts at the resumed weights).
      warmup_steps: linear warm-up from 0 (0 = none; the paper has none).
      steps: total optimisation steps. The paper: 9960 steps, lr / 10 every 2490 (20 "epochs").
    Bookkeeping:
      seed: data order, augmentation and initialisation.
      checkpoint_every, keep_checkpoints: crash-safe checkpoints every N steps (and at the end).
      log_every: progress line and TensorBoard scalars every N steps.
      val_data: benchmark folder (Huang layout such as Set5, or a plain folder of HR images);
        None = no validation, unless ``held_out`` names images. val_every: steps between
        validations (0 = once per epoch).
      held_out: image files among ``data``'s that are not trained on but validated on instead
        of a ``val_data`` folder (the two exclude each other). ``vdsr-tf train`` holds out a
        slice of the training images when it has no validation folder (vdsr_tf.train.holdout);
        a resumed run keeps it. () = none.
      val_degradations: more LR degradations to validate at, besides lossless (text of
        vdsr_tf.core.degradation.parse_list, e.g. "jpeg:75"; "" = none): scored on the moving
        average when the run keeps one, else on the weights; stored per degradation in the history.
      strategy: "default" (one device), "mirrored" or "multiworker" (TensorFlow backend).
      backend: "tensorflow" (tf.GradientTape step under tf.distribute) or "jax" (a jitted
        model.stateless_call step; imports no TensorFlow; needs KERAS_BACKEND=jax set before
        keras is imported). A run keeps its backend (their checkpoints differ).
      max_minutes: wall-clock budget (0 = none), counted from the Trainer's creation (data
        preparation included): after a short warm-up the run measures its steps/s (and one
        validation) and fixes the step count so the schedule's decay ends in time
        (vdsr_tf.train.schedule.fit_to_budget); ``steps`` then only gives the schedule's shape.
    """

    data: tuple[str, ...] = ()
    scales: tuple[float, ...] = (2.0, 3.0, 4.0)
    hr_scales: tuple[float, ...] = (1.0,)
    patch_size: int = 41
    stride: int = 41
    random_crop: bool = False
    augment: bool = True
    sampling: str = "uniform"
    texture_floor: float = 0.1
    batch_size: int = 64
    degradation: str = "clean"

    depth: int = 20
    filters: int = 64
    residual: bool = True
    precision: str = "float32"
    zero_init_last: bool = False
    init_weights: str | None = None

    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    theta: float = 1e-4
    loss: str = "l2"
    lr_schedule: str = "step"
    lr_decay_every: int = 2490
    lr_decay_factor: float = 0.1
    lr_min_factor: float = 0.0
    warmup_steps: int = 0
    decay_steps: int = 0
    steps: int = 9960
    ema_decay: float = 0.0

    seed: int = 0
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    log_every: int = 50
    val_data: str | None = None
    held_out: tuple[str, ...] = ()
    val_every: int = 0
    val_degradations: str = ""
    strategy: str = "default"
    backend: str = "tensorflow"
    max_minutes: float = 0.0

    def __post_init__(self):
        # Normalise sequences to tuples so the config stays hashable and JSON-stable.
        object.__setattr__(self, "data", tuple(str(d) for d in self.data))
        if isinstance(self.held_out, (list, tuple)):
            object.__setattr__(self, "held_out", tuple(os.path.normpath(str(h)) for h in self.held_out))
        object.__setattr__(self, "scales", tuple(float(s) for s in self.scales))
        object.__setattr__(self, "hr_scales", tuple(float(s) for s in self.hr_scales))
        if self.precision in BFLOAT16_NAMES:
            object.__setattr__(self, "precision", BFLOAT16_POLICY)
        self.check()

    def check(self) -> None:
        """Raises ValueError quoting the first bad field."""

        def _int(name, minimum):
            check_int(getattr(self, name), name, minimum)

        def _choice(name, allowed):
            v = getattr(self, name)
            if v not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {v!r}")

        def _num(name, lo, lo_open=False):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number, got {v!r}")
            if v < lo or (lo_open and v == lo):
                raise ValueError(f"{name} must be {'>' if lo_open else '>='} {lo}, got {v!r}")

        if not self.scales:
            raise ValueError(f"scales must not be empty, got {self.scales!r}")
        for s in self.scales:
            if not math.isfinite(s) or s <= 1.0:
                raise ValueError(f"every scale must be a finite number > 1, got {s!r} in {self.scales!r}")
        if not self.hr_scales or len(set(self.hr_scales)) != len(self.hr_scales) or not all(
                math.isfinite(h) and 0 < h <= 1 for h in self.hr_scales):
            raise ValueError(f"hr_scales must be distinct numbers in (0, 1], got {self.hr_scales!r}")
        if len(set(self.scales)) != len(self.scales):
            raise ValueError(f"scales must be distinct, got {self.scales!r}")
        for name, minimum in (("patch_size", 3), ("stride", 1), ("batch_size", 1), ("depth", 2),
                              ("filters", 1), ("lr_decay_every", 1), ("warmup_steps", 0), ("decay_steps", 0),
                              ("steps", 1), ("seed", 0), ("checkpoint_every", 1),
                              ("keep_checkpoints", 1), ("log_every", 1), ("val_every", 0)):
            _int(name, minimum)
        _choice("precision", PRECISIONS)
        _choice("strategy", STRATEGIES)
        _choice("optimizer", OPTIMIZERS)
        _choice("lr_schedule", LR_SCHEDULES)
        _choice("loss", LOSSES)
        _choice("backend", BACKENDS)
        _choice("sampling", SAMPLINGS)
        self.mixture  # parses degradation: a one-line ValueError quoting the bad term
        self.extra_val_degradations
        if self.backend == "jax" and self.strategy != "default":
            raise ValueError(f"strategy {self.strategy!r} is TensorFlow's; the jax backend runs on one device "
                             "(strategy='default')")
        if not isinstance(self.held_out, tuple):
            raise ValueError(f"held_out must be a list of image files, got {self.held_out!r}")
        if self.held_out and self.val_data:
            raise ValueError(f"held_out and val_data are two validation sets: give one (val_data={self.val_data!r}, "
                             f"{len(self.held_out)} held-out images)")
        if self.init_weights is not None and (not isinstance(self.init_weights, str) or not self.init_weights):
            raise ValueError(f"init_weights must be a file path or None, got {self.init_weights!r}")
        _num("lr", 0.0, lo_open=True)
        _num("momentum", 0.0)
        _num("weight_decay", 0.0)
        _num("theta", 0.0)
        _num("lr_decay_factor", 0.0, lo_open=True)
        _num("lr_min_factor", 0.0)
        _num("max_minutes", 0.0)
        _num("texture_floor", 0.0, lo_open=True)
        if self.texture_floor > 1:
            raise ValueError(f"texture_floor must be in (0, 1], got {self.texture_floor!r}")
        _num("ema_decay", 0.0)
        if self.ema_decay >= 1.0:
            raise ValueError(f"ema_decay must be < 1, got {self.ema_decay!r}")
        if self.momentum >= 1.0:
            raise ValueError(f"momentum must be < 1, got {self.momentum!r}")
        for name in ("random_crop", "augment", "zero_init_last", "residual"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool, got {getattr(self, name)!r}")

    @property
    def mixture(self):
        """``degradation`` parsed: a :class:`vdsr_tf.core.degradation.Mixture`."""
        from vdsr_tf.core.degradation import parse_mixture

        return parse_mixture(self.degradation, "degradation")

    @property
    def extra_val_degradations(self) -> tuple:
        """``val_degradations`` parsed (clean left out: it is always validated)."""
        from vdsr_tf.core.degradation import parse_list

        if not isinstance(self.val_degradations, str):
            raise ValueError(f"val_degradations must be a text such as 'jpeg:75', got {self.val_degradations!r}")
        if not self.val_degradations.strip():
            return ()
        return tuple(d for d in parse_list(self.val_degradations, "val_degradations") if not d.is_clean)

    def replace(self, **changes) -> "TrainConfig":
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["data"] = list(self.data)
        d["scales"] = list(self.scales)
        d["hr_scales"] = list(self.hr_scales)
        d["held_out"] = list(self.held_out)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known - {SETTINGS_HISTORY})
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; allowed: {sorted(known)}")
        d = {k: v for k, v in d.items() if k != SETTINGS_HISTORY}  # config.json's history is no setting
        for key in ("data", "scales", "hr_scales", "held_out"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


def _comparable(key: str, value):
    if key in ("data", "held_out") and value is not None:
        return [os.path.normpath(str(v)) for v in value]
    if key in ("scales", "hr_scales") and value is not None:
        return [float(v) for v in value]
    return value


def changed_settings(old: dict, cfg: TrainConfig) -> dict[str, tuple]:
    """{field: (old value, new value)} of the recorded fields that ``cfg`` changes in a run
    whose config.json holds ``old``. A field an older config.json lacks counts as its default
    (the field came later; the run trained as the default says)."""
    defaults = TrainConfig().to_dict()
    new = cfg.to_dict()
    changes = {}
    for key, value in new.items():
        before = old.get(key, defaults[key])
        if key not in UNRECORDED_FIELDS and _comparable(key, before) != _comparable(key, value):
            changes[key] = (before, value)
    return changes


def _flag_value(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _held_out_text(held_out) -> str:
    if not held_out:
        return "trains on every --data image (none held out)"
    names = ", ".join(os.path.basename(str(h)) for h in held_out)
    return f"holds {len(held_out)} --data image(s) out of training to validate on ({names})"


def check_resume(old: dict, cfg: TrainConfig, workdir, *, allow_changed_settings: bool = False) -> dict[str, tuple]:
    """Refuses, in one line, a resume of the run whose config.json holds ``old`` with a config
    that changes a :data:`RUN_DEFINING_FIELDS` field (unless ``allow_changed_settings``);
    returns :func:`changed_settings`. A :data:`CHECKPOINT_SHAPING_FIELDS` field is refused even
    with ``allow_changed_settings``: the checkpoints could not be read into another network or
    optimizer."""
    workdir = os.fspath(workdir)
    for key in CHECKPOINT_SHAPING_FIELDS:
        if key in old and old[key] != getattr(cfg, key):
            raise ValueError(f"--workdir {workdir!r} holds a run with {key}={old[key]!r}, this one has "
                             f"--{key}={getattr(cfg, key)!r}: use a new --workdir or the same --{key}")
    changes = changed_settings(old, cfg)
    if not allow_changed_settings:
        for key in RUN_DEFINING_FIELDS:
            if key == "held_out" and key in changes:
                before, after = changes[key]
                raise ValueError(
                    f"--workdir {workdir!r} holds a run that {_held_out_text(before)}; this command "
                    f"{_held_out_text(after)}, which makes it another run: leave --val_data out to keep the "
                    "run's split, use a new --workdir, or --allow_changed_settings to continue it so (the change "
                    "is recorded in its settings history)")
            if key in changes:
                before, after = changes[key]
                raise ValueError(
                    f"--workdir {workdir!r} holds a run trained with --{key}={_flag_value(before)}; this "
                    f"command has --{key}={_flag_value(after)}, which makes it another run: give the run's "
                    f"--{key}, a new --workdir, or --allow_changed_settings to continue it so (the change is "
                    "recorded in its settings history)")
    return changes
