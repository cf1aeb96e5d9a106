"""Losses (costs) of CURRICULUM chapter 2 (decks 000-004), as pure per-example functions.

Every loss is ``loss(predictions, targets, ...) -> per-example losses``: it reduces over the
class / feature axes and **never over the batch**, so a train step chooses the reduction
(mean, sum, masked mean) with :func:`reduce`. Shapes:

* elementwise losses (``quadratic``, ``mean_squared_error``, the binary cross-entropies,
  ``log_loss``, ``hinge``): predictions and targets have the same shape ``(batch, ...)``;
  the result is ``(batch,)`` (all trailing axes reduced; a 0-d input gives a 0-d result).
* class losses (``categorical_cross_entropy``, ``log_likelihood``, ``multiclass_max_margin``,
  ...): logits ``(..., K)`` with classes on the last axis; the result is ``logits.shape[:-1]``,
  i.e. ``(batch,)`` for ``(batch, K)`` logits (``(batch, T)`` for per-token sequence logits).

Deck 000's quadratic cost ``C = 1/2n sum_i ||y_i - a_i||^2`` is ``reduce(quadratic(a, y))``; the
empirical risk of deck 001 is ``reduce(loss(...)) + lambda * regularizer``.

Deck 003's "loss bricks" table maps to: Square -> :func:`quadratic`; Log (c = +-1) ->
:func:`log_loss`; Hinge (c = +-1, margin m) -> :func:`hinge`; LogSoftMax
``log sum_k e^{x_k} - x_c`` -> :func:`log_likelihood` (also named ``softmax_cross_entropy`` and
``log_softmax_loss``: it is the same function); MaxMargin -> :func:`multiclass_max_margin`.

Validation (nothing is silently wrong):

* shapes and dtypes are static, so they are checked at trace time and the checks work under
  ``jit``: a float ``labels`` array raises ``TypeError``, mismatched shapes raise ``ValueError``
  naming both shapes.
* values (class indices in ``[0, K)``, ``c`` in ``{-1, +1}``, probabilities / binary targets in
  ``[0, 1]``) are only known at run time. When the argument is concrete (an eager call, or a
  constant closed over by a jitted function) a bad value raises ``ValueError``. When it is traced
  (inside ``jit``/``grad``/``vmap``) the affected examples get a **NaN loss** instead (never a
  silently clamped or wrapped index). Gradients w.r.t. the predictions stay finite (they are
  zero for those examples); only the loss value shows the NaN. Padding examples: give them
  weight 0 in :func:`reduce`, which drops zero-weight entries (NaN included); in eager calls they
  also need a valid label (e.g. 0), since a concrete -1 raises.
* the concrete value checks copy the argument to the host: cheap in eager use, free under jit.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array
from jax.typing import ArrayLike

__all__ = [
    "reduce",
    "quadratic", "mean_squared_error",
    "binary_cross_entropy", "sigmoid_binary_cross_entropy",
    "categorical_cross_entropy", "categorical_cross_entropy_from_probs",
    "log_likelihood", "softmax_cross_entropy", "sparse_categorical_cross_entropy",
    "log_softmax_loss", "nll_from_log_probs",
    "log_loss", "hinge", "multiclass_max_margin",
    "multi_task", "get",
]

_REDUCTIONS = ("mean", "sum", "none")


# ----------------------------------------------------------------------------- helpers
# Each public loss validates its arguments in Python (static shapes / dtypes, and values when
# they are concrete) and then calls a small jitted core: one compilation per shape instead of one
# per primitive, so eager calls are fast too. Inside a user's jit the cores are simply inlined.
def _is_concrete(x: ArrayLike) -> bool:
    """True when `x` has known values now (not a tracer inside jit / grad / vmap)."""
    return not isinstance(x, jax.core.Tracer)


def _float(x: ArrayLike, name: str) -> Array:
    """`x` as a real floating array (ints and bools are promoted to the default float)."""
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise TypeError(f"{name}: expected a real floating dtype, got {x.dtype}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(x.dtype, float))
    return x


def _same_shape(predictions: Array, targets: Array, p_name: str, t_name: str) -> None:
    if predictions.shape != targets.shape:
        raise ValueError(
            f"{t_name}: expected shape {predictions.shape} (the shape of {p_name}), got "
            f"{targets.shape}; broadcasting is not done, to avoid silent (batch, batch) losses"
        )


def _sum_trailing(x: Array) -> Array:
    return jnp.sum(x, axis=tuple(range(1, x.ndim)))


def _mean_trailing(x: Array) -> Array:
    return jnp.mean(x, axis=tuple(range(1, x.ndim)))


def _all_trailing(x: Array) -> Array:
    """Per-example validity: every element of an example valid."""
    return jnp.all(x, axis=tuple(range(1, x.ndim)))


def _check_labels(logits: Array, labels: ArrayLike, name: str = "labels",
                  logits_name: str = "logits", one_hot_hint: str = "categorical_cross_entropy"
                  ) -> Array:
    """Validate integer class indices for `logits` (..., K) and return them as an array.

    Dtype and shape are always checked; the range [0, K) is checked when `labels` is concrete.
    Traced labels are checked by the cores with :func:`_label_valid` (NaN where out of range).
    """
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(
            f"{name}: expected an integer dtype (class indices), got {labels.dtype}; "
            f"for one-hot targets use {one_hot_hint}"
        )
    if logits.ndim < 1:
        raise ValueError(f"{logits_name}: expected shape (..., num_classes), got a scalar")
    if labels.shape != logits.shape[:-1]:
        hint = (f"; these look like one-hot targets, use {one_hot_hint}"
                if labels.shape == logits.shape else "")
        raise ValueError(
            f"{name}: expected shape {logits.shape[:-1]} ({logits_name} shape {logits.shape} "
            f"without its class axis), got {labels.shape}{hint}"
        )
    k = logits.shape[-1]
    if _is_concrete(labels) and labels.size:
        values = np.asarray(labels)
        lo, hi = int(values.min()), int(values.max())
        if lo < 0 or hi >= k:
            raise ValueError(
                f"{name}: expected class indices in [0, {k}), got min {lo}, max {hi}"
            )
    return labels


def _label_valid(labels: Array, k: int) -> Array:
    return (labels >= 0) & (labels < k)


def _check_range(x: Array, name: str, lo: float, hi: float, hint: str = "") -> None:
    """Raise if `x` is concrete and has values outside [lo, hi] (or NaN)."""
    if _is_concrete(x) and x.size:
        xn = np.asarray(x)
        mn, mx = xn.min(), xn.max()
        if not (mn >= lo and mx <= hi):
            raise ValueError(f"{name}: expected values in [{lo:g}, {hi:g}], got min {mn:g}, "
                             f"max {mx:g}{hint}")


def _check_sign(c: Array, name: str = "c") -> None:
    """Raise if `c` is concrete and has values other than -1 and +1."""
    if _is_concrete(c) and c.size:
        cn = np.asarray(c)
        bad = cn[(cn != 1) & (cn != -1)]
        if bad.size:
            raise ValueError(
                f"{name}: expected class signs in {{-1, +1}}, got values "
                f"{np.unique(bad)[:5].tolist()}; for 0/1 targets pass 2 * t - 1 "
                "(or use sigmoid_binary_cross_entropy)"
            )


def _nan_where_invalid(loss: Array, valid: Array) -> Array:
    return jnp.where(valid, loss, jnp.nan)


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


# ----------------------------------------------------------------------------- regression
@jax.jit
def _quadratic(p: Array, t: Array) -> Array:
    return _sum_trailing(optax.losses.l2_loss(p, t.astype(p.dtype)))


@jax.jit
def _mse(p: Array, t: Array) -> Array:
    return _mean_trailing(optax.losses.squared_error(p, t.astype(p.dtype)))


def quadratic(predictions: ArrayLike, targets: ArrayLike) -> Array:
    """Quadratic (square) cost per example: ``1/2 ||y - a||^2``, summed over trailing axes.

    Deck 000's quadratic cost and deck 003's Square brick ``1/2 (x - d)^2`` (gradient
    ``x - d``); ``reduce(quadratic(a, y))`` is ``C = 1/2n sum_i ||y_i - a_i||^2``.
    Shapes: predictions, targets ``(batch, ...)`` -> ``(batch,)``.
    Uses ``optax.losses.l2_loss`` (``1/2 (a - y)^2`` elementwise) and sums the features.
    """
    predictions = _float(predictions, "predictions")
    targets = jnp.asarray(targets)
    _same_shape(predictions, targets, "predictions", "targets")
    return _quadratic(predictions, targets)


def mean_squared_error(predictions: ArrayLike, targets: ArrayLike) -> Array:
    """Mean squared error per example: ``mean_j (a_j - y_j)^2`` (no 1/2; Keras' ``"mse"``).

    Shapes: ``(batch, ...)`` -> ``(batch,)``, the mean taken over all trailing axes
    (Keras takes it over the last axis only; the two agree for ``(batch, d)``).
    Uses ``optax.losses.squared_error`` (no 1/2), averaged over the features.
    """
    predictions = _float(predictions, "predictions")
    targets = jnp.asarray(targets)
    _same_shape(predictions, targets, "predictions", "targets")
    return _mse(predictions, targets)


# ----------------------------------------------------------------------------- binary
@jax.jit
def _bce_probs(p: Array, t: Array, eps: Array) -> Array:
    t = t.astype(p.dtype)
    valid = _all_trailing((p >= 0) & (p <= 1) & (t >= 0) & (t <= 1))
    q = jnp.clip(p, eps, 1.0 - eps)
    loss = -(t * jnp.log(q) + (1.0 - t) * jnp.log1p(-q))
    return _nan_where_invalid(_sum_trailing(loss), valid)


@jax.jit
def _bce_logits(x: Array, t: Array) -> Array:
    t = t.astype(x.dtype)
    valid = _all_trailing((t >= 0) & (t <= 1))
    return _nan_where_invalid(_sum_trailing(optax.losses.sigmoid_binary_cross_entropy(x, t)),
                              valid)


@jax.jit
def _log_loss(x: Array, c: Array) -> Array:
    valid = _all_trailing((c == 1) | (c == -1))
    loss = jax.nn.softplus(-c.astype(x.dtype) * x)
    return _nan_where_invalid(_sum_trailing(loss), valid)


@jax.jit
def _hinge(x: Array, c: Array, margin: Array) -> Array:
    valid = _all_trailing((c == 1) | (c == -1))
    loss = jax.nn.relu(margin - c.astype(x.dtype) * x)
    return _nan_where_invalid(_sum_trailing(loss), valid)


def binary_cross_entropy(probs: ArrayLike, targets: ArrayLike, eps: float = 1e-7) -> Array:
    """Binary cross-entropy on probabilities: ``-[y log a + (1 - y) log(1 - a)]``, summed over
    trailing axes (deck 000's cross-entropy cost; deck 002 logistic regression).

    `probs` (from a sigmoid) and `targets` (in {0, 1}, or soft in [0, 1]) have the same shape
    ``(batch, ...)`` -> ``(batch,)``. `probs` is clipped to ``[eps, 1 - eps]`` (eps raised to the
    dtype's machine epsilon if smaller: 1.19e-7 in float32) so that 0 and 1 give a finite loss
    (at most ``-log(eps)`` ~ 15.9 per element in float32); the clip has zero gradient where it
    bites, so prefer :func:`sigmoid_binary_cross_entropy` on logits for training. Values outside
    [0, 1] (e.g. logits passed by mistake) raise when concrete, NaN when traced.
    Hand-written: optax has no BCE on probabilities (only ``sigmoid_binary_cross_entropy``).
    """
    probs = _float(probs, "probs")
    targets = jnp.asarray(targets)
    _same_shape(probs, targets, "probs", "targets")
    _check_range(probs, "probs", 0.0, 1.0, "; for logits use sigmoid_binary_cross_entropy")
    _check_range(targets, "targets", 0.0, 1.0)
    eps = max(float(eps), float(jnp.finfo(probs.dtype).eps))  # so that 1 - eps < 1 in this dtype
    return _bce_probs(probs, targets, jnp.asarray(eps, probs.dtype))


def sigmoid_binary_cross_entropy(logits: ArrayLike, targets: ArrayLike) -> Array:
    """Binary cross-entropy on logits: ``-[y log s(x) + (1 - y) log(1 - s(x))]``, summed over
    trailing axes; s = sigmoid.

    Same value as ``binary_cross_entropy(sigmoid(x), y)`` without the clip, and stable for
    any logit (``log s(x) = -softplus(-x)``); gradient ``s(x) - y``. Targets in {0, 1} or soft
    in [0, 1] (else ValueError when concrete, NaN when traced). Shapes ``(batch, ...)`` ->
    ``(batch,)``. Uses ``optax.losses.sigmoid_binary_cross_entropy`` (elementwise).
    """
    logits = _float(logits, "logits")
    targets = jnp.asarray(targets)
    _same_shape(logits, targets, "logits", "targets")
    _check_range(targets, "targets", 0.0, 1.0)
    return _bce_logits(logits, targets)


def log_loss(scores: ArrayLike, c: ArrayLike) -> Array:
    """Log loss for class signs c = +-1: ``log(1 + e^{-c x})`` (deck 003, Log brick),
    summed over trailing axes.

    Gradient ``-c / (1 + e^{c x})``. Computed as ``softplus(-c x)``, finite for any x.
    Equals ``sigmoid_binary_cross_entropy(x, (c + 1) / 2)``. `c` has the shape of `scores`
    ``(batch, ...)`` -> ``(batch,)``; values other than +-1 raise when concrete, NaN when
    traced. Hand-written (one line; optax has no signed-label log loss).
    """
    scores = _float(scores, "scores")
    c = jnp.asarray(c)
    _same_shape(scores, c, "scores", "c")
    _check_sign(c)
    return _log_loss(scores, c)


def hinge(scores: ArrayLike, c: ArrayLike, margin: float = 1.0) -> Array:
    """Hinge loss for class signs c = +-1: ``max(0, m - c x)`` (deck 003, Hinge brick), summed
    over trailing axes.

    Subgradient ``-c 1{c x < m}`` (0 at the kink). `c` has the shape of `scores`
    ``(batch, ...)`` -> ``(batch,)``; values other than +-1 raise when concrete, NaN when
    traced. Hand-written because ``optax.losses.hinge_loss`` fixes m = 1 (they agree at m = 1).
    """
    scores = _float(scores, "scores")
    c = jnp.asarray(c)
    _same_shape(scores, c, "scores", "c")
    _check_sign(c)
    return _hinge(scores, c, jnp.asarray(margin, scores.dtype))


# ----------------------------------------------------------------------------- multiclass
@jax.jit
def _cce(x: Array, t: Array) -> Array:
    return optax.losses.softmax_cross_entropy(x, t.astype(x.dtype))


@jax.jit
def _cce_probs(p: Array, t: Array, eps: Array) -> Array:
    valid = jnp.all((p >= 0) & (p <= 1), axis=-1)
    loss = -jnp.sum(t.astype(p.dtype) * jnp.log(jnp.clip(p, eps, 1.0)), axis=-1)
    return _nan_where_invalid(loss, valid)


@jax.jit
def _log_likelihood(x: Array, labels: Array) -> Array:
    valid = _label_valid(labels, x.shape[-1])
    loss = optax.losses.softmax_cross_entropy_with_integer_labels(x, jnp.where(valid, labels, 0))
    return _nan_where_invalid(loss, valid)


@jax.jit
def _nll(log_probs: Array, labels: Array) -> Array:
    valid = _label_valid(labels, log_probs.shape[-1])
    safe = jnp.where(valid, labels, 0)
    picked = jnp.take_along_axis(log_probs, safe[..., None], axis=-1)[..., 0]
    return _nan_where_invalid(-picked, valid)


@jax.jit
def _max_margin(s: Array, labels: Array, margin: Array) -> Array:
    k = s.shape[-1]
    valid = _label_valid(labels, k)
    safe = jnp.where(valid, labels, 0)
    wrong = (jnp.arange(k) != safe[..., None]).astype(s.dtype)
    best = jnp.max(s + margin * wrong, axis=-1)  # max(max_{k != c} x_k + m, x_c)
    x_c = jnp.take_along_axis(s, safe[..., None], axis=-1)[..., 0]
    return _nan_where_invalid(best - x_c, valid)


def categorical_cross_entropy(logits: ArrayLike, one_hot_targets: ArrayLike) -> Array:
    """Categorical cross-entropy on logits: ``-sum_k t_k log softmax(x)_k`` (decks 000, 002, 003).

    Logits and targets ``(..., K)`` -> ``(...)``; targets are one-hot rows or any distribution
    (e.g. smoothed labels). For integer class labels use :func:`log_likelihood`.
    Uses ``optax.losses.softmax_cross_entropy`` (log-softmax, stable for any finite logits).
    """
    logits = _float(logits, "logits")
    one_hot_targets = jnp.asarray(one_hot_targets)
    if logits.ndim < 1:
        raise ValueError("logits: expected shape (..., num_classes), got a scalar")
    if one_hot_targets.shape != logits.shape:
        hint = ("; these look like integer labels, use log_likelihood"
                if one_hot_targets.shape == logits.shape[:-1] else "")
        raise ValueError(f"one_hot_targets: expected shape {logits.shape} (the shape of logits),"
                         f" got {one_hot_targets.shape}{hint}")
    return _cce(logits, one_hot_targets)


def categorical_cross_entropy_from_probs(probs: ArrayLike, one_hot_targets: ArrayLike,
                                         eps: float = 1e-7) -> Array:
    """Categorical cross-entropy on probabilities: ``-sum_k t_k log o_k`` (deck 002's formula,
    deck 004's cost with a softmax output unit).

    `probs` ``(..., K)`` (softmax outputs) is clipped to ``[eps, 1]`` so a zero probability gives
    ``-log(eps)`` instead of inf; values outside [0, 1] raise when concrete, NaN when traced.
    Prefer :func:`categorical_cross_entropy` on logits for training. Returns ``probs.shape[:-1]``.
    Hand-written: optax has no cross-entropy on probabilities.
    """
    probs = _float(probs, "probs")
    one_hot_targets = jnp.asarray(one_hot_targets)
    if probs.ndim < 1:
        raise ValueError("probs: expected shape (..., num_classes), got a scalar")
    _same_shape(probs, one_hot_targets, "probs", "one_hot_targets")
    _check_range(probs, "probs", 0.0, 1.0, "; for logits use categorical_cross_entropy")
    return _cce_probs(probs, one_hot_targets, jnp.asarray(eps, probs.dtype))


def log_likelihood(logits: ArrayLike, labels: ArrayLike) -> Array:
    """Negative log-likelihood of integer labels: ``log sum_k e^{x_k} - x_c = -log softmax(x)_c``.

    This IS deck 003's LogSoftMax brick (gradient ``softmax(x) - onehot(c)``) and deck 000's
    log-likelihood cost; it equals :func:`categorical_cross_entropy` with ``onehot(c)``.
    Also exported as ``softmax_cross_entropy``, ``sparse_categorical_cross_entropy`` (Keras)
    and ``log_softmax_loss``. Logits ``(..., K)``, integer labels ``(...)`` -> ``(...)``.
    Labels outside [0, K) raise when concrete and give NaN when traced (optax alone would wrap
    -1 to the last class). Uses ``optax.losses.softmax_cross_entropy_with_integer_labels``.
    """
    logits = _float(logits, "logits")
    labels = _check_labels(logits, labels)
    return _log_likelihood(logits, labels)


softmax_cross_entropy = log_likelihood
sparse_categorical_cross_entropy = log_likelihood
log_softmax_loss = log_likelihood


def nll_from_log_probs(log_probs: ArrayLike, labels: ArrayLike) -> Array:
    """Negative log-likelihood from log-probabilities: ``-log_probs[..., c]``.

    For models whose last layer is already a ``log_softmax``; ``log_probs`` ``(..., K)``,
    integer labels ``(...)`` -> ``(...)``. Out-of-range labels as in :func:`log_likelihood`.
    Hand-written (a gather; optax has no NLL on log-probabilities).
    """
    log_probs = _float(log_probs, "log_probs")
    labels = _check_labels(log_probs, labels, logits_name="log_probs")
    return _nll(log_probs, labels)


def multiclass_max_margin(scores: ArrayLike, labels: ArrayLike, margin: float = 1.0) -> Array:
    """Multiclass max-margin (Crammer-Singer hinge): ``[max_{k != c}(x_k + m) - x_c]_+``
    (deck 003, MaxMargin brick).

    Subgradient ``(delta_{s k*} - delta_{s c}) 1{E > 0}`` with ``k*`` the best wrong class.
    Computed as ``max_k(x_k + m [k != c]) - x_c``, which is >= 0 by construction and 0 for
    K = 1. Scores ``(..., K)``, integer labels ``(...)`` -> ``(...)``; out-of-range labels as in
    :func:`log_likelihood`. Hand-written because ``optax.losses.multiclass_hinge_loss`` fixes
    m = 1 (they agree at m = 1).
    """
    scores = _float(scores, "scores")
    labels = _check_labels(scores, labels, logits_name="scores")
    return _max_margin(scores, labels, jnp.asarray(margin, scores.dtype))


# ----------------------------------------------------------------------------- multi-task
def multi_task(losses: Mapping[str, ArrayLike] | Sequence[ArrayLike],
               weights: Mapping[str, float] | Sequence[float] | None = None) -> Array:
    """Weighted multi-task loss ``sum_i w_i L_i`` (deck 003's ``loss_weights``).

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
    "log_likelihood": log_likelihood, "softmax_cross_entropy": log_likelihood,
    "sparse_categorical_cross_entropy": log_likelihood,
    "sparse_categorical_crossentropy": log_likelihood,
    "log_softmax_loss": log_likelihood, "nll_from_log_probs": nll_from_log_probs,
    "log_loss": log_loss, "hinge": hinge, "multiclass_max_margin": multiclass_max_margin,
    "max_margin": multiclass_max_margin,
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
