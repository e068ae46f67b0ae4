"""``vdsr-tf train`` (and ``tools/train.py``): flags -> TrainConfig -> Trainer(...).run().
Re-run the same command to resume.

Paper recipe on the 291 images (lr 0.1 / 10 every 2490 steps, 9960 steps, theta 1e-4):
  vdsr-tf train --workdir runs/paper --precision mixed_bfloat16

Everything the run writes (checkpoints, TensorBoard, weights, model card, plot) is in --workdir.
Without --val_data and without the benchmark folder, a tenth of the --data images (1 to 10) is
held out of training and validated on; the start-up line names them.
--backend jax trains with JAX (Keras on JAX; no TensorFlow needed); --max_minutes fits the run
into a wall-clock budget.
"""
from __future__ import annotations

import dataclasses
import os
import shlex
import signal
import sys

from absl import app, flags

from vdsr_tf.cli import flagged
from vdsr_tf.train.config import (
    BACKENDS,
    LOSSES,
    LR_SCHEDULES,
    OPTIMIZERS,
    PRECISION_NAMES,
    SAMPLINGS,
    STRATEGIES,
    TrainConfig,
)

_D = TrainConfig()
_DEFAULT_DATA = flagged.shared_data("train")
_DEFAULT_VAL = flagged.shared_data("benchmark", "Set5")

flags.DEFINE_list("data", None, "Folders of HR training images and/or .npz luminance archives "
                  "(tools/make_luma_archive.py; default: ../shared/data/train if present).")
flags.DEFINE_string("workdir", None, "Run directory: checkpoints, logs, weights. Required.")
flags.DEFINE_list("scales", [str(s) for s in _D.scales], "Upscaling factors mixed in each batch.")
flags.DEFINE_list("hr_scales", [str(s) for s in _D.hr_scales],
                  "Also train on each HR image downsized by these factors in (0, 1] (e.g. 1,0.7,0.5).")
flags.DEFINE_integer("steps", _D.steps, "Total optimisation steps.")
flags.DEFINE_float("epochs", None, "Total epochs instead of --steps (one epoch = every grid patch once).")
flags.DEFINE_integer("batch_size", _D.batch_size, "Global batch size.")
flags.DEFINE_integer("patch_size", _D.patch_size, "Patch side.")
flags.DEFINE_integer("stride", _D.stride, "Patch grid stride.")
flags.DEFINE_bool("random_crop", _D.random_crop, "Random crops instead of the stride grid.")
flags.DEFINE_bool("augment", _D.augment, "Random rotation/flip.")
flags.DEFINE_enum("sampling", _D.sampling, SAMPLINGS, "uniform, or texture: patches drawn more often the more "
                  "bicubic residual energy they hold (with a floor; see vdsr_tf.data.sampling).")
flags.DEFINE_float("texture_floor", _D.texture_floor, "Texture sampling: relative weight of a flat patch (0, 1].")
flags.DEFINE_string("degradation", _D.degradation, "LR degradation mix: clean (the paper), or terms clean[:SHARE], "
                    "jpeg:Q[:SHARE], jpeg:LO-HI[:SHARE], e.g. clean:0.25,jpeg:20-95 (vdsr_tf.core.degradation).")
flags.DEFINE_integer("depth", _D.depth, "Number of conv layers.")
flags.DEFINE_integer("filters", _D.filters, "Filters per hidden conv layer.")
flags.DEFINE_bool("residual", _D.residual, "Output = input + network (VDSR); --noresidual: the plain baseline.")
flags.DEFINE_string("init_weights", None, "Warm start from this .weights.h5 (or .mat); the optimizer starts fresh. "
                    "Used only when --workdir has no checkpoint yet.")
