"""Dense (fully connected) layer: y = x W + b (Loo's z = w.a + b, batched)."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jdl import initializers
from jdl.nn._layer import Layer, as_shape, check_rank, per_channel


def Dense(features: int, *, use_bias: bool = True, w_init="lecun",
          b_init=initializers.zeros) -> Layer:
    """A fully connected layer acting on the last axis.

    y = x @ w + b with `w: (in, features)`, `b: (features,)`; `x: (batch, ..., in)` ->
    `y: (batch, ..., features)`. Params `{"w", "b"}`; biases start at zero. The default weight
    initializer is LeCun normal (Flax's default); pass `w_init="he"` for deep ReLU nets
    (docs/curriculum.md, chapter 4).
    """
    if not isinstance(features, int) or features <= 0:
        raise ValueError(f"Dense: expected features to be a positive int, got {features!r}")
    w_init = initializers.get(w_init)

    def init(key, input_shape):
        shape = as_shape(input_shape, "Dense")
        check_rank("Dense", shape, min_rank=2, layout="(batch, ..., in_features)",
                   hint="add a batch axis with x[None] for a single example")
        w_key, b_key = jax.random.split(key)
        params = {"w": w_init(w_key, (shape[-1], features), jnp.float32)}
        if use_bias:
            params["b"] = b_init(b_key, (features,), jnp.float32)
        return shape[:-1] + (features,), params, {}

    def apply(params, state, x, *, key=None, train=False):
        w_shape = params["w"].shape
        if jnp.shape(x)[-1:] != w_shape[:1]:
            raise ValueError(f"Dense: expected x with {w_shape[0]} features on its last axis (the "
                             f"rows of params['w'] {w_shape}), got shape {jnp.shape(x)}")
        y = jnp.dot(x, params["w"].astype(x.dtype))
        if use_bias:
            y = y + per_channel(params["b"].astype(x.dtype), y.ndim)
        return y, state

    return Layer(init, apply, "dense")
