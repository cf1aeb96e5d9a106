"""k-fold cross-validation as one population: the folds partition the data, and fold-model i
equals a lone `fit` on fold i's training rows with the same seed."""
import chex
import jax
import numpy as np
import optax
import pytest

from jdl import data, losses, metrics, models, train

K, N, FEATURES, BS = 3, 100, 5, 16


def problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, FEATURES)).astype(np.float32)
    return x, (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int32)


@pytest.mark.parametrize("stratify", [False, True])
def test_every_example_is_in_exactly_one_validation_fold(stratify):
    x, y = problem()
    folds = data.kfold(y if stratify else N, K, seed=3, stratify=stratify)
    assert len(folds) == K
    np.testing.assert_array_equal(np.sort(np.concatenate(folds)), np.arange(N))
    assert {len(f) for f in folds} == {33, 34}                   # 100 = 3 * 33 + 1
    if stratify:   # each fold keeps the share of class 1 within one example
        share = y.mean()
        assert all(abs(y[f].sum() - share * len(f)) <= 1 for f in folds)
    again = data.kfold(y if stratify else N, K, seed=3, stratify=stratify)
    assert all(np.array_equal(a, b) for a, b in zip(folds, again))
    rows = data.fold_rows(folds, seed=0)
    assert rows.train.shape == (K, N - 34) and rows.val.shape == rows.val_weights.shape == (K, 34)
    for i, fold in enumerate(folds):
        assert not set(rows.train[i]) & set(fold)                # never trains on its fold
        np.testing.assert_array_equal(rows.val[i][rows.val_weights[i] == 1], fold)


def test_fold_member_equals_a_lone_run_on_its_rows():
    x, y = problem()
    model = models.mlp([8, 2], dropout=0.1)
    optimizer = optax.adam(0.01)
    step, eval_step = train.make_steps(model, optimizer, losses.softmax_cross_entropy,
                                       metrics={"accuracy": metrics.accuracy})
    keys = jax.random.split(jax.random.key(7), K)
    rows = data.fold_rows(data.kfold(N, K, seed=0), seed=0)
    pop = train.init_population(model, optimizer, keys, (1, FEATURES))
    pop, history = train.fit_population(pop, step, (x, y), epochs=2, batch_size=BS,
                                        eval_step=eval_step, member_rows=rows, steps_per_call=2,
                                        verbose=0)
    assert history["val_accuracy"].shape == (2, K)
    for i in range(K):
        lone = train.init_train_state(model, optimizer, keys[i], (1, FEATURES))
        mine = rows.train[i]
        lone, lone_history = train.fit(lone, step, (x[mine], y[mine]), epochs=2, batch_size=BS,
                                       steps_per_call=2, verbose=0)
        chex.assert_trees_all_close(train.member(pop, i).params, lone.params, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(history["loss"][:, i], lone_history["loss"], rtol=1e-5)
        fold = rows.val[i][rows.val_weights[i] == 1]
        expected = train.evaluate(lone, eval_step, (x[fold], y[fold]))
        np.testing.assert_allclose(history["val_accuracy"][-1, i], expected["accuracy"], rtol=1e-6)
        np.testing.assert_allclose(history["val_loss"][-1, i], expected["loss"], rtol=1e-5)


def test_bad_folds_and_rows():
    with pytest.raises(ValueError, match=r"k: expected an int from 2 to the 10 examples, got 1"):
        data.kfold(10, 1, seed=0)
    with pytest.raises(ValueError, match=r"at least k=3 examples of every class, got 2 of class 1"):
        data.kfold(np.array([0, 0, 0, 1, 1, 0]), 3, seed=0, stratify=True)
    with pytest.raises(ValueError, match=r"folds: expected a partition of range\(4\)"):
        data.fold_rows([np.array([0, 1]), np.array([1, 2])], seed=0)
    x, y = problem()
    model = models.mlp([2])
    pop = train.init_population(model, optax.sgd(0.1), jax.random.split(jax.random.key(0), 2),
                                (1, FEATURES))
    step = train.make_train_step(model, optax.sgd(0.1), losses.softmax_cross_entropy)
    rows = data.fold_rows(data.kfold(N, K, seed=0), seed=0)
    with pytest.raises(ValueError, match=r"member_rows: expected integer training rows of shape "
                                         r"\(2, m\), one row per member, got int32 of shape \(3, 66\)"):
        train.fit_population(pop, step, (x, y), epochs=1, batch_size=BS, member_rows=rows,
                             verbose=0)


def test_cross_validate_ranks_settings_by_their_mean_over_folds():
    """Two learning rates (one far too small) x 3 folds in one population: the scores are each
    fold-model's validation accuracy, the mean and spread are over the folds, the sensible
    rate wins, and the refit trains it on all rows."""
    x, y = problem()
    model = models.mlp([8, 2])
    optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=0.0)
    steps = train.make_steps(model, optimizer, losses.softmax_cross_entropy,
                             metrics={"accuracy": metrics.accuracy})
    cv = train.cross_validate(model, optimizer, steps, (x, y), k=K, key=jax.random.key(2),
                              input_shape=(1, FEATURES), epochs=3, batch_size=BS,
                              hyperparams={"learning_rate": [1e-6, 0.05]},
                              monitor="val_accuracy", stratify=True, steps_per_call=2, verbose=0)
    assert cv.scores.shape == cv.epochs.shape == (2, K)
    np.testing.assert_allclose(cv.scores, cv.history["val_accuracy"][-1].reshape(2, K))
    np.testing.assert_allclose(cv.mean, cv.scores.mean(1))
    np.testing.assert_allclose(cv.std, cv.scores.std(1))
    assert cv.best == 1 and cv.mean[1] > cv.mean[0] + 0.1
    assert int(cv.refit.step) == 3 * (N // BS)
    np.testing.assert_allclose(cv.refit.opt_state.hyperparams["learning_rate"], 0.05)
    assert "mean_val_accuracy" in cv.table() and cv.table().count("\n") == 3   # header, rule, 2 rows
