"""Pooling over NHWC images (Salakhutdinov, *Engineering Deep Learning*): max, average and global
average.

Speed note (measured in docs/design.md): on XLA:CPU the gradient of `lax.reduce_window` max
(select-and-scatter) costs 9-17x more than the gradient of a reshape followed by `max`. When
the window equals the stride and no padding is needed (the common 2x2/2 case), pooling here
reshapes `(B, H, W, C)` to `(B, H/k, k, W/k, k, C)` and reduces the window axes: exactly the
same forward values. With ties inside a window the reshape form splits the gradient equally
between the tied maxima, while select-and-scatter gives it all to the first; both are valid
subgradients. Other configurations use `lax.reduce_window`.

Caution (measured): the reshape form's gradient marks the window elements equal to the
forward's maximum, and XLA may recompute those elements in the backward pass. At the default
optimization level XLA:CPU recomputes them bit for bit. At `--xla_backend_optimization_level=0`
(what `JAX_DISABLE_MOST_OPTIMIZATIONS=1` sets) it recomputes a conv-BN-ReLU output with
different rounding, no element matches, and those windows get no gradient: the summed |dL/dx|
of a conv-BN-ReLU-pool block was 6,305 against 7,938, and a CNN's loss became NaN in 3 steps.
Do not train with that flag.
"""
from __future__ import annotations

from typing import Sequence

import jax.numpy as jnp
from jax import lax

from jdl.nn._conv import Padding, check_padding, explicit_padding, output_size
from jdl.nn._layer import Layer, as_shape, check_rank, ntuple

_NHWC = "(batch, height, width, channels)"


def _pool(kind: str, reducer: str, window, stride, padding: Padding) -> Layer:
    win = ntuple(window, 2, "window", kind)
    strides = ntuple(stride if stride is not None else win, 2, "stride", kind)
    check_padding(padding, kind)

    def geometry(shape):
        pads = explicit_padding(padding, shape[1:3], win, strides, kind)
        out = tuple(output_size(n, k, s, p) for n, k, s, p in zip(shape[1:3], win, strides, pads))
        return pads, out

    def init(key, input_shape):
        shape = as_shape(input_shape, kind)
        check_rank(kind, shape, 4, layout=_NHWC)
        pads, out = geometry(shape)
        if min(out) <= 0:
            raise ValueError(f"{kind}: expected an input no smaller than window {win} (stride "
                             f"{strides}, padding {pads}), got input_shape {shape}: too small")
        return (shape[0], *out, shape[3]), {}, {}

    def apply(params, state, x, *, key=None, train=False):
        check_rank(kind, x.shape, 4, layout=_NHWC)
        pads, (oh, ow) = geometry(x.shape)
        if win == strides and not any(p for pair in pads for p in pair):
            b, _, _, c = x.shape
            windows = x[:, :oh * win[0], :ow * win[1]].reshape(b, oh, win[0], ow, win[1], c)
            reduce = jnp.max if reducer == "max" else jnp.mean
            return reduce(windows, axis=(2, 4)), state
        dims, steps, full_pads = (1, *win, 1), (1, *strides, 1), ((0, 0), *pads, (0, 0))
        if reducer == "max":
            # Python scalars as init values: JAX differentiates reduce_window only for those
            return lax.reduce_window(x, -jnp.inf, lax.max, dims, steps, full_pads), state
        sums = lax.reduce_window(x, 0.0, lax.add, dims, steps, full_pads)
        # Average over the pixels inside the image only (TensorFlow/Keras; PyTorch's
        # count_include_pad=False): count them with the same window over a tensor of ones.
        ones = jnp.ones((1, *x.shape[1:3], 1), x.dtype)
        counts = lax.reduce_window(ones, 0.0, lax.add, dims, steps, full_pads)
        return sums / counts, state

    return Layer(init, apply, {"MaxPool": "max_pool", "AvgPool": "avg_pool"}[kind])


def MaxPool(window: int | Sequence[int] = 2, stride: int | Sequence[int] | None = None,
            padding: Padding = "VALID") -> Layer:
    """Max pooling: y[b, i, j, c] = max over the window at (s*i, s*j) of x[b, ., ., c].

    `x: (B, H, W, C)` -> `(B, H', W', C)` with H' = floor((H + pads - k) / s) + 1. `stride`
    defaults to `window` (non-overlapping, as in LeNet/VGG); padding pads with -inf.
    """
    return _pool("MaxPool", "max", window, stride, padding)


def AvgPool(window: int | Sequence[int] = 2, stride: int | Sequence[int] | None = None,
            padding: Padding = "VALID") -> Layer:
    """Average pooling (LeNet's subsampling): the mean over each window, padding not counted."""
    return _pool("AvgPool", "avg", window, stride, padding)


def GlobalAvgPool() -> Layer:
    """Global average pooling (GoogLeNet, ResNet): `(B, H, W, C)` -> `(B, C)`, mean over H and W."""

    def init(key, input_shape):
        shape = as_shape(input_shape, "GlobalAvgPool")
        check_rank("GlobalAvgPool", shape, 4, layout=_NHWC)
        return (shape[0], shape[3]), {}, {}

    def apply(params, state, x, *, key=None, train=False):
        return jnp.mean(x, axis=(1, 2)), state

    return Layer(init, apply, "global_avg_pool")
