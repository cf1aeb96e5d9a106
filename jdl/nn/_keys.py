"""Key discipline: an opt-in check that no random key is used twice.

Every random draw in jdl takes an explicit key, and a key must feed exactly one draw: two
dropout layers given the same key drop the same units, and a step that reuses last step's key
draws the same masks again. Neither raises an error; the model just trains worse. Inside

    with nn.check_keys():
        ts, history = train.fit(ts, step, x, y, epochs=1)

every layer that draws from a key (`Dropout`, the wrappers of `training_transform`:
`augmenting`, `regularizers.noisy_apply`) reports the key it was given, and the second use of
one key raises `KeyReuseError` naming both layers by their paths in the model
(`features/dropout_1`). A custom layer that draws random numbers reports its key with
`nn.note_key(key, "my_layer")`.

What counts as "the same key": the same key object (this is what JAX's tracing sees inside
`jit`, where a key passed twice is one tracer), or, for concrete keys outside `jit`, equal key
data (so an eager loop that gives every step `jax.random.key(0)` is caught on its second step).
Keys derived with `split` or `fold_in` are new keys. The check runs while JAX traces, so build
and first call the step inside the block: inside it, `jdl.compile_cache` neither stores nor
reuses programs, so `fit` traces its chunk anew. Outside the block the check costs nothing.
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Iterator

import jax
import numpy as np

from jdl import compile_cache

_record: contextvars.ContextVar[list | None] = contextvars.ContextVar("jdl_key_uses", default=None)
_path: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("jdl_key_path",
                                                                        default=())


class KeyReuseError(ValueError):
    """One random key was given to two random draws inside an `nn.check_keys()` block."""


@contextlib.contextmanager
def check_keys() -> Iterator[None]:
    """Raise `KeyReuseError` when a random key is used twice inside this block (module
    docstring). Blocks nest; each has its own record of keys."""
    token = _record.set([])
    try:
        with compile_cache.disabled():
            yield
    finally:
        _record.reset(token)


@contextlib.contextmanager
def key_scope(name: str) -> Iterator[None]:
    """Name the layer applied inside (used by combinators for the paths in the message)."""
    if _record.get() is None:
        yield
        return
    token = _path.set((*_path.get(), name))
    try:
        yield
    finally:
        _path.reset(token)


def _key_data(key: Any) -> np.ndarray | None:
    """The key's bits when the key is concrete; None for a tracer."""
    if isinstance(key, jax.core.Tracer):
        return None
    if jax.dtypes.issubdtype(getattr(key, "dtype", None), jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.asarray(key)


def _same(a: Any, a_bits: np.ndarray | None, b: Any, b_bits: np.ndarray | None) -> bool:
    if a is b:
        return True
    return (a_bits is not None and b_bits is not None and a_bits.shape == b_bits.shape
            and bool(np.array_equal(a_bits, b_bits)))


def note_key(key: Any, kind: str) -> None:
    """Report that the layer `kind` draws random numbers from `key`; inside `check_keys()`
    a second use of the same key raises `KeyReuseError`. Does nothing outside the block."""
    uses = _record.get()
    if uses is None or key is None:
        return
    where = "/".join(_path.get())
    where = f"{where} ({kind})" if where else kind
    bits = _key_data(key)
    for seen, seen_bits, seen_where in uses:
        if _same(key, bits, seen, seen_bits):
            raise KeyReuseError(
                f"key reuse: the random key given to {where} was already used by {seen_where} "
                f"in this check_keys() block, so both draw the same random numbers. Give each "
                f"draw its own key: k1, k2 = jax.random.split(key), or jax.random.fold_in(key, i) "
                f"(and a new key per step)")
    uses.append((key, bits, where))
