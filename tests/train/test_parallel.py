"""Data parallelism on 8 simulated CPU devices equals one device (atol 1e-6), BN and dropout included."""
import jax
import numpy as np
import optax
import pytest

from jdl import losses, nn, train

pytestmark = pytest.mark.timeout(240)
NDEV = 8


def model_with(axis_name=None):
    return nn.serial(nn.Dense(16), nn.BatchNorm(axis_name=axis_name), nn.Relu(),
                     nn.Dropout(0.3, axis_name=axis_name), nn.Dense(3))


def data(n=64):
    x = np.asarray(jax.random.normal(jax.random.key(0), (n, 5)))
    y = np.asarray(jax.random.randint(jax.random.key(1), (n,), 0, 3))
    return x, y


def assert_same(a, b):
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(jax.device_count() < NDEV, reason="needs 8 (simulated) devices")
def test_fit_on_8_devices_equals_one_device():
    model, optimizer = model_with(), optax.sgd(0.1, momentum=0.9)
    step = train.make_train_step(model, optimizer, losses.softmax_cross_entropy)
    results = []
    for devices in (None, NDEV):
        ts = train.init_train_state(model, optimizer, jax.random.key(0), (1, 5))
        ts, history = train.fit(ts, step, data(), epochs=2, batch_size=16, verbose=0,
                                steps_per_call=2, devices=devices)
        results.append((ts.params, ts.state, history["loss"]))
    assert_same(results[0], results[1])


@pytest.mark.skipif(jax.device_count() < NDEV, reason="needs 8 (simulated) devices")
def test_pmap_step_equals_one_device_step():
    x, y = data(32)
    optimizer = optax.sgd(0.1, momentum=0.9)
    single = train.make_train_step(model_with(), optimizer, losses.softmax_cross_entropy)
    ts = train.init_train_state(model_with(), optimizer, jax.random.key(0), (1, 5))
    pmapped = train.make_pmap_train_step(model_with("batch"), optimizer, losses.softmax_cross_entropy)
    replicas = train.stack_replicas(ts, NDEV)
    for _ in range(3):
        ts, logs = single(ts, (x, y))
        replicas, plogs = pmapped(replicas, (x.reshape(NDEV, 4, 5), y.reshape(NDEV, 4)))
        jax.block_until_ready(plogs)  # sync every multi-device step (CPU collectives)
        np.testing.assert_allclose(plogs["loss"][0], logs["loss"], rtol=1e-5)
    got = train.unreplicate(replicas)
    assert_same((got.params, got.state), (ts.params, ts.state))


def test_uneven_global_batch_is_refused():
    mesh = train.make_mesh(min(2, jax.device_count()))
    if mesh.devices.size < 2:
        pytest.skip("needs 2 devices")
    model, optimizer = model_with(), optax.sgd(0.1)
    ts = train.init_train_state(model, optimizer, jax.random.key(0), (1, 5))
    step = train.make_train_step(model, optimizer, losses.softmax_cross_entropy)
    with pytest.raises(ValueError, match=r"batch_size: expected a multiple of the 2 devices.*got 15 \(use 14 or 16\)"):
        train.fit(ts, step, data(), epochs=1, batch_size=15, verbose=0, devices=mesh)
