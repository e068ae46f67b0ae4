"""The TensorFlow step: the recipe (vdsr_tf.train.recipe) under tf.GradientTape and tf.distribute."""
from __future__ import annotations

from vdsr_tf.train import recipe
from vdsr_tf.train.config import TrainConfig


def make_strategy(name: str):
    """tf.distribute strategy for "default", "mirrored" or "multiworker".

    "mirrored" uses every local GPU, or every logical CPU device when there is no GPU
    (so two logical CPUs make a two-replica run).
    """
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy()
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=cpus)
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"strategy must be one of ('default', 'mirrored', 'multiworker'), got {name!r}")


def is_chief(strategy) -> tuple[bool, str | None, int]:
    """(writes the run folder?, task type, task id) of this process under ``strategy``."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True, None, 0
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    spec = resolver.cluster_spec().as_dict() if resolver.cluster_spec() else {}
    if task_type == "chief":
        return True, task_type, task_id
    if task_type == "worker" and task_id == 0 and "chief" not in spec:
        return True, task_type, task_id
    return False, task_type, task_id


def make_tf_step(model, optimizer, cfg: TrainConfig, strategy=None, averages=None):
    """A ``tf.function`` ``step(x, y, lr) -> (loss, grad_norm, clipped_fraction)`` that updates
    ``model`` with ``optimizer`` by the recipe, ``lr`` a float32 scalar tensor.

    ``averages``: variables paired with ``model.trainable_variables`` that the step then moves
    towards the new weights by ``recipe.update_average`` (cfg.ema_decay); None: no average.

    ``x``, ``y``: the global batch (or, under a multi-replica ``strategy``, a distributed
    batch). Every replica all-reduces the gradient first, so clipping sees the full-batch
    gradient exactly as one device would. Build model and optimizer (and its slots) inside
    ``strategy.scope()``.
    """
    import tensorflow as tf

    strategy = strategy or tf.distribute.get_strategy()
    global_batch = float(cfg.batch_size)
    n_rep = float(strategy.num_replicas_in_sync)
    flags = recipe.decay_flags(model)

    def replica_step(x, y, lr):
        variables = model.trainable_variables
        with tf.GradientTape() as tape:
            loss = recipe.batch_loss(y, model(x, training=True), cfg.loss, global_batch)
        grads = tape.gradient(loss, variables)
        ctx = tf.distribute.get_replica_context()
        grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        loss = ctx.all_reduce(tf.distribute.ReduceOp.SUM, loss)
        grads, grad_norm, frac = recipe.process_gradients(grads, variables, flags, lr, cfg)
        # Keras' optimizer sums gradients over replicas once more; hand it 1/n of the
        # (identical) full gradient so the update equals the single-device one.
        if n_rep > 1:
            grads = [g / n_rep for g in grads]
        optimizer.apply(grads, variables)
        return loss, grad_norm, frac

    @tf.function
    def step(x, y, lr):
        loss, gnorm, frac = strategy.run(replica_step, args=(x, y, lr))
        if averages:  # cross-replica context: one update of every (mirrored) copy
            for a, new in zip(averages, recipe.update_average(list(averages), model.trainable_variables,
                                                               cfg.ema_decay)):
                a.assign(new)
        mean = tf.distribute.ReduceOp.MEAN  # identical on every replica after the all-reduce
        return (strategy.reduce(mean, loss, axis=None), strategy.reduce(mean, gnorm, axis=None),
                strategy.reduce(mean, frac, axis=None))

    return step
