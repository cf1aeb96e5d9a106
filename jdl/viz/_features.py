"""Feature maps: the output of a named layer for an input (Salakhutdinov's layer outputs,
Senk's "Visualization of CNNs"; docs/curriculum.md, chapter 8)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

from jdl import compile_cache, nn


def feature_maps(model: nn.Layer, params, state, x, path: str) -> Array:
    """Activations of the child at `path` (e.g. "features/block1/relu") for input `x`.

    Runs the model in inference mode from its input up to that child with `nn.cut` (the full
    model's params and state plug in unchanged), compiled once per (model, path). A rank-3 `x`
    is one NHWC image (H, W, C) and the batch axis is dropped from the result:
    (H, W, C) -> (H', W', C'); any other `x` is a batch and keeps its batch axis:
    (B, H, W, C) -> (B, H', W', C'). Pure; may be called inside `jax.jit`.
    """
    layer = nn.cut(model, path)  # checks the path now, with cut's error message
    apply = compile_cache.cached(("feature_maps", model, path), lambda: jax.jit(
        lambda p, s, x: layer.apply(p, s, x, train=False)[0]))
    x = jnp.asarray(x)
    single = x.ndim == 3
    y = apply(params, state, x[None] if single else x)
    return y[0] if single else y
