"""Populations: member i of a vmapped population equals the lone run with the same seed and lr."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jdl import losses, models, train


def data(key, n=64):
    x = jax.random.normal(key, (n, 6))
    y = (x[:, 0] + x[:, 1] > 0).astype(jnp.int32)
    return x, y


def test_member_equals_lone_run():
    model = models.mlp([16, 2], dropout=0.2)  # dropout: members must use their own keys
    optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)
    keys = jax.random.split(jax.random.key(0), 4)
    lrs = jnp.array([1e-3, 3e-3, 1e-2, 3e-2])
    raw = train.make_train_step(model, optimizer, losses.softmax_cross_entropy, jit=False)
    pop = train.init_population(model, optimizer, keys, (1, 6), hyperparams={"learning_rate": lrs})
    step = train.make_population_step(raw)
    x, y = data(jax.random.key(1))
    for i in range(3):
        pop, logs = step(pop, (x[i * 16:(i + 1) * 16], y[i * 16:(i + 1) * 16]))
    assert logs["loss"].shape == (4,)
    lone_step = jax.jit(raw)
    for m in (0, 3):
        ts = train.init_train_state(model, optimizer, keys[m], (1, 6))
        ts.opt_state.hyperparams["learning_rate"] = lrs[m]
        for i in range(3):
            ts, _ = lone_step(ts, (x[i * 16:(i + 1) * 16], y[i * 16:(i + 1) * 16]))
        got = train.member(pop, m)
        for a, b in zip(jax.tree.leaves(got.params), jax.tree.leaves(ts.params)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # different learning rates really differ
    assert not np.allclose(pop.params["dense_0"]["w"][0], pop.params["dense_0"]["w"][3])


def test_ensemble_predict_is_mean_of_member_softmax():
    model = models.mlp([4, 3])
    pop = train.init_population(model, optax.sgd(0.1), jax.random.split(jax.random.key(0), 3), (1, 5))
    x = jax.random.normal(jax.random.key(2), (7, 5))
    probs = [jax.nn.softmax(model.apply(train.member(pop, i).params, {}, x)[0]) for i in range(3)]
    np.testing.assert_allclose(train.ensemble_predict(model, pop, x), sum(probs) / 3, rtol=1e-5, atol=1e-7)


def test_population_errors():
    model = models.mlp([2])
    keys = jax.random.split(jax.random.key(0), 2)
    with pytest.raises(ValueError, match="inject_hyperparams"):
        train.init_population(model, optax.sgd(0.1), keys, (1, 3), hyperparams={"learning_rate": [0.1, 0.2]})
    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    with pytest.raises(ValueError, match=r"expected shape \(2,\)"):
        train.init_population(model, opt, keys, (1, 3), hyperparams={"learning_rate": [0.1, 0.2, 0.3]})
