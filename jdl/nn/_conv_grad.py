"""A 2-D convolution whose filter gradient is written as matrix products on the CPU.

The filter gradient of y = conv(x, w) is, per kernel tap (i, j),

    dL/dw[i, j, c, o] = sum_{b, h, w} x_pad[b, s*h + d*i, s*w + d*j, c] * g[b, h, w, o],

a product of a (C, M) and an (M, O) matrix with M = B * H' * W' output positions. XLA derives it
as one more convolution that treats the batch as the contracted feature axis; on XLA:CPU that
needs the activations copied into another layout and runs 2-3x slower than the forward pass
(measured with `experiments/benchmarks/conv_filter_grad.py`). Here the gradient is taken as
products instead:

- few input channels (kh * kw * C_in <= 64, e.g. a first layer on grey or RGB images): the
  taps are joined into patches (M, kh * kw * C_in) and one product per slice gives all taps;
- otherwise: one product per tap, each on a strided view of the padded input.

The long contraction over M is cut into `parts` slices, each product gives a partial sum per
slice, and the slices are added: a single (C, O) output tile would leave all but one CPU
thread idle. The forward pass and the input gradient stay XLA's convolutions; GPUs and TPUs
keep XLA's filter gradient too (`lax.platform_dependent`), so the choice costs nothing there.

It is a `jax.custom_jvp`, not a `custom_vjp`, so forward-mode differentiation (`jax.jvp`,
`jax.jacfwd`, Hessians) still works: the tangent in w is written as the sum of the per-tap
products, whose transpose, taken by reverse mode, is the gradient above. `jax.checkpoint`
keeps the shifted copies of x out of the saved residuals: they are rebuilt in the backward
pass from x, which the forward pass keeps anyway.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

DIMENSIONS = ("NHWC", "HWIO", "NHWC")
PATCH_LIMIT = 64      # kh * kw * C_in up to which the taps are joined into one patch matrix
MAX_PARTS = 8         # slices of the contraction over output positions


def conv2d(x: jax.Array, w: jax.Array, strides: tuple[int, int],
           pads: tuple[tuple[int, int], ...], dilation: tuple[int, int],
           groups: int = 1, *, filter_gradient: str = "auto") -> jax.Array:
    """`lax.conv_general_dilated` on NHWC / HWIO / NHWC: x (B, H, W, C) * w (kh, kw, C / groups, O)
    -> (B, H', W', O). `filter_gradient="auto"`: the products above on the CPU (grouped
    convolutions keep XLA's); `"xla"`: XLA's gradient convolution everywhere."""
    if filter_gradient not in ("auto", "xla"):
        raise ValueError(f"conv2d: expected filter_gradient 'auto' or 'xla', got {filter_gradient!r}")
    if groups != 1 or filter_gradient == "xla":
        return _xla_conv(x, w, strides, pads, dilation, groups)
    return _conv(x, w, tuple(strides), tuple(map(tuple, pads)), tuple(dilation))


def _xla_conv(x, w, strides, pads, dilation, groups=1):
    return lax.conv_general_dilated(x, w, strides, pads, rhs_dilation=dilation,
                                    dimension_numbers=DIMENSIONS, feature_group_count=groups)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4))
def _conv(x, w, strides, pads, dilation):
    return _xla_conv(x, w, strides, pads, dilation)


@functools.partial(_conv.defjvp, symbolic_zeros=True)
def _conv_jvp(strides, pads, dilation, primals, tangents):
    x, w = primals
    x_dot, w_dot = tangents
    y = _xla_conv(x, w, strides, pads, dilation)
    terms = []
    if not isinstance(x_dot, SymbolicZero):
        terms.append(_xla_conv(x_dot, w, strides, pads, dilation))
    if not isinstance(w_dot, SymbolicZero):
        terms.append(lax.platform_dependent(
            x, w_dot, cpu=functools.partial(_filter_tangent, y.shape, strides, pads, dilation),
            default=lambda x, w_dot: _xla_conv(x, w_dot, strides, pads, dilation)))
    return y, sum(terms[1:], terms[0]) if terms else jnp.zeros_like(y)


def taps(x: jax.Array, kernel: tuple[int, int], out_hw: tuple[int, int], strides, pads,
         dilation) -> list[jax.Array]:
    """The kh * kw views x_pad[:, s*h + d*i, s*w + d*j, :] of shape (B, H', W', C), row-major
    over (i, j): the input each kernel tap meets."""
    padded = jnp.pad(x, ((0, 0), *pads, (0, 0)))
    views = []
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            top, left = i * dilation[0], j * dilation[1]
            views.append(padded[:, top:top + strides[0] * (out_hw[0] - 1) + 1:strides[0],
                                left:left + strides[1] * (out_hw[1] - 1) + 1:strides[1], :])
    return views


def contraction_parts(positions: int, limit: int = MAX_PARTS) -> int:
    """The largest power of two up to `limit` that divides the number of output positions."""
    parts = 1
    while parts * 2 <= limit and positions % (parts * 2) == 0:
        parts *= 2
    return parts


@functools.partial(jax.checkpoint, static_argnums=(0, 1, 2, 3))
def _filter_tangent(out_shape, strides, pads, dilation, x, w_dot):
    """y_dot = conv(x, w_dot) as products of the taps with w_dot, sliced over positions.

    The products run in float32 whatever the input dtype, so a bfloat16 step still sums the
    M / P terms of each gradient entry in float32 (bfloat16 sums of thousands of terms drift).

    Each product is einsum('pmk,pko->pmo', taps (P, M/P, K), w_dot broadcast to (P, K, O)), so
    that its transpose is einsum('pmk,pmo->pko') followed by a sum over the P slices.
    """
    kh, kw, c_in, c_out = w_dot.shape
    batch, h_out, w_out, _ = out_shape
    dtype, x, w_dot = x.dtype, x.astype(jnp.float32), w_dot.astype(jnp.float32)
    positions = batch * h_out * w_out
    parts = contraction_parts(positions)
    views = taps(x, (kh, kw), (h_out, w_out), strides, pads, dilation)

    def product(lhs, rhs):                 # lhs (B, H', W', K), rhs (K, O) -> (P, M/P, O)
        rhs = jnp.broadcast_to(rhs, (parts, *rhs.shape))
        return jnp.einsum("pmk,pko->pmo", lhs.reshape(parts, positions // parts, -1), rhs)

    if kh * kw * c_in <= PATCH_LIMIT:
        y_dot = product(jnp.concatenate(views, axis=-1), w_dot.reshape(kh * kw * c_in, c_out))
    else:
        y_dot = sum(product(view, w_dot[k // kw, k % kw]) for k, view in enumerate(views))
    return y_dot.reshape(out_shape).astype(dtype)
