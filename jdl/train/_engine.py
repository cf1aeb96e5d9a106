"""The epoch engine: the one training loop under `fit` (one member) and `fit_population` (N).

Per epoch: one on-device permutation of the training rows (`shuffle_key(key, epoch)`, per
member for a population), then for each chunk of K batches one call that gathers the rows and
one call that runs K train steps. Metrics stay on the device until the epoch ends, at most two
chunks are in flight (multi-device calls wait for each other: XLA's CPU collectives can
deadlock otherwise), and the progress bar reads one loss at most every 0.25 s. Then the
validation pass, the checkpoint, the callbacks (early stopping, plateau schedules, per-member
patience), the history and the epoch line.

Why K steps per call: one step per call pays Python dispatch every step. How many, and
rolled or unrolled, is `_chunking.chunking_rule`'s measured choice: K = 4 unrolled for
convolutions on a CPU (a rolled `lax.scan` runs them 10-40x slower on XLA:CPU,
jax-ml/jax#12868), K = 64 rolled otherwise. The gather is its own call: a convolution whose
input is gathered inside the same program ran about 17% slower there (98 vs 84 ms per step).

A population is the same loop under `vmap`: the chunk runs every member on its own batches
(`xs: (N, K, B, ...)`) and keeps the old TrainState of members whose `active` flag is off, so
shapes never change and nothing recompiles when a member stops.
"""
from __future__ import annotations

import time
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jdl import compile_cache
from jdl.data import epoch_order
from jdl.train import _parallel as parallel
from jdl.train._population import member_rows_order, select_members
from jdl.train._progress import ProgressBar, format_epoch
from jdl.train._safety import (RunProgress, attach_state, ctrl_c_stops_after_chunk,
                               freeze_if_nonfinite, guard_step, replay_until_nonfinite)


def _build_chunk(step_fn: Callable, steps: int, unroll: bool, members: bool,
                 on_nonfinite: str) -> Callable:
    step = guard_step(step_fn, on_nonfinite)

    def chunk(ts, xs, ys, bad):
        if steps == 1:  # even a length-1 scan hits XLA:CPU's slow in-loop convolutions
            (new, new_bad), logs = step((ts, bad), (xs[0], ys[0]))
            logs = jax.tree.map(lambda v: v[None], logs)
        else:
            (new, new_bad), logs = lax.scan(step, (ts, bad), (xs, ys), unroll=unroll)
        if on_nonfinite == "stop":
            new, new_bad = freeze_if_nonfinite(ts, new, logs, bad)
        return new, logs, new_bad

    if not members:
        return jax.jit(chunk, donate_argnums=0)

    def population_chunk(pop, xs, ys, bad, active):
        new, logs, bad = jax.vmap(chunk)(pop, xs, ys, bad)
        return select_members(active, new, pop), logs, bad

    return jax.jit(population_chunk, donate_argnums=0)


def compiled_chunk(step_fn: Callable, steps: int, unroll: bool, members: bool,
                   on_nonfinite: str = "stop") -> Callable:
    """jit(ts, xs, ys, bad[, active]) -> (ts, logs, bad): `steps` train steps on batches
    `xs: ([N,] steps, B, ...)`, guarded against non-finite losses (see `_safety`).

    `unroll=False` keeps a rolled `lax.scan` (small programs for a whole epoch per call: good on
    GPUs and for MLPs, slow for convolutions on XLA:CPU). Cached in `jdl.compile_cache`.
    """
    return compile_cache.cached(
        ("train_chunk", step_fn, steps, unroll, members, on_nonfinite),
        lambda: _build_chunk(step_fn, steps, unroll, members, on_nonfinite))


def compiled_tail(step_fn: Callable, num_batches: int, steps: int, unroll: bool, members: bool,
                  on_nonfinite: str) -> Callable | None:
    """The chunk of an epoch's last `num_batches % steps` steps (`chunk_plan`), or None."""
    tail = num_batches % steps
    return compiled_chunk(step_fn, tail, unroll, members, on_nonfinite) if tail else None


def _permutations(keys, epoch, n: int, shuffle: bool):
    def one(key):
        if not shuffle:
            return jnp.arange(n, dtype=jnp.int32)
        return epoch_order(key, epoch, n)

    return one(keys) if keys.ndim == 0 else jax.vmap(one)(keys)


permutations = jax.jit(_permutations, static_argnums=(2, 3))
permutations.__doc__ = """(n,) or (N, n): the order of epoch `epoch` for a key or N member keys."""


def _gather(x, y, perm, start, steps: int, batch_size: int):
    """Rows `perm[..., start : start + steps * B]` of x and y as `([N,] steps, B, ...)`."""
    idx = lax.dynamic_slice_in_dim(perm, start, steps * batch_size, axis=perm.ndim - 1)
    idx = idx.reshape(perm.shape[:-1] + (steps, batch_size))
    return x[idx], y[idx]


