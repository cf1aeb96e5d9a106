"""`fit`'s default chunking: how many train steps per compiled call (K), rolled or unrolled.

`fit` runs K train steps per call as one `lax.scan`. Which K and whether to unroll the scan
decides the speed, and the best choice depends on the backend and on what the step contains.
Measured with `python experiments/benchmarks/fit_rule.py` (2-core Xeon CPU, JAX 0.12; the
figures and the GPU reasoning are in docs/benchmarks.md, "fit's default chunking"):

| backend | step contains | chosen | why |
|---|---|---|---|
| CPU | a convolution | K = 4, unrolled | XLA:CPU runs convolutions inside a rolled loop ~10x slower (jax-ml/jax#12868); 4 unrolled steps amortize the dispatch at a small compile |
| CPU | no convolution (MLP, RNN) | K = 64, rolled | a rolled loop compiles one step and removes the per-call dispatch; 64 steps are within a few % of a whole epoch and keep Ctrl-C and the progress bar responsive |
| GPU, TPU | anything | K = 64, rolled | kernels launch back to back on the device; a small rolled program compiles fast |

When the batches per epoch are not a multiple of K (`chunk_plan`): unrolled, K is cut to the
largest divisor of the batches per epoch not above it, so an epoch is whole calls of one
program (a second, shorter unrolled program would compile for about as long as the first: 1.1 s
for a one-step CNN program, more than a short run gains). Rolled, K is cut the same way while
that divisor is at least K / 2; otherwise the epoch runs calls of K steps and then one call of
the remaining steps (the "tail", its own rolled program: one more compile of one step's body).
60,000 examples in batches of 64 are 937 batches, a prime: with divisors only, K would be 1, and
an MLP's `fit` ran 421 steps/s there against 612 with K = 64 and a 41-step tail
(`experiments/benchmarks/fit_tail.py`, 2-core CPU, JAX 0.12). Passing
`steps_per_call` or `unroll` overrides the rule (either one alone keeps the rule's choice for
the other); the tail rule applies to the values passed as well.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

import jax

from jdl import compile_cache

CONVOLUTION = "conv_general_dilated"
CPU_CONV = (4, True)
CPU_OTHER = (64, False)
ACCELERATOR = (64, False)


def chunk_length(num_batches: int, steps_per_call: int) -> int:
    """The largest divisor of `num_batches` not above `steps_per_call` (one compile per epoch)."""
    return max(k for k in range(1, max(1, min(steps_per_call, num_batches)) + 1)
               if num_batches % k == 0)


def chunk_plan(num_batches: int, steps_per_call: int, unroll: bool) -> int:
    """K: an epoch of `num_batches` runs `num_batches // K` calls of K steps, then one call of
    the `num_batches % K` steps left (the tail; 0 for unrolled chunks). See the module docstring."""
    k = max(1, min(steps_per_call, num_batches))
    divisor = chunk_length(num_batches, k)
    return divisor if unroll or 2 * divisor >= k else k


def primitive_names(jaxpr) -> Iterator[str]:
    """The names of every primitive in `jaxpr` and in the jaxprs nested in its equations
    (jit, scan, cond, custom_vjp bodies)."""
    for eqn in jaxpr.eqns:
        yield eqn.primitive.name
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                if hasattr(sub, "eqns"):
                    yield from primitive_names(sub)
                elif hasattr(getattr(sub, "jaxpr", None), "eqns"):
                    yield from primitive_names(sub.jaxpr)


def abstract(tree: Any, drop_leading: bool = False) -> Any:
    """`tree` with every array replaced by its shape and dtype (without the member axis)."""
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[int(drop_leading):], a.dtype), tree)


def has_convolution(step_fn: Callable, ts: Any, batch: tuple) -> bool:
    """Whether one call `step_fn(ts, batch)` runs a convolution (traced abstractly: no compute).

    The answer is cached per (step, batch shapes) in `jdl.compile_cache`: the trace costs about
    0.2 s for a small CNN, and a notebook may call `fit` once per epoch."""
    ts, batch = abstract(ts), abstract(batch)
    key = ("has_convolution", step_fn, jax.tree.structure(ts), tuple(jax.tree.leaves(ts)),
           tuple(jax.tree.leaves(batch)))
    return compile_cache.cached(key, lambda: CONVOLUTION in set(
        primitive_names(jax.make_jaxpr(step_fn)(ts, batch).jaxpr)))


def chunking_rule(train_step: Callable, ts: Any, batch: tuple, num_batches: int | None = None,
                  backend: str | None = None) -> dict:
    """The (steps_per_call, unroll) that `fit` uses by default for this step (module docstring).

    Args:
      train_step: from `make_train_step` (its `__wrapped__` pure function is traced).
      ts: a TrainState (one member's; only shapes and dtypes are read).
      batch: one batch `(x, y)` (arrays or anything with `.shape` and `.dtype`).
      num_batches: batches per epoch; when given, `steps_per_call` is the K actually used and
        `tail_steps` the steps of the epoch's last, shorter call (`chunk_plan`).
      backend: "cpu", "gpu" or "tpu"; default `jax.default_backend()`.

    Returns: `{"steps_per_call": K, "unroll": bool, "reason": str}`, and `"tail_steps"` when
    `num_batches` is given.
    """
    backend = backend or jax.default_backend()
    step_fn = getattr(train_step, "__wrapped__", train_step)
    if backend != "cpu":
        (k, unroll), reason = ACCELERATOR, f"{backend}: rolled chunks of {ACCELERATOR[0]} steps"
    elif has_convolution(step_fn, ts, batch):
        (k, unroll), reason = CPU_CONV, "cpu with convolutions: short unrolled chunks"
    else:
        (k, unroll), reason = CPU_OTHER, "cpu without convolutions: long rolled chunks"
    rule = {"steps_per_call": k, "unroll": unroll, "reason": reason}
    if num_batches is not None:
        rule["steps_per_call"] = chunk_plan(num_batches, k, unroll)
        rule["tail_steps"] = num_batches % rule["steps_per_call"]
    return rule


def resolve_chunking(train_step: Callable, ts: Any, x, y, batch_size: int, num_batches: int,
                     steps_per_call: int | None, unroll: bool | None, members: bool = False
                     ) -> tuple[int, bool]:
    """`fit`'s (K, unroll): the caller's values, with `chunking_rule` filling in any None,
    then `chunk_plan` (the tail is `num_batches % K`). `members`: `ts` is a population (a leading member axis on every leaf)."""
    if steps_per_call is None or unroll is None:
        batch = tuple(jax.ShapeDtypeStruct((batch_size, *a.shape[1:]),
                                           jax.dtypes.canonicalize_dtype(a.dtype)) for a in (x, y))
        rule = chunking_rule(train_step, abstract(ts, drop_leading=members), batch)
        steps_per_call = rule["steps_per_call"] if steps_per_call is None else steps_per_call
        unroll = rule["unroll"] if unroll is None else unroll
    return chunk_plan(num_batches, steps_per_call, unroll), unroll
