"""2-D convolution over NHWC images (Salakhutdinov, *Engineering Deep Learning*: local
connectivity, shared weights).

Like every deep-learning library, `Conv` computes a *cross-correlation* (the kernel is not
flipped): y[b, i, j, o] = sum_{di, dj, c} x[b, s*i + d*di, s*j + d*dj, c] w[di, dj, c, o] + b[o].
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from jdl import initializers
from jdl.nn._conv_grad import conv2d
from jdl.nn._layer import Layer, as_shape, check_rank, ntuple, per_channel

Padding = str | int | Sequence[int] | Sequence[tuple[int, int]]


def explicit_padding(padding: Padding, in_hw: tuple[int, int], window: tuple[int, int],
                     stride: tuple[int, int], kind: str) -> tuple[tuple[int, int], ...]:
    """Turn "SAME" / "VALID" / p / (ph, pw) / ((top, bottom), (left, right)) into explicit pairs.

    `window` is the *dilated* window size. SAME pads so that out = ceil(in / stride), with the
    extra row/column at the bottom/right (TensorFlow's convention, which XLA follows).
    """
    if isinstance(padding, str):
        if padding.upper() not in ("SAME", "VALID"):
            raise ValueError(f"{kind}: expected padding 'SAME', 'VALID', an int or pairs, got {padding!r}")
        return tuple(lax.padtype_to_pads(in_hw, window, stride, padding.upper()))
    if isinstance(padding, int):
        return ((padding, padding),) * 2
    padding = tuple(padding) if isinstance(padding, (tuple, list)) else ()
    if len(padding) == 2 and all(isinstance(p, int) for p in padding):
        return tuple((p, p) for p in padding)
    if len(padding) == 2 and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in padding):
        return tuple((int(a), int(b)) for a, b in padding)
    raise ValueError(f"{kind}: expected padding 'SAME', 'VALID', an int, (ph, pw) or "
                     f"((top, bottom), (left, right)), got {padding!r}")


def check_padding(padding: Padding, kind: str) -> None:
    """Raise at construction, not at the first `init`, when `padding` has no valid form."""
    explicit_padding(padding, (1, 1), (1, 1), (1, 1), kind)


def output_size(size: int, window: int, stride: int, pads: tuple[int, int]) -> int:
    """floor((size + pad_lo + pad_hi - window) / stride) + 1 (the (W - F + 2P)/S + 1 of
    *Engineering Deep Learning*)."""
    return (size + pads[0] + pads[1] - window) // stride + 1


def Conv(features: int, kernel_size: int | Sequence[int], stride: int | Sequence[int] = 1,
         padding: Padding = "SAME", dilation: int | Sequence[int] = 1, *, groups: int = 1,
         use_bias: bool = True, w_init="lecun", b_init=initializers.zeros,
         filter_gradient: str = "auto") -> Layer:
    """2-D convolution: `x: (B, H, W, C_in)` -> `y: (B, H', W', features)`.

    Args:
      features: number of filters C_out.
      kernel_size: k or (kh, kw).
      stride: s or (sh, sw).
      padding: "SAME" (output ceil(H/s)), "VALID" (no padding), an int p, (ph, pw), or explicit
        ((top, bottom), (left, right)).
      dilation: kernel dilation ("atrous"); the window covers (k - 1) * d + 1 pixels.
      groups: grouped convolution (AlexNet's two towers): C_in and features must be divisible
        by it; each group sees C_in / groups channels.
      use_bias, w_init, b_init: bias switch and initializers (LeCun normal, zeros).
      filter_gradient: "auto" (matrix products on the CPU, XLA's elsewhere; see
        `jdl.nn.conv2d`) or "xla" (XLA's gradient convolution everywhere).

    Params `{"w": (kh, kw, C_in / groups, features), "b": (features,)}` (HWIO).
    """
    kh, kw = ntuple(kernel_size, 2, "kernel_size", "Conv")
    strides = ntuple(stride, 2, "stride", "Conv")
    dilations = ntuple(dilation, 2, "dilation", "Conv")
    if not isinstance(features, int) or features <= 0:
        raise ValueError(f"Conv: expected features to be a positive int, got {features!r}")
    if features % groups:
        raise ValueError(f"Conv: features (={features}) must be divisible by groups (={groups})")
    check_padding(padding, "Conv")
    if filter_gradient not in ("auto", "xla"):
        raise ValueError(f"Conv: expected filter_gradient 'auto' or 'xla', got {filter_gradient!r}")
    w_init = initializers.get(w_init)
    window = tuple((k - 1) * d + 1 for k, d in zip((kh, kw), dilations))

    def init(key, input_shape):
        shape = as_shape(input_shape, "Conv")
        check_rank("Conv", shape, 4, layout="(batch, height, width, channels)",
                   hint="images are NHWC; add a channel axis with x[..., None]")
        b, h, w, c = shape
        if c % groups:
            raise ValueError(f"Conv: input channels (={c}) must be divisible by groups (={groups})")
        pads = explicit_padding(padding, (h, w), window, strides, "Conv")
        out_hw = tuple(output_size(n, k, s, p) for n, k, s, p in zip((h, w), window, strides, pads))
        if min(out_hw) <= 0:
            raise ValueError(f"Conv: input {shape} is too small for a {kh}x{kw} kernel with stride "
                             f"{strides}, dilation {dilations} and padding {pads}: output {out_hw}")
        w_key, b_key = jax.random.split(key)
        params = {"w": w_init(w_key, (kh, kw, c // groups, features), jnp.float32)}
        if use_bias:
            params["b"] = b_init(b_key, (features,), jnp.float32)
        return (b, *out_hw, features), params, {}

    def apply(params, state, x, *, key=None, train=False):
        check_rank("Conv", x.shape, 4, layout="(batch, height, width, channels)")
        pads = explicit_padding(padding, x.shape[1:3], window, strides, "Conv")
        y = conv2d(x, params["w"].astype(x.dtype), strides, pads, dilations, groups,
                   filter_gradient=filter_gradient)
        if use_bias:
            y = y + per_channel(params["b"].astype(x.dtype), y.ndim)
        return y, state

    return Layer(init, apply, "conv")
