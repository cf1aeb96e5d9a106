"""`fit`, `evaluate` and `predict`: the host-side loop around the jitted steps (DESIGN.md section 2).

Speed: the training set is put on the device once; each epoch is one on-device permutation;
each chunk of K batches is gathered on the device by one call and trained by another that runs
K steps as an unrolled `lax.scan`. On XLA:CPU this beats one call per step for conv nets
(research/peer-baselines.md: K = 4, 54 vs 75 ms per step) while a *rolled* scan would be ~10x
slower, so K stays small and unrolled by default (`unroll=False` with a whole epoch per call
is the choice for GPUs). Metrics stay on the device until the end of the epoch, at most two
chunks are in flight, and the progress bar reads one value at most every 0.25 s.
"""
from __future__ import annotations

import functools
import time
from functools import partial
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jdl.nn import Layer
from jdl.train import _parallel as parallel
from jdl.train._callbacks import Callback
from jdl.train._progress import ProgressBar
from jdl.train._state import TrainState, shuffle_key


def _check_pair(data, name: str) -> tuple:
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise ValueError(f"{name}: expected a pair (x, y), got {type(data).__name__}")
    x, y = data
    if len(x) != len(y):
        raise ValueError(f"{name}: expected x and y with the same number of examples, got "
                         f"{len(x)} and {len(y)}")
    return x, y


def _check_batch_size(batch_size, n: int, name: str = "batch_size") -> int:
    if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"{name}: expected a positive int, got {batch_size!r}")
    return int(batch_size)


def _chunk_length(num_batches: int, steps_per_call: int) -> int:
    """The largest divisor of `num_batches` not above `steps_per_call` (so one compile covers the epoch)."""
    return max(k for k in range(1, max(1, min(steps_per_call, num_batches)) + 1) if num_batches % k == 0)


@functools.lru_cache(maxsize=64)  # a second fit with the same step reuses the compiled chunk
def _make_chunk(step_fn: Callable, steps: int, unroll: bool = True) -> Callable:
    """jit(ts, xs, ys) -> (ts, logs): `steps` train steps on batches `xs: (steps, B, ...)`.

    `unroll=True` inlines the steps (fast everywhere); `unroll=False` keeps a rolled `lax.scan`
    (small programs for long chunks such as a whole epoch: good on GPUs and for MLPs, ~10x slower
    for convolutions on XLA:CPU, jax-ml/jax#12868).
    """

    @partial(jax.jit, donate_argnums=0)
    def run_chunk(ts, xs, ys):
        if steps == 1:  # even a length-1 scan hits XLA:CPU's slow in-loop convolutions (~10x)
            ts, logs = step_fn(ts, (xs[0], ys[0]))
            return ts, jax.tree.map(lambda v: v[None], logs)
        return lax.scan(lambda t, batch: step_fn(t, batch), ts, (xs, ys), unroll=unroll)

    return run_chunk


def _gather_chunk(x, y, perm, start, steps: int, batch_size: int):
    """Rows `perm[start : start + steps * batch_size]` of x and y as (steps, batch_size, ...).

    Jitted as its own call, apart from the step: a convolution whose input is gathered inside
    the same program ran 10-15% slower on XLA:CPU (fashion_cnn, K = 4: 98 vs 84 ms per step).
    """
    idx = lax.dynamic_slice_in_dim(perm, start, steps * batch_size).reshape(steps, batch_size)
    return x[idx], y[idx]


@partial(jax.jit, static_argnums=2)
def _permutation(key, epoch, n: int):
    """The order of epoch `epoch`: a permutation of range(n) drawn from shuffle_key(key, epoch)."""
    return jax.random.permutation(shuffle_key(key, epoch), n).astype(jnp.int32)


@functools.lru_cache(maxsize=16)
def _make_gather(mesh) -> Callable:
    if mesh is None:
        return jax.jit(_gather_chunk, static_argnums=(4, 5))
    sharded = parallel.batch_sharding(mesh, batch_axis=1)  # (steps, batch, ...): split the batch
    return jax.jit(_gather_chunk, static_argnums=(4, 5), out_shardings=(sharded, sharded))


