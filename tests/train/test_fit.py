"""`fit`, `evaluate`, `predict` and `EarlyStopping` on tiny models and data."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jdl import data, losses, metrics
from jdl.models import logistic_regression, mlp
from jdl.train import (Callback, EarlyStopping, evaluate, fit, init_train_state, make_steps,
                       predict)

METRICS = {"accuracy": metrics.accuracy}


def _blobs(n, seed=0, d=4, k=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, size=n).astype(np.int32)
    centers = rng.normal(size=(k, d)) * 2
    x = (centers[y] + rng.normal(size=(n, d))).astype(np.float32)
    return x, y


def _setup(model, opt, seed=0, d=4):
    ts = init_train_state(model, opt, jax.random.key(seed), (1, d))
    train_step, eval_step = make_steps(model, opt, losses.softmax_cross_entropy, metrics=METRICS)
    return ts, train_step, eval_step


def _softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def _mlp_forward(params, x):
    """Hand forward pass of mlp([h, k], "tanh") in float64."""
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    h = np.tanh(x.reshape(len(x), -1) @ p["dense_0"]["w"] + p["dense_0"]["b"])
    return h @ p["dense_1"]["w"] + p["dense_1"]["b"]


class Recorder(Callback):
    """Keeps a copy of the TrainState after every epoch (the original is donated next step)."""

    def on_train_begin(self, ts):
        self.snapshots, self.logs = [], []

    def on_epoch_end(self, epoch, logs, ts):
        self.snapshots.append(jax.tree.map(jnp.copy, ts))
        self.logs.append(dict(logs))


# ----------------------------------------------------------------------------- XOR (deck 002)
XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
XOR_Y = np.array([0, 1, 1, 0], np.int32)


EPOCHS_XOR = 150   # 64 examples (the 4 points 16 times), 4 steps of 16 per epoch


def test_mlp_learns_xor():
    x, y = np.tile(XOR_X, (16, 1)), np.tile(XOR_Y, 16)
    model = mlp([8, 2], "tanh")
    ts, train_step, _ = _setup(model, optax.adam(0.05), d=2)
    ts, history = fit(ts, train_step, (x, y), epochs=EPOCHS_XOR, batch_size=16, verbose=0,
                      steps_per_call=1)
    pred = np.asarray(predict(model, ts, XOR_X)).argmax(-1)
    np.testing.assert_array_equal(pred, XOR_Y)
    assert history["loss"][-1] < 0.05 < history["loss"][0]
    assert history["accuracy"][-1] == 1.0
    assert set(history) == {"loss", "accuracy", "epoch_time"}     # no val_* without val_data
    assert all(len(v) == EPOCHS_XOR for v in history.values())
    # the same classes from a hand forward pass tanh(x W0 + b0) W1 + b1: the tanh hidden layer
    # maps XOR (which no line separates, deck 002) to linearly separable features
    np.testing.assert_array_equal(_mlp_forward(ts.params, XOR_X).argmax(-1), XOR_Y)


# ------------------------------------------------------------------- history, purity, chunking
N_FIT, BS_FIT, EPOCHS_FIT = 128, 16, 2       # 8 batches per epoch
N_VAL = 20


FIT_MODEL, FIT_OPT = mlp([16, 3], "tanh", dropout=0.2), optax.adam(0.01)
FIT_TRAIN, FIT_EVAL = make_steps(FIT_MODEL, FIT_OPT, losses.softmax_cross_entropy, metrics=METRICS)


def _fit_run(steps_per_call, log=None):
    x, y = _blobs(N_FIT)
    xv, yv = _blobs(N_VAL, seed=1)
    ts = init_train_state(FIT_MODEL, FIT_OPT, jax.random.key(0), (1, 4))
    eval_step = FIT_EVAL
    ts, history = fit(ts, FIT_TRAIN, (x, y), epochs=EPOCHS_FIT, batch_size=BS_FIT,
                      val_data=(xv, yv), eval_step=eval_step, eval_batch_size=8,
                      steps_per_call=steps_per_call, verbose=2 if log else 0,
                      log=log or print)
    return ts, history, eval_step


@pytest.fixture(scope="module")
def chunked_run():
    """fit with K = 2 steps per compiled call (dropout on, so the keys matter; K = 2 exercises
    the same unrolled-scan path as the default K = 4 at half the compile time)."""
    lines = []
    ts, history, eval_step = _fit_run(2, log=lines.append)
    return ts, history, eval_step, lines


def test_history_keys_and_lengths(chunked_run):
    ts, history, eval_step, lines = chunked_run
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy", "epoch_time"}
    assert all(len(v) == EPOCHS_FIT for v in history.values())
    assert all(t > 0 for t in history["epoch_time"])
    assert all(0.0 <= a <= 1.0 for a in history["accuracy"] + history["val_accuracy"])
    assert int(ts.step) == EPOCHS_FIT * (N_FIT // BS_FIT)
    assert len(lines) == EPOCHS_FIT and lines[0].startswith(f"epoch 1/{EPOCHS_FIT}")
    assert "val_loss" in lines[0]
    # the last val numbers are evaluate() on the final state
    val = evaluate(ts, eval_step, _blobs(N_VAL, seed=1), batch_size=8)
    assert history["val_loss"][-1] == pytest.approx(val["loss"], rel=1e-6)
    assert history["val_accuracy"][-1] == pytest.approx(val["accuracy"], abs=1e-6)


def test_fit_same_seed_same_params(chunked_run):
    a, ha, _, _ = chunked_run
    b, hb, _ = _fit_run(2)
    chex.assert_trees_all_equal(a.params, b.params)
    chex.assert_trees_all_equal(a.opt_state, b.opt_state)
    assert ha["loss"] == hb["loss"] and ha["val_loss"] == hb["val_loss"]


def test_fit_chunked_equals_per_step_calls(chunked_run):
    a, ha, _, _ = chunked_run
    d, hd, _ = _fit_run(1)
    chex.assert_trees_all_close(a.params, d.params, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(hd["loss"], ha["loss"], rtol=1e-6)
    np.testing.assert_allclose(hd["val_loss"], ha["val_loss"], rtol=1e-6)
    assert int(d.step) == int(a.step)


def test_fit_equals_a_hand_written_loop(chunked_run):
    """fit = a per-step loop over `data.batches(..., key=ts.key, epoch=e, drop_remainder=True)`,
    whose order is written out by hand in tests/data/test_batching.py."""
    ts_fit, history, _, _ = chunked_run
    x, y = _blobs(N_FIT)
    ts = init_train_state(FIT_MODEL, FIT_OPT, jax.random.key(0), (1, 4))
    train_step = FIT_TRAIN
    losses_per_epoch = []
    for e in range(EPOCHS_FIT):
        epoch_losses = []
        for xb, yb in data.batches(x, y, batch_size=BS_FIT, key=ts.key, epoch=e,
                                   drop_remainder=True):
            ts, logs = train_step(ts, (xb, yb))
            epoch_losses.append(float(logs["loss"]))
        assert len(epoch_losses) == N_FIT // BS_FIT
        losses_per_epoch.append(np.mean(epoch_losses))
    chex.assert_trees_all_close(ts_fit.params, ts.params, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(history["loss"], losses_per_epoch, rtol=1e-5)


# ----------------------------------------------------------------------------- evaluate, predict
def test_evaluate_counts_every_example_once():
    n = 37                                               # not a multiple of the batch size
    x, y = _blobs(n, seed=2)
    model = mlp([16, 3], "tanh")
    ts, train_step, eval_step = _setup(model, optax.sgd(0.1))
    logits = _mlp_forward(ts.params, x)
    p = _softmax(logits)
    ref_loss = -np.mean(np.log(p[np.arange(n), y]))
    ref_acc = np.mean(logits.argmax(-1) == y)
    for bs in (10, 8, 37, 1000):
        out = evaluate(ts, eval_step, (x, y), batch_size=bs)
        assert set(out) == {"loss", "accuracy"}
        assert out["loss"] == pytest.approx(ref_loss, rel=1e-5), bs
        assert out["accuracy"] == pytest.approx(ref_acc, abs=1e-6), bs


def test_predict_full_array_in_eval_mode():
    n = 37
    x, _ = _blobs(n, seed=4)
    model = mlp([16, 3], "tanh", dropout=0.5)            # dropout must be off in predict
    ts, _, _ = _setup(model, optax.sgd(0.1))
    out = predict(model, ts, x, batch_size=10)
    assert out.shape == (n, 3)
    ref, _ = model.apply(ts.params, ts.state, jnp.asarray(x), train=False)
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out, _mlp_forward(ts.params, x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(predict(model, ts, x[:3], batch_size=1000), ref[:3], rtol=1e-6,
                               atol=1e-6)


# ----------------------------------------------------------------------------- early stopping
def test_early_stopping_restores_best():
    """Train on y = [x0 > 0], validate on flipped labels: val loss rises as training succeeds."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    ts, train_step, eval_step = _setup(logistic_regression(2), optax.adam(0.1), d=2)
    rec = Recorder()
    keep_last = EarlyStopping(monitor="val_loss", patience=1, restore_best=False)
    stop = EarlyStopping(monitor="val_loss", patience=1, restore_best=True)
    ts, history = fit(ts, train_step, (x, y), epochs=20, batch_size=16, val_data=(x, 1 - y),
                      eval_step=eval_step, callbacks=[rec, keep_last, stop], verbose=0,
                      steps_per_call=1)
    n_epochs = len(history["val_loss"])
    assert n_epochs < 20                                   # stopped early
    assert stop.stopped_epoch == n_epochs - 1
    best = int(np.argmin(history["val_loss"]))
    assert stop.best_epoch == best
    assert stop.best_value == pytest.approx(history["val_loss"][best])
    assert stop.stopped_epoch == best + stop.patience  # Keras: patience 1 = one epoch without gain
    assert history["val_loss"][-1] > history["val_loss"][best]
    # the returned TrainState is the best epoch's, not the last one
    chex.assert_trees_all_equal(ts.params, rec.snapshots[best].params)
    chex.assert_trees_all_equal(ts.opt_state, rec.snapshots[best].opt_state)
    assert int(ts.step) == (best + 1) * 4
    assert not np.array_equal(ts.params["dense"]["w"], rec.snapshots[-1].params["dense"]["w"])
    # restore_best=False keeps no copy and hands back nothing (fit then returns the last state)
    assert keep_last.best_state is None and keep_last.on_train_end(ts) is None
    assert keep_last.stopped_epoch == stop.stopped_epoch


