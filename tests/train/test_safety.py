"""Nothing trained is lost: interrupted fits return (or carry) the last completed state, and
non-finite losses stop or skip without a host sync per step."""
import functools
import os
import signal

import chex
import jax
import numpy as np
import optax
import pytest

from jdl import data, losses, models, train

N, BS, K = 96, 16, 2           # 6 batches per epoch, 3 chunks of 2 steps
STEPS_PER_EPOCH = N // BS


def problem(nan_row: int | None = None, n: int = N):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    y = (x[:, 0] - x[:, 1] > 0).astype(np.int32)
    if nan_row is not None:
        x[nan_row] = np.nan
    return x, y


@functools.cache
def make_run():
    """`(init, step)`, one pair for the whole module: the same step object lets
    `jdl.compile_cache` reuse its compiled chunks from test to test."""
    model = models.mlp([8, 2], dropout=0.1)
    optimizer = optax.adam(0.05)
    step = train.make_train_step(model, optimizer, losses.softmax_cross_entropy)
    return lambda: train.init_train_state(model, optimizer, jax.random.key(0), (1, 5)), step


class RaiseAtEpoch(train.Callback):
    def __init__(self, epoch: int, error: BaseException):
        self.epoch, self.error = epoch, error

    def on_epoch_end(self, epoch, logs, ts):
        if epoch == self.epoch:
            raise self.error


def fit(ts, step, data, **kw):
    kw.setdefault("verbose", 0)
    return train.fit(ts, step, data, batch_size=BS, steps_per_call=K, **kw)


def test_keyboard_interrupt_from_a_callback_returns_the_state_of_the_last_chunk():
    """Ctrl-C in epoch 2 of 5: the caller holds a usable state at the step of the last completed
    chunk, equal to an uninterrupted 2-epoch run's."""
    init, step = make_run()
    messages = []
    ts, history = fit(init(), step, problem(), epochs=5, log=messages.append,
                      callbacks=[RaiseAtEpoch(1, KeyboardInterrupt())])
    assert int(ts.step) == 2 * STEPS_PER_EPOCH
    assert len(history["loss"]) == 1    # the epoch whose callbacks completed
    assert any("interrupted in epoch 2" in m and f"(step {2 * STEPS_PER_EPOCH})" in m
               for m in messages), messages
    reference, _ = fit(init(), step, problem(), epochs=2)
    chex.assert_trees_all_equal(ts.params, reference.params)
    ts, _ = fit(ts, step, problem(), epochs=1)      # the returned state trains on
    assert int(ts.step) == 3 * STEPS_PER_EPOCH


def test_ctrl_c_stops_after_the_chunk_in_flight():
    """A real SIGINT (as from the keyboard or Jupyter's stop button) during epoch 2."""

    class CtrlC(train.Callback):
        def on_epoch_end(self, epoch, logs, ts):
            if epoch == 0:
                os.kill(os.getpid(), signal.SIGINT)   # handled: stop after the next chunk

    init, step = make_run()
    messages = []
    before = signal.getsignal(signal.SIGINT)
    ts, history = fit(init(), step, problem(), epochs=5, callbacks=[CtrlC()], log=messages.append)
    assert signal.getsignal(signal.SIGINT) is before
    assert int(ts.step) % K == 0 and STEPS_PER_EPOCH < int(ts.step) < 2 * STEPS_PER_EPOCH
    assert len(history["loss"]) == 1
    assert any(m.startswith("Ctrl-C: stopping after the chunk in flight") for m in messages)
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(ts.params))


def test_other_exceptions_carry_the_last_completed_state():
    init, step = make_run()
    with pytest.raises(ValueError, match="callback broke") as info:
        fit(init(), step, problem(), epochs=5,
            callbacks=[RaiseAtEpoch(2, ValueError("callback broke"))])
    ts = info.value.train_state
    assert int(ts.step) == 3 * STEPS_PER_EPOCH and len(info.value.history["loss"]) == 2
    assert any("exc.train_state" in note for note in info.value.__notes__)
    reference, _ = fit(init(), step, problem(), epochs=3)
    chex.assert_trees_all_equal(ts.params, reference.params)


def test_a_nan_loss_stops_with_the_last_finite_state():
    """A NaN row that epoch 1 drops (100 rows, 6 batches of 16) and epoch 2 reaches: training
    stops there, every returned parameter is finite, the message names the epoch and the step,
    and the state is the clean run's at that step."""
    init, step = make_run()
    key = init().key
    first, second = (np.asarray(data.epoch_order(key, e, 100)) for e in (0, 1))
    row = next(r for r in first[STEPS_PER_EPOCH * BS:]
               if np.flatnonzero(second == r)[0] < STEPS_PER_EPOCH * BS)
    batch = int(np.flatnonzero(second == row)[0]) // BS
    nan_step = STEPS_PER_EPOCH + batch                  # 0-based step that sees the NaN
    x, y = problem(n=100)
    bad_x = x.copy()
    bad_x[row] = np.nan
    messages = []
    ts, history = fit(init(), step, (bad_x, y), epochs=4, log=messages.append)
    assert int(ts.step) == nan_step
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves((ts.params, ts.opt_state)))
    assert len(history["loss"]) == 1
    assert any(f"not finite in epoch 2 at step {nan_step + 1}" in m for m in messages), messages
    reference, _ = fit(init(), step, (x, y), epochs=1)
    batches = data.batches(x, y, batch_size=BS, key=key, epoch=1, drop_remainder=True)
    for _, (xb, yb) in zip(range(batch), batches):
        reference, _ = step(reference, (xb, yb))
    assert int(reference.step) == nan_step
    chex.assert_trees_all_close(ts.params, reference.params, rtol=1e-6, atol=1e-6)


