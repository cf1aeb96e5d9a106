"""Metrics (Salakhutdinov, Senk; docs/curriculum.md, chapter 2): accuracy, top-k error, confusion
matrix.

Like :mod:`jdl.losses`, every metric except :func:`confusion_matrix` returns **per-example
values** (float, 1.0 = correct), shape ``logits.shape[:-1]`` (``(batch,)`` for ``(batch, K)``
logits) for the class metrics and ``(batch,)`` for :func:`binary_accuracy`. The caller averages
them, e.g. ``jnp.mean(accuracy(logits, y))`` or ``jdl.losses.reduce(acc, weights=mask)`` for a
padded batch. :func:`confusion_matrix` is a batch aggregate ``(K, K)``.

Ties: class predictions use ``argmax``, which picks the **lowest index** among tied scores;
:func:`top_k_accuracy` breaks ties the same way (the order of ``jax.lax.top_k``), so
``top_k_accuracy(s, y, 1) == accuracy(s, y)`` always and ``top_k_error = 1 - top_k_accuracy``.

Labels are validated as in :mod:`jdl.losses`: float labels of shape ``(batch,)`` raise
TypeError, bad shapes raise ValueError, and out-of-range labels raise ValueError when concrete
and give NaN when traced (under jit), never a silent 0.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from jdl.checks import check_labels, is_concrete, label_valid

__all__ = [
    "accuracy", "sparse_categorical_accuracy", "error_rate", "binary_accuracy",
    "top_k_accuracy", "top_k_error", "confusion_matrix", "get",
]


def _class_labels(predictions: Array, labels: ArrayLike) -> Array:
    """Validated class labels for (..., K) predictions: integer indices of shape (...), or
    one-hot / soft targets of the predictions' shape (returned as is; the cores take argmax)."""
    labels = jnp.asarray(labels)
    if predictions.ndim < 1:
        raise ValueError("predictions: expected shape (..., num_classes), got a scalar")
    if labels.shape == predictions.shape:
        return labels
    return check_labels(predictions, labels, logits_name="predictions",
                         one_hot_hint="one-hot labels of the predictions' shape")


def _as_indices(predictions: Array, labels: Array) -> tuple[Array, Array]:
    """(class indices, valid mask) inside a jitted core."""
    if labels.shape == predictions.shape:
        labels = jnp.argmax(labels, axis=-1)
        return labels, jnp.ones(labels.shape, bool)
    return labels, label_valid(labels, predictions.shape[-1])


@jax.jit
def _accuracy(predictions: Array, labels: Array) -> Array:
    labels, valid = _as_indices(predictions, labels)
    correct = (jnp.argmax(predictions, axis=-1) == labels).astype(jnp.float32)
    return jnp.where(valid, correct, jnp.nan)


@partial(jax.jit, static_argnames="k")
def _top_k(scores: Array, labels: Array, k: int) -> Array:
    labels, valid = _as_indices(scores, labels)
    safe = jnp.where(valid, labels, 0)
    x_c = jnp.take_along_axis(scores, safe[..., None], axis=-1)
    before = jnp.arange(scores.shape[-1]).reshape((1,) * safe.ndim + (-1,)) < safe[..., None]
    rank = jnp.sum((scores > x_c) | ((scores == x_c) & before), axis=-1)
    return jnp.where(valid, (rank < k).astype(jnp.float32), jnp.nan)


@jax.jit
def _binary_accuracy(logits: Array, targets: Array, threshold: Array) -> Array:
    correct = ((logits > threshold) == (targets >= 0.5)).astype(jnp.float32)
    return jnp.mean(correct, axis=tuple(range(1, correct.ndim)))


def accuracy(predictions: ArrayLike, labels: ArrayLike) -> Array:
    """Per-example accuracy ``1{argmax_k p_k == c}`` as float, shape ``predictions.shape[:-1]``.

    `predictions` are logits or probabilities ``(..., K)`` (same argmax). `labels` are integer
    class indices ``(...)`` (Keras' sparse categorical accuracy, Senk) or one-hot / soft
    targets of the predictions' shape (their argmax is the class). Ties: lowest index wins.
    Out-of-range labels: ValueError when concrete, NaN when traced.
    """
    predictions = jnp.asarray(predictions)
    return _accuracy(predictions, _class_labels(predictions, labels))


sparse_categorical_accuracy = accuracy


def error_rate(predictions: ArrayLike, labels: ArrayLike) -> Array:
    """Per-example classification error ``1 - accuracy`` (Salakhutdinov's top-1 error)."""
    return 1.0 - accuracy(predictions, labels)


def binary_accuracy(logits: ArrayLike, targets: ArrayLike, threshold: float = 0.0) -> Array:
    """Per-example binary accuracy: fraction of outputs with ``1{x > threshold} == 1{t >= 0.5}``.

    The default threshold 0.0 is for logits (sigmoid 0.5); pass ``threshold=0.5`` for
    probabilities. Targets in {0, 1} (soft targets are rounded at 0.5) or signs in {-1, +1}
    (both read correctly by ``t >= 0.5``). `logits` and `targets` have one shape
    ``(batch, ...)``; the result ``(batch,)`` averages the trailing (multi-label) axes.
    """
    logits = jnp.asarray(logits)
    targets = jnp.asarray(targets)
    if logits.shape != targets.shape:
        raise ValueError(f"targets: expected shape {logits.shape} (the shape of logits), "
                         f"got {targets.shape}")
    return _binary_accuracy(logits, targets, jnp.asarray(threshold, jnp.float32))


