"""`evaluate`, `evaluate_population` and `predict`: one padded, weighted pass over a dataset.

The last batch is zero-padded to the batch size and its padded rows get weight 0, so the eval
step compiles once and every example counts exactly once. The eval step reads the parameters
and the model state only: the optimizer state is dropped before the call, so runs that differ
only in their optimizer share one compiled eval step.
"""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jdl import compile_cache
from jdl.nn import Layer
from jdl.train._checks import check_model_fits, check_pair, check_positive_int
from jdl.train._state import TrainState


def padded_batches(arrays: Sequence, batch_size: int) -> Iterator[tuple[list, np.ndarray, int]]:
    """Yield `(batch arrays, weights, real_count)` with the last batch zero-padded to `batch_size`."""
    n = len(arrays[0])
    ones = np.ones(batch_size, np.float32)
    for start in range(0, n, batch_size):
        parts = [a[start:start + batch_size] for a in arrays]
        m = len(parts[0])
        if m == batch_size:
            yield parts, ones, m
        else:
            pad = batch_size - m
            parts = [jnp.pad(jnp.asarray(p), [(0, pad)] + [(0, 0)] * (p.ndim - 1)) for p in parts]
            yield parts, np.concatenate([np.ones(m, np.float32), np.zeros(pad, np.float32)]), m


def _batch_size_for(n: int, batch_size, name: str) -> int:
    if n == 0:
        raise ValueError(f"{name}: expected at least one example, got an empty dataset")
    return min(check_positive_int(batch_size, "batch_size"), n)


def weighted_means(step: Callable, ts: TrainState, data: tuple, batch_size: int
                   ) -> dict[str, np.ndarray]:
    """Means of `step(ts, (x, y, weights))`'s metrics over `data`: float64 scalars or (N,) arrays."""
    x, y = check_pair(data, "data")
    n = len(x)
    batch_size = _batch_size_for(n, batch_size, "data")
    ts = ts._replace(opt_state=None)
    totals = None
    for (xb, yb), weights, m in padded_batches((x, y), batch_size):
        logs = step(ts, (xb, yb, weights))
        scaled = {name: value * m for name, value in logs.items()}
        totals = scaled if totals is None else {k: totals[k] + v for k, v in scaled.items()}
    return {name: np.asarray(value, np.float64) / n for name, value in totals.items()}


def evaluate(ts: TrainState, eval_step: Callable, data: tuple, *, batch_size: int = 1000
             ) -> dict[str, float]:
    """Means of the eval step's metrics over the whole of `data = (x, y)` (train=False)."""
    return {name: float(value) for name, value in
            weighted_means(eval_step, ts, data, batch_size).items()}


def _vmapped_eval(eval_step: Callable) -> Callable:
    pure = getattr(eval_step, "__wrapped__", eval_step)
    return compile_cache.cached(("population_eval", pure),
                                lambda: jax.jit(jax.vmap(pure, in_axes=(0, None))))


def evaluate_population(pop: TrainState, eval_step: Callable, data: tuple, *,
                        batch_size: int = 1000) -> dict[str, np.ndarray]:
    """Per-member means of the eval step's metrics over `data = (x, y)`: `{name: (N,) array}`.

    Every member sees the same examples (train=False). The eval step is vmapped over the
    members from its pure function (`eval_step.__wrapped__` when it is jitted).
    """
    return weighted_means(_vmapped_eval(eval_step), pop, data, batch_size)


def _forward_program(model: Layer) -> Callable:
    return compile_cache.cached(("predict", model), lambda: jax.jit(
        lambda params, state, x: model.apply(params, state, x, train=False)[0]))


def predict(model: Layer, ts: TrainState, x, *, batch_size: int = 1000) -> jax.Array:
    """The model's outputs on `x` in evaluation mode (`train=False`), computed in batches."""
    batch_size = _batch_size_for(len(x), batch_size, "x")
    check_model_fits(model, ts, x)
    forward = _forward_program(model)
    outs = [forward(ts.params, ts.state, xb)[:m]
            for (xb,), _, m in padded_batches((x,), batch_size)]
    return jnp.concatenate(outs)


def _member_eval(eval_step: Callable) -> Callable:
    pure = getattr(eval_step, "__wrapped__", eval_step)
    return compile_cache.cached(("member_eval", pure),
                                lambda: jax.jit(jax.vmap(pure, in_axes=(0, 0))))


def evaluate_members(pop: TrainState, eval_step: Callable, data: tuple, rows, weights, *,
                     batch_size: int = 1000) -> dict[str, np.ndarray]:
    """Per-member means of the eval step's metrics, member i over `data[rows[i]]` only:
    `{name: (N,) array}` (k-fold validation: each fold-model on its own fold).

    rows, weights: `(N, v)` row indices into `data` and their 0/1 weights (padding rows 0),
    as `data.fold_rows(...)` gives them.
    """
    x, y = check_pair(data, "data")
    x, y, rows, weights = jnp.asarray(x), jnp.asarray(y), np.asarray(rows), np.asarray(weights)
    batch_size = _batch_size_for(rows.shape[1], batch_size, "rows")
    step, pop = _member_eval(eval_step), pop._replace(opt_state=None)
    totals = None
    for start in range(0, rows.shape[1], batch_size):
        idx, w = rows[:, start:start + batch_size], weights[:, start:start + batch_size]
        if idx.shape[1] < batch_size:   # pad the last batch: one compiled eval step
            pad = batch_size - idx.shape[1]
            idx = np.pad(idx, [(0, 0), (0, pad)], mode="edge")
            w = np.pad(w, [(0, 0), (0, pad)])
        logs = step(pop, (x[idx], y[idx], jnp.asarray(w)))
        count = w.sum(1)   # a member's batch may be all padding: its weighted mean is 0/0
        scaled = {k: np.where(count > 0, np.asarray(v, np.float64) * count, 0.0)
                  for k, v in logs.items()}
        totals = scaled if totals is None else {k: totals[k] + v for k, v in scaled.items()}
    return {name: value / weights.sum(1) for name, value in totals.items()}
