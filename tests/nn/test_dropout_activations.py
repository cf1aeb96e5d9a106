"""Dropout semantics and the activation layers against jax.nn."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jdl import nn


def test_dropout_train_eval_and_keys(key):
    layer = nn.Dropout(0.3)
    x = jnp.ones((200, 100))
    y_eval, _ = layer.apply({}, {}, x, train=False)
    assert y_eval is x  # identity at evaluation
    y1, _ = layer.apply({}, {}, x, key=jax.random.key(1), train=True)
    y2, _ = layer.apply({}, {}, x, key=jax.random.key(2), train=True)
    y1b, _ = layer.apply({}, {}, x, key=jax.random.key(1), train=True)
    assert not np.array_equal(y1 == 0, y2 == 0)      # different keys, different masks
    np.testing.assert_array_equal(y1, y1b)           # same key, same mask
    drop = float(jnp.mean(y1 == 0))
    assert abs(drop - 0.3) < 0.02                    # 20,000 draws: std 0.0032
    np.testing.assert_allclose(np.unique(y1), [0.0, 1 / 0.7], rtol=1e-6)  # inverted scaling
    assert abs(float(jnp.mean(y1)) - 1.0) < 0.03     # expectation preserved


def test_non_inverted_dropout_scales_at_test_time():
    """The decks' original form: mask without rescaling in training, times (1 - rate) at test."""
    layer = nn.Dropout(0.25, inverted=False)
    x = jnp.full((50, 40), 2.0)
    y_train, _ = layer.apply({}, {}, x, key=jax.random.key(3), train=True)
    np.testing.assert_allclose(np.unique(y_train), [0.0, 2.0])
    y_eval, _ = layer.apply({}, {}, x, train=False)
    np.testing.assert_allclose(y_eval, 1.5)          # 2.0 * keep probability 0.75
    inverted, _ = nn.Dropout(0.25).apply({}, {}, x, key=jax.random.key(3), train=True)
    # same key, same mask; only where the factor 1 / 0.75 sits differs
    np.testing.assert_allclose(inverted * 0.75, y_train, rtol=1e-6)


def test_dropout_errors():
    with pytest.raises(ValueError, match=r"Dropout: train=True needs a random key.*key=jax.random.key"):
        nn.Dropout(0.5).apply({}, {}, jnp.ones((2, 2)), train=True)
    with pytest.raises(ValueError, match=r"rate .* in \[0, 1\), got 1.5"):
        nn.Dropout(1.5)


@pytest.mark.parametrize("layer,ref", [
    (nn.Sigmoid(), jax.nn.sigmoid), (nn.Tanh(), jnp.tanh), (nn.Relu(), jax.nn.relu),
    (nn.LeakyRelu(0.01), lambda x: jnp.where(x >= 0, x, 0.01 * x)), (nn.AbsRelu(), jnp.abs),
    (nn.Elu(), jax.nn.elu), (nn.HardTanh(), lambda x: jnp.clip(x, -1, 1)),
    (nn.Softmax(), jax.nn.softmax), (nn.LogSoftmax(), jax.nn.log_softmax),
    (nn.Step(), lambda x: (x > 0).astype(jnp.float32)), (nn.Identity(), lambda x: x)])
def test_activation_layers(key, layer, ref):
    x = 3 * jax.random.normal(key, (4, 6))
    shape, params, state = layer.init(key, x.shape)
    y, _ = layer.apply(params, state, x)
    np.testing.assert_allclose(y, ref(x), rtol=1e-6, atol=1e-6)
    assert shape == x.shape and params == {} and state == {}


def test_prelu_learns_its_slope(key):
    layer = nn.PReLU(0.25)
    _, params, _ = layer.init(key, (3, 2))
    x = jnp.array([[-2.0, 1.0], [3.0, -4.0], [0.5, -1.0]])
    y, _ = layer.apply(params, {}, x)
    np.testing.assert_allclose(y, [[-0.5, 1.0], [3.0, -1.0], [0.5, -0.25]])
    grad = jax.grad(lambda p: jnp.sum(layer.apply(p, {}, x)[0]))(params)
    np.testing.assert_allclose(grad["alpha"], -2.0 - 4.0 - 1.0)  # d/d alpha = sum of x < 0
    assert nn.PReLU(per_channel=True).init(key, (3, 5))[1]["alpha"].shape == (5,)


def test_activation_layer_lookup():
    assert nn.activation_layer("relu").kind == "relu"
    with pytest.raises(ValueError, match="activation: expected one of"):
        nn.activation_layer("swishy")
