"""LocalResponseNorm against numpy (paper and PyTorch conventions), ConvTranspose against
flax.linen, the scatter definition and the gradient of Conv, true_convolve2d against scipy."""
import flax.linen as fnn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy import signal

from jdl import nn


def _normal(shape, seed=0, scale=1.0):
    """Inputs from numpy: no eager JAX ops to compile (each eager op is compiled on its own)."""
    return jnp.asarray(scale * np.random.default_rng(seed).normal(size=shape), jnp.float32)


def _run(layer, params, x):
    """`layer.apply` in eval mode under one `jit`."""
    return jax.jit(lambda p, x: layer.apply(p, {}, x)[0])(params, x)


def _init(layer, input_shape):
    """`(output_shape, params, state)` of `layer.init` with abstract params (`jax.eval_shape`)."""
    box = {}

    def init(key):
        box["out"], params, state = layer.init(key, input_shape)
        return params, state

    params, state = jax.eval_shape(init, jax.random.key(0))
    return box["out"], params, state


# ---------------------------------------------------------------------------------- LRN
def _lrn_paper(x, size, alpha, beta, k):
    """Krizhevsky et al. 2012, eq. in 3.3, by loops: alpha times the *sum* of squares."""
    x = np.asarray(x, np.float64)
    c = x.shape[-1]
    out = np.empty_like(x)
    for i in range(c):
        lo, hi = max(0, i - size // 2), min(c - 1, i + (size - 1) // 2)
        s = np.sum(x[..., lo:hi + 1] ** 2, axis=-1)
        out[..., i] = x[..., i] / (k + alpha * s) ** beta
    return out


def _lrn_torch(x, size, alpha, beta, k):
    """PyTorch's formula: pad size//2 before, (size-1)//2 after, *average* the squares."""
    x = np.asarray(x, np.float64)
    sq = np.pad(x ** 2, [(0, 0)] * (x.ndim - 1) + [(size // 2, (size - 1) // 2)])
    avg = np.stack([sq[..., i:i + size].sum(-1) for i in range(x.shape[-1])], -1) / size
    return x / (k + alpha * avg) ** beta


def test_lrn_golden_values_by_hand():
    x = jnp.array([[1.0, 2.0, 3.0]])                 # one pixel, 3 channels
    y, state = nn.LocalResponseNorm(size=3, alpha=1.0, beta=1.0, k=1.0).apply({}, {}, x)
    # windows: {0, 1} -> 1 + 4 = 5;  {0, 1, 2} -> 14;  {1, 2} -> 13
    np.testing.assert_allclose(y, [[1 / 6, 2 / 15, 3 / 14]], rtol=1e-6)
    assert state == {}


@pytest.mark.parametrize("size", [1, 4, 5])
def test_lrn_matches_paper_formula(size):
    x = _normal((2, 3, 4, 9), scale=3.0)
    layer = nn.LocalResponseNorm(size=size, alpha=1e-2, beta=0.75, k=2.0)
    shape, params, state = layer.init(jax.random.key(0), x.shape)
    y = _run(layer, params, x)
    np.testing.assert_allclose(y, _lrn_paper(x, size, 1e-2, 0.75, 2.0), rtol=1e-5, atol=1e-6)
    assert shape == y.shape and params == {} and state == {}


@pytest.mark.parametrize("size", [4, 5])
def test_lrn_pytorch_convention_is_alpha_over_size(size):
    x = _normal((2, 3, 3, 8), scale=3.0)
    y = _run(nn.LocalResponseNorm(size, alpha=0.05 / size, beta=0.75, k=1.0), {}, x)
    np.testing.assert_allclose(y, _lrn_torch(x, size, 0.05, 0.75, 1.0), rtol=1e-5, atol=1e-6)


def test_lrn_alexnet_defaults_and_gradients():
    x = _normal((1, 2, 2, 6))
    y = _run(nn.LocalResponseNorm(), {}, x)          # n=5, alpha=1e-4, beta=0.75, k=2
    np.testing.assert_allclose(y, _lrn_paper(x, 5, 1e-4, 0.75, 2.0), rtol=1e-6)
    layer = nn.LocalResponseNorm(3, 0.1)
    check_grads(jax.jit(lambda x: layer.apply({}, {}, x)[0]), (x,), order=1, modes=("rev",))


def test_lrn_errors(key):
    with pytest.raises(ValueError, match="size to be a positive int, got 0"):
        nn.LocalResponseNorm(size=0)
    with pytest.raises(ValueError, match="k >= 0 and alpha >= 0"):
        nn.LocalResponseNorm(alpha=-1.0)
    with pytest.raises(ValueError, match=r"LocalResponseNorm: expected an input of rank >= 2"):
        nn.LocalResponseNorm().init(key, (5,))


# ------------------------------------------------------------------------- ConvTranspose
def _flax_params(params):
    return {"params": {"kernel": params["w"], "bias": params["b"]}}


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("padding", ["SAME", "VALID", ((1, 2), (0, 1))])
@pytest.mark.parametrize("kernel", [(3, 2), (4, 4)])
def test_conv_transpose_matches_flax(stride, padding, kernel):
    x = _normal((2, 5, 6, 3))
    layer = nn.ConvTranspose(4, kernel, stride, padding)
    shape, abstract, state = _init(layer, x.shape)
    assert abstract["w"].shape == (*kernel, 3, 4) and abstract["b"].shape == (4,) and state == {}
    params = {"w": _normal((*kernel, 3, 4), seed=1), "b": jnp.arange(4.0)}
    y = _run(layer, params, x)
    ref_layer = fnn.ConvTranspose(4, kernel, strides=(stride, stride),
                                  padding=padding if isinstance(padding, str) else list(padding))
    assert ref_layer.transpose_kernel is False       # flax's default: kernel (kh, kw, in, out)
    ref = jax.jit(ref_layer.apply)(_flax_params(params), x)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    assert shape == y.shape                          # init's arithmetic agrees with the output


def test_conv_transpose_output_sizes_by_hand():
    def out(pad, k, s, h=5):
        return _init(nn.ConvTranspose(1, k, s, pad), (1, h, h, 1))[0][1]

    assert out("SAME", 3, 2) == 10 and out("SAME", 4, 3) == 15       # H * s
    assert out("VALID", 3, 2) == 11 and out("VALID", 2, 3) == 15     # H * s + max(k - s, 0)
    assert out(((1, 1), (1, 1)), 4, 2) == 8                          # (H-1)s + 1 + 2 - k + 1
    assert out(((2, 2), (2, 2)), 4, 2) == 10                         # PyTorch k=4, s=2, p=1


def _scatter_transpose(x, w_torch, s, p):
    """PyTorch's ConvTranspose2d by its definition: input pixel (i, j) adds x[i, j] * w[:, :, u, v]
    to output pixel (s*i + u - p, s*j + v - p). x: (H, W, C_in); w_torch: (C_in, C_out, k, k)."""
    h, w, _ = x.shape
    _, c_out, k, _ = w_torch.shape
    full = np.zeros(((h - 1) * s + k, (w - 1) * s + k, c_out))
    for i in range(h):
        for j in range(w):
            for u in range(k):
                for v in range(k):
                    full[s * i + u, s * j + v] += x[i, j] @ w_torch[:, :, u, v]
    return full[p:full.shape[0] - p, p:full.shape[1] - p]


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 0), (2, 1), (3, 1)])
def test_conv_transpose_matches_scatter_definition_pytorch_layout(stride, padding):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3, 2))
    w_torch = rng.normal(size=(2, 5, 4, 4))          # (C_in, C_out, kh, kw)
    k = 4
    layer = nn.ConvTranspose(5, k, stride, ((k - 1 - padding,) * 2,) * 2, use_bias=False)
    w = nn.flip_kernel(jnp.asarray(w_torch.transpose(2, 3, 0, 1), jnp.float32))
    y = _run(layer, {"w": w}, jnp.asarray(x[None], jnp.float32))
    ref = _scatter_transpose(x, w_torch, stride, padding)
    np.testing.assert_allclose(y[0], ref, rtol=1e-4, atol=1e-4)
    assert _init(layer, (1, 4, 3, 2))[0] == y.shape


