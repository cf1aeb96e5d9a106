"""`fit_population` (per-member shuffling and early stopping) against lone `fit` runs, and the
search helpers (`grid`, `random_search`, `results_table`) against hand-built expectations."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jdl import losses, metrics, models, train

N_TRAIN, FEATURES = 96, 6


def problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N_TRAIN + 32, FEATURES)).astype(np.float32)
    y = (x[:, 0] - x[:, 1] > 0).astype(np.int32)
    return (x[:N_TRAIN], y[:N_TRAIN]), (x[N_TRAIN:], y[N_TRAIN:])


def test_members_equal_lone_fits_with_early_stopping():
    """Member i ends exactly where `fit` + EarlyStopping(restore_best) ends for the same seed and
    learning rate: one member diverges and stops early, the other trains to the end."""
    (x, y), val = problem()
    model = models.mlp([8, 2], dropout=0.1)
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    train_step, eval_step = train.make_steps(model, optimizer, losses.softmax_cross_entropy,
                                             metrics={"accuracy": metrics.accuracy})
    keys = jax.random.split(jax.random.key(3), 2)
    lrs = np.array([0.05, 40.0], np.float32)
    pop = train.init_population(model, optimizer, keys, (1, FEATURES), hyperparams={"learning_rate": lrs})
    pop, history = train.fit_population(pop, train_step, (x, y), epochs=6, batch_size=16,
                                        val_data=val, eval_step=eval_step, patience=1, verbose=0)
    assert history["val_loss"].shape[1] == 2 and history["active"].dtype == bool
    stopped = [int(np.argmin(history["active"][:, i])) if not history["active"][:, i].all() else None
               for i in range(2)]
    assert stopped[1] is not None and (stopped[0] is None or stopped[0] > stopped[1]), history["active"]
    for i in range(2):
        ts = train.init_train_state(model, optimizer, keys[i], (1, FEATURES))
        ts.opt_state.hyperparams["learning_rate"] = jnp.asarray(lrs[i])
        stop = train.EarlyStopping(patience=1)
        ts, lone = train.fit(ts, train_step, (x, y), epochs=6, batch_size=16, val_data=val,
                             eval_step=eval_step, callbacks=[stop], verbose=0)
        np.testing.assert_allclose(history["val_loss"][:len(lone["val_loss"]), i], lone["val_loss"],
                                   rtol=1e-5, atol=1e-6)
        assert history["best_epoch"][i] == stop.best_epoch
        got = train.member(pop, i)
        assert int(got.step) == int(ts.step)
        for a, b in zip(jax.tree.leaves(got.params), jax.tree.leaves(ts.params)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_without_patience_every_member_runs_every_epoch():
    (x, y), val = problem()
    model = models.mlp([4, 2])
    optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=1e-2)
    train_step, eval_step = train.make_steps(model, optimizer, losses.softmax_cross_entropy)
    pop = train.init_population(model, optimizer, jax.random.split(jax.random.key(0), 3), (1, FEATURES))
    pop, history = train.fit_population(pop, train_step, (x, y), epochs=2, batch_size=32,
                                        val_data=val, eval_step=eval_step, verbose=0)
    assert history["loss"].shape == (2, 3) and history["active"].all()
    np.testing.assert_array_equal(np.asarray(pop.step), [6, 6, 6])
    per_member = train.evaluate_population(pop, eval_step, val)
    for i in range(3):
        lone = train.evaluate(train.member(pop, i), eval_step, val)
        np.testing.assert_allclose(per_member["loss"][i], lone["loss"], rtol=1e-5)


def test_grid_is_the_cartesian_product_in_order():
    settings = train.grid(learning_rate=[0.1, 0.01], weight_decay=[0.0, 1e-4, 1e-3])
    np.testing.assert_allclose(settings["learning_rate"], [0.1] * 3 + [0.01] * 3)
    np.testing.assert_allclose(settings["weight_decay"], [0.0, 1e-4, 1e-3] * 2)
    with pytest.raises(ValueError, match="learning_rate"):
        train.grid(learning_rate=[])


def test_random_search_ranges_and_determinism():
    key = jax.random.key(7)
    a = train.random_search(key, 200, learning_rate=("log_uniform", 1e-4, 1e-1),
                            momentum=("uniform", 0.5, 0.99), batch=("choice", [16, 64]))
    b = train.random_search(key, 200, learning_rate=("log_uniform", 1e-4, 1e-1))
    np.testing.assert_array_equal(a["learning_rate"], b["learning_rate"])
    lr = a["learning_rate"]
    assert lr.min() >= 1e-4 and lr.max() <= 1e-1
    # log-uniform: about half the draws below the geometric mean sqrt(1e-4 * 1e-1) ~ 3.2e-3
    assert 70 < np.sum(lr < np.sqrt(1e-5)) < 130
    assert a["momentum"].min() >= 0.5 and a["momentum"].max() <= 0.99
    assert set(np.unique(a["batch"])) == {16.0, 64.0}
    with pytest.raises(ValueError, match="learning_rate: log_uniform needs low > 0"):
        train.random_search(key, 3, learning_rate=("log_uniform", 0.0, 1.0))
    with pytest.raises(ValueError, match="expected a tuple"):
        train.random_search(key, 3, learning_rate=[1e-3, 1e-2])


def test_results_table_and_best_member_from_a_hand_history():
    history = {"val_accuracy": np.array([[0.5, 0.6], [0.7, 0.55], [0.65, 0.9]]),
               "val_loss": np.array([[1.0, 0.9], [0.8, 0.95], [0.85, 0.3]]),
               "active": np.array([[True, True], [True, True], [False, True]]),
               "epoch_time": np.array([1.0, 1.0, 1.0]), "best_epoch": np.array([1, 2])}
    assert train.best_member(history, "val_accuracy") == 1
    assert train.best_member(history, "val_loss") == 1
    rows = train.results_table(history, {"learning_rate": [0.1, 0.01]}, monitor="val_accuracy")
    assert rows[0] == {"member": 0, "learning_rate": pytest.approx(0.1), "best_val_accuracy": 0.7,
                       "best_epoch": 2, "stopped_epoch": 3, "last_val_accuracy": 0.65,
                       "last_val_loss": 0.85}
    assert rows[1]["best_epoch"] == 3 and rows[1]["stopped_epoch"] is None
    text = train.format_table(rows)
    assert "learning_rate" in text and len(text.splitlines()) == 4


def test_fit_population_errors():
    (x, y), val = problem()
    model = models.mlp([2])
    optimizer = optax.sgd(0.1)
    train_step, eval_step = train.make_steps(model, optimizer, losses.softmax_cross_entropy)
    lone = train.init_train_state(model, optimizer, jax.random.key(0), (1, FEATURES))
    with pytest.raises(ValueError, match="pop: expected a population"):
        train.fit_population(lone, train_step, (x, y), epochs=1, batch_size=8)
    pop = train.init_population(model, optimizer, jax.random.split(jax.random.key(0), 2), (1, FEATURES))
    with pytest.raises(ValueError, match="val_loss.*needs val_data"):
        train.fit_population(pop, train_step, (x, y), epochs=1, batch_size=8, patience=2)
    with pytest.raises(ValueError, match="eval_step"):
        train.fit_population(pop, train_step, (x, y), epochs=1, batch_size=8, val_data=val)