def compiled_gather(mesh, members: bool) -> Callable:
    """The jitted gather; with data parallelism its batches are split over `mesh`."""
    if mesh is None or members:   # a sharded population's gather follows its permutations
        return compile_cache.cached(("gather",), lambda: jax.jit(_gather, static_argnums=(4, 5)))
    sharded = parallel.batch_sharding(mesh, batch_axis=1)   # (steps, batch, ...): split the batch
    return compile_cache.cached(("gather", mesh), lambda: jax.jit(
        _gather, static_argnums=(4, 5), out_shardings=(sharded, sharded)))


class EpochPlan(NamedTuple):
    """What stays the same every epoch of one training call."""

    x: Any
    y: Any
    batch_size: int
    steps: int                  # K, steps per compiled call
    num_batches: int            # full batches per epoch (the partial last one is dropped)
    run_chunk: Callable
    gather: Callable
    shuffle: bool
    members: bool               # a population (vmapped) or one run
    in_flight: int              # chunks left running before the loop waits (0: wait for each)
    mesh: Any = None            # data parallelism (one run over several devices), or None
    on_nonfinite: str = "stop"  # see jdl.train._safety
    replay: Callable | None = None  # one unguarded step: finds the last finite state on failure
    rows: Any = None            # (N, m): each member's own training rows of x (k-fold), or None
    run_tail: Callable | None = None   # the chunk of the num_batches % K steps left, if any

    def calls(self) -> list[tuple[int, int, Callable]]:
        """(first batch, steps, program) of each call of an epoch, in order."""
        full, tail = divmod(self.num_batches, self.steps)
        calls = [(c * self.steps, self.steps, self.run_chunk) for c in range(full)]
        return calls + ([(full * self.steps, tail, self.run_tail)] if tail else [])


def train_epoch(plan: EpochPlan, progress: RunProgress, epoch: int, active, bar: ProgressBar
                ) -> dict:
    """One epoch of chunks from `progress.ts`, which is kept at the last completed chunk.

    Returns `{name: mean over the epoch}` (floats, or (N,) arrays for a population). Stops
    early when a Ctrl-C asked for it or, with on_nonfinite="stop" in one run, a loss was not
    finite (`progress.stopped_by` says which).
    """
    if plan.rows is None:
        perm = permutations(progress.ts.key, epoch, len(plan.x), plan.shuffle)
    else:   # member i visits its own rows in the order a lone run on x[rows[i]] would
        perm = member_rows_order(plan.rows, permutations(
            progress.ts.key, epoch, plan.rows.shape[-1], plan.shuffle))
    extra = () if not plan.members else (jnp.asarray(active),)
    chunks, bads, batches = [], [], []
    for c, (first, steps, run_chunk) in enumerate(plan.calls()):
        start = np.int32(first * plan.batch_size)
        xs, ys = plan.gather(plan.x, plan.y, perm, start, steps, plan.batch_size)
        progress.ts, logs, progress.bad = run_chunk(progress.ts, xs, ys, progress.bad, *extra)
        chunks.append(logs)
        bads.append(progress.bad)
        batches.append((xs, ys))
        if c >= plan.in_flight:   # bounded memory and, on several devices, no deadlock
            jax.block_until_ready(chunks[c - plan.in_flight]["loss"])
            _check_halted(plan, progress, bads, batches, c - plan.in_flight)
            batches[c - plan.in_flight] = None
        if bar.due():
            bar.update(first + steps, float(jnp.mean(logs["loss"])))
        if progress.stopped_by or progress.stop_requested:
            break
    bar.close()
    for j in range(len(chunks)):
        if not progress.stopped_by and batches[j] is not None:
            _check_halted(plan, progress, bads, batches, j)
    return _epoch_means(plan, chunks)


def _check_halted(plan: EpochPlan, progress: RunProgress, bads: list, batches: list, j: int):
    """One run, "stop": if chunk j failed, stop and replay it to the last finite state."""
    if plan.on_nonfinite != "stop" or plan.members or not bool(bads[j]):
        return
    progress.stopped_by = "nonfinite"
    if plan.replay is not None:   # the state is chunk j's input: every later chunk kept it
        progress.ts = replay_until_nonfinite(plan.replay, progress.ts, *batches[j])


def _epoch_means(plan: EpochPlan, chunks: list) -> dict:
    """The epoch's mean of every logged value ("skip" leaves out the skipped steps), from one
    `device_get` and NumPy: `jnp.concatenate` compiled a program per chunk count (0.3 s)."""
    chunks = jax.device_get(chunks if plan.mesh is None else parallel.local(chunks))
    logs = {name: np.concatenate([np.asarray(c[name]) for c in chunks], -1) for name in chunks[0]}
    kept = ~logs.pop("skipped") if "skipped" in logs else None
    means = {} if kept is None else {"skipped_steps": np.sum(~kept, -1)}
    for name, values in logs.items():
        values = values.astype(np.float32)
        means[name] = (np.mean(values, -1, dtype=np.float32) if kept is None else
                       np.where(kept, values, np.float32(0)).sum(-1, dtype=np.float32)
                       / np.maximum(kept.sum(-1), 1).astype(np.float32))
    return {name: (v.item() if np.ndim(v) == 0 else v) for name, v in means.items()}


