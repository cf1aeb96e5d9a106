"""Embedding: the lookup against flax.linen.Embed and a one-hot product, the ids checked, and the
padding turned into lengths."""
import flax.linen as fnn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jdl import nn


def test_lookup_matches_flax_and_one_hot_product():
    layer = nn.Embedding(10, 4)
    ids = jnp.array([[1, 2, 9], [0, 0, 5]])
    shape, params, state = layer.init(jax.random.key(0), ids.shape)
    y, _ = layer.apply(params, state, ids)
    assert shape == y.shape == (2, 3, 4) and params["table"].shape == (10, 4) and state == {}
    ref = fnn.Embed(10, 4).apply({"params": {"embedding": params["table"]}}, ids)
    np.testing.assert_allclose(y, ref)
    np.testing.assert_allclose(y, jax.nn.one_hot(ids, 10) @ params["table"], rtol=1e-6, atol=1e-6)
    assert abs(float(params["table"].std()) - 1.0) < 0.3  # N(0, 1)


@pytest.mark.parametrize("ids,match", [
    ([[1, -1]], r"Embedding: x: expected ids in \[0, vocab_size=10\), got min -1 and max 1"),
    ([[3, 10]], r"Embedding: x: expected ids in \[0, vocab_size=10\), got min 3 and max 10"),
])
def test_ids_out_of_range(ids, match):
    layer = nn.Embedding(10, 4)
    _, params, _ = layer.init(jax.random.key(0), (1, 2))
    with pytest.raises(ValueError, match=match):
        layer.apply(params, {}, jnp.array(ids))
    concrete = jnp.array(ids)
    with pytest.raises(ValueError, match=match):  # a concrete array closed over in a jit
        jax.jit(lambda p: layer.apply(p, {}, concrete)[0])(params)
    y = jax.jit(lambda p, i: layer.apply(p, {}, i)[0])(params, jnp.array(ids))
    assert np.isnan(y).any()  # traced ids cannot be checked: their rows come out NaN


def test_float_ids_and_bad_arguments():
    layer = nn.Embedding(10, 4)
    _, params, _ = layer.init(jax.random.key(0), (1, 2))
    with pytest.raises(TypeError, match="Embedding: x: expected integer ids, got dtype float32"):
        layer.apply(params, {}, jnp.array([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="expected vocab_size to be a positive int, got 0"):
        nn.Embedding(0, 4)
    with pytest.raises(ValueError, match="expected features to be a positive int, got -1"):
        nn.Embedding(10, -1)
    with pytest.raises(ValueError, match=r"padding_id to be None or an int in \[0, vocab_size=10\)"):
        nn.Embedding(10, 4, padding_id=10)
    with pytest.raises(ValueError, match=r"Embedding: expected an input of rank 2 \(batch, time\)"):
        nn.Embedding(10, 4, padding_id=0).init(jax.random.key(0), (2, 3, 1))


def test_padding_id_gives_the_pair_with_lengths():
    ids = jnp.array([[5, 2, 0, 0], [0, 7, 1, 0], [3, 3, 3, 3], [0, 0, 0, 0]])
    np.testing.assert_array_equal(nn.lengths_from_padding(ids, 0), [2, 3, 4, 0])
    layer = nn.Embedding(8, 3, padding_id=0)
    shape, params, _ = layer.init(jax.random.key(0), ids.shape)
    (y, lengths), _ = layer.apply(params, {}, ids)
    assert shape == y.shape == (4, 4, 3)
    np.testing.assert_array_equal(lengths, [2, 3, 4, 0])
    np.testing.assert_allclose(y[0, 2], params["table"][0])  # the padding row is a row
    given = jnp.array([1, 1, 1, 1])
    (_, passed), _ = layer.apply(params, {}, (ids, given))  # given lengths win
    np.testing.assert_array_equal(passed, given)
    plain, _ = nn.Embedding(8, 3).apply(params, {}, ids)  # without padding_id: an array
    np.testing.assert_allclose(plain, y)
    tokens, _ = nn.Embedding(8, 3).apply(params, {}, ids[:, 0])  # one step of ids (batch,)
    np.testing.assert_allclose(tokens, y[:, 0])


def test_padding_row_gets_no_gradient_behind_a_masking_rnn():
    model = nn.serial(nn.Embedding(6, 3, padding_id=0), nn.RNN(nn.GRUCell(4)))
    _, params, _ = model.init(jax.random.key(0), (2, 4))
    ids = jnp.array([[5, 2, 0, 0], [1, 4, 3, 0]])
    grads = jax.grad(lambda p: model.apply(p, {}, ids)[0].sum())(params)
    table = grads["embedding_0"]["table"]
    np.testing.assert_array_equal(table[0], 0.0)
    assert np.all(np.abs(table[1:]).sum(axis=1) > 0)