def fit(ts: TrainState, train_step: Callable, train_data: tuple, *, epochs: int, batch_size: int,
        val_data: tuple | None = None, eval_step: Callable | None = None,
        callbacks: Sequence[Callback] = (), verbose: int = 1, shuffle: bool = True,
        steps_per_call: int = 4, unroll: bool = True, eval_batch_size: int = 1000,
        devices=None, checkpoint_dir=None, keep_checkpoints: int = 3,
        log: Callable[[str], None] = print) -> tuple[TrainState, dict[str, list[float]]]:
    """Train for `epochs` epochs of shuffled mini-batches; validate after each epoch.

    Args:
      ts: the TrainState to start from (e.g. `init_train_state(...)`); it is donated.
      train_step: from `make_train_step` (jitted or not: `fit` compiles its own K-step chunk
        from the pure function).
      train_data: `(x, y)` arrays with the same first dimension.
      epochs: number of epochs to run in this call.
      batch_size: examples per step. Each epoch uses floor(n / batch_size) full batches of a
        fresh permutation (the last partial batch is dropped, so shapes never change; over epochs
        every example is seen). Epoch e of a run uses `shuffle_key(ts.key, e)` with e counted from
        `ts.step`, so a run is a pure function of its seed.
      val_data, eval_step: validation pair and `make_eval_step(...)` result; logs get `val_*`.
      callbacks: e.g. `[EarlyStopping(patience=3)]`.
      verbose: 0 silent, 1 progress bar and a line per epoch, 2 a line per epoch only.
      steps_per_call: K, the number of steps per compiled call (the largest divisor of the
        batches per epoch not above it is used). 1 gives the plain step-per-call loop; a value
        of at least the batches per epoch runs a whole epoch per call.
      unroll: unroll the K steps (default) or keep a rolled `lax.scan`: use `unroll=False` with
        a whole epoch per call on GPUs; on XLA:CPU a rolled scan makes conv nets ~10x slower.
      eval_batch_size: batch size of validation.
      devices: None (one device), a device count, a list of devices or a 1-D `Mesh`: data
        parallelism by `jit` + sharding (see `jdl.train._parallel`): the TrainState is
        replicated, each batch split over the devices, the step unchanged; the numbers equal
        the single-device run up to float reduction order. `batch_size` must divide evenly.
      checkpoint_dir: save the TrainState (Orbax, sha256-verified, see `jdl.checkpoint`) after
        every epoch, keeping the last `keep_checkpoints`; if the directory already holds a later
        step than `ts`, `fit` first restores it and skips the epochs already done. Re-running
        the same script after a crash therefore ends with exactly the parameters of an
        uninterrupted run: the target is `epochs` epochs after the start of the `ts` passed in,
        and shuffling and dropout depend only on (seed, epoch, step). The history of a resumed
        call holds only the epochs it ran; callbacks start afresh.
      log: where the epoch lines go.

    Returns:
      `(ts, history)` with history `{"loss": [...], "val_loss": [...], ..., "epoch_time": [...]}`.
    """
    x, y = _check_pair(train_data, "train_data")
    n = len(x)
    batch_size = _check_batch_size(batch_size, n)
    if batch_size > n:
        raise ValueError(f"batch_size: expected at most the number of training examples ({n}), "
                         f"got {batch_size}")
    if val_data is not None:
        _check_pair(val_data, "val_data")
        if eval_step is None:
            raise ValueError("eval_step: expected an eval step (make_eval_step(...)) when val_data "
                             "is given, got None")
    num_batches = n // batch_size
    k = _chunk_length(num_batches, _check_batch_size(steps_per_call, n, "steps_per_call"))
    run_chunk = _make_chunk(getattr(train_step, "__wrapped__", train_step), k, unroll)
    mesh = None if devices is None else parallel.make_mesh(devices)
    if mesh is not None:
        parallel.check_divisible(batch_size, mesh)
        x, y = parallel.replicate((x, y), mesh)
    else:
        x, y = jax.device_put(x), jax.device_put(y)
    gather = _make_gather(mesh)
    # Multi-device calls wait for the previous one (the CPU collectives deadlock otherwise);
    # one device keeps two chunks in flight.
    in_flight = 0 if mesh is not None else 2
    first_epoch = int(ts.step) // num_batches
    end_epoch = first_epoch + epochs
    manager = None
    if checkpoint_dir is not None:
        from jdl.checkpoint import CheckpointManager  # imports Orbax only when asked for

        manager = CheckpointManager(checkpoint_dir, keep=keep_checkpoints)
        latest = manager.latest_step()
        if latest is not None and latest > int(ts.step):
            ts = manager.restore(ts)
            if verbose:
                log(f"resumed from {checkpoint_dir} at step {latest}")
    start_epoch = int(ts.step) // num_batches
    if mesh is not None:
        ts = parallel.replicate(ts, mesh)
    history: dict[str, list[float]] = {}
    for cb in callbacks:
        cb.on_train_begin(ts)

    for epoch in range(start_epoch, end_epoch):
        start_time = time.perf_counter()
        perm = _permutation(ts.key, epoch, n) if shuffle else jnp.arange(n, dtype=jnp.int32)
        bar = ProgressBar(epoch + 1 - first_epoch, epochs, num_batches, enabled=verbose == 1)
        chunks = []
        for c in range(num_batches // k):
            xs, ys = gather(x, y, perm, np.int32(c * k * batch_size), k, batch_size)
            ts, logs = run_chunk(ts, xs, ys)
            chunks.append(logs)
            if c >= in_flight:  # bounded memory and, on several devices, no deadlock
                jax.block_until_ready(chunks[c - in_flight]["loss"])
            if bar.due():
                bar.update((c + 1) * k, float(jnp.mean(logs["loss"])))
        bar.close()
        if mesh is not None:
            chunks = parallel.local(chunks)
        epoch_logs = {name: float(jnp.mean(jnp.concatenate([c[name] for c in chunks])))
                      for name in chunks[0]}
        if val_data is not None:
            eval_ts = ts if mesh is None else parallel.local(ts)
            val = evaluate(eval_ts, eval_step, val_data, batch_size=eval_batch_size)
            epoch_logs.update({f"val_{name}": value for name, value in val.items()})
        epoch_logs["epoch_time"] = time.perf_counter() - start_time
        for name, value in epoch_logs.items():
            history.setdefault(name, []).append(value)
        if verbose:
            shown = "  ".join(f"{k_} {v:.4f}" for k_, v in epoch_logs.items() if k_ != "epoch_time")
            log(f"epoch {epoch + 1 - first_epoch}/{epochs}  {shown}  ({epoch_logs['epoch_time']:.1f} s)")
        if manager is not None:
            manager.save(ts, metrics=epoch_logs)
        for cb in callbacks:
            replacement = cb.on_epoch_end(epoch - first_epoch, epoch_logs, ts)
            if replacement is not None:
                ts = replacement
        if any(cb.stop_training for cb in callbacks):
            break

    if manager is not None:
        manager.close()
    for cb in callbacks:
        replacement = cb.on_train_end(ts)
        if replacement is not None:
            ts = replacement
    return ts, history


def _padded_batches(arrays: Sequence, batch_size: int):
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


def evaluate(ts: TrainState, eval_step: Callable, data: tuple, *, batch_size: int = 1000
             ) -> dict[str, float]:
    """Means of the eval step's metrics over the whole of `data = (x, y)` (train=False).

    The last batch is zero-padded and weighted out, so the eval step compiles once and every
    example counts exactly once.
    """
    x, y = _check_pair(data, "data")
    n = len(x)
    batch_size = min(_check_batch_size(batch_size, n), n)
    # the eval step reads params and state only: without the optimizer state, runs that differ
    # only in their optimizer share one compiled eval step
    ts = ts._replace(opt_state=None)
    totals = None
    for (xb, yb), weights, m in _padded_batches((x, y), batch_size):
        logs = eval_step(ts, (xb, yb, weights))
        scaled = {name: value * m for name, value in logs.items()}
        totals = scaled if totals is None else {k: totals[k] + v for k, v in scaled.items()}
    return {name: float(value) / n for name, value in totals.items()}


@partial(jax.jit, static_argnums=0)
def _forward(model: Layer, params, state, x):
    return model.apply(params, state, x, train=False)[0]


def predict(model: Layer, ts: TrainState, x, *, batch_size: int = 1000) -> jax.Array:
    """The model's outputs on `x` in evaluation mode (`train=False`), computed in batches."""
    n = len(x)
    batch_size = min(_check_batch_size(batch_size, n), n)
    outs = [_forward(model, ts.params, ts.state, xb)[:m]
            for (xb,), _, m in _padded_batches((x,), batch_size)]
    return jnp.concatenate(outs)