def test_skip_leaves_the_state_unchanged_for_the_bad_step_only():
    init, step = make_run()
    data = problem(nan_row=3 * BS + 5)                  # batch 3 of every epoch
    ts, history = fit(init(), step, data, epochs=2, shuffle=False, on_nonfinite="skip")
    assert int(ts.step) == 2 * STEPS_PER_EPOCH           # the counter keeps the schedule
    assert history["skipped_steps"] == [1, 1]
    assert np.isfinite(history["loss"]).all()
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(ts.params))
    # the same as training on the other batches only, step by step
    ref = init()
    x, y = data
    for _ in range(2):
        for b in range(STEPS_PER_EPOCH):
            if b == 3:
                ref = ref._replace(step=ref.step + 1)
                continue
            ref, _ = step(ref, (x[b * BS:(b + 1) * BS], y[b * BS:(b + 1) * BS]))
    chex.assert_trees_all_close(ts.params, ref.params, rtol=1e-6, atol=1e-6)


def sqrt_abs_loss(out, y):
    """sqrt(|out - y|): finite at out == y, but its gradient there is infinite."""
    return jax.numpy.sqrt(jax.numpy.abs(out[:, 0] - y))


@pytest.mark.parametrize("mode", ["stop", "skip"])
def test_a_finite_loss_with_an_infinite_gradient_is_caught(mode):
    """A zero-initialised Dense(1) fitted with sqrt(|out - y|) to y = 0: the first loss is 0.0,
    finite, but the gradient is infinite. Checking the loss alone applied that step, made every
    parameter non-finite and (with "skip") skipped all later steps with a history of 0.0."""
    from jdl import nn
    model = nn.Dense(1, w_init="zeros")
    optimizer = optax.sgd(0.1)
    step = train.make_train_step(model, optimizer, sqrt_abs_loss)
    x, _ = problem()
    y = np.zeros(len(x), np.float32)
    ts0 = train.init_train_state(model, optimizer, jax.random.key(0), (1, 5))
    ts, history = fit(ts0, step, (x, y), epochs=2, shuffle=False, on_nonfinite=mode)
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves((ts.params, ts.opt_state)))
    if mode == "skip":   # every step has the infinite gradient: all are skipped, none applied
        assert history["skipped_steps"] == [STEPS_PER_EPOCH, STEPS_PER_EPOCH]
        chex.assert_trees_all_equal(ts.params, train.init_train_state(
            model, optimizer, jax.random.key(0), (1, 5)).params)
    else:                # stops before the first step, holding the initial state
        assert int(ts.step) == 0 and history.get("loss", []) == []


def test_a_population_member_that_diverges_freezes_and_the_others_train_on():
    model = models.mlp([8, 2])
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    step = train.make_train_step(model, optimizer, losses.softmax_cross_entropy)
    pop = train.init_population(model, optimizer, jax.random.split(jax.random.key(1), 2), (1, 5),
                                hyperparams={"learning_rate": np.array([0.05, 1e30], np.float32)})
    pop, history = train.fit_population(pop, step, problem(), epochs=3, batch_size=BS,
                                        steps_per_call=K, verbose=0)
    assert history["finite"].shape == (3, 2)
    assert history["finite"][:, 0].all() and not history["finite"][-1, 1]
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(pop.params))
    assert int(pop.step[0]) == 3 * STEPS_PER_EPOCH and int(pop.step[1]) < 3 * STEPS_PER_EPOCH


@pytest.mark.parametrize("mode", ["stop", "skip"])
def test_the_guard_changes_nothing_when_every_loss_is_finite(mode):
    """Against the unguarded program ("ignore"): the same run to float tolerance (the select
    may change how XLA fuses the update, so the last bits may move)."""
    init, step = make_run()
    guarded, history = fit(init(), step, problem(), epochs=3, on_nonfinite=mode)
    plain, plain_history = fit(init(), step, problem(), epochs=3, on_nonfinite="ignore")
    assert int(guarded.step) == int(plain.step) == 3 * STEPS_PER_EPOCH
    chex.assert_trees_all_close(guarded.params, plain.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(history["loss"], plain_history["loss"], rtol=1e-5)


def test_on_nonfinite_is_checked():
    init, step = make_run()
    with pytest.raises(ValueError, match=r"on_nonfinite: expected one of .*, got 'halt'"):
        fit(init(), step, problem(), epochs=1, on_nonfinite="halt")
