"""Activation layers: every function of `jdl.activations` as a Layer, plus PReLU (learnable slope).

`elementwise(fn, kind)` turns any elementwise function into a parameter-free layer (stax's
idea). All constructors are called, `Relu()` like `Dense(10)`, so there is one rule to remember.
"""
from __future__ import annotations

from typing import Callable

import jax.numpy as jnp

from jdl import activations
from jdl.nn._layer import Layer, as_shape


def elementwise(fn: Callable, kind: str = "activation", **fn_kwargs) -> Layer:
    """A parameter-free layer y = fn(x, **fn_kwargs); the output shape equals the input shape."""

    def init(key, input_shape):
        return as_shape(input_shape, kind), {}, {}

    def apply(params, state, x, *, key=None, train=False):
        return fn(x, **fn_kwargs), state

    return Layer(init, apply, kind)


def Sigmoid() -> Layer:
    """y = 1 / (1 + e^-x)."""
    return elementwise(activations.sigmoid, "sigmoid")


def Tanh() -> Layer:
    """y = tanh(x)."""
    return elementwise(activations.tanh, "tanh")


def Relu() -> Layer:
    """y = max(0, x)."""
    return elementwise(activations.relu, "relu")


def LeakyRelu(negative_slope: float = 0.01) -> Layer:
    """y = x if x >= 0 else negative_slope * x."""
    return elementwise(activations.leaky_relu, "leaky_relu", negative_slope=negative_slope)


def AbsRelu() -> Layer:
    """Absolute-value rectification y = |x|."""
    return elementwise(activations.abs_relu, "abs_relu")


def Elu(alpha: float = 1.0) -> Layer:
    """y = x if x > 0 else alpha (e^x - 1)."""
    return elementwise(activations.elu, "elu", alpha=alpha)


def HardTanh() -> Layer:
    """The ramp y = clip(x, -1, 1)."""
    return elementwise(activations.hard_tanh, "hard_tanh")


def Softmax(axis: int = -1) -> Layer:
    """y_k = e^{x_k} / sum_j e^{x_j} along `axis` (use logits + a cross-entropy loss for training)."""
    return elementwise(activations.softmax, "softmax", axis=axis)


def LogSoftmax(axis: int = -1) -> Layer:
    """y_k = x_k - log sum_j e^{x_j} along `axis`."""
    return elementwise(activations.log_softmax, "log_softmax", axis=axis)


def Step() -> Layer:
    """The perceptron's step y = 1[x > 0] (zero gradient: for demonstrations, not for training)."""
    return elementwise(activations.step, "step")


def Identity() -> Layer:
    """y = x (the linear output unit)."""
    return elementwise(activations.identity, "identity")


def PReLU(init_slope: float = 0.25, *, per_channel: bool = False) -> Layer:
    """Parametric ReLU (He et al. 2015): y = x if x >= 0 else alpha * x with a learnable alpha.

    Params `{"alpha": ()}`, or `(C,)` with `per_channel=True` (one slope per last-axis channel).
    `init_slope=0.25` follows the paper and PyTorch.
    """

    def init(key, input_shape):
        shape = as_shape(input_shape, "PReLU")
        alpha_shape = (shape[-1],) if per_channel else ()
        return shape, {"alpha": jnp.full(alpha_shape, init_slope, jnp.float32)}, {}

    def apply(params, state, x, *, key=None, train=False):
        return activations.prelu(x, params["alpha"].astype(x.dtype)), state

    return Layer(init, apply, "prelu")


_BY_NAME = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": Relu, "leaky_relu": LeakyRelu,
            "abs_relu": AbsRelu, "elu": Elu, "hard_tanh": HardTanh, "ramp": HardTanh,
            "softmax": Softmax, "log_softmax": LogSoftmax, "step": Step, "identity": Identity,
            "linear": Identity, "prelu": PReLU}


def activation_layer(activation: str | Callable | Layer) -> Layer:
    """A Layer for `activation`: a name ("relu"), an elementwise function, or a Layer (returned)."""
    if isinstance(activation, Layer):
        return activation
    if isinstance(activation, str):
        if activation not in _BY_NAME:
            raise ValueError(f"activation: expected one of {sorted(_BY_NAME)}, a function or a "
                             f"Layer, got {activation!r}")
        return _BY_NAME[activation]()
    if callable(activation):
        return elementwise(activation, getattr(activation, "__name__", "activation"))
    raise ValueError(f"activation: expected a name, a function or a Layer, got {activation!r}")