def test_conv_transpose_is_the_gradient_of_a_strided_conv():
    """d/dx <Conv_w(x), g> = ConvTranspose with flip_kernel(w), input/output axes swapped."""
    conv = nn.Conv(5, 3, stride=2, padding="VALID", use_bias=False)
    x, w, g = _normal((1, 9, 9, 2)), _normal((3, 3, 2, 5), 1), _normal((1, 4, 4, 5), 2)  # 9 -> 4
    grad_x = jax.jit(lambda x, g: jax.vjp(lambda x: conv.apply({"w": w}, {}, x)[0], x)[1](g)[0])
    w_t = jnp.swapaxes(nn.flip_kernel(w), 2, 3)
    gx = _run(nn.ConvTranspose(2, 3, 2, "VALID", use_bias=False), {"w": w_t}, g)
    np.testing.assert_allclose(gx, grad_x(x, g), rtol=1e-5, atol=1e-5)


def test_conv_transpose_gradients():
    layer = nn.ConvTranspose(2, 3, 2)
    params, x = {"w": _normal((3, 3, 2, 2)), "b": _normal((2,), 1)}, _normal((1, 3, 3, 2), 2)
    check_grads(jax.jit(lambda p, x: layer.apply(p, {}, x)[0]), (params, x), order=1,
                modes=("rev",))


