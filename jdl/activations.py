"""Activation functions of all five lectures (docs/curriculum.md, chapter 1), as pure elementwise
functions.

Every function maps an array of any shape to an array of the same shape. Where `jax.nn` has the
function it is used as is (so gradients and numerics are JAX's own); the few the decks name that
`jax.nn` lacks (absolute-value rectification, the step unit, a PReLU with an explicit slope
argument) are one-liners written here.

Derivatives (COMP9321's table), for reference:
  sigmoid'(x) = s(x) (1 - s(x));  tanh'(x) = 1 - tanh(x)^2;  relu'(x) = 1[x > 0] (subgradient 0 at 0).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

__all__ = [
    "sigmoid", "tanh", "relu", "leaky_relu", "prelu", "abs_relu", "elu", "hard_tanh", "ramp",
    "softmax", "log_softmax", "step", "identity", "get",
]

sigmoid = jax.nn.sigmoid          # 1 / (1 + e^-x); saturates for |x| >~ 10 (Senk)
tanh = jnp.tanh                   # (e^x - e^-x) / (e^x + e^-x), range (-1, 1)
relu = jax.nn.relu                # max(0, x); jax.nn.relu has gradient 0 at x = 0
elu = jax.nn.elu                  # x if x > 0 else alpha (e^x - 1)
softmax = jax.nn.softmax          # e^{x_k} / sum_j e^{x_j} along `axis` (default -1)
log_softmax = jax.nn.log_softmax  # x_k - log sum_j e^{x_j}, stable for large |x|
hard_tanh = jax.nn.hard_tanh      # ramp: clip(x, -1, 1)
ramp = hard_tanh


def leaky_relu(x: Array, negative_slope: float = 0.01) -> Array:
    """Leaky ReLU: x if x >= 0 else negative_slope * x (decks use alpha = 0.01)."""
    return jax.nn.leaky_relu(x, negative_slope)


def prelu(x: Array, alpha: Array) -> Array:
    """Parametric ReLU: x if x >= 0 else alpha * x, with `alpha` a learnable array broadcast to x."""
    return jnp.where(x >= 0, x, jnp.broadcast_to(alpha, jnp.shape(x)) * x)


def abs_relu(x: Array) -> Array:
    """Absolute-value rectification g(x) = |x| (Senk's generalised rectifier with alpha = -1)."""
    return jnp.abs(x)


def step(x: Array) -> Array:
    """The perceptron's Heaviside step: 1 if x > 0 else 0 (Loo, COMP9321); zero gradient
    everywhere."""
    return jnp.where(x > 0, 1.0, 0.0).astype(jnp.result_type(x, jnp.float32))


def identity(x: Array) -> Array:
    """The linear (Gaussian) output unit: g(x) = x (*Engineering Deep Learning*)."""
    return x


_BY_NAME = {
    "sigmoid": sigmoid, "tanh": tanh, "relu": relu, "leaky_relu": leaky_relu,
    "abs_relu": abs_relu, "elu": elu, "hard_tanh": hard_tanh, "ramp": ramp,
    "softmax": softmax, "log_softmax": log_softmax, "step": step, "identity": identity,
    "linear": identity,
}


def get(activation: str | callable) -> callable:
    """Return the activation called `activation` (a name from this module), or the callable itself."""
    if callable(activation):
        return activation
    try:
        return _BY_NAME[activation]
    except KeyError:
        raise ValueError(
            f"activation: expected a callable or one of {sorted(_BY_NAME)}, got {activation!r}"
        ) from None
