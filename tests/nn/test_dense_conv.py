"""Dense and Conv against flax.linen with the same parameters, hand computations and lax/scipy."""
import flax.linen as fnn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy import signal

from jdl import nn


def test_dense_matches_flax_and_declared_shape(key):
    layer = nn.Dense(7)
    x = jax.random.normal(key, (5, 3))
    shape, params, state = layer.init(key, x.shape)
    y, new_state = layer.apply(params, state, x)
    ref = fnn.Dense(7).apply({"params": {"kernel": params["w"], "bias": params["b"]}}, x)
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-6)
    assert shape == y.shape == (5, 7) and state == {} and new_state == {}
    assert params["w"].shape == (3, 7) and np.all(params["b"] == 0)


def test_dense_hand_computed_and_rank3():
    params = {"w": jnp.arange(6.0).reshape(3, 2), "b": jnp.array([1.0, -1.0])}
    x = jnp.array([[1.0, 2.0, 3.0]])
    y, _ = nn.Dense(2).apply(params, {}, x)
    np.testing.assert_allclose(y, [[0 + 2 * 2 + 3 * 4 + 1, 1 + 2 * 3 + 3 * 5 - 1]])
    shape, _, _ = nn.Dense(4).init(jax.random.key(0), (2, 5, 3))  # acts on the last axis
    assert shape == (2, 5, 4)


def test_dense_gradients(key):
    layer = nn.Dense(3)
    _, params, _ = layer.init(key, (2, 4))
    x = jax.random.normal(key, (2, 4))
    check_grads(lambda p, x: layer.apply(p, {}, x)[0], (params, x), order=2, modes=("rev",))


def test_dense_wrong_rank_names_layer_and_shapes(key):
    with pytest.raises(ValueError, match=r"Dense: expected an input of rank >= 2.*got shape \(784,\)"):
        nn.Dense(10).init(key, (784,))
    with pytest.raises(ValueError, match="features"):
        nn.Dense(0)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("padding", ["SAME", "VALID", 1, ((1, 0), (2, 1))])
@pytest.mark.parametrize("dilation", [1, 2])
def test_conv_matches_flax(key, stride, padding, dilation):
    x = jax.random.normal(key, (2, 9, 8, 3))
    layer = nn.Conv(4, (3, 2), stride=stride, padding=padding, dilation=dilation)
    shape, params, _ = layer.init(key, x.shape)
    y, _ = layer.apply(params, {}, x)
    flax_padding = padding if isinstance(padding, (str, tuple)) else [(padding, padding)] * 2
    ref = fnn.Conv(4, (3, 2), strides=stride, padding=flax_padding, kernel_dilation=dilation).apply(
        {"params": {"kernel": params["w"], "bias": params["b"]}}, x)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    assert shape == y.shape  # init's shape arithmetic agrees with the real output


def test_conv_grouped_matches_flax(key):
    x = jax.random.normal(key, (1, 6, 6, 4))
    layer = nn.Conv(6, 3, groups=2)
    _, params, _ = layer.init(key, x.shape)
    assert params["w"].shape == (3, 3, 2, 6)
    ref = fnn.Conv(6, (3, 3), feature_group_count=2).apply(
        {"params": {"kernel": params["w"], "bias": params["b"]}}, x)
    np.testing.assert_allclose(layer.apply(params, {}, x)[0], ref, rtol=1e-5, atol=1e-5)


def test_conv_is_cross_correlation_against_scipy(key):
    x = jax.random.normal(key, (1, 7, 7, 1))
    w = jax.random.normal(jax.random.key(1), (3, 3, 1, 1))
    y, _ = nn.Conv(1, 3, padding="VALID", use_bias=False).apply({"w": w}, {}, x)
    ref = signal.correlate2d(np.asarray(x[0, :, :, 0]), np.asarray(w[:, :, 0, 0]), mode="valid")
    np.testing.assert_allclose(y[0, :, :, 0], ref, rtol=1e-5, atol=1e-5)


def test_conv_gradients(key):
    layer = nn.Conv(2, 3, stride=2)
    _, params, _ = layer.init(key, (1, 5, 5, 2))
    x = jax.random.normal(key, (1, 5, 5, 2))
    check_grads(lambda p, x: layer.apply(p, {}, x)[0], (params, x), order=1, modes=("rev",),
                atol=1e-2, rtol=1e-2)


def test_conv_errors(key):
    with pytest.raises(ValueError, match=r"Conv: expected an input of rank 4.*got shape \(8, 28, 28\).*x\[\.\.\., None\]"):
        nn.Conv(4, 3).init(key, (8, 28, 28))
    with pytest.raises(ValueError, match=r"input channels \(=3\) must be divisible by groups \(=2\)"):
        nn.Conv(4, 3, groups=2).init(key, (1, 8, 8, 3))
    with pytest.raises(ValueError, match="too small"):
        nn.Conv(4, 5, padding="VALID").init(key, (1, 3, 3, 1))
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv(4, (3, 3, 3))
    with pytest.raises(ValueError, match="padding"):
        nn.Conv(4, 3, padding="FULL").init(key, (1, 8, 8, 1))