def test_conv_transpose_errors(key):
    with pytest.raises(ValueError, match="ConvTranspose: expected padding 'SAME', 'VALID'"):
        nn.ConvTranspose(4, 3, padding="FULL")
    with pytest.raises(ValueError, match="ConvTranspose: expected padding"):
        nn.ConvTranspose(4, 3, padding=1)
    with pytest.raises(ValueError, match="features to be a positive int, got 0"):
        nn.ConvTranspose(0, 3)
    with pytest.raises(ValueError, match="kernel_size"):
        nn.ConvTranspose(4, (3, 3, 3))
    with pytest.raises(ValueError, match=r"ConvTranspose: expected an input of rank 4"):
        nn.ConvTranspose(4, 3).init(key, (2, 8, 3))
    with pytest.raises(ValueError, match="empty output"):
        nn.ConvTranspose(4, 5, padding=((0, 0), (0, 0))).init(key, (1, 2, 2, 1))


# ------------------------------------------------- convolution versus cross-correlation
@pytest.mark.parametrize("mode", ["full", "valid", "same"])
@pytest.mark.parametrize("kshape", [(3, 3), (2, 4), (4, 3)])
def test_true_convolve2d_matches_scipy(mode, kshape):
    rng = np.random.default_rng(1)
    x, k = rng.normal(size=(7, 8)), rng.normal(size=kshape)
    y = nn.true_convolve2d(jnp.asarray(x, jnp.float32), jnp.asarray(k, jnp.float32), mode)
    np.testing.assert_allclose(y, signal.convolve2d(x, k, mode), rtol=1e-5, atol=1e-5)


def test_conv_layer_is_cross_correlation_and_flip_makes_it_convolution():
    rng = np.random.default_rng(2)
    x, k = rng.normal(size=(6, 7)), rng.normal(size=(3, 2))   # asymmetric: the flip matters
    conv = nn.Conv(1, (3, 2), padding="VALID", use_bias=False)
    x4 = jnp.asarray(x, jnp.float32)[None, :, :, None]
    as_weights = lambda w: {"w": jnp.asarray(w, jnp.float32)[:, :, None, None]}  # noqa: E731
    corr = _run(conv, as_weights(k), x4)
    true = _run(conv, as_weights(nn.flip_kernel(jnp.asarray(k))), x4)
    np.testing.assert_allclose(corr[0, :, :, 0], signal.correlate2d(x, k, "valid"), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(true[0, :, :, 0], signal.convolve2d(x, k, "valid"), rtol=1e-5,
                               atol=1e-5)
    assert not np.allclose(corr, true)
    k32 = jnp.asarray(k, jnp.float32)
    np.testing.assert_array_equal(nn.flip_kernel(nn.flip_kernel(k32)), k32)
    np.testing.assert_array_equal(nn.flip_kernel(jnp.arange(4).reshape(2, 2)), [[3, 2], [1, 0]])


def test_true_convolve2d_errors():
    with pytest.raises(ValueError, match="expected mode in"):
        nn.true_convolve2d(jnp.ones((3, 3)), jnp.ones((2, 2)), "circular")
    with pytest.raises(ValueError, match=r"expected 2-D x and kernel, got shapes \(1, 3, 3\)"):
        nn.true_convolve2d(jnp.ones((1, 3, 3)), jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="no larger than x"):
        nn.true_convolve2d(jnp.ones((2, 2)), jnp.ones((3, 3)), "valid")
    with pytest.raises(ValueError, match="at least 2"):
        nn.flip_kernel(jnp.ones(3))
