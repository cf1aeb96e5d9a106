"""`fit_population`: the epoch engine (`jdl.train._engine`) under `vmap`, with per-member early
stopping.

Member i of the population follows exactly the lone `fit` of the TrainState `member(pop, i)`:
its own shuffling (`shuffle_key(key_i, epoch)`), its own dropout keys, its own hyper-parameters,
and, with `patience`, the same Keras early-stopping rule as `EarlyStopping` (restore_best). A
member that stops keeps its parameters (the chunk's update is discarded by a per-member mask)
while the others go on; the loop ends when every member has stopped or after `epochs`.

Why one program for all members: on one device, `vmap` turns N small runs into N-times-wider
operations (grid search "needs lots of GPUs"; see docs/benchmarks.md for the speed-up).
Stopped members still ride along in the compiled chunk (their results are masked out): shapes
never change, so nothing recompiles when a member stops.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from jdl.train import _parallel as parallel
from jdl.train._callbacks import MemberEarlyStopping
from jdl.train._checks import check_training_inputs
from jdl.train._chunking import resolve_chunking
from jdl.train._engine import (EpochPlan, compiled_chunk, compiled_gather, compiled_tail,
                               run_epochs)
from jdl.train._evaluate import evaluate_members, evaluate_population
from jdl.train._population import population_mesh, shard_population
from jdl.train._safety import check_on_nonfinite
from jdl.train._state import TrainState


def _population_size(pop: TrainState) -> int:
    step = np.asarray(pop.step)
    if step.ndim != 1:
        raise ValueError(f"pop: expected a population (a TrainState whose leaves have a leading "
                         f"member axis, from init_population), got step of shape {step.shape}")
    if len(set(step.tolist())) != 1:
        raise ValueError(f"pop: expected every member at the same step, got steps {step.tolist()}")
    return len(step)


def _check_member_rows(member_rows, n_members: int, n: int, batch_size: int, val_data):
    """member_rows.train as an (N, m) int array, checked; None without member_rows."""
    if member_rows is None:
        return None
    if not all(hasattr(member_rows, name) for name in ("train", "val", "val_weights")):
        raise TypeError(f"member_rows: expected data.fold_rows(...) (train, val and val_weights "
                        f"rows), got {type(member_rows).__name__}")
    if val_data is not None:
        raise ValueError("val_data: expected None with member_rows (each member is validated on "
                         "its own rows of train_data), got a validation pair")
    rows = np.asarray(member_rows.train)
    if rows.ndim != 2 or rows.shape[0] != n_members or not np.issubdtype(rows.dtype, np.integer):
        raise ValueError(f"member_rows: expected integer training rows of shape ({n_members}, m), "
                         f"one row per member, got {rows.dtype} of shape {rows.shape}")
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise ValueError(f"member_rows: expected row indices in [0, {n}), got values from "
                         f"{rows.min()} to {rows.max()}")
    if rows.shape[1] < batch_size:
        raise ValueError(f"batch_size: expected at most the {rows.shape[1]} training rows of each "
                         f"member, got {batch_size}")
    return rows


def fit_population(pop: TrainState, train_step: Callable, train_data: tuple, *, epochs: int,
                   batch_size: int, val_data: tuple | None = None, eval_step: Callable | None = None,
                   patience: int | None = None, monitor: str = "val_loss", mode: str = "auto",
                   min_delta: float = 0.0, restore_best: bool = True,
                   steps_per_call: int | None = None, unroll: bool | None = None, eval_batch_size: int = 1000,
                   devices: int | Sequence[jax.Device] | Mesh | None = None, verbose: int = 1,
                   on_nonfinite: str = "stop", member_rows=None, log: Callable[[str], None] = print
                   ) -> tuple[TrainState, dict[str, np.ndarray]]:
    """Train every member of `pop` for up to `epochs` epochs; validate all members each epoch.

    Args:
      pop: from `init_population` (every leaf has a leading member axis N); it is donated.
      train_step: from `make_train_step`; its pure function is vmapped over the members and
        run K steps per compiled call, as in `fit`.
      train_data: `(x, y)`, shared by the members; each member shuffles it with its own key.
      epochs, batch_size, steps_per_call, unroll, eval_batch_size, verbose, log: as in `fit`.
      on_nonfinite: as in `fit`, per member: with "stop" a member whose loss is not finite
        keeps its last finite state from then on while the others train on (history gains
        "finite", (epochs_run, N)); "skip" skips such steps per member. Interruptions as in
        `fit`: the population after the last completed chunk is returned.
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
      member_rows: k-fold cross-validation (`data.fold_rows(data.kfold(...))`, or anything
        with `train` (N, m), `val` (N, v) and `val_weights` (N, v) row indices into
        `train_data`): member i trains on `train_data[train[i]]` only, exactly as a lone `fit`
        on those rows, and, with `eval_step`, is validated on its own rows `val[i]`
        (`val_data` must then be None). See `cross_validate`.

    Returns:
      `(pop, history)`: history maps each metric to an `(epochs_run, N)` array, plus
      `"active"` (epochs_run, N) (still training after that epoch), `"best_epoch"` (N,) (0-based,
      -1 if never evaluated) and `"epoch_time"` (epochs_run,).
    """
    n_members = _population_size(pop)
    x, y, batch_size, steps_per_call, unroll = check_training_inputs(
        train_data, batch_size, val_data, eval_step, steps_per_call, epochs=epochs, unroll=unroll)
    if patience is not None and monitor.startswith("val_") and val_data is None:
        raise ValueError(f"monitor: {monitor!r} needs val_data and eval_step, got val_data=None")
    stopping = MemberEarlyStopping(n_members, monitor, patience, min_delta=min_delta, mode=mode,
                                   restore_best=restore_best)
    rows = _check_member_rows(member_rows, n_members, len(x), batch_size, val_data)
    num_batches = (len(x) if rows is None else rows.shape[1]) // batch_size
    k, unroll = resolve_chunking(train_step, pop, x, y, batch_size, num_batches, steps_per_call,
                                 unroll, members=True)
    if devices is not None:
        pop = shard_population(pop, devices)
    mesh = population_mesh(pop)
    x, y = (jax.device_put(x), jax.device_put(y)) if mesh is None else parallel.replicate((x, y), mesh)
    step_fn = getattr(train_step, "__wrapped__", train_step)
    on_nonfinite = check_on_nonfinite(on_nonfinite)
    plan = EpochPlan(x, y, batch_size, k, num_batches,
                     compiled_chunk(step_fn, k, unroll, True, on_nonfinite),
                     compiled_gather(None, True), shuffle=True, members=True,
                     in_flight=0 if mesh is not None else 2, on_nonfinite=on_nonfinite,
                     rows=None if rows is None else jnp.asarray(rows),
                     run_tail=compiled_tail(step_fn, num_batches, k, unroll, True, on_nonfinite))
    validate = None if val_data is None else partial(
        evaluate_population, eval_step=eval_step, data=val_data, batch_size=eval_batch_size)
    if rows is not None and eval_step is not None:
        validate = partial(evaluate_members, eval_step=eval_step, data=train_data,
                           rows=member_rows.val, weights=member_rows.val_weights,
                           batch_size=eval_batch_size)
    first_epoch = int(np.asarray(pop.step)[0]) // num_batches
    pop, history = run_epochs(pop, plan, first_epoch=first_epoch, start_epoch=first_epoch,
                              epochs=epochs, validate=validate, callbacks=[stopping],
                              verbose=verbose, log=log)
    out = {name: np.stack(values) for name, values in history.items()}
    out["best_epoch"] = stopping.best_epoch
    return pop, out