flags.DEFINE_bool("zero_init_last", _D.zero_init_last, "Start the last conv at zero (the network starts as bicubic).")
flags.DEFINE_enum("loss", _D.loss, LOSSES, "l2 (the paper) or l1.")
flags.DEFINE_enum("optimizer", _D.optimizer, OPTIMIZERS, "Optimizer.")
flags.DEFINE_float("lr", _D.lr, "Initial learning rate.")
flags.DEFINE_float("momentum", _D.momentum, "SGD momentum.")
flags.DEFINE_float("weight_decay", _D.weight_decay, "L2 weight decay on kernels.")
flags.DEFINE_float("theta", _D.theta, "Adjustable gradient clipping: |g| <= theta/lr per element (0: off).")
flags.DEFINE_enum("lr_schedule", _D.lr_schedule, LR_SCHEDULES, "Learning-rate schedule.")
flags.DEFINE_integer("lr_decay_every", _D.lr_decay_every, "Steps between decays (step schedule).")
flags.DEFINE_float("lr_decay_epochs", None, "Epochs between decays instead of --lr_decay_every.")
flags.DEFINE_float("lr_decay_factor", _D.lr_decay_factor, "Decay factor (step schedule).")
flags.DEFINE_float("lr_min_factor", _D.lr_min_factor, "Final lr / initial lr (cosine and wsd schedules).")
flags.DEFINE_integer("decay_steps", _D.decay_steps, "Length of the final linear decay (wsd schedule).")
flags.DEFINE_integer("warmup_steps", _D.warmup_steps, "Linear warm-up steps.")
flags.DEFINE_float("ema_decay", _D.ema_decay, "Keep a moving average of the weights with this decay (e.g. 0.999; "
                   "0: off): validated too, and the final weights are the average.")
flags.DEFINE_enum("precision", _D.precision, PRECISION_NAMES, "float32 or mixed_bfloat16 (bfloat16 is the same).")
flags.DEFINE_enum("strategy", _D.strategy, STRATEGIES, "Distribution strategy (tensorflow backend).")
flags.DEFINE_enum("backend", _D.backend, BACKENDS, "tensorflow, or jax (Keras on JAX; imports no TensorFlow).")
flags.DEFINE_float("max_minutes", _D.max_minutes, "Wall-clock budget in minutes (0: none): the step count is fixed "
                   "after a short warm-up so the schedule's decay ends in time; --steps gives its shape.")
flags.DEFINE_integer("seed", _D.seed, "Seed for data order, augmentation, initialisation.")
flags.DEFINE_integer("checkpoint_every", _D.checkpoint_every, "Steps between checkpoints.")
flags.DEFINE_integer("keep_checkpoints", _D.keep_checkpoints, "Checkpoints kept.")
flags.DEFINE_integer("log_every", _D.log_every, "Steps between progress lines.")
flags.DEFINE_string("val_data", None, "Validation benchmark folder (default: ../shared/data/benchmark/Set5 "
                    "if present, else a tenth of the --data images, 1 to 10, held out of training; a resumed run "
                    "keeps its split; 'none' to disable).")
flags.DEFINE_string("cache_dir", None, "Cache of the degraded training planes (default: <workdir>/cache); "
                    "runs on the same data may share one.")
flags.DEFINE_integer("val_every", _D.val_every, "Steps between validations (0: every epoch).")
flags.DEFINE_string("val_degradations", _D.val_degradations, "Also validate on LR of these degradations, e.g. "
                    "jpeg:75 or jpeg:75,jpeg:50 (the weight average when --ema_decay is on).")

flags.DEFINE_bool("allow_changed_settings", False, "Resume even when --loss, --patch_size, --scales or --data "
                  "differ from the run's (refused otherwise); config.json and the model card keep the settings "
                  "each range of steps ran with.")

FLAGS = flags.FLAGS


def _numbers(name, values):
    try:
        return tuple(float(v) for v in values)
    except ValueError:
        raise app.UsageError(f"--{name} must be numbers, got {','.join(values)!r}") from None


