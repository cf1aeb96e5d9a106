"""Multiclass losses on (..., K) logits: categorical cross-entropy (one-hot targets), the
log-likelihood of integer labels (Senk's LogSoftMax brick) and the max-margin brick."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jax import Array
from jax.typing import ArrayLike

from jdl.checks import (
    check_labels,
    check_range,
    as_float,
    label_valid,
    nan_where_invalid,
    same_shape,
)


# ----------------------------------------------------------------------------- multiclass
@jax.jit
def _cce(x: Array, t: Array) -> Array:
    return optax.losses.softmax_cross_entropy(x, t.astype(x.dtype))


@jax.jit
def _cce_probs(p: Array, t: Array, eps: Array) -> Array:
    valid = jnp.all((p >= 0) & (p <= 1), axis=-1)
    loss = -jnp.sum(t.astype(p.dtype) * jnp.log(jnp.clip(p, eps, 1.0)), axis=-1)
    return nan_where_invalid(loss, valid)


@jax.jit
def _log_likelihood(x: Array, labels: Array) -> Array:
    valid = label_valid(labels, x.shape[-1])
    loss = optax.losses.softmax_cross_entropy_with_integer_labels(x, jnp.where(valid, labels, 0))
    return nan_where_invalid(loss, valid)


@jax.jit
def _nll(log_probs: Array, labels: Array) -> Array:
    valid = label_valid(labels, log_probs.shape[-1])
    safe = jnp.where(valid, labels, 0)
    picked = jnp.take_along_axis(log_probs, safe[..., None], axis=-1)[..., 0]
    return nan_where_invalid(-picked, valid)


@jax.jit
def _max_margin(s: Array, labels: Array, margin: Array) -> Array:
    k = s.shape[-1]
    valid = label_valid(labels, k)
    safe = jnp.where(valid, labels, 0)
    wrong = (jnp.arange(k).reshape((1,) * safe.ndim + (k,)) != safe[..., None]).astype(s.dtype)
    best = jnp.max(s + margin * wrong, axis=-1)  # max(max_{k != c} x_k + m, x_c)
    x_c = jnp.take_along_axis(s, safe[..., None], axis=-1)[..., 0]
    return nan_where_invalid(best - x_c, valid)


def categorical_cross_entropy(logits: ArrayLike, one_hot_targets: ArrayLike) -> Array:
    """Categorical cross-entropy on logits: ``-sum_k t_k log softmax(x)_k`` (Loo, COMP9321,
    Senk).

    Logits and targets ``(..., K)`` -> ``(...)``; targets are one-hot rows or any distribution
    (e.g. smoothed labels). For integer class labels use :func:`softmax_cross_entropy`.
    Uses ``optax.losses.softmax_cross_entropy`` (log-softmax, stable for any finite logits).
    """
    logits = as_float(logits, "logits")
    one_hot_targets = jnp.asarray(one_hot_targets)
    if logits.ndim < 1:
        raise ValueError("logits: expected shape (..., num_classes), got a scalar")
    if one_hot_targets.shape != logits.shape:
        hint = ("; these look like integer labels, use softmax_cross_entropy"
                if one_hot_targets.shape == logits.shape[:-1] else "")
        raise ValueError(f"one_hot_targets: expected shape {logits.shape} (the shape of logits),"
                         f" got {one_hot_targets.shape}{hint}")
    return _cce(logits, one_hot_targets)


def categorical_cross_entropy_from_probs(probs: ArrayLike, one_hot_targets: ArrayLike,
                                         eps: float = 1e-7) -> Array:
    """Categorical cross-entropy on probabilities: ``-sum_k t_k log o_k`` (COMP9321's formula,
    the cost of *Engineering Deep Learning* with a softmax output unit).

    `probs` ``(..., K)`` (softmax outputs) is clipped to ``[eps, 1]`` so a zero probability gives
    ``-log(eps)`` instead of inf; values outside [0, 1] raise when concrete, NaN when traced.
    Prefer :func:`categorical_cross_entropy` on logits for training. Returns ``probs.shape[:-1]``.
    Hand-written: optax has no cross-entropy on probabilities.
    """
    probs = as_float(probs, "probs")
    one_hot_targets = jnp.asarray(one_hot_targets)
    if probs.ndim < 1:
        raise ValueError("probs: expected shape (..., num_classes), got a scalar")
    same_shape(probs, one_hot_targets, "probs", "one_hot_targets")
    check_range(probs, "probs", 0.0, 1.0, "; for logits use categorical_cross_entropy")
    return _cce_probs(probs, one_hot_targets, jnp.asarray(eps, probs.dtype))


def softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike) -> Array:
    """Cross-entropy of integer labels on logits: ``log sum_k e^{x_k} - x_c = -log softmax(x)_c``.

    This is the LogSoftMax brick of Senk's *Deep Learning and CNNs* lecture (gradient
    ``softmax(x) - onehot(c)``) and the log-likelihood cost of Loo's *Deep Learning* lecture;
    it equals :func:`categorical_cross_entropy` with ``onehot(c)``. Its other names
    (``log_likelihood``, Keras's ``sparse_categorical_crossentropy``, ``log_softmax_loss``)
    are entries of the alias table of :func:`jdl.losses.get`, not separate functions.
    Logits ``(..., K)``, integer labels ``(...)`` -> ``(...)``.
    Labels outside [0, K) raise when concrete and give NaN when traced (optax alone would wrap
    -1 to the last class). Uses ``optax.losses.softmax_cross_entropy_with_integer_labels``.
    """
    logits = as_float(logits, "logits")
    labels = check_labels(logits, labels)
    return _log_likelihood(logits, labels)



def nll_from_log_probs(log_probs: ArrayLike, labels: ArrayLike) -> Array:
    """Negative log-likelihood from log-probabilities: ``-log_probs[..., c]``.

    For models whose last layer is already a ``log_softmax``; ``log_probs`` ``(..., K)``,
    integer labels ``(...)`` -> ``(...)``. Out-of-range labels as in :func:`softmax_cross_entropy`.
    Hand-written (a gather; optax has no NLL on log-probabilities).
    """
    log_probs = as_float(log_probs, "log_probs")
    labels = check_labels(log_probs, labels, logits_name="log_probs")
    return _nll(log_probs, labels)


def multiclass_max_margin(scores: ArrayLike, labels: ArrayLike, margin: float = 1.0) -> Array:
    """Multiclass max-margin (Crammer-Singer hinge): ``[max_{k != c}(x_k + m) - x_c]_+``
    (Senk, MaxMargin brick).

    Subgradient ``(delta_{s k*} - delta_{s c}) 1{E > 0}`` with ``k*`` the best wrong class.
    Computed as ``max_k(x_k + m [k != c]) - x_c``, which is >= 0 by construction and 0 for
    K = 1. Scores ``(..., K)``, integer labels ``(...)`` -> ``(...)``; out-of-range labels as in
    :func:`softmax_cross_entropy`. Hand-written because ``optax.losses.multiclass_hinge_loss`` fixes
    m = 1 (they agree at m = 1).
    """
    scores = as_float(scores, "scores")
    labels = check_labels(scores, labels, logits_name="scores")
    return _max_margin(scores, labels, jnp.asarray(margin, scores.dtype))
