"""Training VDSR on TensorFlow or JAX: ``Trainer(TrainConfig(...), workdir).run()``.

The parts, one file each (see trainer.py's docstring for the map): schedule, recipe, the
two steps (``make_tf_step``, ``make_jax_step``) and their backends, the run folder,
metering, validation. Names load on first use, so importing this package pulls
in neither TensorFlow nor JAX (the JAX path must run where TensorFlow is absent).
"""
from vdsr_tf.core.lazy import lazy_names

_PUBLIC = {
    "Trainer": "vdsr_tf.train.trainer",
    "TrainingDiverged": "vdsr_tf.train.trainer",
    "BUDGET_PROBE_STEPS": "vdsr_tf.train.trainer",
    "load_training_set": "vdsr_tf.train.trainer",
    "learning_rate_at": "vdsr_tf.train.schedule",
    "clip_bound": "vdsr_tf.train.schedule",
    "fit_to_budget": "vdsr_tf.train.schedule",
    "make_tf_step": "vdsr_tf.train.tf_step",
    "make_strategy": "vdsr_tf.train.tf_step",
    "make_jax_step": "vdsr_tf.train.jax_step",
    "score_on": "vdsr_tf.train.validation",
    "split_sources": "vdsr_tf.train.holdout",
    "validation_scales": "vdsr_tf.train.validation",
    "plot_history": "vdsr_tf.train.rundir",
    "plot_runs": "vdsr_tf.train.rundir",
    "WEIGHTS_NAME": "vdsr_tf.train.rundir",
    "MODEL_CARD_NAME": "vdsr_tf.train.rundir",
    "PLOT_NAME": "vdsr_tf.train.rundir",
}
__all__ = sorted(_PUBLIC)


__getattr__, __dir__ = lazy_names(__name__, _PUBLIC)
