"""`fit_population`: train a vmapped population for whole epochs, with per-member early stopping.

Member i of the population follows exactly the lone `fit` of the TrainState `member(pop, i)`:
its own shuffling (`shuffle_key(key_i, epoch)`), its own dropout keys, its own hyper-parameters,
and, with `patience`, the same Keras early-stopping rule as `EarlyStopping` (restore_best). A
member that stops keeps its parameters (the chunk's update is discarded by a per-member mask)
while the others go on; the loop ends when every member has stopped or after `epochs`.

Why one program for all members: on one device, `vmap` turns N small runs into N-times-wider
operations (deck 001: grid search "needs lots of GPUs"; see docs/benchmarks.md for the speed-up).
Stopped members still ride along in the compiled chunk (their results are masked out): shapes
never change, so nothing recompiles when a member stops.
"""
from __future__ import annotations

import functools
import math
import time
from functools import partial
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh

from jdl.train import _parallel as parallel
from jdl.train._loop import _check_batch_size, _check_pair, _chunk_length, _padded_batches
from jdl.train._population import population_mesh, shard_population
from jdl.train._state import TrainState, shuffle_key


def _select(mask: jax.Array, new, old):
    """Per-member `where(mask[i], new_i, old_i)` over a stacked pytree (typed keys included)."""

    def pick(a, b):
        if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
            data = _select(mask, jax.random.key_data(a), jax.random.key_data(b))
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(a))
        return jnp.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)

    return jax.tree.map(pick, new, old)


_select_jit = jax.jit(_select)


@functools.lru_cache(maxsize=32)
def _make_population_chunk(step_fn: Callable, steps: int) -> Callable:
    """jit(pop, xs, ys, active) -> (pop, logs): `steps` steps of every member on its own batches
    `xs: (N, steps, B, ...)`; members with `active[i] == False` keep their TrainState."""

    def member_chunk(ts, xs, ys):
        if steps == 1:
            ts, logs = step_fn(ts, (xs[0], ys[0]))
            return ts, jax.tree.map(lambda v: v[None], logs)
        return lax.scan(lambda t, batch: step_fn(t, batch), ts, (xs, ys), unroll=True)

    @partial(jax.jit, donate_argnums=0)
    def run_chunk(pop, xs, ys, active):
        new, logs = jax.vmap(member_chunk)(pop, xs, ys)
        return _select(active, new, pop), logs

    return run_chunk


@partial(jax.jit, static_argnums=(2,))
def _member_permutations(keys, epoch, n: int):
    """(N, n): member i's order of epoch `epoch`, as `fit` draws it for a lone run."""
    return jax.vmap(lambda k: jax.random.permutation(shuffle_key(k, epoch), n).astype(jnp.int32))(keys)


@partial(jax.jit, static_argnums=(4, 5))
def _gather_members(x, y, perms, start, steps: int, batch_size: int):
    """(N, steps, B, ...) batches: rows `perms[i, start : start + steps * B]` for member i."""
    idx = lax.dynamic_slice_in_dim(perms, start, steps * batch_size, axis=1)
    idx = idx.reshape(perms.shape[0], steps, batch_size)
    return x[idx], y[idx]


@functools.lru_cache(maxsize=32)
def _vmapped_eval(eval_step: Callable) -> Callable:
    return jax.jit(jax.vmap(getattr(eval_step, "__wrapped__", eval_step), in_axes=(0, None)))


def evaluate_population(pop: TrainState, eval_step: Callable, data: tuple, *,
                        batch_size: int = 1000) -> dict[str, np.ndarray]:
    """Per-member means of the eval step's metrics over `data = (x, y)`: `{name: (N,) array}`.

    Every member sees the same examples (train=False); the last batch is padded and weighted out.
    """
    x, y = _check_pair(data, "data")
    n = len(x)
    batch_size = min(_check_batch_size(batch_size, n), n)
    step = _vmapped_eval(eval_step)
    pop = pop._replace(opt_state=None)   # as `evaluate`: the eval step reads params and state
    totals = None
    for (xb, yb), weights, m in _padded_batches((x, y), batch_size):
        logs = step(pop, (xb, yb, weights))
        scaled = {name: value * m for name, value in logs.items()}
        totals = scaled if totals is None else {k: totals[k] + v for k, v in scaled.items()}
    return {name: np.asarray(value, np.float64) / n for name, value in totals.items()}


