"""Conv's filter gradient as matrix products: against flax.linen's Conv (XLA's own gradient) with
the same parameters, in reverse and forward mode, under vmap, and the compiled step's shape."""
import flax.linen as fnn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jdl import nn
from jdl.nn import _conv_grad


def flax_conv(layer_args, params, x):
    features, kernel, stride, padding, dilation = layer_args
    flax_padding = padding if isinstance(padding, (str, tuple)) else [(padding, padding)] * 2
    return fnn.Conv(features, kernel, strides=stride, padding=flax_padding,
                    kernel_dilation=dilation).apply(
        {"params": {"kernel": params["w"], "bias": params["b"]}}, x)


def loss_of(apply):
    """A scalar whose cotangent differs per output element, so no gradient term cancels."""
    def loss(params, x):
        y = apply(params, x)
        return jnp.sum(jnp.sin(y) * jnp.linspace(0.5, 1.5, y.size).reshape(y.shape))
    return loss


def assert_close(actual, reference):
    scale = float(jnp.max(jnp.abs(reference)))
    np.testing.assert_allclose(actual, reference, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("c_in, kernel, stride, padding, dilation", [
    (1, (3, 3), 1, "SAME", 1), (3, (3, 2), 2, "VALID", 1), (3, (3, 2), 1, ((1, 0), (2, 1)), 2),
    (16, (3, 3), 1, "SAME", 1), (16, (3, 3), 2, 1, 1), (16, (3, 3), 1, ((1, 0), (2, 1)), 2),
    (6, (5, 5), 2, "VALID", 1)])
def test_gradients_match_flax_linen(key, c_in, kernel, stride, padding, dilation):
    """Both paths (patches: kh*kw*C_in <= 64; one product per tap: above) give XLA's gradients
    for the filter, the bias and the input to 1e-5."""
    x = jax.random.normal(key, (4, 13, 12, c_in))
    layer = nn.Conv(5, kernel, stride=stride, padding=padding, dilation=dilation)
    _, params, _ = layer.init(jax.random.key(1), x.shape)
    ours = jax.jit(jax.grad(loss_of(lambda p, x: layer.apply(p, {}, x)[0]), (0, 1)))(params, x)
    args = (5, kernel, stride, padding, dilation)
    ref = jax.grad(loss_of(lambda p, x: flax_conv(args, p, x)), (0, 1))(params, x)
    assert_close(ours[0]["w"], ref[0]["w"])
    assert_close(ours[0]["b"], ref[0]["b"])
    assert_close(ours[1], ref[1])
    assert_close(layer.apply(params, {}, x)[0], flax_conv(args, params, x))


def test_forward_mode_and_hessian_vector_products_still_work(key):
    """A custom_jvp keeps jax.jvp and jacfwd: the tangent equals flax's at 1e-5."""
    x = jax.random.normal(key, (2, 8, 8, 4))
    layer = nn.Conv(3, 3)
    _, params, _ = layer.init(jax.random.key(1), x.shape)
    tangent = jax.tree.map(lambda a: jnp.ones_like(a) * 0.1, params)
    ours = jax.jvp(lambda p: layer.apply(p, {}, x)[0], (params,), (tangent,))[1]
    ref = jax.jvp(lambda p: flax_conv((3, (3, 3), 1, "SAME", 1), p, x), (params,), (tangent,))[1]
    assert_close(ours, ref)
    f = loss_of(lambda p, x: layer.apply(p, {}, x)[0])
    g = loss_of(lambda p, x: flax_conv((3, (3, 3), 1, "SAME", 1), p, x))
    hvp = jax.jvp(jax.grad(lambda w: f({**params, "w": w}, x)), (params["w"],), (tangent["w"],))[1]
    ref_hvp = jax.jvp(jax.grad(lambda w: g({**params, "w": w}, x)), (params["w"],), (tangent["w"],))[1]
    assert_close(hvp, ref_hvp)


def test_per_example_gradients_under_vmap(key):
    x = jax.random.normal(key, (3, 6, 6, 8))
    layer = nn.Conv(4, 3)
    _, params, _ = layer.init(jax.random.key(1), (1, 6, 6, 8))
    per_example = jax.vmap(jax.grad(lambda p, xi: jnp.sum(layer.apply(p, {}, xi[None])[0] ** 2)),
                           (None, 0))(params, x)
    for i in range(3):
        ref = jax.grad(lambda p: jnp.sum(flax_conv((4, (3, 3), 1, "SAME", 1), p, x[i:i + 1]) ** 2))(params)
        assert_close(per_example["w"][i], ref["w"])


def test_cpu_filter_gradient_is_products_not_a_second_convolution(key):
    """On the CPU the compiled gradient holds the forward convolution and the filter gradient's
    dot products, and no convolution for the filter gradient (XLA's version has two)."""
    x = jax.random.normal(key, (8, 14, 14, 32))
    w = jax.random.normal(key, (3, 3, 32, 16))
    pads = ((1, 1), (1, 1))

    def compiled(conv):
        grad = jax.jit(jax.grad(lambda w: jnp.sum(conv(x, w, (1, 1), pads, (1, 1)) ** 2)))
        return grad.lower(w).compile().as_text()

    ours, xla = compiled(_conv_grad.conv2d), compiled(_conv_grad._xla_conv)
    assert xla.count(" convolution(") == 2
    assert ours.count(" convolution(") == 1 and " dot(" in ours


@pytest.mark.parametrize("positions, parts", [(128 * 14 * 14, 8), (12, 4), (6, 2), (7, 1), (16, 8)])
def test_contraction_parts_is_a_power_of_two_dividing_the_positions(positions, parts):
    assert _conv_grad.contraction_parts(positions) == parts


def test_xla_filter_gradient_on_request_and_bad_values_named(key):
    x = jax.random.normal(key, (2, 8, 8, 16))
    auto, xla = nn.Conv(4, 3), nn.Conv(4, 3, filter_gradient="xla")
    _, params, _ = auto.init(jax.random.key(1), x.shape)
    grads = [jax.grad(loss_of(lambda p, x: layer.apply(p, {}, x)[0]))(params, x) for layer in (auto, xla)]
    assert_close(grads[0]["w"], grads[1]["w"])
    with pytest.raises(ValueError, match=r"Conv: expected filter_gradient 'auto' or 'xla', got 'fast'"):
        nn.Conv(4, 3, filter_gradient="fast")
    with pytest.raises(ValueError, match=r"conv2d: expected filter_gradient"):
        nn.conv2d(x, params["w"], (1, 1), ((1, 1), (1, 1)), (1, 1), filter_gradient=None)
