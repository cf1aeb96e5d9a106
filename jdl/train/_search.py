"""Hyper-parameter search over a population: grid and random search, and the results table.

A search is a population (one member per setting) trained by `fit_population`; `grid` and
`random_search` only build the `{name: (N,) values}` dict that `init_population(hyperparams=...)`
writes into the members' `optax.inject_hyperparams` state (grid search and random search, as
the lectures present them; Bergstra & Bengio 2012 for why random search covers important axes
better).

    settings = grid(learning_rate=[1e-3, 3e-3, 1e-2], weight_decay=[0.0, 1e-4])   # N = 6
    pop = init_population(model, optax.inject_hyperparams(optax.adamw)(learning_rate=1e-3),
                          jax.random.split(key, 6), (1, 784), hyperparams=settings)
    pop, history = fit_population(pop, train_step, (x, y), epochs=5, batch_size=128,
                                  val_data=(xv, yv), eval_step=eval_step, patience=2)
    print(format_table(results_table(history, settings)))
    best = member(pop, best_member(history, "val_accuracy"))   # then touch the test set once
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Mapping, Sequence

import jax
import numpy as np

from jdl.checks import check_key
from jdl.train._improvement import Improvement


def grid(**values: Sequence[float]) -> dict[str, np.ndarray]:
    """Every combination of the given values: `{name: (N,) array}` with N the product of lengths.

    The first name varies slowest (`itertools.product` order), so member i is row i of the table.
    """
    if not values:
        raise ValueError("grid: expected at least one hyper-parameter, e.g. grid(learning_rate=[...])")
    for name, options in values.items():
        if isinstance(options, (str, bytes)) or not hasattr(options, "__len__") or len(options) == 0:
            raise ValueError(f"grid({name}=...): expected a non-empty sequence of values, got {options!r}")
    rows = list(itertools.product(*values.values()))
    return {name: np.asarray([row[i] for row in rows], np.float32) for i, name in enumerate(values)}


_SPACES = ("uniform", "log_uniform", "choice")


def random_search(key: jax.Array, n: int, **spaces: tuple) -> dict[str, np.ndarray]:
    """`n` random settings: `{name: (n,) array}`.

    Each space is `("uniform", low, high)`, `("log_uniform", low, high)` (uniform in log space,
    the usual choice for learning rates and decay coefficients) or `("choice", [v1, v2, ...])`.
    Each name draws from its own sub-key (`fold_in(key, position)`), so adding a name at the end
    leaves the draws of the others unchanged.
    """
    check_key(key)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected a positive int (members), got {n!r}")
    if not spaces:
        raise ValueError("random_search: expected at least one space, e.g. learning_rate=('log_uniform', 1e-4, 1e-1)")
    out = {}
    for i, (name, space) in enumerate(spaces.items()):
        if not isinstance(space, tuple) or not space or space[0] not in _SPACES:
            raise ValueError(f"{name}: expected a tuple whose first item is one of {_SPACES}, got {space!r}")
        sub = np.random.default_rng(np.asarray(jax.random.key_data(jax.random.fold_in(key, i))))
        kind = space[0]
        if kind == "choice":
            if len(space) != 2 or len(space[1]) == 0:
                raise ValueError(f"{name}: expected ('choice', [values]), got {space!r}")
            out[name] = np.asarray(space[1], np.float32)[sub.integers(0, len(space[1]), n)]
            continue
        if len(space) != 3 or not space[1] < space[2]:
            raise ValueError(f"{name}: expected ({kind!r}, low, high) with low < high, got {space!r}")
        low, high = float(space[1]), float(space[2])
        if kind == "log_uniform":
            if low <= 0:
                raise ValueError(f"{name}: log_uniform needs low > 0, got {low}")
            out[name] = np.exp(sub.uniform(math.log(low), math.log(high), n)).astype(np.float32)
        else:
            out[name] = sub.uniform(low, high, n).astype(np.float32)
    return out


def best_member(history: Mapping[str, np.ndarray], monitor: str = "val_loss", mode: str = "auto") -> int:
    """Index of the member with the best `monitor` value over all its epochs (NaN never wins)."""
    if monitor not in history:
        raise ValueError(f"monitor: expected one of the history's metrics {sorted(history)}, "
                         f"got {monitor!r}")
    rule = Improvement.of(monitor, mode)
    best = int(rule.best_index(rule.best_value(history[monitor])))
    if best < 0:
        raise ValueError(f"history[{monitor!r}]: expected at least one finite value, got only NaN")
    return best


def results_table(history: Mapping[str, np.ndarray], settings: Mapping[str, Any] | None = None,
                  monitor: str = "val_loss", mode: str = "auto") -> list[dict[str, float]]:
    """One row per member: its settings, the best `monitor` value and epoch, the last value of
    every metric, and the epoch it stopped at (None if it ran to the end)."""
    if monitor not in history:
        raise ValueError(f"monitor: expected one of the history's metrics {sorted(history)}, "
                         f"got {monitor!r}")
    values = np.asarray(history[monitor], np.float64)
    best_epochs = Improvement.of(monitor, mode).best_index(values)
    active = np.asarray(history.get("active", np.ones_like(values, bool)), bool)
    metrics = [k for k, v in history.items()
               if k not in ("active", "best_epoch", "epoch_time") and np.ndim(v) == 2]
    rows = []
    for i in range(values.shape[1]):
        row: dict[str, Any] = {"member": i}
        for name, column in (settings or {}).items():
            row[name] = float(np.asarray(column)[i])
        column = values[:, i]
        best = int(best_epochs[i])
        row[f"best_{monitor}"] = float(column[best]) if best >= 0 else math.nan
        row["best_epoch"] = best + 1 if best >= 0 else None
        stopped = np.flatnonzero(~active[:, i])
        row["stopped_epoch"] = int(stopped[0]) + 1 if len(stopped) else None
        last = int(stopped[0]) if len(stopped) else len(column) - 1
        for name in metrics:
            row[f"last_{name}"] = float(np.asarray(history[name])[last, i])
        rows.append(row)
    return rows


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows (from `results_table`) as an aligned text table."""
    if not rows:
        return "(no members)"
    names = list(rows[0])

    def cell(v):
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    cells = [[cell(r.get(name)) for name in names] for r in rows]
    widths = [max(len(name), *(len(c[j]) for c in cells)) for j, name in enumerate(names)]
    lines = ["  ".join(name.rjust(w) for name, w in zip(names, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)
