"""The JAX step: the recipe (vdsr_tf.train.recipe) as ``model.stateless_call`` + ``jax.value_and_grad``, jitted.

Needs Keras on the JAX backend (``KERAS_BACKEND=jax`` before keras is first imported);
imports no TensorFlow.
"""
from __future__ import annotations

from vdsr_tf.train import recipe
from vdsr_tf.train.config import TrainConfig


def initial_state(model, optimizer) -> tuple[list, list, list]:
    """(trainable, non-trainable, optimizer) variable values: the state :func:`make_jax_step` threads."""
    return ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
            [v.value for v in optimizer.variables])


def learning_rate_index(optimizer) -> int:
    """Position of the learning-rate variable in ``optimizer.variables``."""
    for i, v in enumerate(optimizer.variables):
        if v.path.rsplit("/", 1)[-1] == "learning_rate":
            return i
    raise ValueError(f"optimizer {optimizer.name!r} has no learning_rate variable (a schedule object?)")


def make_jax_step(model, optimizer, cfg: TrainConfig):
    """A jitted ``step(state, x, y, lr) -> (state, (loss, grad_norm, clipped_fraction))``.

    ``state``: :func:`initial_state` (the input state is donated: use the returned one);
    ``x``, ``y``: float32 (B, P, P, 1); ``lr``: this step's learning rate, written into the
    optimizer's learning-rate variable before the update (as the TensorFlow path assigns it).
    ``optimizer`` must be built on ``model.trainable_variables``.
    """
    import jax
    import jax.numpy as jnp

    flags = recipe.decay_flags(model)
    lr_index = learning_rate_index(optimizer)
    lr_dtype = optimizer.variables[lr_index].dtype
    global_batch = float(cfg.batch_size)

    def loss_fn(trainable, non_trainable, x, y):
        pred, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
        return recipe.batch_loss(y, pred, cfg.loss, global_batch), non_trainable

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def step(state, x, y, lr):
        trainable, non_trainable, opt_vars = state
        (loss, non_trainable), grads = grad_fn(trainable, non_trainable, x, y)
        grads, grad_norm, frac = recipe.process_gradients(grads, trainable, flags, lr, cfg)
        opt_vars = list(opt_vars)
        opt_vars[lr_index] = jnp.asarray(lr, lr_dtype)
        trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
        return (list(trainable), list(non_trainable), list(opt_vars)), (loss, grad_norm, frac)

    return jax.jit(step, donate_argnums=0)
