"""`jdl.schedules`: values at t = 0, 1, 2, 10 by hand; jit, vmap and use inside Optax."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jdl import schedules

TS = [0, 1, 2, 10]


def values(schedule, ts=TS):
    return np.array([float(schedule(t)) for t in ts])


def test_inverse_time_by_hand():
    np.testing.assert_allclose(values(schedules.inverse_time(0.1, 0.5)),
                               [0.1, 0.1 / 1.5, 0.1 / 2.0, 0.1 / 6.0], rtol=1e-6)
    np.testing.assert_allclose(values(schedules.inverse_time(0.3)),
                               [0.3, 0.15, 0.1, 0.3 / 11], rtol=1e-6)
    np.testing.assert_allclose(values(schedules.inverse_time(0.3, 0.0)), [0.3] * 4, rtol=1e-6)


def test_inverse_sqrt_by_hand():
    np.testing.assert_allclose(values(schedules.inverse_sqrt(0.1)),
                               [0.1, 0.1 / math.sqrt(2), 0.1 / math.sqrt(3), 0.1 / math.sqrt(11)],
                               rtol=1e-6)


def test_step_decay_by_hand():
    np.testing.assert_allclose(values(schedules.step_decay(0.1, 0.5, 2)),
                               [0.1, 0.1, 0.05, 0.1 * 0.5 ** 5], rtol=1e-6)
    np.testing.assert_allclose(values(schedules.step_decay(1.0, 0.1, 3)),
                               [1.0, 1.0, 1.0, 1e-3], rtol=1e-5)


@pytest.mark.parametrize("schedule", [schedules.inverse_time(0.1, 0.5), schedules.inverse_sqrt(0.1),
                                      schedules.step_decay(0.1, 0.5, 2)])
def test_jit_and_vmap(schedule):
    ts = jnp.array(TS, jnp.int32)
    np.testing.assert_allclose(np.asarray(jax.jit(jax.vmap(schedule))(ts)), values(schedule),
                               rtol=1e-6)


def test_used_as_an_optax_learning_rate():
    """The third SGD update on f(w) = w (gradient 1) is -lr(2)."""
    tx = optax.sgd(schedules.inverse_sqrt(0.1))
    w = jnp.zeros(())
    state = tx.init(w)
    for _ in range(3):
        u, state = tx.update(jnp.ones(()), state, w)
    np.testing.assert_allclose(float(u), -0.1 / math.sqrt(3), rtol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="inverse_time: expected lr0 > 0, got -1"):
        schedules.inverse_time(-1)
    with pytest.raises(ValueError, match="decay >= 0"):
        schedules.inverse_time(0.1, -0.5)
    with pytest.raises(ValueError, match="every_steps to be a positive int, got 0"):
        schedules.step_decay(0.1, 0.5, 0)
    with pytest.raises(TypeError, match="lr0 to be a number"):
        schedules.inverse_sqrt("0.1x")
