"""`fit`'s default chunking rule: what it detects, what it chooses, and that it changes no number."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jdl import losses, models, nn, train
from jdl.train._chunking import chunk_length, chunk_plan, has_convolution, primitive_names


def step_and_state(model, shape):
    optimizer = optax.sgd(0.05, momentum=0.9)
    ts = train.init_train_state(model, optimizer, jax.random.key(0), (1, *shape))
    return train.make_train_step(model, optimizer, losses.softmax_cross_entropy), ts


def batch(shape, n=8):
    return (jnp.zeros((n, *shape), jnp.float32), jnp.zeros((n,), jnp.int32))


CNN = (models.fashion_cnn(widths=(4,), dense=8), (28, 28, 1))
MLP = (models.mlp([16, 10]), (20,))
LSTM = (nn.serial(nn.RNN(nn.LSTMCell(8)), nn.Dense(10)), (5, 3))


def test_primitive_names_look_inside_nested_programs():
    def f(x):
        inner = jax.jit(lambda v: jnp.sin(v))
        return jax.lax.scan(lambda c, v: (c + inner(v), None), 0.0, x)[0]
    names = set(primitive_names(jax.make_jaxpr(f)(jnp.ones(3)).jaxpr))
    assert {"scan", "sin"} <= names


@pytest.mark.parametrize("case, expected", [(CNN, True), (MLP, False), (LSTM, False)])
def test_has_convolution(case, expected):
    step, ts = step_and_state(*case)
    assert has_convolution(step.__wrapped__, ts, batch(case[1])) is expected


@pytest.mark.parametrize("case, backend, expected", [
    (CNN, "cpu", (4, True)), (MLP, "cpu", (64, False)), (LSTM, "cpu", (64, False)),
    (CNN, "gpu", (64, False)), (MLP, "tpu", (64, False))])
def test_rule_per_backend_and_model(case, backend, expected):
    step, ts = step_and_state(*case)
    rule = train.chunking_rule(step, ts, batch(case[1]), backend=backend)
    assert (rule["steps_per_call"], rule["unroll"]) == expected and rule["reason"]


def test_rule_cuts_k_to_a_divisor_of_the_epoch():
    step, ts = step_and_state(*MLP)
    assert train.chunking_rule(step, ts, batch((20,)), num_batches=100)["steps_per_call"] == 50
    assert chunk_length(100, 64) == 50 and chunk_length(7, 4) == 1 and chunk_length(3, 64) == 3


@pytest.mark.parametrize("num_batches, k, unroll, expected", [
    (937, 64, False, (64, 41)),   # 60,000 / 64: a prime number of batches
    (937, 4, True, (1, 0)),       # unrolled: a second program costs a full compile, so divisors
    (468, 64, False, (52, 0)),    # a divisor of at least K / 2: one program
    (1875, 64, False, (64, 19)),  # 60,000 / 32: the best divisor, 25, is under K / 2
    (7, 4, False, (4, 3)), (3, 64, False, (3, 0)), (100, 64, False, (50, 0)), (5, 1, False, (1, 0))])
def test_chunk_plan(num_batches, k, unroll, expected):
    steps, tail = expected
    assert chunk_plan(num_batches, k, unroll) == steps and num_batches % steps == tail


def test_rule_reports_the_tail():
    step, ts = step_and_state(*MLP)
    rule = train.chunking_rule(step, ts, batch((20,)), num_batches=937)
    assert (rule["steps_per_call"], rule["tail_steps"]) == (64, 41)


def test_default_equals_one_step_per_call():
    """The rule only regroups the same steps: the parameters match the K = 1 loop's."""
    model, shape = MLP
    rng = np.random.default_rng(0)
    data = (rng.normal(size=(96, *shape)).astype(np.float32), rng.integers(0, 10, 96))
    results = []
    for kwargs in ({}, {"steps_per_call": 1, "unroll": True}):
        step, ts = step_and_state(model, shape)
        ts, _ = train.fit(ts, step, data, epochs=2, batch_size=8, verbose=0, **kwargs)
        results.append(ts.params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), *results)


def test_population_default_rule_traces_one_member():
    model, shape = CNN
    optimizer = optax.sgd(0.05)
    pop = train.init_population(model, optimizer, jax.random.split(jax.random.key(0), 2),
                                (1, *shape))
    step = train.make_train_step(model, optimizer, losses.softmax_cross_entropy)
    rng = np.random.default_rng(1)
    data = (rng.normal(size=(32, *shape)).astype(np.float32), rng.integers(0, 10, 32))
    pop, history = train.fit_population(pop, step, data, epochs=1, batch_size=8, verbose=0)
    assert history["loss"].shape == (1, 2) and np.isfinite(history["loss"]).all()


def test_bad_unroll_names_the_argument():
    step, ts = step_and_state(*MLP)
    data = (np.zeros((16, 20), np.float32), np.zeros(16, np.int32))
    with pytest.raises(ValueError, match=r"unroll: expected True, False or None .* got 'yes'"):
        train.fit(ts, step, data, epochs=1, batch_size=8, unroll="yes", verbose=0)