def test_early_stopping_modes_and_errors():
    assert EarlyStopping("val_accuracy").mode == "max"
    assert EarlyStopping("val_loss").mode == "min"
    assert EarlyStopping("val_accuracy", mode="min").mode == "min"
    with pytest.raises(ValueError, match=r"mode: expected 'min', 'max' or 'auto', got 'up'"):
        EarlyStopping(mode="up")
    with pytest.raises(ValueError, match=r"EarlyStopping: expected patience an int >= 0, got -1"):
        EarlyStopping(patience=-1)
    es = EarlyStopping()
    es.on_train_begin(None)
    with pytest.raises(ValueError, match=r"expected monitor to be one of the epoch logs .*, "
                                          r"got 'val_loss'"):
        es.on_epoch_end(0, {"loss": 1.0, "epoch_time": 0.1}, None)
    # min_delta: a gain smaller than it is no improvement; max mode for accuracies
    acc = EarlyStopping("val_accuracy", patience=0, min_delta=0.05, restore_best=False)
    acc.on_train_begin(None)
    for epoch, value in enumerate([0.50, 0.53]):
        acc.on_epoch_end(epoch, {"val_accuracy": value}, None)
    assert acc.best_epoch == 0 and acc.stop_training and acc.stopped_epoch == 1


# ----------------------------------------------------------------------------- argument errors
def test_fit_argument_errors():
    x, y = _blobs(32)
    ts, train_step, eval_step = _setup(logistic_regression(3), optax.sgd(0.1))
    with pytest.raises(ValueError, match=r"batch_size: expected a positive int, got 0"):
        fit(ts, train_step, (x, y), epochs=1, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match=r"batch_size: expected a positive int, got 2.5"):
        fit(ts, train_step, (x, y), epochs=1, batch_size=2.5, verbose=0)
    with pytest.raises(ValueError, match=r"batch_size: expected at most the number of training "
                                         r"examples \(32\), got 64"):
        fit(ts, train_step, (x, y), epochs=1, batch_size=64, verbose=0)
    with pytest.raises(ValueError, match=r"train_data: expected x and y with the same number of "
                                         r"examples, got 32 and 31"):
        fit(ts, train_step, (x, y[:31]), epochs=1, batch_size=8, verbose=0)
    with pytest.raises(ValueError, match=r"train_data: expected a pair \(x, y\), got ndarray"):
        fit(ts, train_step, x, epochs=1, batch_size=8, verbose=0)
    with pytest.raises(ValueError, match=r"eval_step: expected an eval step "
                                         r"\(make_eval_step\(\.\.\.\)\) when val_data is given, "
                                         r"got None"):
        fit(ts, train_step, (x, y), epochs=1, batch_size=8, val_data=(x, y), verbose=0)
    with pytest.raises(ValueError, match=r"val_data: expected x and y with the same number"):
        fit(ts, train_step, (x, y), epochs=1, batch_size=8, val_data=(x, y[:3]),
            eval_step=eval_step, verbose=0)
    with pytest.raises(ValueError, match=r"steps_per_call: expected a positive int, got 0"):
        fit(ts, train_step, (x, y), epochs=1, batch_size=8, steps_per_call=0, verbose=0)
    with pytest.raises(ValueError, match=r"batch_size: expected a positive int, got -1"):
        evaluate(ts, eval_step, (x, y), batch_size=-1)
    with pytest.raises(ValueError, match=r"data: expected x and y with the same number"):
        evaluate(ts, eval_step, (x, y[:5]))
    # nothing was trained (and nothing donated) by the failed calls
    assert int(ts.step) == 0 and not ts.params["dense"]["w"].is_deleted()
