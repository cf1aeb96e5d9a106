"""Combining per-example losses: batch reduction (:func:`reduce`), the weighted multi-task sum,
and looking a loss up by name (:func:`get`)."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from jdl.losses._binary import (
    binary_cross_entropy,
    hinge,
    log_loss,
    sigmoid_binary_cross_entropy,
)
from jdl.losses._generative import gaussian_nll, sum_squared_error
from jdl.losses._multiclass import (
    categorical_cross_entropy,
    categorical_cross_entropy_from_probs,
    softmax_cross_entropy,
    multiclass_max_margin,
    nll_from_log_probs,
)
from jdl.losses._regression import mean_squared_error, quadratic
from jdl.losses._sequence import sequence_softmax_cross_entropy

_REDUCTIONS = ("mean", "sum", "none")


# ----------------------------------------------------------------------------- reduction
@partial(jax.jit, static_argnames="reduction")
def _reduce_weighted(losses: Array, weights: Array, reduction: str) -> Array:
    weights = jnp.broadcast_to(weights, losses.shape)
    weighted = jnp.where(weights != 0, weights * losses, 0.0)
    if reduction == "none":
        return weighted
    total = jnp.sum(weighted)
    if reduction == "sum":
        return total
    wsum = jnp.sum(weights)
    return total / jnp.where(wsum == 0, 1.0, wsum)


def reduce(losses: ArrayLike, reduction: str = "mean", weights: ArrayLike | None = None) -> Array:
    """Reduce per-example `losses` over the batch.

    * ``"mean"``: ``mean(losses)``; with `weights`, the weighted mean ``sum(w l) / sum(w)``
      (the padding-mask case; 0 when all weights are 0).
    * ``"sum"``: ``sum(w l)`` (``w = 1`` without weights).
    * ``"none"``: ``w * losses``, same shape as `losses`.

    `weights` must broadcast to ``losses.shape`` without changing it. Entries with weight 0 are
    dropped (``jnp.where``), so a NaN loss on a padding example does not poison the result.
    """
    losses = jnp.asarray(losses)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction: expected one of {_REDUCTIONS}, got {reduction!r}")
    if weights is None:
        if reduction == "mean":
            return jnp.mean(losses)
        if reduction == "sum":
            return jnp.sum(losses)
        return losses
    weights = jnp.asarray(weights)
    try:
        shape = np.broadcast_shapes(losses.shape, weights.shape)
    except ValueError:
        shape = None
    if shape != losses.shape:
        raise ValueError(
            f"weights: expected a shape that broadcasts to the losses shape {losses.shape}, "
            f"got {weights.shape}"
        )
    return _reduce_weighted(losses, weights, reduction)

# ----------------------------------------------------------------------------- multi-task
def multi_task(losses: Mapping[str, ArrayLike] | Sequence[ArrayLike],
               weights: Mapping[str, float] | Sequence[float] | None = None) -> Array:
    """Weighted multi-task loss ``sum_i w_i L_i`` (Senk's ``loss_weights``).

    `losses` is a dict or a sequence of task losses (scalars after :func:`reduce`, or
    per-example arrays of one shape); `weights` has the same keys / length (all 1 if None),
    e.g. ``multi_task({"cls": l1, "reg": l2}, {"cls": 0.5, "reg": 10.0})``.
    """
    if isinstance(losses, Mapping):
        if weights is None:
            weights = {k: 1.0 for k in losses}
        if not isinstance(weights, Mapping):
            raise TypeError(f"weights: expected a dict with the keys of losses "
                            f"{sorted(losses)}, got {type(weights).__name__}")
        if set(weights) != set(losses):
            raise ValueError(
                f"weights: expected the keys of losses {sorted(losses)}, got {sorted(weights)} "
                f"(missing {sorted(set(losses) - set(weights))}, "
                f"extra {sorted(set(weights) - set(losses))})"
            )
        pairs = [(losses[k], weights[k]) for k in losses]
    else:
        losses = list(losses)
        weights = [1.0] * len(losses) if weights is None else weights
        if isinstance(weights, Mapping):
            raise TypeError("weights: expected a sequence like losses, got a dict")
        weights = list(weights)
        if len(weights) != len(losses):
            raise ValueError(f"weights: expected {len(losses)} weights (one per loss), "
                             f"got {len(weights)}")
        pairs = list(zip(losses, weights))
    if not pairs:
        raise ValueError("losses: expected at least one task loss, got none")
    return sum(w * jnp.asarray(l) for l, w in pairs)


# ----------------------------------------------------------------------------- by name
_BY_NAME: dict[str, Callable[..., Array]] = {
    "quadratic": quadratic, "square": quadratic,
    "mean_squared_error": mean_squared_error, "mse": mean_squared_error,
    "binary_cross_entropy": binary_cross_entropy, "binary_crossentropy": binary_cross_entropy,
    "sigmoid_binary_cross_entropy": sigmoid_binary_cross_entropy,
    "categorical_cross_entropy": categorical_cross_entropy,
    "categorical_crossentropy": categorical_cross_entropy,
    "categorical_cross_entropy_from_probs": categorical_cross_entropy_from_probs,
    "softmax_cross_entropy": softmax_cross_entropy, "log_likelihood": softmax_cross_entropy,
    "sparse_categorical_cross_entropy": softmax_cross_entropy,
    "sparse_categorical_crossentropy": softmax_cross_entropy,
    "log_softmax_loss": softmax_cross_entropy, "nll_from_log_probs": nll_from_log_probs,
    "log_loss": log_loss, "hinge": hinge, "multiclass_max_margin": multiclass_max_margin,
    "max_margin": multiclass_max_margin,
    "sequence_softmax_cross_entropy": sequence_softmax_cross_entropy,
    "sum_squared_error": sum_squared_error, "sse": sum_squared_error,
    "gaussian_nll": gaussian_nll,
}


def get(loss: str | Callable[..., Array]) -> Callable[..., Array]:
    """Return the loss called `loss` (a name in this module or a Keras name such as ``"mse"``,
    ``"categorical_crossentropy"``, ``"sparse_categorical_crossentropy"``), or the callable.

    Note Keras' ``"binary_crossentropy"`` maps to :func:`binary_cross_entropy` (probabilities).
    """
    if callable(loss):
        return loss
    try:
        return _BY_NAME[loss]
    except KeyError:
        raise ValueError(f"loss: expected a callable or one of {sorted(_BY_NAME)}, "
                         f"got {loss!r}") from None