def main(argv, prog="train.py"):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    flagged.use_keras_backend(FLAGS.backend)
    from vdsr_tf.train import Trainer, TrainingDiverged, holdout

    flagged.plain_log_lines()
    if not FLAGS.workdir:
        raise app.UsageError("--workdir is required (it holds checkpoints, logs and weights)")
    data = FLAGS.data
    if not data:
        if os.path.isdir(_DEFAULT_DATA):
            data = [os.path.normpath(_DEFAULT_DATA)]
        else:
            raise app.UsageError(f"no --data given and {os.path.normpath(_DEFAULT_DATA)} does not exist: "
                                 "pass --data=folder[,folder...] of HR training images")
    validation = holdout.plan_validation(data, FLAGS.val_data, FLAGS.workdir, default=_DEFAULT_VAL)
    scales = _numbers("scales", FLAGS.scales)
    hr_scales = _numbers("hr_scales", FLAGS.hr_scales)
    steps, decay_every = FLAGS.steps, FLAGS.lr_decay_every
    if FLAGS.epochs is not None or FLAGS.lr_decay_epochs is not None:
        from vdsr_tf.data import geometry
        from vdsr_tf.data import patches as data_lib

        patches = data_lib.count_patches(holdout.training_sources(data, validation.held_out), scales,
                                         patch_size=FLAGS.patch_size, stride=FLAGS.stride, hr_scales=hr_scales)
        per_epoch = geometry.steps_per_epoch(patches, FLAGS.batch_size)  # the trainer's own epoch
        if FLAGS.epochs is not None:
            steps = max(1, round(FLAGS.epochs * per_epoch))
        if FLAGS.lr_decay_epochs is not None:
            decay_every = max(1, round(FLAGS.lr_decay_epochs * per_epoch))
    # Every TrainConfig field comes from the flag of the same name, except those derived above.
    derived = {"data": tuple(data), "val_data": validation.val_data, "held_out": validation.held_out,
               "scales": scales, "hr_scales": hr_scales, "steps": steps, "lr_decay_every": decay_every}
    try:
        cfg = TrainConfig(**{f.name: derived[f.name] if f.name in derived else getattr(FLAGS, f.name)
                             for f in dataclasses.fields(TrainConfig)})
    except ValueError as e:
        raise app.UsageError(str(e))
    from vdsr_tf.nn.quiet import import_tensorflow_quietly
    from vdsr_tf.train import preflight

    # One-line refusals before anything is written.
    preflight.check_training_run(cfg, FLAGS.workdir, allow_changed_settings=FLAGS.allow_changed_settings)
    validation.announce()
    import_tensorflow_quietly()  # does nothing on JAX
    command = " ".join(shlex.quote(a) for a in sys.argv)
    # Ctrl-C / SIGTERM: finish the current step, save a checkpoint, exit (a second one kills).
    state = {"stop": False, "trainer": None}

    def _stop(signum, frame):
        state["stop"] = True
        if state["trainer"] is not None:
            state["trainer"].request_stop()
        signal.signal(signum, signal.SIG_DFL)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stop)
    trainer = state["trainer"] = Trainer(cfg, FLAGS.workdir, command=command, cache_dir=FLAGS.cache_dir,
                                         allow_changed_settings=FLAGS.allow_changed_settings)
    if state["stop"]:
        trainer.request_stop()
    try:
        card = trainer.run()
    except TrainingDiverged as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 3
    if card is None:
        print(f"stopped at step {trainer.current_step}; run the same command again to resume", file=sys.stderr)
        return 130
    final = card["validation"]["final"]
    print(f"done: {card['steps']} steps in {card['train_time_s']:.0f}s; weights "
          f"{os.path.join(FLAGS.workdir, card['weights'])}"
          + ("; val PSNR " + ", ".join(f"x{s} {db:.2f} dB" for s, db in final.items()) if final else ""))
    return 0


def _main_one_line(argv, prog="train.py"):
    """main, with every refusal before training as one line on stderr (exit 1), not absl's
    usage text or a traceback; VDSR_TF_DEBUG=1 shows the traceback."""
    try:
        return main(argv, prog)
    except (app.UsageError, ValueError, OSError) as e:
        if os.environ.get("VDSR_TF_DEBUG"):
            raise
        text = str(e).strip().splitlines()
        print(f"{prog}: error: {text[0] if text else type(e).__name__}", file=sys.stderr)
        return 1


def run(argv: list[str], prog: str = "vdsr-tf train") -> int:
    """The command line ``argv`` (flags only); returns the exit status. The trainer handles
    Ctrl-C and SIGTERM itself: it finishes the step and checkpoints."""
    return flagged.run(_main_one_line, argv, prog, signals=False)
