"""The activations' derivatives g'(z), written by hand (the point of the module is to show the equations; `jax.grad` is the test's reference), and the name checks."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array

from jdl import activations as _act


# ----------------------------------------------------------------------------- g and g'
# The derivatives are written by hand on purpose: the module exists to show BP1-BP4, so g' must be
# visible, not hidden behind jax.grad (which is the independent reference in the tests). At a kink
# the subgradient is the one jax.grad takes for the jdl.activations function, so the two agree
# everywhere. Leaky-ReLU slope 0.01 and ELU alpha 1 are jdl's (and mlp's) defaults.
_LEAKY_SLOPE = 0.01
_ELU_ALPHA = 1.0


def _sigmoid_prime(z: Array) -> Array:
    s = jax.nn.sigmoid(z)
    return s * (1.0 - s)                                       # s (1 - s), at most 1/4


def _tanh_prime(z: Array) -> Array:
    return 1.0 - jnp.tanh(z) ** 2                              # 1 - tanh^2


def _relu_prime(z: Array) -> Array:
    return (z > 0).astype(z.dtype)                             # 1[z > 0]; 0 at z = 0


def _leaky_relu_prime(z: Array) -> Array:
    return jnp.where(z >= 0, 1.0, _LEAKY_SLOPE).astype(z.dtype)  # 1 at z = 0


def _elu_prime(z: Array) -> Array:
    return jnp.where(z > 0, 1.0, _ELU_ALPHA * jnp.exp(jnp.minimum(z, 0.0))).astype(z.dtype)


def _abs_prime(z: Array) -> Array:
    return jnp.where(z >= 0, 1.0, -1.0).astype(z.dtype)       # sign(z), +1 at z = 0


def _hard_tanh_prime(z: Array) -> Array:
    return (jnp.abs(z) <= 1.0).astype(z.dtype)                 # 1 on [-1, 1] (ends included)


def _identity_prime(z: Array) -> Array:
    return jnp.ones_like(z)


_TABLE: dict[str, tuple[Callable[[Array], Array], Callable[[Array], Array]]] = {
    # name: (g, g')
    "sigmoid": (_act.sigmoid, _sigmoid_prime),
    "tanh": (_act.tanh, _tanh_prime),
    "relu": (_act.relu, _relu_prime),
    "leaky_relu": (_act.leaky_relu, _leaky_relu_prime),
    "elu": (_act.elu, _elu_prime),
    "abs_relu": (_act.abs_relu, _abs_prime),
    "hard_tanh": (_act.hard_tanh, _hard_tanh_prime),
    "ramp": (_act.ramp, _hard_tanh_prime),
    "identity": (_act.identity, _identity_prime),
    "linear": (_act.identity, _identity_prime),
}

ACTIVATIONS: tuple[str, ...] = tuple(_TABLE)
"""Hidden (elementwise) activations with a hand-written derivative."""
OUTPUT_ACTIVATIONS: tuple[str, ...] = ACTIVATIONS + ("softmax",)
"""Output units: every hidden activation, plus softmax (its Jacobian is used in BP1)."""

# cost name -> the output unit it implies (None: any, identity by default)
_COSTS: dict[str, str | None] = {"quadratic": None, "cross_entropy": "sigmoid",
                                 "log_likelihood": "softmax"}
COSTS: tuple[str, ...] = tuple(_COSTS)


def derivative(activation: str) -> Callable[[Array], Array]:
    """The hand-written ``g'`` of `activation` (a name in :data:`ACTIVATIONS`), elementwise."""
    return _TABLE[_check_activation(activation, "activation")][1]


def _check_activation(name: Any, arg: str, allowed: tuple[str, ...] = ACTIVATIONS) -> str:
    if not isinstance(name, str) or name not in allowed:
        extra = ("; softmax is not elementwise and is only an output unit (output_activation)"
                 if name == "softmax" and "softmax" not in allowed else "")
        raise ValueError(f"{arg}: expected one of {sorted(allowed)}, got {name!r}{extra}")
    return name


def _check_cost(cost: Any, output_activation: str | None) -> str:
    if not isinstance(cost, str) or cost not in _COSTS:
        raise ValueError(f"cost: expected one of {sorted(_COSTS)}, got {cost!r}")
    needed = _COSTS[cost]
    if output_activation is None:
        return needed or "identity"
    out = _check_activation(output_activation, "output_activation", OUTPUT_ACTIVATIONS)
    if needed is not None and out != needed:
        raise ValueError(f"output_activation: cost {cost!r} expects {needed!r} outputs (the "
                         f"deck's delta^L = a^L - y needs them), got {out!r}; pass None or "
                         f"{needed!r}, or use cost='quadratic'")
    return out
