"""BatchNorm and LayerNorm against flax.linen with the same parameters; running statistics by hand."""
import flax.linen as fnn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jdl import nn


@pytest.mark.parametrize("shape", [(16, 5), (4, 3, 3, 6)])
def test_batch_norm_train_and_eval_match_flax(key, shape):
    x = 3.0 + 2.0 * jax.random.normal(key, shape)
    layer = nn.BatchNorm(momentum=0.9, eps=1e-5)
    _, params, state = layer.init(key, shape)
    params = {"scale": jnp.linspace(0.5, 2.0, shape[-1]), "bias": jnp.linspace(-1, 1, shape[-1])}
    ref = fnn.BatchNorm(momentum=0.9, epsilon=1e-5)
    variables = {"params": params, "batch_stats": state}
    y, new_state = layer.apply(params, state, x, train=True)
    y_ref, updates = ref.apply(variables, x, use_running_average=False, mutable=["batch_stats"])
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(new_state["mean"], updates["batch_stats"]["mean"], rtol=1e-6)
    np.testing.assert_allclose(new_state["var"], updates["batch_stats"]["var"], rtol=1e-6)
    # eval uses the running statistics and leaves them unchanged
    y_eval, same_state = layer.apply(params, new_state, x, train=False)
    y_eval_ref = ref.apply({"params": params, "batch_stats": new_state}, x, use_running_average=True)
    np.testing.assert_allclose(y_eval, y_eval_ref, rtol=1e-5, atol=1e-5)
    assert same_state is new_state


def test_batch_norm_statistics_by_hand():
    x = jnp.array([[1.0], [3.0]])  # mean 2, biased variance 1
    layer = nn.BatchNorm(momentum=0.5, eps=0.0)
    _, params, state = layer.init(jax.random.key(0), x.shape)
    y, s = layer.apply(params, state, x, train=True)
    np.testing.assert_allclose(y[:, 0], [-1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(s["mean"], [0.5 * 0 + 0.5 * 2])
    np.testing.assert_allclose(s["var"], [0.5 * 1 + 0.5 * 1])
    assert layer.init(jax.random.key(0), (8, 4, 4, 3))[2]["mean"].shape == (3,)  # per channel


def test_batch_norm_axis_name_gives_global_statistics(key):
    x = jax.random.normal(key, (8, 4)) * jnp.arange(1.0, 5.0)[None]
    layer = nn.BatchNorm(axis_name="devices")
    _, params, state = layer.init(key, x.shape)
    full, full_state = nn.BatchNorm().apply(params, state, x, train=True)
    split = x.reshape(4, 2, 4)  # 4 "devices" of 2 rows each
    per, per_state = jax.vmap(lambda xs: layer.apply(params, state, xs, train=True),
                              axis_name="devices")(split)
    np.testing.assert_allclose(per.reshape(8, 4), full, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(per_state["mean"][0], full_state["mean"], rtol=1e-5, atol=1e-7)


def test_batch_norm_gradients(key):
    layer = nn.BatchNorm()
    _, params, state = layer.init(key, (6, 3))
    x = jax.random.normal(key, (6, 3))
    check_grads(lambda p, x: layer.apply(p, state, x, train=True)[0], (params, x), order=1,
                modes=("rev",), atol=1e-2, rtol=1e-2)


def test_layer_norm_matches_flax(key):
    x = jax.random.normal(key, (3, 4, 7)) * 5 + 1
    layer = nn.LayerNorm(eps=1e-5)
    shape, params, state = layer.init(key, x.shape)
    params = {"scale": jnp.linspace(0.5, 2.0, 7), "bias": jnp.linspace(-1, 1, 7)}
    ref = fnn.LayerNorm(epsilon=1e-5).apply({"params": params}, x)
    np.testing.assert_allclose(layer.apply(params, state, x)[0], ref, rtol=1e-5, atol=1e-5)
    assert shape == x.shape and state == {}
    check_grads(lambda p, x: layer.apply(p, {}, x)[0], (params, x), order=1, modes=("rev",),
                atol=1e-2, rtol=1e-2)
