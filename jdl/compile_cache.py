"""One explicit cache of compiled programs, shared by every part of jdl that builds them.

jdl builds jitted programs from the pieces a user passes: the K-step chunk of `fit` from a train
step, the init program of a model, the vmapped eval step of a population, the cut model of a
feature extractor or a saliency map. Building one costs a trace and an XLA compile (0.1-5 s on
a CPU), so a second `fit` with the same step, or a second seed of the same model, should reuse
it. `jax.jit` caches by function identity only, and these programs are new closures each time,
so jdl keeps them here, in the open:

    key = ("train_chunk", step_fn, 4, True, False)   # kind, step, K, unroll, members
    program = compile_cache.cached(key, lambda: build(step_fn, 4))

- The key is a tuple whose first item names the kind of program and whose other items are the
  pieces it was built from (Layers are hashable NamedTuples of functions; steps are functions;
  shapes and flags are ints, tuples and bools). Equal keys share one program.
- A key with an unhashable piece (a Layer built from lists, a dict of metrics) is not cached:
  `build()` runs every time, which is correct, only slower. `info()` counts those misses.
- At most `max_size` programs are kept (256 by default), the least recently used dropped first.
  A kept program holds its pieces alive (a model's functions, not its parameters: parameters are
  always arguments, never baked in). `clear()` empties the cache, e.g. between experiments of a
  long notebook, and `set_max_size(0)` turns caching off; inside `with disabled():` every
  program is built anew (the key-reuse check `jdl.nn.check_keys()` needs a fresh trace).
"""
from __future__ import annotations

import contextlib
from collections import OrderedDict
from typing import Callable, Iterator, NamedTuple, TypeVar

T = TypeVar("T")

_programs: OrderedDict = OrderedDict()
_max_size = 256
_counts = {"hits": 0, "misses": 0, "uncached": 0}
_disabled = [0]   # depth of nested `disabled()` blocks


class CacheInfo(NamedTuple):
    """What the cache holds and how it was used since the last `clear()`."""

    size: int
    max_size: int
    hits: int
    misses: int
    uncached: int   # builds whose key could not be hashed


def cached(key: tuple, build: Callable[[], T]) -> T:
    """The program stored under `key`, or `build()` stored there (see the module docstring)."""
    if not isinstance(key, tuple) or not key or not isinstance(key[0], str):
        raise TypeError(f"key: expected a tuple whose first item names the program kind, "
                        f"got {key!r}")
    if _disabled[0]:
        return build()
    try:
        program = _programs.get(key)
    except TypeError:   # an unhashable piece: build without caching
        _counts["uncached"] += 1
        return build()
    if program is not None:
        _counts["hits"] += 1
        _programs.move_to_end(key)
        return program
    _counts["misses"] += 1
    program = build()
    if _max_size > 0:
        _programs[key] = program
        while len(_programs) > _max_size:
            _programs.popitem(last=False)
    return program


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Inside this block `cached` builds every program anew and stores nothing. Used by
    `jdl.nn.check_keys()`, whose check runs while JAX traces a newly built program."""
    _disabled[0] += 1
    try:
        yield
    finally:
        _disabled[0] -= 1


def clear() -> None:
    """Drop every stored program and reset the counts."""
    _programs.clear()
    _counts.update(hits=0, misses=0, uncached=0)


def set_max_size(max_size: int) -> None:
    """Keep at most `max_size` programs (0 turns caching off); drops the oldest beyond it."""
    global _max_size
    if not isinstance(max_size, int) or max_size < 0:
        raise ValueError(f"max_size: expected an int >= 0, got {max_size!r}")
    _max_size = max_size
    while len(_programs) > _max_size:
        _programs.popitem(last=False)


def info() -> CacheInfo:
    """Size, bound and hit counts of the cache."""
    return CacheInfo(len(_programs), _max_size, _counts["hits"], _counts["misses"],
                     _counts["uncached"])
