"""Transposed convolution (Loo), and convolution versus cross-correlation (Salakhutdinov,
*Engineering Deep Learning*).

The "steps in 2D convolution" of *Engineering Deep Learning* start with "flip rows and columns of
the kernel"; Salakhutdinov says the feature map is "a discrete convolution of a kernel matrix which
is the weights matrix with its rows and columns flipped". Every deep-learning library (jdl's
`Conv`, flax, PyTorch) skips the flip and computes a cross-correlation,

    conv:        (x * k)[i, j] = sum_{u, v} x[i - u, j - v] k[u, v]
    cross-corr:  (x . w)[i, j] = sum_{u, v} x[i + u, j + v] w[u, v],

and the two agree when w = flip(k), so a learned filter is simply the flipped true kernel.
`flip_kernel` and `true_convolve2d` make the relation explicit (tested against
`scipy.signal.convolve2d`).

`ConvTranspose` upsamples: it inserts s - 1 zeros between input pixels, pads, and
cross-correlates with `w` (`jax.lax.conv_transpose`, flax's `ConvTranspose` with its default
`transpose_kernel=False`). With `w` replaced by `flip_kernel(w)` with input and output axes
swapped it is exactly the gradient (transpose) of a strided `Conv` with respect to its input,
which is where the name comes from (tested for VALID padding: `Conv(c, k, s, "VALID")` on H
pixels with (H - k) divisible by s, against `ConvTranspose(C_in, k, s, "VALID")`).
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from jax import Array, lax

from jdl import initializers
from jdl.nn._layer import Layer, as_shape, check_rank, ntuple, per_channel

_DIMENSIONS = ("NHWC", "HWIO", "NHWC")
_CONVOLVE_MODES = ("full", "valid", "same")


def flip_kernel(w: Array) -> Array:
    """Flip the two spatial axes of a kernel: `(kh, kw, ...)` -> `w[::-1, ::-1, ...]`.

    `Conv` with weights `flip_kernel(k)` computes the true convolution with k (Salakhutdinov,
    *Engineering Deep Learning*); flipping twice gives the kernel back.
    """
    if w.ndim < 2:
        raise ValueError(f"flip_kernel: expected a kernel with at least 2 (spatial) axes, got "
                         f"shape {w.shape}")
    return w[::-1, ::-1]


def true_convolve2d(x: Array, kernel: Array, mode: str = "full") -> Array:
    """The 2-D discrete convolution of *Engineering Deep Learning* (kernel flipped), like
    `scipy.signal.convolve2d`.

    y[i, j] = sum_{u, v} x[i - u, j - v] kernel[u, v], with zeros outside `x`.

    Args:
      x: `(H, W)` image.
      kernel: `(kh, kw)` kernel.
      mode: "full" `(H + kh - 1, W + kw - 1)`, "valid" `(H - kh + 1, W - kw + 1)`, or "same"
        `(H, W)`, centred on the full output as scipy does.

    Returns:
      The convolution, computed as a cross-correlation (`lax.conv_general_dilated`) with
      `flip_kernel(kernel)`.
    """
    x, kernel = jnp.asarray(x), jnp.asarray(kernel)
    if x.ndim != 2 or kernel.ndim != 2:
        raise ValueError(f"true_convolve2d: expected 2-D x and kernel, got shapes {x.shape} and "
                         f"{kernel.shape}")
    if mode not in _CONVOLVE_MODES:
        raise ValueError(f"true_convolve2d: expected mode in {_CONVOLVE_MODES}, got {mode!r}")
    if mode == "valid" and (kernel.shape[0] > x.shape[0] or kernel.shape[1] > x.shape[1]):
        raise ValueError(f"true_convolve2d: mode 'valid' needs a kernel no larger than x, got x "
                         f"{x.shape} and kernel {kernel.shape}")
    pads = []
    for k in kernel.shape:
        if mode == "full":
            pads.append((k - 1, k - 1))
        elif mode == "valid":
            pads.append((0, 0))
        else:  # scipy keeps the centre of the full output, starting at (k - 1) // 2
            pads.append((k - 1 - (k - 1) // 2, (k - 1) // 2))
    dtype = jnp.result_type(x.dtype, kernel.dtype, jnp.float32)
    y = lax.conv_general_dilated(x.astype(dtype)[None, :, :, None],
                                 flip_kernel(kernel).astype(dtype)[:, :, None, None],
                                 (1, 1), pads, dimension_numbers=_DIMENSIONS)
    return y[0, :, :, 0]


def _transpose_size(n: int, k: int, s: int, pad) -> int:
    """Output size of `lax.conv_transpose` along one axis (see the ConvTranspose docstring)."""
    if pad == "SAME":
        return n * s
    if pad == "VALID":
        return n * s + max(k - s, 0)
    return (n - 1) * s + 1 + pad[0] + pad[1] - k + 1


def ConvTranspose(features: int, kernel_size: int | Sequence[int], stride: int | Sequence[int] = 1,
                  padding: str | Sequence[tuple[int, int]] = "SAME", *, use_bias: bool = True,
                  w_init="lecun", b_init=initializers.zeros) -> Layer:
    """Transposed ("fractionally strided") convolution: `(B, H, W, C_in)` -> `(B, H', W', features)`.

    y = cross_correlate(pad(dilate_s(x)), w) + b, where dilate_s puts s - 1 zeros between pixels.

    Args:
      features: output channels.
      kernel_size: k or (kh, kw).
      stride: s or (sh, sw): the upsampling factor.
      padding: "SAME": H' = H * s; "VALID": H' = H * s + max(k - s, 0); or explicit
        `((top, bottom), (left, right))` zero padding of the dilated input (`lax.conv_transpose`
        semantics): H' = (H - 1) * s + 1 + top + bottom - k + 1.
      use_bias, w_init, b_init: bias switch and initializers (LeCun normal, zeros).

    Params `{"w": (kh, kw, C_in, features), "b": (features,)}`: the layout of `flax.linen.
    ConvTranspose` with `transpose_kernel=False` (its default), whose outputs this matches.

    Warning: PyTorch's `ConvTranspose2d` stores `(C_in, features, kh, kw)`, flips the kernel (it is
    the exact gradient of `Conv2d`: input pixel i adds x[i] * w[u] to output pixel s * i + u) and
    its `padding=p` *removes* p pixels from each border. The same layer here is
    `ConvTranspose(features, k, s, padding=((k - 1 - p, k - 1 - p),) * 2)` with
    `w = flip_kernel(w_torch.transpose(2, 3, 0, 1))`: H' = (H - 1) * s + k - 2p.

    References: Dumoulin & Visin, "A guide to convolution arithmetic for deep learning", 2016;
    Zeiler & Fergus 2013 (deconvnet visualisation, Salakhutdinov).
    """
    kh, kw = ntuple(kernel_size, 2, "kernel_size", "ConvTranspose")
    strides = ntuple(stride, 2, "stride", "ConvTranspose")
    if not isinstance(features, int) or features <= 0:
        raise ValueError(f"ConvTranspose: expected features to be a positive int, got {features!r}")
    if isinstance(padding, str):
        if padding.upper() not in ("SAME", "VALID"):
            raise ValueError(f"ConvTranspose: expected padding 'SAME', 'VALID' or "
                             f"((top, bottom), (left, right)), got {padding!r}")
        pads = padding.upper()
    else:
        try:
            pads = tuple((int(lo), int(hi)) for lo, hi in padding)
        except (TypeError, ValueError):
            pads = ()
        if len(pads) != 2:
            raise ValueError(f"ConvTranspose: expected padding 'SAME', 'VALID' or "
                             f"((top, bottom), (left, right)), got {padding!r}")
    w_init = initializers.get(w_init)

    def init(key, input_shape):
        shape = as_shape(input_shape, "ConvTranspose")
        check_rank("ConvTranspose", shape, 4, layout="(batch, height, width, channels)",
                   hint="images are NHWC; add a channel axis with x[..., None]")
        b, h, w, c = shape
        per_axis = (pads, pads) if isinstance(pads, str) else pads
        out_hw = tuple(_transpose_size(n, k, s, p)
                       for n, k, s, p in zip((h, w), (kh, kw), strides, per_axis))
        if min(out_hw) <= 0:
            raise ValueError(f"ConvTranspose: input {shape} with a {kh}x{kw} kernel, stride "
                             f"{strides} and padding {pads} gives an empty output {out_hw}")
        w_key, b_key = jax.random.split(key)
        params = {"w": w_init(w_key, (kh, kw, c, features), jnp.float32)}
        if use_bias:
            params["b"] = b_init(b_key, (features,), jnp.float32)
        return (b, *out_hw, features), params, {}

    def apply(params, state, x, *, key=None, train=False):
        check_rank("ConvTranspose", x.shape, 4, layout="(batch, height, width, channels)")
        y = lax.conv_transpose(x, params["w"].astype(x.dtype), strides, pads,
                               dimension_numbers=_DIMENSIONS)
        if use_bias:
            y = y + per_channel(params["b"].astype(x.dtype), y.ndim)
        return y, state

    return Layer(init, apply, "conv_transpose")
