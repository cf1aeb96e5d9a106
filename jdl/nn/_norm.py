"""Normalization layers: BatchNorm (Ioffe & Szegedy 2015; Salakhutdinov, Senk) and LayerNorm."""
from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from jdl.nn._layer import Layer, as_shape, check_rank, per_channel


def _moments(x, axes, axis_name):
    """Mean and biased variance over `axes`, in float32; averaged over `axis_name` if given."""
    x32 = x.astype(jnp.float32)
    mean, mean_sq = jnp.mean(x32, axes), jnp.mean(jnp.square(x32), axes)
    if axis_name is not None:
        mean, mean_sq = lax.pmean((mean, mean_sq), axis_name)
    return mean, jnp.maximum(mean_sq - jnp.square(mean), 0.0)


def BatchNorm(momentum: float = 0.9, eps: float = 1e-5, *, axis_name: str | None = None,
              use_scale: bool = True, use_bias: bool = True) -> Layer:
    """Batch normalization over every axis but the last (per channel for NHWC, per feature for (B, F)).

    train: mu, var = batch mean and biased variance;  y = gamma (x - mu) / sqrt(var + eps) + beta,
           and the running statistics in `state` become  r <- momentum * r + (1 - momentum) * batch.
    eval:  the same formula with the running mean and variance; the state is returned unchanged.

    Args:
      momentum: decay of the running averages (Flax/Keras convention; PyTorch's `momentum=0.1`
        is `momentum=0.9` here). The running variance stores the biased batch variance (as Flax;
        PyTorch stores the unbiased one).
      eps: added to the variance.
      axis_name: when set, the batch moments are averaged over that named axis (`pmap`,
        `shard_map`, `vmap(axis_name=...)`), giving global-batch statistics across devices.
        Leave it `None` under `jit` with sharded arrays: the statistics are global there already.
      use_scale, use_bias: learn gamma (init 1) and beta (init 0).

    Params `{"scale": (C,), "bias": (C,)}`; state `{"mean": (C,), "var": (C,)}` (init 0 and 1).
    Statistics are computed in float32 whatever the input dtype.
    """
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"BatchNorm: expected momentum in [0, 1), got {momentum!r}")

    def init(key, input_shape):
        shape = as_shape(input_shape, "BatchNorm")
        check_rank("BatchNorm", shape, min_rank=2, layout="(batch, ..., channels)")
        c = shape[-1]
        params = {}
        if use_scale:
            params["scale"] = jnp.ones((c,), jnp.float32)
        if use_bias:
            params["bias"] = jnp.zeros((c,), jnp.float32)
        state = {"mean": jnp.zeros((c,), jnp.float32), "var": jnp.ones((c,), jnp.float32)}
        return shape, params, state

    def apply(params, state, x, *, key=None, train=False):
        if train:
            mean, var = _moments(x, tuple(range(x.ndim - 1)), axis_name)
            new_state = {"mean": momentum * state["mean"] + (1.0 - momentum) * mean,
                         "var": momentum * state["var"] + (1.0 - momentum) * var}
        else:
            mean, var, new_state = state["mean"], state["var"], state
        mul = lax.rsqrt(var + eps)
        if use_scale:
            mul = mul * params["scale"]
        shift = -mean * mul
        if use_bias:
            shift = shift + params["bias"]
        # y = x * mul + shift: one fused multiply-add per element in the input's dtype.
        mul, shift = per_channel(mul, x.ndim), per_channel(shift, x.ndim)
        return x * mul.astype(x.dtype) + shift.astype(x.dtype), new_state

    return Layer(init, apply, "batch_norm")


def LayerNorm(eps: float = 1e-5, *, use_scale: bool = True, use_bias: bool = True) -> Layer:
    """Layer normalization over the last axis (Ba et al. 2016), per example, same in train and eval.

    y = gamma (x - mean(x)) / sqrt(var(x) + eps) + beta, moments over the last axis of each
    example. Params `{"scale": (F,), "bias": (F,)}`; no state.
    """

    def init(key, input_shape):
        shape = as_shape(input_shape, "LayerNorm")
        check_rank("LayerNorm", shape, min_rank=2, layout="(batch, ..., features)")
        params = {}
        if use_scale:
            params["scale"] = jnp.ones((shape[-1],), jnp.float32)
        if use_bias:
            params["bias"] = jnp.zeros((shape[-1],), jnp.float32)
        return shape, params, {}

    def apply(params, state, x, *, key=None, train=False):
        x32 = x.astype(jnp.float32)
        mean = jnp.mean(x32, -1, keepdims=True)
        var = jnp.mean(jnp.square(x32 - mean), -1, keepdims=True)
        y = (x32 - mean) * lax.rsqrt(var + eps)
        if use_scale:
            y = y * per_channel(params["scale"], y.ndim)
        if use_bias:
            y = y + per_channel(params["bias"], y.ndim)
        return y.astype(x.dtype), state

    return Layer(init, apply, "layer_norm")
