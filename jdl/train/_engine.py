"""The epoch engine: the one training loop under `fit` (one member) and `fit_population` (N).

Per epoch: one on-device permutation of the training rows (`shuffle_key(key, epoch)`, per
member for a population), then for each chunk of K batches one call that gathers the rows and
one call that runs K train steps. Metrics stay on the device until the epoch ends, at most two
chunks are in flight (multi-device calls wait for each other: XLA's CPU collectives can
deadlock otherwise), and the progress bar reads one loss at most every 0.25 s. Then the
validation pass, the checkpoint, the callbacks (early stopping, plateau schedules, per-member
patience), the history and the epoch line.

Why K steps per call, unrolled: one step per call pays Python dispatch every step; a rolled
`lax.scan` over a whole epoch runs convolutions about 10x slower on XLA:CPU (jax-ml/jax#12868;
docs/design.md has the measurements); K = 4 unrolled steps was the fastest on a 2-core CPU
for conv nets (54 vs 75 ms per step). The gather is its own call: a convolution whose input is
gathered inside the same program ran about 17% slower there (98 vs 84 ms per step).

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
from jdl.data import shuffle_key
from jdl.train import _parallel as parallel
from jdl.train._population import select_members
from jdl.train._progress import ProgressBar


def chunk_length(num_batches: int, steps_per_call: int) -> int:
    """The largest divisor of `num_batches` not above `steps_per_call` (one compile per epoch)."""
    return max(k for k in range(1, max(1, min(steps_per_call, num_batches)) + 1)
               if num_batches % k == 0)


def _build_chunk(step_fn: Callable, steps: int, unroll: bool, members: bool) -> Callable:
    def chunk(ts, xs, ys):
        if steps == 1:  # even a length-1 scan hits XLA:CPU's slow in-loop convolutions
            ts, logs = step_fn(ts, (xs[0], ys[0]))
            return ts, jax.tree.map(lambda v: v[None], logs)
        return lax.scan(lambda t, batch: step_fn(t, batch), ts, (xs, ys), unroll=unroll)

    if not members:
        return jax.jit(chunk, donate_argnums=0)

    def population_chunk(pop, xs, ys, active):
        new, logs = jax.vmap(chunk)(pop, xs, ys)
        return select_members(active, new, pop), logs

    return jax.jit(population_chunk, donate_argnums=0)


def compiled_chunk(step_fn: Callable, steps: int, unroll: bool, members: bool) -> Callable:
    """jit(ts, xs, ys[, active]) -> (ts, logs): `steps` train steps on `xs: ([N,] steps, B, ...)`.

    `unroll=False` keeps a rolled `lax.scan` (small programs for a whole epoch per call: good on
    GPUs and for MLPs, slow for convolutions on XLA:CPU). Cached in `jdl.compile_cache`.
    """
    return compile_cache.cached(("train_chunk", step_fn, steps, unroll, members),
                                lambda: _build_chunk(step_fn, steps, unroll, members))


def _permutations(keys, epoch, n: int, shuffle: bool):
    def one(key):
        if not shuffle:
            return jnp.arange(n, dtype=jnp.int32)
        return jax.random.permutation(shuffle_key(key, epoch), n).astype(jnp.int32)

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


def train_epoch(plan: EpochPlan, ts, epoch: int, active, bar: ProgressBar):
    """One epoch of chunks: `(ts, {name: mean over the epoch})`, floats or (N,) arrays."""
    perm = permutations(ts.key, epoch, len(plan.x), plan.shuffle)
    extra = () if not plan.members else (jnp.asarray(active),)
    chunks = []
    for c in range(plan.num_batches // plan.steps):
        start = np.int32(c * plan.steps * plan.batch_size)
        xs, ys = plan.gather(plan.x, plan.y, perm, start, plan.steps, plan.batch_size)
        ts, logs = plan.run_chunk(ts, xs, ys, *extra)
        chunks.append(logs)
        if c >= plan.in_flight:   # bounded memory and, on several devices, no deadlock
            jax.block_until_ready(chunks[c - plan.in_flight]["loss"])
        if bar.due():
            bar.update((c + 1) * plan.steps, float(jnp.mean(logs["loss"])))
    bar.close()
    if plan.mesh is not None:
        chunks = parallel.local(chunks)
    means = {}
    for name in chunks[0]:
        value = np.asarray(jnp.mean(jnp.concatenate([c[name] for c in chunks], -1), -1))
        means[name] = float(value) if value.ndim == 0 else value
    return ts, means


def _active_members(callbacks: Sequence, ts) -> np.ndarray:
    """The members still training: the AND of the callbacks' `active` masks (all by default)."""
    active = np.ones(ts.step.shape[0], bool)
    for cb in callbacks:
        if getattr(cb, "active", None) is not None:
            active &= np.asarray(cb.active, bool)
    return active


def format_epoch(number: int, epochs: int, logs: dict) -> str:
    """`epoch 3/10  loss 0.4123  val_loss 0.3811  (2.1 s)`; a population shows min..max."""
    shown = [f"{name} {value:.4f}" if np.ndim(value) == 0
             else f"{name} {np.min(value):.4f}..{np.max(value):.4f}"
             for name, value in logs.items() if name not in ("epoch_time", "active")]
    if "active" in logs:
        shown.append(f"active {int(np.sum(logs['active']))}/{len(logs['active'])}")
    return f"epoch {number}/{epochs}  {'  '.join(shown)}  ({logs['epoch_time']:.1f} s)"


def _epoch_end(callbacks: Sequence, epoch: int, logs: dict, ts):
    for cb in callbacks:
        replacement = cb.on_epoch_end(epoch, logs, ts)
        if replacement is not None:
            ts = replacement
    return ts


def run_epochs(ts, plan: EpochPlan, *, first_epoch: int, start_epoch: int, epochs: int,
               validate: Callable | None, callbacks: Sequence, checkpoints=None,
               verbose: int = 1, log: Callable[[str], None] = print):
    """Epochs `start_epoch .. first_epoch + epochs - 1`: `(ts, history)`, history a dict of lists.

    `validate(ts) -> {name: value}` adds `val_*` logs; callbacks see `epoch - first_epoch`.
    """
    history: dict[str, list] = {}
    for cb in callbacks:
        cb.on_train_begin(ts)
    for epoch in range(start_epoch, first_epoch + epochs):
        start_time = time.perf_counter()
        active = _active_members(callbacks, ts) if plan.members else None
        bar = ProgressBar(epoch + 1 - first_epoch, epochs, plan.num_batches, enabled=verbose == 1)
        ts, logs = train_epoch(plan, ts, epoch, active, bar)
        if validate is not None:
            logs.update({f"val_{name}": value for name, value in validate(ts).items()})
        logs["epoch_time"] = time.perf_counter() - start_time
        if checkpoints is not None:   # before the callbacks: a callback that fails loses nothing
            checkpoints.save(ts, metrics=logs)
        ts = _epoch_end(callbacks, epoch - first_epoch, logs, ts)
        if plan.members:
            logs["active"] = _active_members(callbacks, ts)
        for name, value in logs.items():
            history.setdefault(name, []).append(value)
        if verbose:
            log(format_epoch(epoch + 1 - first_epoch, epochs, logs))
        if any(cb.stop_training for cb in callbacks) or (plan.members and not logs["active"].any()):
            break
    for cb in callbacks:
        replacement = cb.on_train_end(ts)
        if replacement is not None:
            ts = replacement
    return ts, history
