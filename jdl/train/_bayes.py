"""Bayesian optimization of hyper-parameters in batches: a Gaussian-process model of the score,
and N settings proposed at once, so that each batch trains as one population (the lectures'
"smarter strategies: Bayesian optimization"; Snoek, Larochelle & Adams 2012).

    search = BayesianSearch(jax.random.key(0), batch_size=8, mode="max",
                            learning_rate=("log_uniform", 1e-4, 1e-1),
                            weight_decay=("uniform", 0.0, 0.1))
    for _ in range(4):
        settings = search.ask()                          # {name: (8,) array}
        pop = init_population(model, optimizer, jax.random.split(key, 8), shape,
                              hyperparams=settings)
        pop, history = fit_population(pop, step, data, val_data=val, eval_step=eval_step, ...)
        search.tell(settings, history["val_accuracy"].max(0))
    search.best, search.trace                            # the best setting; every trial

What comes from a library: the surrogate is scikit-learn's `GaussianProcessRegressor`
(Matern 5/2 kernel with a fitted noise term, normalised scores), well kept and already a
dependency. What is written here, because no library does it for a vmapped population: the
batch of N proposals. After the first batch (random, as `random_search` draws it), each
proposal maximises expected improvement over random candidates, and is then added to the
model with a made-up score equal to the best so far ("constant liar", Ginsbourger et al.
2010), which lowers the expected improvement near it, so the next proposal goes elsewhere.

Search spaces are those of `random_search`. The surrogate sees each setting in the unit cube:
uniform values scaled linearly, log-uniform values in log space, a choice by its position in
the list (so order the choices meaningfully, e.g. increasing sizes).
"""
from __future__ import annotations

import math
import warnings
from typing import Any

import jax
import numpy as np

from jdl.checks import check_key
from jdl.train._search import random_search