def _active_members(callbacks: Sequence, ts) -> np.ndarray:
    """The members still training: the AND of the callbacks' `active` masks (all by default)."""
    active = np.ones(ts.step.shape[0], bool)
    for cb in callbacks:
        if getattr(cb, "active", None) is not None:
            active &= np.asarray(cb.active, bool)
    return active


def _epoch_end(callbacks: Sequence, epoch: int, logs: dict, ts):
    for cb in callbacks:
        replacement = cb.on_epoch_end(epoch, logs, ts)
        if replacement is not None:
            ts = replacement
    return ts


class _Run(NamedTuple):
    """The settings of one `run_epochs` call that every epoch reads."""

    plan: EpochPlan
    first_epoch: int
    epochs: int
    validate: Callable | None
    callbacks: Sequence
    checkpoints: Any
    verbose: int
    log: Callable[[str], None]


def _one_epoch(run: _Run, progress: RunProgress, epoch: int, history: dict) -> bool:
    """Train, validate, checkpoint, call back and log one epoch; False when training must end."""
    plan, start_time = run.plan, time.perf_counter()
    active = _active_members(run.callbacks, progress.ts) if plan.members else None
    bar = ProgressBar(epoch + 1 - run.first_epoch, run.epochs, plan.num_batches,
                      enabled=run.verbose == 1)
    logs = train_epoch(plan, progress, epoch, active, bar)
    if progress.stopped_by or progress.stop_requested:
        return False   # a partial epoch: no validation, checkpoint or callbacks
    if run.validate is not None:
        logs.update({f"val_{name}": value for name, value in run.validate(progress.ts).items()})
    logs["epoch_time"] = time.perf_counter() - start_time
    if run.checkpoints is not None:   # before the callbacks: a callback that fails loses nothing
        run.checkpoints.save(progress.ts, metrics=logs)
    progress.ts = _epoch_end(run.callbacks, epoch - run.first_epoch, logs, progress.ts)
    if plan.members:
        logs["active"] = _active_members(run.callbacks, progress.ts)
        if plan.on_nonfinite == "stop":
            logs["finite"] = ~np.asarray(progress.bad)
    for name, value in logs.items():
        history.setdefault(name, []).append(value)
    if run.verbose:
        run.log(format_epoch(epoch + 1 - run.first_epoch, run.epochs, logs))
    ended = plan.members and not (logs["active"] & logs.get("finite", True)).any()
    return not (ended or any(cb.stop_training for cb in run.callbacks))


def _stop_message(progress: RunProgress, epoch: int) -> str:
    step = int(jnp.max(progress.ts.step))
    if progress.stopped_by == "nonfinite":
        return (f"the loss or the updated state was not finite in epoch {epoch} at step "
                f"{step + 1}: training stopped "
                f"and the last finite state (step {step}) is returned; lower the learning rate "
                "or clip the gradients, or pass on_nonfinite='skip' to skip such steps")
    return (f"training interrupted in epoch {epoch}: the state after the last completed chunk "
            f"(step {step}) is returned with the history of the completed epochs")


def run_epochs(ts, plan: EpochPlan, *, first_epoch: int, start_epoch: int, epochs: int,
               validate: Callable | None, callbacks: Sequence, checkpoints=None,
               verbose: int = 1, log: Callable[[str], None] = print):
    """Epochs `start_epoch .. first_epoch + epochs - 1`: `(ts, history)`, history a dict of lists.

    `validate(ts) -> {name: value}` adds `val_*` logs; callbacks see `epoch - first_epoch`.
    Ctrl-C, a KeyboardInterrupt or (with on_nonfinite="stop") a non-finite loss end the call
    early with the last completed state and a message; any other exception is re-raised with
    that state as `exc.train_state` (see `jdl.train._safety`).
    """
    run = _Run(plan, first_epoch, epochs, validate, callbacks, checkpoints, verbose, log)
    progress, history, epoch = RunProgress(ts), {}, start_epoch
    try:
        with ctrl_c_stops_after_chunk(progress, log):
            for cb in callbacks:
                cb.on_train_begin(progress.ts)
            for epoch in range(start_epoch, first_epoch + epochs):
                if not _one_epoch(run, progress, epoch, history):
                    break
    except KeyboardInterrupt:
        progress.stopped_by = "interrupt"
    except Exception as exc:
        attach_state(exc, progress.ts, history)
        raise
    if progress.stopped_by or progress.stop_requested:
        log(_stop_message(progress, epoch + 1 - first_epoch))
        return progress.ts, history
    ts = progress.ts
    for cb in callbacks:
        replacement = cb.on_train_end(ts)
        if replacement is not None:
            ts = replacement
    return ts, history
