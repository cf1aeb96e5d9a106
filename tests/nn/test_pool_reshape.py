"""Pooling against lax.reduce_window / flax.linen pooling and hand computations; Flatten, Reshape."""
import flax.linen as fnn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jdl import nn


def test_max_pool_hand_computed():
    x = jnp.array([[1, 2, 5, 6], [3, 4, 7, 8], [9, 10, 13, 14], [11, 12, 15, 16.0]])[None, :, :, None]
    y, _ = nn.MaxPool(2).apply({}, {}, x)
    np.testing.assert_array_equal(y[0, :, :, 0], [[4, 8], [12, 16]])
    a, _ = nn.AvgPool(2).apply({}, {}, x)
    np.testing.assert_array_equal(a[0, :, :, 0], [[2.5, 6.5], [10.5, 14.5]])


@pytest.mark.parametrize("window,stride,padding,size", [
    (2, None, "VALID", 8), (2, None, "VALID", 7), (3, 2, "VALID", 9), (3, 2, "SAME", 9),
    (2, None, "SAME", 7), (3, 1, "SAME", 6), ((2, 3), (2, 3), "VALID", 9)])
def test_pools_match_flax(key, window, stride, padding, size):
    x = jax.random.normal(key, (2, size, size + 1, 3))
    win = window if isinstance(window, tuple) else (window, window)
    strides = win if stride is None else (stride if isinstance(stride, tuple) else (stride, stride))
    for layer, ref_fn in ((nn.MaxPool(window, stride, padding), fnn.max_pool),
                          (nn.AvgPool(window, stride, padding), fnn.avg_pool)):
        shape, _, _ = layer.init(key, x.shape)
        y, _ = layer.apply({}, {}, x)
        kwargs = {"count_include_pad": False} if ref_fn is fnn.avg_pool else {}
        ref = ref_fn(x, win, strides, padding, **kwargs)
        np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-6)
        assert shape == y.shape


def test_max_pool_fast_path_gradient_is_a_subgradient(key):
    """Away from ties, the reshape path's gradient equals select-and-scatter's."""
    x = jax.random.normal(key, (2, 6, 6, 3))
    loss = lambda x: jnp.sum(nn.MaxPool(2).apply({}, {}, x)[0] ** 2)  # noqa: E731
    ref = lambda x: jnp.sum(fnn.max_pool(x, (2, 2), (2, 2)) ** 2)  # noqa: E731
    np.testing.assert_allclose(jax.grad(loss)(x), jax.grad(ref)(x), rtol=1e-6)


def test_max_pool_block_gradients_match_flax(key):
    """conv-BN-ReLU-pool: parameter and input gradients against flax.linen (first-max rule) with
    copied parameters; away from exact ties the two rules agree."""
    x = jax.random.normal(key, (4, 12, 12, 3))
    block = nn.serial(nn.Conv(8, 3, use_bias=False), nn.BatchNorm(), nn.Relu(), nn.MaxPool(2))
    _, params, state = block.init(jax.random.fold_in(key, 1), x.shape)
    w = params["conv_0"]["w"]

    class Ref(fnn.Module):
        @fnn.compact
        def __call__(self, x):
            x = fnn.Conv(8, (3, 3), padding="SAME", use_bias=False)(x)
            x = fnn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5)(x)
            return fnn.max_pool(jax.nn.relu(x), (2, 2), (2, 2))

    ref = Ref()
    variables = ref.init(key, x)
    bn = {"scale": params["batch_norm_0"]["scale"], "bias": params["batch_norm_0"]["bias"]}
    ours = lambda w, x: jnp.sum(jnp.tanh(block.apply(  # noqa: E731
        {**params, "conv_0": {"w": w}}, state, x, train=True)[0]))
    theirs = lambda w, x: jnp.sum(jnp.tanh(ref.apply(  # noqa: E731
        {"params": {"BatchNorm_0": bn, "Conv_0": {"kernel": w}}, "batch_stats": variables["batch_stats"]},
        x, mutable=["batch_stats"])[0]))
    np.testing.assert_allclose(ours(w, x), theirs(w, x), rtol=1e-5)
    for mine, ref_grad in zip(jax.grad(ours, (0, 1))(w, x), jax.grad(theirs, (0, 1))(w, x)):
        np.testing.assert_allclose(mine, ref_grad, rtol=1e-5, atol=1e-5)


def test_max_pool_integer_input_keeps_plain_max():
    x = jnp.arange(32, dtype=jnp.int32).reshape(1, 4, 4, 2)
    y, _ = nn.MaxPool(2).apply({}, {}, x)
    assert y.dtype == jnp.int32
    np.testing.assert_array_equal(y[0, :, :, 0], [[10, 14], [26, 30]])


def test_global_avg_pool_flatten_reshape(key):
    x = jax.random.normal(key, (2, 4, 5, 3))
    y, _ = nn.GlobalAvgPool().apply({}, {}, x)
    np.testing.assert_allclose(y, x.mean(axis=(1, 2)), rtol=1e-6)
    assert nn.GlobalAvgPool().init(key, x.shape)[0] == (2, 3)
    assert nn.Flatten().init(key, x.shape)[0] == (2, 60)
    np.testing.assert_array_equal(nn.Flatten().apply({}, {}, x)[0], x.reshape(2, 60))
    layer = nn.Reshape((-1, 3))
    assert layer.init(key, x.shape)[0] == (2, 20, 3)
    np.testing.assert_array_equal(layer.apply({}, {}, x)[0], x.reshape(2, 20, 3))
    with pytest.raises(ValueError, match="Reshape: expected 7 values per example"):
        nn.Reshape((7,)).init(key, x.shape)
    with pytest.raises(ValueError, match="MaxPool: expected an input of rank 4"):
        nn.MaxPool(2).init(key, (2, 8, 8))


def test_overlapping_pools_differentiate_under_jit(key):
    """reduce_window's init value must be a Python scalar for jit(grad) (AlexNet's 3x3/2 pools)."""
    x = jax.random.normal(key, (2, 7, 7, 3))
    for layer, ref in ((nn.MaxPool(3, 2), lambda x: fnn.max_pool(x, (3, 3), (2, 2))),
                       (nn.AvgPool(3, 2, "SAME"), lambda x: fnn.avg_pool(x, (3, 3), (2, 2), "SAME",
                                                                         count_include_pad=False))):
        g = jax.jit(jax.grad(lambda x: jnp.sum(layer.apply({}, {}, x)[0] ** 2)))(x)
        np.testing.assert_allclose(g, jax.grad(lambda x: jnp.sum(ref(x) ** 2))(x), rtol=1e-5, atol=1e-6)
