"""`cross_validate`: k-fold cross-validation of S hyper-parameter settings as one population
of S x k fold-models, one compiled program for all of them ("choosing architecture: cross
validation, grid search (need lots of GPUs)"; Salakhutdinov, Deep Learning Essentials).

    settings = train.grid(learning_rate=[0.003, 0.01, 0.03])
    cv = train.cross_validate(model, optax.inject_hyperparams(optax.adam)(learning_rate=0.0),
                              (step, eval_step), (x, y), k=5, key=jax.random.key(0),
                              input_shape=(1, 784), epochs=10, batch_size=128,
                              hyperparams=settings, monitor="val_accuracy")
    print(cv.table())            # mean and spread over the folds, per setting
    ts = cv.refit                # the best setting trained on all of (x, y)

Member `s * k + i` is setting s on fold i. Fold i starts from the same initial parameters
and the same shuffling key under every setting (common random numbers: the settings are
compared on equal terms, which narrows the spread of their differences).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jdl.data import fold_rows, kfold
from jdl.nn import Layer
from jdl.train._improvement import Improvement
from jdl.train._loop import fit
from jdl.train._population import init_population
from jdl.train._population_fit import fit_population
from jdl.train._search import format_table
from jdl.train._state import TrainState, init_train_state


class CrossValidation(NamedTuple):
    """What `cross_validate` measured.

    Attributes:
      settings: `{name: (S,) array}`, the hyper-parameters of each setting.
      scores: `(S, k)`: the monitored validation metric of each fold-model, at its best epoch
        with `patience`, else after the last epoch.
      mean, std: `(S,)`: their mean and (population) standard deviation over the folds.
      best: the index of the best setting by `mean`.
      epochs: `(S, k)` int: the epochs each fold-model trained to its score (1-based).
      monitor: the metric's name.
      history: `fit_population`'s history of the S * k members.
      population: the S * k trained fold-models.
      refit: the best setting trained on all the data (None with `refit=False`).
    """

    settings: dict[str, np.ndarray]
    scores: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    best: int
    epochs: np.ndarray
    monitor: str
    history: dict[str, np.ndarray]
    population: TrainState
    refit: TrainState | None

    def table(self) -> str:
        """One line per setting: its values, the mean and spread of the score, the folds."""
        rows = []
        for s in range(len(self.mean)):
            row: dict[str, Any] = {name: float(v[s]) for name, v in self.settings.items()}
            row[f"mean_{self.monitor}"], row["std"] = float(self.mean[s]), float(self.std[s])
            row["folds"] = " ".join(f"{v:.4g}" for v in self.scores[s])
            row["best"] = "*" if s == self.best else ""
            rows.append(row)
        return format_table(rows)


def _settings(hyperparams: Mapping[str, Any] | None) -> tuple[dict[str, np.ndarray], int]:
    if not hyperparams:
        return {}, 1
    settings = {name: np.asarray(v, np.float32).reshape(-1) for name, v in hyperparams.items()}
    sizes = {len(v) for v in settings.values()}
    if len(sizes) != 1:
        raise ValueError(f"hyperparams: expected one value per setting for every name, got "
                         f"lengths { {k: len(v) for k, v in settings.items()} }")
    return settings, sizes.pop()


def _scores(history: dict, monitor: str, mode: str, patience: int | None, shape: tuple
            ) -> tuple[np.ndarray, np.ndarray]:
    """(S, k) scores (best epoch with patience, else the last) and the 1-based epochs."""
    if monitor not in history:
        raise ValueError(f"monitor: expected one of the history's metrics {sorted(history)}, "
                         f"got {monitor!r}")
    values = np.asarray(history[monitor], np.float64)             # (epochs_run, S * k)
    if patience is None:
        at = np.full(values.shape[1], len(values) - 1)
    else:
        at = np.asarray(Improvement.of(monitor, mode).best_index(values))
    return values[at, np.arange(values.shape[1])].reshape(shape), (at + 1).reshape(shape)


def _refit(model, optimizer, train_step, data, key, input_shape, setting: dict, epochs: int,
           batch_size: int, fit_kwargs: dict) -> TrainState:
    """The chosen setting trained on all of `data` by `fit`."""
    ts = init_train_state(model, optimizer, key, input_shape)
    if setting:
        hp = dict(ts.opt_state.hyperparams)
        hp.update({name: jnp.asarray(v, hp[name].dtype) for name, v in setting.items()})
        ts = ts._replace(opt_state=ts.opt_state._replace(hyperparams=hp))
    shared = {n: v for n, v in fit_kwargs.items()
              if n in ("steps_per_call", "unroll", "verbose", "log", "on_nonfinite")}
    return fit(ts, train_step, data, epochs=epochs, batch_size=batch_size, **shared)[0]


def cross_validate(model: Layer, optimizer: optax.GradientTransformation,
                   steps: tuple[Callable, Callable], data: tuple, *, k: int, key: jax.Array,
                   input_shape, epochs: int, batch_size: int,
                   hyperparams: Mapping[str, Any] | None = None, stratify: bool = False,
                   monitor: str = "val_loss", mode: str = "auto", patience: int | None = None,
                   refit: bool = True, **fit_kwargs) -> CrossValidation:
    """k-fold cross-validation of every setting of `hyperparams` in one `fit_population` call.

    Args:
      model, optimizer: the model and its optimizer (from `optax.inject_hyperparams` when
        `hyperparams` is given).
      steps: `(train_step, eval_step)`, e.g. from `make_steps`.
      data: `(x, y)`, all the training data; the folds are drawn from `key` (`data.kfold`,
        stratified on `y` with `stratify`).
      k: the number of folds. key: seeds the folds, the initial parameters and the shuffling.
      hyperparams: `{name: (S,) values}` (e.g. `grid(...)` or `random_search(...)`); None: one
        setting, the optimizer's own.
      monitor, mode, patience: the validation metric the settings are ranked by, and optional
        per-fold-model early stopping (as in `fit_population`).
      refit: train the best setting on all of `data` (for its folds' mean number of epochs to
        their scores, rounded) and return it as `refit`.
      input_shape, epochs, batch_size, fit_kwargs: as in `fit_population`.
    """
    train_step, eval_step = steps
    x, y = data
    settings, n_settings = _settings(hyperparams)
    folds = kfold(y if stratify else len(x), k, seed=key, stratify=stratify)
    rows = fold_rows(folds, seed=key)
    tiled = rows._replace(**{name: np.tile(getattr(rows, name), (n_settings, 1))
                             for name in rows._fields})
    fold_keys = jax.random.split(jax.random.fold_in(key, 1), k)
    keys = jnp.tile(fold_keys, n_settings)                 # member s * k + i: fold i
    member_settings = {name: np.repeat(v, k) for name, v in settings.items()}
    pop = init_population(model, optimizer, keys, input_shape, hyperparams=member_settings or None)
    pop, history = fit_population(pop, train_step, data, epochs=epochs, batch_size=batch_size,
                                  eval_step=eval_step, member_rows=tiled, patience=patience,
                                  monitor=monitor, mode=mode, **fit_kwargs)
    scores, trained_epochs = _scores(history, monitor, mode, patience, (n_settings, k))
    mean, std = scores.mean(1), scores.std(1)
    best = int(Improvement.of(monitor, mode).best_index(mean[:, None])[0])
    refitted = None
    if refit:
        refitted = _refit(model, optimizer, train_step, data, jax.random.fold_in(key, 2),
                          input_shape, {name: v[best] for name, v in settings.items()},
                          max(1, int(round(trained_epochs[best].mean()))), batch_size,
                          fit_kwargs)
    return CrossValidation(settings, scores, mean, std, best, trained_epochs, monitor, history,
                           pop, refitted)
