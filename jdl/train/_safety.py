"""Nothing trained is lost: non-finite losses caught inside the compiled step, and interruptions
that leave the caller with the last completed state.

Non-finite losses (`on_nonfinite` of `fit` and `fit_population`): the check runs inside the
compiled chunk, on the loss the step already computed and on the state it produced, so it
costs no host sync per step:

- "stop" (default): a chunk of K steps whose losses are not all finite (NaN or +-Inf), or whose
  final state is not (see `state_is_finite`), returns the state it started from, and every
  later chunk keeps it too; the host notices when it next waits for a chunk, replays the
  failed chunk's steps one by one up to the first non-finite loss or state, and returns that
  last finite state with a message naming the epoch and step. In a population only the
  member that failed freezes (at the start of its failed chunk; no replay); the others train
  on.
- "skip": a step with a non-finite loss, or one whose update would make a parameter, an
  optimizer moment or a running statistic non-finite (a finite loss can still have an
  infinite gradient: sqrt at 0), leaves parameters, optimizer and model state unchanged
  (Optax's `apply_if_finite` rule, which checks the updates); the step counter still advances
  so shuffling and dropout keys stay those of the uninterrupted schedule; the epoch logs
  count `skipped_steps`.
- "ignore": no check (the numbers of a run before this guard existed).

Interruptions: while training runs in the main thread, the first Ctrl-C (SIGINT, also
Jupyter's stop button) only asks the loop to stop after the chunk in flight; the call returns
`(ts, history)` as usual, with a message. A second Ctrl-C interrupts at once. A
`KeyboardInterrupt` raised anywhere in the loop (a callback, the data) is treated the same way:
the caller gets the last completed state back, not an exception and not a deleted buffer. Any
other exception is re-raised with the last completed state attached as `exc.train_state` and
the history so far as `exc.history` (and a note saying so), since the TrainState passed in was
donated and its buffers are gone.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
from jax import lax


NONFINITE = ("stop", "skip", "ignore")


def check_on_nonfinite(value: str) -> str:
    if value not in NONFINITE:
        raise ValueError(f"on_nonfinite: expected one of {NONFINITE}, got {value!r}")
    return value


def state_is_finite(ts: Any) -> jax.Array:
    """True when every floating-point leaf of `ts` (parameters, model state, optimizer moments;
    keys and integer counters have nothing to check) is finite.

    Checked as one sum: a sum is NaN or infinite as soon as one term is, and finite terms can
    only overflow it near float32's largest value (3.4e38), where training has diverged
    anyway. Summing in at least float32 keeps float16 parameters from overflowing it. One
    reduction per leaf and one scalar check compile faster than a test per leaf (an MLP's
    chunk: 0.99 s against 1.2 s, 0.85 s without a state check, on a 2-core CPU).
    """
    sums = [jnp.sum(leaf, dtype=jnp.promote_types(leaf.dtype, jnp.float32))
            for leaf in jax.tree.leaves(ts) if jnp.issubdtype(leaf.dtype, jnp.inexact)]
    return jnp.isfinite(sum(sums)) if sums else jnp.array(True)


def guard_step(step_fn: Callable, on_nonfinite: str) -> Callable:
    """`((ts, bad), batch) -> ((ts, bad), logs)`: the step, with "skip"'s per-step rule.

    With "skip", a step whose loss or resulting state is not finite keeps parameters,
    optimizer and model state (the counter advances), sets `bad` and logs `skipped` for the
    step. Other modes pass the step through: "stop" is checked once per chunk
    (`freeze_if_nonfinite`), which costs a fraction of a second of compile time per chunk
    program, while a check after every step nearly doubled the compile time of a conv net's chunk
    (fashion_cnn, K = 4: 9-10 s against 5.5-6 s on a 2-core CPU).
    """

    def guarded(carry, batch):
        ts, bad = carry
        new, logs = step_fn(ts, batch)
        if on_nonfinite != "skip":
            return (new, bad), logs
        finite = jnp.isfinite(logs["loss"]) & state_is_finite(new)
        kept = lax.cond(finite, lambda: new, lambda: ts._replace(step=new.step))
        return (kept, bad | ~finite), {**logs, "skipped": ~finite}

    return guarded


def freeze_if_nonfinite(old: Any, new: Any, logs: dict, bad: jax.Array):
    """"stop" for one chunk: `new` if every loss of the chunk is finite and nothing failed
    before, else `old` (the state before the chunk); `bad` records the failure. A finite loss
    with an infinite gradient shows up as a non-finite `new`, hence the second check.

    A `lax.cond` rather than a select per leaf: it compiles faster (an MLP's one-step chunk:
    0.85-0.97 s against 1.06-1.11 s on a 2-core CPU) and, vmapped over a population, becomes
    the per-member select."""
    finite = jnp.all(jnp.isfinite(logs["loss"])) & state_is_finite(new)
    return lax.cond(finite & ~bad, lambda: new, lambda: old), bad | ~finite


def replay_until_nonfinite(one_step: Callable, ts: Any, xs: Any, ys: Any) -> Any:
    """From `ts`, the state before a chunk that had a non-finite loss, run that chunk's steps
    one by one (`one_step`: the unguarded one-step chunk program) and return the state just
    before the first non-finite loss or state: the last finite state of the run. Only on
    failure."""
    for i in range(xs.shape[0]):
        candidate, logs, _ = one_step(jax.tree.map(jnp.copy, ts), xs[i:i + 1], ys[i:i + 1],
                                      jnp.zeros((), bool))
        if not bool(jnp.all(jnp.isfinite(logs["loss"])) & state_is_finite(candidate)):
            break
        ts = candidate
    return ts


class RunProgress:
    """The last completed state of a training call, kept up to date by the engine, and what
    stopped the call early (a Ctrl-C, a non-finite loss), if anything."""

    def __init__(self, ts: Any):
        self.ts = ts
        # a loss was not finite (per member), placed as the step counter is (zeros_like keeps
        # a population's sharding): a first chunk called with another would compile twice
        self.bad = jnp.zeros_like(ts.step, dtype=bool)
        self.stop_requested = False   # set by the first Ctrl-C
        self.stopped_by: str | None = None


@contextlib.contextmanager
def ctrl_c_stops_after_chunk(progress: RunProgress, log: Callable[[str], None]) -> Iterator[None]:
    """Within the block, the first SIGINT sets `progress.stop_requested` (the loop stops after
    the chunk in flight); a second one raises KeyboardInterrupt at once. Main thread only:
    elsewhere Python cannot install signal handlers and Ctrl-C behaves as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        if progress.stop_requested:
            raise KeyboardInterrupt
        progress.stop_requested = True
        log("Ctrl-C: stopping after the chunk in flight (press Ctrl-C again to interrupt at once)")

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT,
                      previous if previous is not None else signal.default_int_handler)


def attach_state(exc: BaseException, ts: Any, history: dict) -> None:
    """Give an exception leaving the loop the last completed state and the history so far."""
    exc.train_state, exc.history = ts, history
    exc.add_note(f"training stopped at step {int(jnp.max(ts.step))}: the state after the last "
                 "completed chunk is `exc.train_state` (the TrainState passed in was donated), "
                 "the history so far `exc.history`")
