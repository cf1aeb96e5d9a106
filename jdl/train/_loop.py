"""`fit`: the epoch engine (`jdl.train._engine`) with one member.

A thin, well-behaved loop: shuffled mini-batches, K steps per compiled call, validation,
callbacks, a progress bar, checkpoints and resume, and data parallelism over devices. See
`run_epochs` for the order of work within an epoch and docs/design.md for why K steps per call.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, Sequence

import jax

from jdl.train import _parallel as parallel
from jdl.train._callbacks import Callback
from jdl.train._checks import check_training_inputs
from jdl.train._chunking import resolve_chunking
from jdl.train._engine import (EpochPlan, compiled_chunk, compiled_gather, compiled_tail,
                               run_epochs)
from jdl.train._evaluate import evaluate
from jdl.train._safety import check_on_nonfinite
from jdl.train._state import TrainState


def _resume(ts: TrainState, checkpoint_dir, keep: int, verbose: int, log: Callable):
    """The checkpoint manager, and `ts` replaced by a later checkpoint in `checkpoint_dir`."""
    from jdl.checkpoint import CheckpointManager  # imports Orbax only when asked for

    manager = CheckpointManager(checkpoint_dir, keep=keep)
    latest = manager.latest_step()
    if latest is not None and latest > int(ts.step):
        ts = manager.restore(ts)
        if verbose:
            log(f"resumed from {checkpoint_dir} at step {latest}")
    return manager, ts


def _validate(ts: TrainState, *, eval_step: Callable, data: tuple, batch_size: int, mesh):
    return evaluate(ts if mesh is None else parallel.local(ts), eval_step, data,
                    batch_size=batch_size)


def fit(ts: TrainState, train_step: Callable, train_data: tuple, *, epochs: int, batch_size: int,
        val_data: tuple | None = None, eval_step: Callable | None = None,
        callbacks: Sequence[Callback] = (), verbose: int = 1, shuffle: bool = True,
        steps_per_call: int | None = None, unroll: bool | None = None,
        eval_batch_size: int = 1000,
        devices=None, checkpoint_dir=None, keep_checkpoints: int = 3,
        on_nonfinite: str = "stop", log: Callable[[str], None] = print
        ) -> tuple[TrainState, dict[str, list[float]]]:
    """Train for `epochs` epochs of shuffled mini-batches; validate after each epoch.

    Args:
      ts: the TrainState to start from (e.g. `init_train_state(...)`); it is donated.
      train_step: from `make_train_step`. `fit` does not call it as it is: it compiles one
        program that runs K steps of its pure function (`train_step.__wrapped__` when it is
        jitted) back to back, because a jitted function called K times from Python pays the
        dispatch K times and cannot be fused with its neighbours. The numbers are those of the
        step itself; the program is kept in `jdl.compile_cache` for the next `fit`.
      train_data: `(x, y)` arrays with the same first dimension.
      epochs: number of epochs to run in this call.
      batch_size: examples per step. Each epoch uses floor(n / batch_size) full batches of a
        fresh permutation (the last partial batch is dropped, so shapes never change; over epochs
        every example is seen). Epoch e of a run uses `shuffle_key(ts.key, e)` with e counted from
        `ts.step`, so a run is a pure function of its seed.
      val_data, eval_step: validation pair and `make_eval_step(...)` result; logs get `val_*`.
      callbacks: e.g. `[EarlyStopping(patience=3)]`.
      verbose: 0 silent, 1 progress bar and a line per epoch, 2 a line per epoch only.
      steps_per_call: K, the number of steps per compiled call. When the batches per epoch are
        not a multiple of K, unrolled chunks use the largest divisor of them not above K; rolled
        ones too while it is at least K / 2, else K and one shorter call at the end of each
        epoch (see `chunking_rule`). 1 gives the plain step-per-call loop; a value
        of at least the batches per epoch runs a whole epoch per call. None (default): the
        measured rule of `chunking_rule`: 4 on a CPU when the step has a convolution, else 64.
      unroll: unroll the K steps or keep a rolled `lax.scan`; None (default): the rule's choice
        (unrolled only for convolutions on a CPU, where a rolled scan makes them ~10x slower).
      eval_batch_size: batch size of validation.
      devices: None (one device), a device count, a list of devices or a 1-D `Mesh`: data
        parallelism by `jit` + sharding (see `make_mesh`): the TrainState is replicated, each
        batch split over the devices, the step unchanged; the numbers equal the single-device
        run up to float reduction order. `batch_size` must divide evenly.
      checkpoint_dir: save the TrainState (Orbax, sha256-verified, see `jdl.checkpoint`) after
        every epoch, keeping the last `keep_checkpoints`; if the directory already holds a later
        step than `ts`, `fit` first restores it and skips the epochs already done. Re-running
        the same script after a crash therefore ends with exactly the parameters of an
        uninterrupted run: the target is `epochs` epochs after the start of the `ts` passed in,
        and shuffling and dropout depend only on (seed, epoch, step). The history of a resumed
        call holds only the epochs it ran; callbacks start afresh.
      on_nonfinite: what a NaN or infinite loss, or an update that makes the state
        non-finite (a finite loss with an infinite gradient), does: "stop" (default) ends
        training and returns the last finite state with a message naming the epoch and step;
        "skip" leaves the state unchanged for that step and trains on (history gains
        "skipped_steps"; the epoch means leave the skipped steps out);
        "ignore" does not check. The check runs inside the compiled steps: no host sync.
      log: where the epoch lines and messages go.

    Returns:
      `(ts, history)` with history `{"loss": [...], "val_loss": [...], ..., "epoch_time": [...]}`.

    Nothing trained is lost: the first Ctrl-C (or Jupyter's stop button) stops after the chunk
    in flight, and a KeyboardInterrupt from a callback or the data stops at once; either way
    `fit` returns the last completed state and the history of the completed epochs, with a
    message (callbacks' `on_train_end`, e.g. EarlyStopping's restore, is not run). Any other
    exception is re-raised with that state as `exc.train_state` and the history as
    `exc.history`, since the TrainState passed in was donated.
    """
    x, y, batch_size, steps_per_call, unroll = check_training_inputs(
        train_data, batch_size, val_data, eval_step, steps_per_call, epochs=epochs, unroll=unroll)
    on_nonfinite = check_on_nonfinite(on_nonfinite)
    num_batches = len(x) // batch_size
    k, unroll = resolve_chunking(train_step, ts, x, y, batch_size, num_batches, steps_per_call,
                                 unroll)
    mesh = None if devices is None else parallel.make_mesh(devices)
    if mesh is not None:
        parallel.check_divisible(batch_size, mesh)
        x, y = parallel.replicate((x, y), mesh)
    else:
        x, y = jax.device_put(x), jax.device_put(y)
    first_epoch = int(ts.step) // num_batches
    manager = None
    if checkpoint_dir is not None:
        manager, ts = _resume(ts, checkpoint_dir, keep_checkpoints, verbose, log)
    start_epoch = int(ts.step) // num_batches
    if mesh is not None:
        ts = parallel.replicate(ts, mesh)
    step_fn = getattr(train_step, "__wrapped__", train_step)
    plan = EpochPlan(x, y, batch_size, k, num_batches,
                     compiled_chunk(step_fn, k, unroll, False, on_nonfinite),
                     compiled_gather(mesh, False), shuffle, members=False,
                     in_flight=0 if mesh is not None else 2, mesh=mesh, on_nonfinite=on_nonfinite,
                     replay=None if mesh is not None else compiled_chunk(step_fn, 1, True, False,
                                                                         "ignore"),
                     run_tail=compiled_tail(step_fn, num_batches, k, unroll, False, on_nonfinite))
    validate = None if val_data is None else partial(
        _validate, eval_step=eval_step, data=val_data, batch_size=eval_batch_size, mesh=mesh)
    try:
        return run_epochs(ts, plan, first_epoch=first_epoch, start_epoch=start_epoch,
                          epochs=epochs, validate=validate, callbacks=callbacks,
                          checkpoints=manager, verbose=verbose, log=log)
    finally:
        if manager is not None:
            manager.close()
