"""Local response normalization across channels (AlexNet, ZFNet; Salakhutdinov).

Krizhevsky et al. 2012, section 3.3: with a^i_{x,y} the ReLU output of kernel i at (x, y) and
N channels,

    b^i = a^i / (k + alpha * sum_{j = max(0, i - n/2)}^{min(N-1, i + n/2)} (a^j)^2) ^ beta

with k = 2, n = 5, alpha = 1e-4, beta = 0.75. Channels outside [0, N) count as zero. The
window sum is `size` shifted slices of the zero-padded squares: plain, differentiable ops (a
`lax.reduce_window` sum with a `jnp.array(0)` init is not differentiable under `jit`).
"""
from __future__ import annotations

import jax.numpy as jnp

from jdl.nn._layer import Layer, as_shape, check_rank


def LocalResponseNorm(size: int = 5, alpha: float = 1e-4, beta: float = 0.75,
                      k: float = 2.0) -> Layer:
    """Local response normalization over the last (channel) axis: `x: (B, ..., C)` -> same shape.

    y[..., i] = x[..., i] / (k + alpha * S_i) ** beta,
    S_i = sum of x[..., j] ** 2 over j in [i - size // 2, i + (size - 1) // 2] (clipped to [0, C)).

    Args:
      size: n, the number of neighbouring channels in the window (the channel itself included).
      alpha, beta, k: the paper's constants (defaults: AlexNet's 1e-4, 0.75, 2).

    No params, no state.

    Warning (the alpha convention): alpha multiplies the *sum* of squares, as in the AlexNet paper
    and TensorFlow's `tf.nn.local_response_normalization` (`depth_radius = size // 2`,
    `bias = k`). PyTorch's `nn.LocalResponseNorm` and Caffe's LRN layer divide alpha by `size`
    (they average the squares), so PyTorch's `LocalResponseNorm(size, alpha=a, beta, k)` equals
    `LocalResponseNorm(size, alpha=a / size, beta=beta, k=k)` here. An even `size` puts the extra
    channel below i (PyTorch's padding of size // 2 before and (size - 1) // 2 after).

    References: Krizhevsky, Sutskever, Hinton, "ImageNet Classification with Deep Convolutional
    Neural Networks", NIPS 2012, section 3.3.
    """
    if not isinstance(size, int) or size <= 0:
        raise ValueError(f"LocalResponseNorm: expected size to be a positive int, got {size!r}")
    if k < 0 or alpha < 0:
        raise ValueError(f"LocalResponseNorm: expected k >= 0 and alpha >= 0, got k={k!r}, "
                         f"alpha={alpha!r}")
    before, after = size // 2, (size - 1) // 2

    def init(key, input_shape):
        shape = as_shape(input_shape, "LocalResponseNorm")
        check_rank("LocalResponseNorm", shape, min_rank=2, layout="(batch, ..., channels)")
        return shape, {}, {}

    def apply(params, state, x, *, key=None, train=False):
        c = x.shape[-1]
        squares = jnp.pad(jnp.square(x), ((0, 0),) * (x.ndim - 1) + ((before, after),))
        sums = sum(squares[..., j:j + c] for j in range(size))  # the window, one shift at a time
        return x * (k + alpha * sums) ** -beta, state

    return Layer(init, apply, "local_response_norm")
