"""Locally connected 2-D layer: a convolution *without* parameter sharing (Salakhutdinov).

Every output position (i, j) has its own kernel:

    y[b, i, j, o] = sum_{di, dj, c} x[b, s*i + di, s*j + dj, c] w[i, j, di, dj, c, o] + b[i, j, o]

(cross-correlation, like `Conv`; x is the padded input). Salakhutdinov's arithmetic: on a 200x200
image, one 10x10 kernel per hidden unit for 40K hidden units is 200 * 200 * 10 * 10 = 4M weights,
where a convolution shares one 10x10 kernel per feature map (100 weights) and a dense layer
needs 200 * 200 * 40K = 1.6B ("~2B").
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from jdl import initializers
from jdl.nn._conv import Padding, explicit_padding, output_size
from jdl.nn._layer import Layer, as_shape, check_rank, ntuple, per_channel


def LocallyConnected2D(features: int, kernel_size: int | Sequence[int],
                       stride: int | Sequence[int] = 1, padding: Padding = "VALID", *,
                       use_bias: bool = True, w_init="lecun", b_init=initializers.zeros) -> Layer:
    """Unshared 2-D convolution: `x: (B, H, W, C_in)` -> `y: (B, H', W', features)`.

    H', W' and the padding follow `Conv` (padding "VALID" by default, as Keras'
    LocallyConnected2D; "SAME", an int, (ph, pw) or ((top, bottom), (left, right))).

    Params `{"w": (H', W', kh, kw, C_in, features), "b": (H', W', features)}`: one HWIO kernel
    and one bias per output position, so H' W' (kh kw C_in + 1) features parameters in all.
    Each position's kernel is drawn by `w_init` with the fan of a `Conv` kernel
    (fan_in = kh kw C_in), not of the whole tensor.
    """
    kh, kw = ntuple(kernel_size, 2, "kernel_size", "LocallyConnected2D")
    strides = ntuple(stride, 2, "stride", "LocallyConnected2D")
    if not isinstance(features, int) or features <= 0:
        raise ValueError(f"LocallyConnected2D: expected features to be a positive int, "
                         f"got {features!r}")
    w_init = initializers.get(w_init)

    def geometry(h: int, w: int):
        pads = explicit_padding(padding, (h, w), (kh, kw), strides, "LocallyConnected2D")
        out = tuple(output_size(n, k, s, p) for n, k, s, p in zip((h, w), (kh, kw), strides, pads))
        return pads, out

    def init(key, input_shape):
        shape = as_shape(input_shape, "LocallyConnected2D")
        check_rank("LocallyConnected2D", shape, 4, layout="(batch, height, width, channels)",
                   hint="images are NHWC; add a channel axis with x[..., None]")
        b, h, w, c = shape
        pads, (oh, ow) = geometry(h, w)
        if min(oh, ow) <= 0:
            raise ValueError(f"LocallyConnected2D: input {shape} is too small for a {kh}x{kw} "
                             f"kernel with stride {strides} and padding {pads}: output {(oh, ow)}")
        w_key, b_key = jax.random.split(key)
        keys = jax.random.split(w_key, oh * ow)
        kernels = jax.vmap(lambda k: w_init(k, (kh, kw, c, features), jnp.float32))(keys)
        params = {"w": kernels.reshape(oh, ow, kh, kw, c, features)}
        if use_bias:
            params["b"] = b_init(b_key, (oh, ow, features), jnp.float32)
        return (b, oh, ow, features), params, {}

    def apply(params, state, x, *, key=None, train=False):
        check_rank("LocallyConnected2D", x.shape, 4, layout="(batch, height, width, channels)")
        pads, (oh, ow) = geometry(*x.shape[1:3])
        if params["w"].shape[:2] != (oh, ow):
            raise ValueError(f"LocallyConnected2D: params were built for a {params['w'].shape[:2]} "
                             f"output grid, the input {x.shape} gives {(oh, ow)}")
        xp = jnp.pad(x, ((0, 0), *pads, (0, 0)))
        sh, sw = strides
        # patches[b, i, j, di, dj, c] = xp[b, sh*i + di, sw*j + dj, c]
        patches = jnp.stack([jnp.stack([xp[:, di:di + sh * (oh - 1) + 1:sh,
                                           dj:dj + sw * (ow - 1) + 1:sw] for dj in range(kw)],
                                       axis=3) for di in range(kh)], axis=3)
        y = jnp.einsum("bijuvc,ijuvco->bijo", patches, params["w"].astype(x.dtype))
        if use_bias:
            y = y + per_channel(params["b"].astype(x.dtype), y.ndim)
        return y, state

    return Layer(init, apply, "locally_connected")
