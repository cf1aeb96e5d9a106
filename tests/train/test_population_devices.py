"""Populations spread over devices (`shard_population`, `fit_population(devices=...)`) against
the same population on one device, with batch norm and dropout in the model, on the 8
simulated CPU devices of conftest.py. Every multi-device loop here waits for each call."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jdl import losses, metrics, models, nn, train

pytestmark = pytest.mark.timeout(240)

FEATURES, MEMBERS = 6, 8


def bn_dropout_model():
    # no bias before batch norm: its gradient is zero up to rounding, which Adam would
    # normalise into full-size steps of arbitrary sign (different on every backend)
    return nn.serial(nn.Dense(8, use_bias=False), nn.BatchNorm(), nn.Relu(), nn.Dropout(0.2), nn.Dense(2))


def problem(n=64):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n + 32, FEATURES)).astype(np.float32)
    y = (x[:, 0] + x[:, 2] > 0).astype(np.int32)
    return (x[:n], y[:n]), (x[n:], y[n:])


def population(model, optimizer, low=0.01, high=0.3):
    lrs = np.geomspace(low, high, MEMBERS).astype(np.float32)
    return train.init_population(model, optimizer, jax.random.split(jax.random.key(5), MEMBERS),
                                 (1, FEATURES), hyperparams={"learning_rate": lrs})


def assert_trees_close(a, b):
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=0, atol=1e-6)


def adam_population_step():
    model = bn_dropout_model()
    optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)
    plain = train.make_train_step(model, optimizer, losses.softmax_cross_entropy, jit=False)
    return model, optimizer, train.make_population_step(plain)


def three_steps(step, pop):
    (x, y), _ = problem()
    for s in range(3):
        pop, logs = step(pop, (x[16 * s:16 * (s + 1)], y[16 * s:16 * (s + 1)]))
        jax.block_until_ready(logs)
    return pop, logs


@pytest.fixture(scope="module")
def sharding_case():
    """One population step program and the one-device result of three steps, shared by the
    device counts below (each spread compiles its own program anyway)."""
    model, optimizer, step = adam_population_step()
    # Adam's steps are about lr whatever the gradient's size, so a tiny gradient rounded
    # differently (one member per device compiles differently) moves by ~lr * rounding: keep lr small
    make = lambda: population(model, optimizer, 0.001, 0.03)   # noqa: E731
    return step, make, three_steps(step, make())


@pytest.mark.parametrize("devices", [2, 8])
def test_sharded_steps_equal_one_device(devices, sharding_case):
    """Three steps of 8 members spread over 2 or 8 devices (4 members or 1 per device; 4
    devices are covered by the `fit_population` test below) give the one-device parameters,
    batch-norm statistics and per-member losses (atol 1e-6)."""
    step, make, (one, logs_one) = sharding_case
    spread = train.shard_population(make(), devices)
    mesh = train.population_mesh(spread)
    assert mesh is not None and mesh.devices.size == devices and mesh.axis_names == ("members",)
    assert len(spread.params["dense_0"]["w"].sharding.device_set) == devices
    spread, logs_spread = three_steps(step, spread)
    np.testing.assert_allclose(logs_spread["loss"], logs_one["loss"], rtol=0, atol=1e-6)
    assert_trees_close(spread.params, one.params)
    assert_trees_close(spread.state, one.state)
    assert len(spread.params["dense_0"]["w"].sharding.device_set) == devices   # still spread
    assert train.population_mesh(one) is None


def test_sharded_step_has_no_collectives():
    """Members are independent: the compiled spread step moves nothing between devices."""
    model, optimizer, step = adam_population_step()
    spread = train.shard_population(population(model, optimizer), 4)
    (x, y), _ = problem()
    hlo = step.lower(spread, (x[:16], y[:16])).compile().as_text()
    assert "members" in str(spread.step.sharding.spec)
    found = re.findall(r"all-reduce|all-gather|all-to-all|collective-permute|reduce-scatter", hlo)
    assert not found, found


def test_fit_population_over_devices_equals_one_device():
    """`fit_population(devices=4)` (per-member shuffles, dropout, batch norm, early stopping)
    gives the history and parameters of the one-device run. Two steps per call: chunks of
    more than one step, at half the compile time of the default four."""
    model = bn_dropout_model()
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    train_step, eval_step = train.make_steps(model, optimizer, losses.softmax_cross_entropy,
                                             metrics={"accuracy": metrics.accuracy})
    data, val = problem()
    runs = {}
    for devices in (None, 4):
        runs[devices] = train.fit_population(population(model, optimizer), train_step, data,
                                             epochs=3, batch_size=16, val_data=val,
                                             eval_step=eval_step, patience=1, devices=devices,
                                             steps_per_call=2, verbose=0)
    (pop_one, hist_one), (pop_spread, hist_spread) = runs[None], runs[4]
    assert train.population_mesh(pop_spread).devices.size == 4
    for name in ("loss", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(hist_spread[name], hist_one[name], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(hist_spread["active"], hist_one["active"])
    assert_trees_close(pop_spread.params, pop_one.params)
    assert_trees_close(pop_spread.state, pop_one.state)
    # an already spread population trains where it is, and the ensemble reads it as is
    x_val = val[0]
    np.testing.assert_allclose(train.ensemble_predict(model, pop_spread, x_val),
                               train.ensemble_predict(model, pop_one, x_val), rtol=0, atol=1e-6)
    spread = train.shard_population(population(model, optimizer), 2)
    again, _ = train.fit_population(spread, train_step, data, epochs=1, batch_size=16,
                                    steps_per_call=2, verbose=0)
    assert train.population_mesh(again).devices.size == 2


def test_shard_population_errors():
    model = models.mlp([4, 2])
    pop = train.init_population(model, optax.sgd(0.1), jax.random.split(jax.random.key(0), 6),
                                (1, FEATURES))
    with pytest.raises(ValueError, match=r"devices: expected a device count that divides the 6 "
                                         r"members, got 4 devices"):
        train.shard_population(pop, 4)
    with pytest.raises(ValueError, match=r"devices: expected 1\.\.8"):
        train.shard_population(pop, 9)
    mesh2d = jax.make_mesh((2, 2), ("a", "b"), axis_types=(jax.sharding.AxisType.Auto,) * 2)
    with pytest.raises(ValueError, match="expected a 1-D mesh"):
        train.shard_population(pop, mesh2d)
    spread = train.shard_population(pop, jnp.asarray(3).item())
    assert train.member(spread, 5).step.shape == ()