def _population_size(pop: TrainState) -> int:
    step = np.asarray(pop.step)
    if step.ndim != 1:
        raise ValueError(f"pop: expected a population (a TrainState whose leaves have a leading "
                         f"member axis, from init_population), got step of shape {step.shape}")
    if len(set(step.tolist())) != 1:
        raise ValueError(f"pop: expected every member at the same step, got steps {step.tolist()}")
    return len(step)


def fit_population(pop: TrainState, train_step: Callable, train_data: tuple, *, epochs: int,
                   batch_size: int, val_data: tuple | None = None, eval_step: Callable | None = None,
                   patience: int | None = None, monitor: str = "val_loss", mode: str = "auto",
                   min_delta: float = 0.0, restore_best: bool = True, steps_per_call: int = 4,
                   eval_batch_size: int = 1000,
                   devices: int | Sequence[jax.Device] | Mesh | None = None, verbose: int = 1,
                   log: Callable[[str], None] = print) -> tuple[TrainState, dict[str, np.ndarray]]:
    """Train every member of `pop` for up to `epochs` epochs; validate all members each epoch.

    Args:
      pop: from `init_population` (every leaf has a leading member axis N); it is donated.
      train_step: from `make_train_step` (jitted or not); it is vmapped over the members.
      train_data: `(x, y)`, shared by the members; each member shuffles it with its own key.
      epochs, batch_size, steps_per_call, eval_batch_size: as in `fit`.
      val_data, eval_step: validation pair and `make_eval_step(...)`; logs get `val_*`.
      patience: per-member early stopping (None: off). Member i stops once `monitor` has not
        improved for `patience` epochs in a row (Keras semantics, as `EarlyStopping`); from then
        on its TrainState no longer changes.
      monitor, mode, min_delta: what counts as an improvement ("auto": max for names with "acc").
      restore_best: with `patience`, each member ends with the TrainState of its best epoch
        (exactly what `fit(..., callbacks=[EarlyStopping(..., restore_best=True)])` returns).
      devices: None (where `pop` lives), a device count, a list of devices or a 1-D Mesh:
        the members are spread over them with `shard_population` (N must be a multiple of
        the device count) and the training data is copied to each. A population already
        sharded that way needs no `devices`. The results equal the one-device run's.

    Returns:
      `(pop, history)`: history maps each metric to an `(epochs_run, N)` array, plus
      `"active"` (epochs_run, N) (still training after that epoch), `"best_epoch"` (N,) (0-based,
      -1 if never evaluated) and `"epoch_time"` (epochs_run,).
    """
    n_members = _population_size(pop)
    x, y = _check_pair(train_data, "train_data")
    n = len(x)
    batch_size = _check_batch_size(batch_size, n)
    if batch_size > n:
        raise ValueError(f"batch_size: expected at most the number of training examples ({n}), "
                         f"got {batch_size}")
    if patience is not None and monitor.startswith("val_") and val_data is None:
        raise ValueError(f"monitor: {monitor!r} needs val_data and eval_step, got val_data=None")
    if val_data is not None:
        _check_pair(val_data, "val_data")
        if eval_step is None:
            raise ValueError("eval_step: expected an eval step (make_eval_step(...)) when val_data "
                             "is given, got None")
    if patience is not None and patience < 0:
        raise ValueError(f"patience: expected None or an int >= 0, got {patience!r}")
    if mode not in ("min", "max", "auto"):
        raise ValueError(f"mode: expected 'min', 'max' or 'auto', got {mode!r}")
    mode = ("max" if "acc" in monitor else "min") if mode == "auto" else mode
    num_batches = n // batch_size
    k = _chunk_length(num_batches, _check_batch_size(steps_per_call, n, "steps_per_call"))
    run_chunk = _make_population_chunk(getattr(train_step, "__wrapped__", train_step), k)
    if devices is not None:
        pop = shard_population(pop, devices)
    mesh = population_mesh(pop)
    if mesh is None:
        x, y = jax.device_put(x), jax.device_put(y)
    else:
        x, y = parallel.replicate((x, y), mesh)

    sign = 1.0 if mode == "min" else -1.0   # compare sign * value: lower is better
    best_value = np.full(n_members, math.inf)
    best_epoch = np.full(n_members, -1)
    wait = np.zeros(n_members, np.int64)
    active = np.ones(n_members, bool)
    best_pop = None
    history: dict[str, list] = {}
    first_epoch = int(np.asarray(pop.step)[0]) // num_batches

    for e in range(epochs):
        start_time = time.perf_counter()
        perms = _member_permutations(pop.key, first_epoch + e, n)
        active_device = jnp.asarray(active)
        chunks = []
        for c in range(num_batches // k):
            xs, ys = _gather_members(x, y, perms, np.int32(c * k * batch_size), k, batch_size)
            pop, logs = run_chunk(pop, xs, ys, active_device)
            chunks.append(logs)
            if mesh is not None:   # multi-device loops wait for each call (research notes)
                jax.block_until_ready(logs["loss"])
            elif c >= 2:
                jax.block_until_ready(chunks[c - 2]["loss"])
        epoch_logs = {name: np.asarray(jnp.mean(jnp.concatenate([c[name] for c in chunks], 1), 1))
                      for name in chunks[0]}
        if val_data is not None:
            val = evaluate_population(pop, eval_step, val_data, batch_size=eval_batch_size)
            epoch_logs.update({f"val_{name}": value for name, value in val.items()})
        if patience is not None:
            if monitor not in epoch_logs:
                raise KeyError(f"monitor: {monitor!r} is not among the epoch logs {sorted(epoch_logs)}")
            value = sign * epoch_logs[monitor]
            improved = active & (value < best_value - abs(min_delta))
            best_value = np.where(improved, value, best_value)
            best_epoch = np.where(improved, e, best_epoch)
            wait = np.where(improved, 0, wait + active)
            if restore_best and improved.any():
                snapshot = jax.tree.map(jnp.copy, pop)
                best_pop = snapshot if best_pop is None else _select_jit(jnp.asarray(improved),
                                                                         snapshot, best_pop)
            active = active & (wait < patience)
        elif monitor in epoch_logs:
            value = sign * epoch_logs[monitor]
            improved = value < best_value
            best_value = np.where(improved, value, best_value)
            best_epoch = np.where(improved, e, best_epoch)
        epoch_logs["active"] = active.copy()
        for name, value in epoch_logs.items():
            history.setdefault(name, []).append(value)
        history.setdefault("epoch_time", []).append(time.perf_counter() - start_time)
        if verbose:
            shown = "  ".join(f"{name} {np.min(v):.4f}..{np.max(v):.4f}"
                              for name, v in epoch_logs.items() if name != "active")
            log(f"epoch {e + 1}/{epochs}  {shown}  active {int(active.sum())}/{n_members}  "
                f"({history['epoch_time'][-1]:.1f} s)")
        if not active.any():
            break

    if patience is not None and restore_best and best_pop is not None:
        # a member that never improved (e.g. NaN from the start) keeps its last state, as in `fit`
        pop = _select_jit(jnp.asarray(best_epoch >= 0), best_pop, pop)
    out = {name: np.stack(values) for name, values in history.items()}
    out["best_epoch"] = best_epoch
    return pop, out