class BayesianSearch:
    """Ask for batches of settings, tell their scores; see the module docstring.

    Args:
      key: seeds the first batch and the candidates of every later one.
      batch_size: settings per `ask()` (the population size).
      mode: "max" (accuracies) or "min" (losses): which scores are better.
      candidates: random points at which expected improvement is evaluated per proposal.
      spaces: `name=("uniform"|"log_uniform", low, high)` or `name=("choice", [values])`.

    Attributes:
      trace: one dict per trial told so far: its settings, `score` and `batch` (0-based ask).
    """

    def __init__(self, key: jax.Array, *, batch_size: int, mode: str = "max",
                 candidates: int = 2048, **spaces: tuple):
        check_key(key)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
        if mode not in ("max", "min"):
            raise ValueError(f"mode: expected 'max' or 'min', got {mode!r}")
        random_search(key, 1, **spaces)   # checks the spaces
        self.key, self.batch_size, self.mode, self.spaces = key, batch_size, mode, spaces
        self.candidates = candidates
        self.trace: list[dict[str, Any]] = []
        self._asked = 0

    # -- the unit cube ------------------------------------------------------------------------
    def _to_unit(self, settings: dict[str, np.ndarray]) -> np.ndarray:
        columns = []
        for name, space in self.spaces.items():
            v = np.asarray(settings[name], np.float64)
            if space[0] == "choice":
                options = np.asarray(space[1], np.float64)
                index = np.abs(v[:, None] - options[None, :]).argmin(1)
                columns.append(index / max(1, len(options) - 1))
            elif space[0] == "log_uniform":
                low, high = math.log(space[1]), math.log(space[2])
                columns.append((np.log(v) - low) / (high - low))
            else:
                columns.append((v - space[1]) / (space[2] - space[1]))
        return np.stack(columns, 1)

    def _from_unit(self, u: np.ndarray) -> dict[str, np.ndarray]:
        out = {}
        for j, (name, space) in enumerate(self.spaces.items()):
            if space[0] == "choice":
                index = np.rint(u[:, j] * (len(space[1]) - 1)).astype(int)
                out[name] = np.asarray(space[1], np.float32)[index]
            elif space[0] == "log_uniform":
                low, high = math.log(space[1]), math.log(space[2])
                out[name] = np.exp(low + u[:, j] * (high - low)).astype(np.float32)
            else:
                out[name] = (space[1] + u[:, j] * (space[2] - space[1])).astype(np.float32)
        return out

    # -- ask and tell -------------------------------------------------------------------------
    def ask(self) -> dict[str, np.ndarray]:
        """The next `batch_size` settings: `{name: (batch_size,) array}`."""
        key = jax.random.fold_in(self.key, self._asked)
        self._asked += 1
        told = [t for t in self.trace if math.isfinite(t["score"])]
        if len(told) < 2:   # nothing to model yet: a random batch
            return random_search(key, self.batch_size, **self.spaces)
        rng = np.random.default_rng(np.asarray(jax.random.key_data(key)))
        x = self._to_unit({name: np.array([t[name] for t in told]) for name in self.spaces})
        y = np.array([t["score"] for t in told], np.float64)
        y = y if self.mode == "max" else -y            # the model maximises
        proposals, kernel = [], None
        for _ in range(self.batch_size):
            candidates = self._candidates(rng, x, y)
            gp = _fit_gp(x, y, kernel)   # the kernel is fitted once per batch, then kept
            kernel = gp.kernel_
            pick = candidates[np.argmax(_expected_improvement(gp, candidates, y.max()))]
            proposals.append(pick)
            x, y = np.vstack([x, pick]), np.append(y, y.max())   # the constant liar
        return self._from_unit(np.stack(proposals))

    def _candidates(self, rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Uniform points, and as many again near the best trials (a local search)."""
        d = x.shape[1]
        uniform = rng.uniform(size=(self.candidates, d))
        best = x[np.argsort(-y)[:5]]
        near = best[rng.integers(len(best), size=self.candidates)]
        near = np.clip(near + rng.normal(scale=0.05, size=near.shape), 0.0, 1.0)
        return np.vstack([uniform, near])

    def tell(self, settings: dict[str, Any], scores: Any) -> None:
        """Record the scores `(n,)` of the settings `{name: (n,) values}` (NaN: a failed run,
        kept in the trace but not in the model)."""
        scores = np.asarray(scores, np.float64).reshape(-1)
        missing = set(self.spaces) - set(settings)
        if missing:
            raise ValueError(f"settings: expected values for {sorted(self.spaces)}, missing "
                             f"{sorted(missing)}")
        for name in self.spaces:
            if np.shape(settings[name]) != scores.shape:
                raise ValueError(f"scores: expected one score per setting, got {scores.shape[0]} "
                                 f"scores for {np.shape(settings[name])} values of {name!r}")
        batch = self._asked - 1
        for i, score in enumerate(scores):
            trial = {name: float(np.asarray(settings[name])[i]) for name in self.spaces}
            trial.update(score=float(score), batch=batch)
            self.trace.append(trial)

    @property
    def best(self) -> dict[str, Any]:
        """The trial with the best finite score so far."""
        finite = [t for t in self.trace if math.isfinite(t["score"])]
        if not finite:
            raise ValueError("best: no finite score told yet")
        pick = max if self.mode == "max" else min
        return pick(finite, key=lambda t: t["score"])


def _fit_gp(x: np.ndarray, y: np.ndarray, kernel=None):
    """The Gaussian process of y over x; with `kernel` (a fitted one) its hyper-parameters are
    kept, without, they are fitted by maximum likelihood (bounds reached are not an error)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    if kernel is None:
        kernel = (ConstantKernel(1.0, (1e-3, 1e3)) * Matern(0.3, (1e-2, 10.0), nu=2.5)
                  + WhiteKernel(1e-3, (1e-8, 1e-1)))
        gp = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=2,
                                      random_state=0)
    else:
        gp = GaussianProcessRegressor(kernel, normalize_y=True, optimizer=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gp.fit(x, y)


def _expected_improvement(gp, x: np.ndarray, best: float, xi: float = 0.01) -> np.ndarray:
    """E[max(f(x) - best - xi, 0)] under the model's Gaussian posterior."""
    from scipy.stats import norm   # scipy comes with scikit-learn

    mean, std = gp.predict(x, return_std=True)
    std = np.maximum(std, 1e-12)
    z = (mean - best - xi) / std
    return (mean - best - xi) * norm.cdf(z) + std * norm.pdf(z)
