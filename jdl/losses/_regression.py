"""Regression losses: the quadratic cost (Loo, Senk's Square brick) and the MSE."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jax import Array
from jax.typing import ArrayLike

from jdl.checks import as_float, mean_trailing, same_shape, sum_trailing


# ----------------------------------------------------------------------------- regression
@jax.jit
def _quadratic(p: Array, t: Array) -> Array:
    return sum_trailing(optax.losses.l2_loss(p, t.astype(p.dtype)))


@jax.jit
def _mse(p: Array, t: Array) -> Array:
    return mean_trailing(optax.losses.squared_error(p, t.astype(p.dtype)))


def quadratic(predictions: ArrayLike, targets: ArrayLike) -> Array:
    """Quadratic (square) cost per example: ``1/2 ||y - a||^2``, summed over trailing axes.

    Loo's quadratic cost and Senk's Square brick ``1/2 (x - d)^2`` (gradient
    ``x - d``); ``reduce(quadratic(a, y))`` is ``C = 1/2n sum_i ||y_i - a_i||^2``.
    Shapes: predictions, targets ``(batch, ...)`` -> ``(batch,)``.
    Uses ``optax.losses.l2_loss`` (``1/2 (a - y)^2`` elementwise) and sums the features.
    """
    predictions = as_float(predictions, "predictions")
    targets = jnp.asarray(targets)
    same_shape(predictions, targets, "predictions", "targets")
    return _quadratic(predictions, targets)


def mean_squared_error(predictions: ArrayLike, targets: ArrayLike) -> Array:
    """Mean squared error per example: ``mean_j (a_j - y_j)^2`` (no 1/2; Keras' ``"mse"``).

    Shapes: ``(batch, ...)`` -> ``(batch,)``, the mean taken over all trailing axes
    (Keras takes it over the last axis only; the two agree for ``(batch, d)``).
    Uses ``optax.losses.squared_error`` (no 1/2), averaged over the features.
    """
    predictions = as_float(predictions, "predictions")
    targets = jnp.asarray(targets)
    same_shape(predictions, targets, "predictions", "targets")
    return _mse(predictions, targets)
