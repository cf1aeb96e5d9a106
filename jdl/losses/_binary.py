"""Binary losses: cross-entropy on probabilities or logits, and Senk's Log and Hinge bricks
for class signs c = +-1."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jax import Array
from jax.typing import ArrayLike

from jdl.checks import (
    all_trailing,
    check_range,
    check_sign,
    as_float,
    nan_where_invalid,
    same_shape,
    sum_trailing,
)


# ----------------------------------------------------------------------------- binary
@jax.jit
def _bce_probs(p: Array, t: Array, eps: Array) -> Array:
    t = t.astype(p.dtype)
    valid = all_trailing((p >= 0) & (p <= 1) & (t >= 0) & (t <= 1))
    q = jnp.clip(p, eps, 1.0 - eps)
    loss = -(t * jnp.log(q) + (1.0 - t) * jnp.log1p(-q))
    return nan_where_invalid(sum_trailing(loss), valid)


@jax.jit
def _bce_logits(x: Array, t: Array) -> Array:
    t = t.astype(x.dtype)
    valid = all_trailing((t >= 0) & (t <= 1))
    return nan_where_invalid(sum_trailing(optax.losses.sigmoid_binary_cross_entropy(x, t)),
                              valid)


@jax.jit
def _log_loss(x: Array, c: Array) -> Array:
    valid = all_trailing((c == 1) | (c == -1))
    loss = jax.nn.softplus(-c.astype(x.dtype) * x)
    return nan_where_invalid(sum_trailing(loss), valid)


@jax.jit
def _hinge(x: Array, c: Array, margin: Array) -> Array:
    valid = all_trailing((c == 1) | (c == -1))
    loss = jax.nn.relu(margin - c.astype(x.dtype) * x)
    return nan_where_invalid(sum_trailing(loss), valid)


def binary_cross_entropy(probs: ArrayLike, targets: ArrayLike, eps: float = 1e-7) -> Array:
    """Binary cross-entropy on probabilities: ``-[y log a + (1 - y) log(1 - a)]``, summed over
    trailing axes (Loo's cross-entropy cost; COMP9321's logistic regression).

    `probs` (from a sigmoid) and `targets` (in {0, 1}, or soft in [0, 1]) have the same shape
    ``(batch, ...)`` -> ``(batch,)``. `probs` is clipped to ``[eps, 1 - eps]`` (eps raised to the
    dtype's machine epsilon if smaller: 1.19e-7 in float32) so that 0 and 1 give a finite loss
    (at most ``-log(eps)`` ~ 15.9 per element in float32); the clip has zero gradient where it
    bites, so prefer :func:`sigmoid_binary_cross_entropy` on logits for training. Values outside
    [0, 1] (e.g. logits passed by mistake) raise when concrete, NaN when traced.
    Hand-written: optax has no BCE on probabilities (only ``sigmoid_binary_cross_entropy``).
    """
    probs = as_float(probs, "probs")
    targets = jnp.asarray(targets)
    same_shape(probs, targets, "probs", "targets")
    check_range(probs, "probs", 0.0, 1.0, "; for logits use sigmoid_binary_cross_entropy")
    check_range(targets, "targets", 0.0, 1.0)
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
    logits = as_float(logits, "logits")
    targets = jnp.asarray(targets)
    same_shape(logits, targets, "logits", "targets")
    check_range(targets, "targets", 0.0, 1.0)
    return _bce_logits(logits, targets)


def log_loss(scores: ArrayLike, c: ArrayLike) -> Array:
    """Log loss for class signs c = +-1: ``log(1 + e^{-c x})`` (Senk, Log brick),
    summed over trailing axes.

    Gradient ``-c / (1 + e^{c x})``. Computed as ``softplus(-c x)``, finite for any x.
    Equals ``sigmoid_binary_cross_entropy(x, (c + 1) / 2)``. `c` has the shape of `scores`
    ``(batch, ...)`` -> ``(batch,)``; values other than +-1 raise when concrete, NaN when
    traced. Hand-written (one line; optax has no signed-label log loss).
    """
    scores = as_float(scores, "scores")
    c = jnp.asarray(c)
    same_shape(scores, c, "scores", "c")
    check_sign(c)
    return _log_loss(scores, c)


def hinge(scores: ArrayLike, c: ArrayLike, margin: float = 1.0) -> Array:
    """Hinge loss for class signs c = +-1: ``max(0, m - c x)`` (Senk, Hinge brick), summed
    over trailing axes.

    Subgradient ``-c 1{c x < m}`` (0 at the kink). `c` has the shape of `scores`
    ``(batch, ...)`` -> ``(batch,)``; values other than +-1 raise when concrete, NaN when
    traced. Hand-written because ``optax.losses.hinge_loss`` fixes m = 1 (they agree at m = 1).
    """
    scores = as_float(scores, "scores")
    c = jnp.asarray(c)
    same_shape(scores, c, "scores", "c")
    check_sign(c)
    return _hinge(scores, c, jnp.asarray(margin, scores.dtype))
