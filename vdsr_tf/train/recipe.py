"""The training recipe, written once in ``keras.ops`` so the TensorFlow and the JAX step share it.

For a batch of B patches, with r = y - x the residual the network learns and f(x) its
output minus the input, the loss is

  L = 1/B sum_batch 1/2 sum_pixels (y - model(x))^2     ("l2": Caffe's Euclidean loss, the paper)
  L = 1/B sum_batch     sum_pixels |y - model(x)|       ("l1")

and the gradient handed to the optimizer is

  g = clip(dL/dw, -theta/lr, theta/lr) + weight_decay * w      (w: the Conv2D kernels only)

Clipping to theta/lr per element is the paper's "adjustable gradient clipping" (the plain
SGD step lr * g stays within theta whatever lr is); the L2 penalty comes after clipping so
it is never clipped away. The optimizer is Keras' SGD with momentum (the paper) or Adam,
the same objects on both backends (so checkpoints of either hold the same slots). With
``ema_decay`` = d > 0 a moving average a <- d * a + (1 - d) * w of the weights follows every
update (:func:`update_average`).
"""
from __future__ import annotations

import logging

from vdsr_tf.nn.model import BFLOAT16_POLICY, conv_name
from vdsr_tf.train.config import TrainConfig
from vdsr_tf.train.schedule import learning_rate_at

logger = logging.getLogger(__name__)


def build_model(cfg: TrainConfig):
    """The VDSR of ``cfg`` (depth, filters, residual, precision), with the last layer zeroed if asked."""
    import numpy as np

    from vdsr_tf.nn.model import build_vdsr

    model = build_vdsr(depth=cfg.depth, filters=cfg.filters, residual=cfg.residual,
                       dtype_policy=BFLOAT16_POLICY if cfg.precision == BFLOAT16_POLICY else None)
    if cfg.zero_init_last:
        for v in model.get_layer(conv_name(cfg.depth)).weights:
            v.assign(np.zeros(v.shape, v.dtype))
    return model


def warm_start(model, cfg: TrainConfig) -> None:
    """Copies ``cfg.init_weights`` into ``model`` (read and checked by the library's loader)."""
    from vdsr_tf.nn.weights import load_model

    src = load_model(cfg.init_weights, depth=cfg.depth, filters=cfg.filters)
    for i in range(1, cfg.depth + 1):
        name = conv_name(i)
        model.get_layer(name).set_weights(src.get_layer(name).get_weights())
    logger.info("warm start from %s (fresh optimizer)", cfg.init_weights)


def make_optimizer(cfg: TrainConfig):
    """Keras SGD (momentum ``cfg.momentum``) or Adam, at the learning rate of step 0."""
    import keras

    lr0 = learning_rate_at(cfg, 0)
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=lr0, momentum=cfg.momentum)
    return keras.optimizers.Adam(learning_rate=lr0)


def decay_flags(model) -> list[bool]:
    """Per trainable variable (in ``model.trainable_variables`` order): does weight decay apply?

    Chosen by layer, not by name: the kernels of the Conv2D layers, never the biases.
    """
    import keras

    kernels = {id(layer.kernel) for layer in model.layers if isinstance(layer, keras.layers.Conv2D)}
    return [id(v) in kernels for v in model.trainable_variables]


def batch_loss(y, pred, loss: str, global_batch: float):
    """The loss of the module docstring, summed over this (part of the) batch / global_batch.

    Dividing by the *global* batch makes the losses of data-parallel replicas sum to the
    batch mean.
    """
    from keras import ops

    err = ops.cast(y, "float32") - ops.cast(pred, "float32")
    if loss == "l1":
        per_example = ops.sum(ops.abs(err), axis=(1, 2, 3))
    else:
        per_example = 0.5 * ops.sum(ops.square(err), axis=(1, 2, 3))
    return ops.sum(per_example) / global_batch


def process_gradients(grads, weights, flags, lr, cfg: TrainConfig):
    """(gradients for the optimizer, global norm of the raw gradient, fraction clipped).

    ``grads``: dL/dw of the full batch; ``weights``: the current values (same order);
    ``flags``: :func:`decay_flags`; ``lr``: this step's learning rate (a scalar tensor).
    """
    from keras import ops

    grad_norm = ops.sqrt(sum(ops.sum(ops.square(ops.cast(g, "float32"))) for g in grads))
    total = float(sum(_numel(g.shape) for g in grads))  # static shapes: a Python number
    if cfg.theta > 0:
        bound = cfg.theta / lr
        n_clipped = sum(ops.sum(ops.cast(ops.abs(g) > bound, "float32")) for g in grads)
        grads = [ops.clip(g, -bound, bound) for g in grads]
    else:
        n_clipped = ops.zeros((), "float32")
    if cfg.weight_decay > 0:
        grads = [g + cfg.weight_decay * ops.cast(w, g.dtype) if k else g for g, w, k in zip(grads, weights, flags)]
    return grads, grad_norm, n_clipped / total


def update_average(averages, weights, decay: float) -> list:
    """The moving average after one update: ``decay * a + (1 - decay) * w`` per variable.

    The optimizer's variables stay untouched: the average only watches the weights, so a run
    trains the same with it or without it.
    """
    from keras import ops

    return [decay * ops.convert_to_tensor(a) + (1.0 - decay) * ops.convert_to_tensor(w)
            for a, w in zip(averages, weights)]


def holding(cfg: TrainConfig, values, model=None):
    """``model`` (built from ``cfg`` when None) with ``values`` as its trainable weights, in
    ``model.trainable_variables`` order: how a run's weight average becomes a Keras model."""
    import numpy as np

    model = build_model(cfg) if model is None else model
    for target, v in zip(model.trainable_variables, values):
        target.assign(np.asarray(v))
    return model


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n