def top_k_accuracy(scores: ArrayLike, labels: ArrayLike, k: int) -> Array:
    """Per-example top-k accuracy: 1.0 if class c is among the k highest scores (Salakhutdinov).

    The rank of c is ``#{j: x_j > x_c} + #{j < c: x_j == x_c}`` (ties broken by lowest index,
    as ``argmax`` and ``jax.lax.top_k`` do); correct iff rank < k. ``1 <= k <= K``.
    Scores ``(..., K)``, integer (or one-hot) labels -> ``scores.shape[:-1]``.
    """
    scores = jnp.asarray(scores)
    labels = _class_labels(scores, labels)
    n = scores.shape[-1]
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= n:
        raise ValueError(f"k: expected an int in [1, {n}] (the number of classes), got {k!r}")
    return _top_k(scores, labels, int(k))


def top_k_error(scores: ArrayLike, labels: ArrayLike, k: int) -> Array:
    """Per-example top-k error ``1 - top_k_accuracy`` (Salakhutdinov's top-1 / top-5 error)."""
    return 1.0 - top_k_accuracy(scores, labels, k)


def confusion_matrix(predictions: ArrayLike, labels: ArrayLike, num_classes: int | None = None,
                     weights: ArrayLike | None = None) -> Array:
    """Confusion matrix ``M[i, j]`` = number of examples with true class i predicted as j.

    `predictions` are logits / probabilities ``(..., K)`` (argmax taken; `num_classes` defaults
    to K) or integer predicted classes of the labels' shape (`num_classes` required). `labels`
    are integer classes. Returns int32 ``(num_classes, num_classes)`` (rows true, columns
    predicted, as in scikit-learn), summed over all examples; with `weights` (e.g. a padding
    mask of the labels' shape) each example counts w and the dtype is float32. Concrete
    out-of-range labels or predicted classes raise ValueError; traced ones are not counted
    (the matrix then sums to less than the batch size).
    """
    predictions = jnp.asarray(predictions)
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"labels: expected an integer dtype (class indices), got {labels.dtype}")
    from_scores = not (jnp.issubdtype(predictions.dtype, jnp.integer)
                       and predictions.shape == labels.shape)
    if not from_scores:
        if num_classes is None:
            raise ValueError("num_classes: required when predictions are class indices, got None")
        to_check = (("labels", labels), ("predictions", predictions))
    else:
        if predictions.ndim < 1 or predictions.shape[:-1] != labels.shape:
            raise ValueError(
                f"predictions: expected class indices of shape {labels.shape} or scores of "
                f"shape {labels.shape + (num_classes or 'K',)}, got {predictions.shape}")
        if num_classes is None:
            num_classes = predictions.shape[-1]
        elif predictions.shape[-1] != num_classes:
            raise ValueError(f"num_classes: expected {predictions.shape[-1]} (the last axis of "
                             f"predictions), got {num_classes}")
        to_check = (("labels", labels),)  # argmax is always in range
    for name, x in to_check:
        if is_concrete(x) and x.size:
            lo, hi = int(np.min(np.asarray(x))), int(np.max(np.asarray(x)))
            if lo < 0 or hi >= num_classes:
                raise ValueError(f"{name}: expected class indices in [0, {num_classes}), "
                                 f"got min {lo}, max {hi}")
    if weights is not None:
        weights = jnp.asarray(weights, jnp.float32)
        if weights.shape != labels.shape:
            raise ValueError(f"weights: expected shape {labels.shape} (the shape of labels), "
                             f"got {weights.shape}")
    return _confusion(predictions, labels, weights, int(num_classes), from_scores)


@partial(jax.jit, static_argnames=("num_classes", "from_scores"))
def _confusion(predictions: Array, labels: Array, weights: Array | None, num_classes: int,
               from_scores: bool) -> Array:
    pred_cls = jnp.argmax(predictions, axis=-1) if from_scores else predictions
    dtype = jnp.int32 if weights is None else jnp.float32
    true_oh = jax.nn.one_hot(labels.reshape(-1), num_classes, dtype=dtype)  # out of range -> 0
    pred_oh = jax.nn.one_hot(pred_cls.reshape(-1), num_classes, dtype=dtype)
    if weights is not None:
        true_oh = true_oh * weights.reshape(-1, 1)
    return true_oh.T @ pred_oh


_BY_NAME: dict[str, Callable[..., Array]] = {
    "accuracy": accuracy, "sparse_categorical_accuracy": accuracy,
    "categorical_accuracy": accuracy, "error_rate": error_rate,
    "binary_accuracy": binary_accuracy,
}


def get(metric: str | Callable[..., Array]) -> Callable[..., Array]:
    """Return the metric called `metric` (``"accuracy"``, Keras' ``"sparse_categorical_accuracy"``,
    ``"top_5_error"``, ``"top_1_accuracy"``...), or the callable itself."""
    if callable(metric):
        return metric
    if metric in _BY_NAME:
        return _BY_NAME[metric]
    parts = metric.split("_") if isinstance(metric, str) else []
    if len(parts) == 3 and parts[0] == "top" and parts[1].isdigit() \
            and parts[2] in ("accuracy", "error"):
        k, base = int(parts[1]), (top_k_accuracy if parts[2] == "accuracy" else top_k_error)
        return lambda scores, labels: base(scores, labels, k)
    raise ValueError(f"metric: expected a callable, one of {sorted(_BY_NAME)} or "
                     f"'top_<k>_accuracy' / 'top_<k>_error', got {metric!r}")
