"""Batched Bayesian optimization finds the optimum of known functions in fewer evaluations
than random search, over several seeds (stated tolerances; no training, so it is fast)."""
import math

import jax
import numpy as np
import pytest

from jdl import train

BRANIN_MIN = 0.397887


def branin(x1, x2):
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * np.cos(x1) + 10


def best_after(search_or_none, key, f, spaces, batches, batch_size, mode):
    """The best score after `batches` batches, by BayesianSearch or (None) random search."""
    if search_or_none is None:
        settings = train.random_search(key, batches * batch_size, **spaces)
        scores = f(**settings)
        return scores.max() if mode == "max" else scores.min()
    search = search_or_none(key, batch_size=batch_size, mode=mode, **spaces)
    for _ in range(batches):
        settings = search.ask()
        assert all(v.shape == (batch_size,) for v in settings.values())
        search.tell(settings, f(**settings))
    assert len(search.trace) == batches * batch_size
    assert [t["batch"] for t in search.trace[::batch_size]] == list(range(batches))
    return search.best["score"]


def test_branin_in_fewer_evaluations_than_random_search():
    """4 batches of 5 (20 evaluations) on Branin, 5 seeds: the median gap to the minimum is
    below 1.0 and smaller than random search's with the same 20 evaluations (measured: 0.50
    against 1.39, JAX 0.12 and scikit-learn 1.9 on a 2-core CPU)."""
    spaces = dict(x1=("uniform", -5.0, 10.0), x2=("uniform", 0.0, 15.0))
    bo, rs = [], []
    for seed in range(5):
        key = jax.random.key(seed)
        bo.append(best_after(train.BayesianSearch, key, branin, spaces, 4, 5, "min") - BRANIN_MIN)
        rs.append(best_after(None, key, branin, spaces, 4, 5, "min") - BRANIN_MIN)
    assert np.median(bo) < 1.0, bo
    assert np.median(bo) < np.median(rs), (bo, rs)


def test_a_quadratic_in_log_learning_rate():
    """-(log10(lr) + 2.5)^2 over lr in [1e-5, 1e-1]: 3 batches of 4 come within 0.1 decade of
    lr = 10^-2.5, for 3 seeds out of 3."""
    spaces = dict(learning_rate=("log_uniform", 1e-5, 1e-1))
    f = lambda learning_rate: -(np.log10(learning_rate) + 2.5) ** 2   # noqa: E731
    for seed in range(3):
        score = best_after(train.BayesianSearch, jax.random.key(seed), f, spaces, 3, 4, "max")
        assert -score < 0.1 ** 2, (seed, score)


def test_choices_nan_scores_and_bad_calls():
    search = train.BayesianSearch(jax.random.key(0), batch_size=3,
                                  width=("choice", [16, 64, 256]), lr=("log_uniform", 1e-4, 1e-1))
    for _ in range(3):
        settings = search.ask()
        assert set(np.unique(settings["width"])) <= {16, 64, 256}
        scores = -np.abs(np.log10(settings["lr"]) + 2) - 0.001 * settings["width"]
        scores[0] = np.nan                                      # a failed run
        search.tell(settings, scores)
    assert math.isfinite(search.best["score"]) and len(search.trace) == 9
    with pytest.raises(ValueError, match=r"scores: expected one score per setting, got 2"):
        search.tell(settings, [0.1, 0.2])
    with pytest.raises(ValueError, match=r"mode: expected 'max' or 'min', got 'up'"):
        train.BayesianSearch(jax.random.key(0), batch_size=2, mode="up", lr=("uniform", 0, 1))
    with pytest.raises(ValueError, match=r"lr: expected a tuple whose first item is one of"):
        train.BayesianSearch(jax.random.key(0), batch_size=2, lr=("normal", 0, 1))
