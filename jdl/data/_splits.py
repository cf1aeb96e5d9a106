"""Splitting a dataset into parts: the train / validation / test protocol (docs/curriculum.md,
chapter 5; Loo: MNIST's 60k training images split 50k train / 10k validation, test kept apart)
and shuffling (Senk).

    train, val = split(x, y, (50_000, 10_000))          # consecutive: first 50k, next 10k
    train, val = train_val_split(x, y, 0.1, seed=0)     # shuffled 90% / 10%

A `seed` is an int, a sequence of ints (e.g. (seed, epoch)), a `np.random.Generator`, or a
JAX PRNG key; the same seed always gives the same permutation.
"""
from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["split", "train_val_split", "shuffle", "permutation"]

Seed = int | Sequence[int] | np.random.Generator | Any


def _generator(seed: Seed, who: str) -> np.random.Generator:
    """A NumPy Generator from an int, ints, a Generator, or a JAX key (its raw key data)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, numbers.Integral) or (
        isinstance(seed, Sequence) and not isinstance(seed, (str, bytes))
    ):
        return np.random.default_rng(seed)
    dtype = getattr(seed, "dtype", None)
    if dtype is not None:
        jax = sys.modules.get("jax")  # a JAX key can only exist once JAX is imported
        if jax is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
            seed = jax.random.key_data(seed)
        data = np.asarray(seed)
        if data.dtype == np.uint32:  # raw key data (or a legacy uint32[2] key)
            return np.random.default_rng(data.ravel().tolist())
    raise TypeError(f"{who}: `seed` must be an int, a sequence of ints, a np.random.Generator "
                    f"or a JAX PRNG key, got {type(seed).__name__}")


def permutation(n: int, seed: Seed) -> np.ndarray:
    """A permutation of range(n), a pure function of `seed`."""
    return _generator(seed, "permutation").permutation(n)


def _length(x: Any, y: Any, who: str) -> int:
    n = len(x)
    if y is not None and len(y) != n:
        raise ValueError(f"{who}: `x` and `y` must have the same length, got {n} and {len(y)}")
    return n


def shuffle(x: Any, y: Any = None, *, seed: Seed) -> tuple[np.ndarray, np.ndarray | None]:
    """(x[p], y[p]) for one permutation p of the examples (the first axis) drawn from `seed`."""
    n = _length(x, y, "shuffle")
    p = permutation(n, seed)
    return np.asarray(x)[p], None if y is None else np.asarray(y)[p]


def _counts(sizes: Sequence[int | float], n: int) -> list[int]:
    """Sizes as example counts: ints as given, fractions f_i as round(n * cumsum(f)) boundaries."""
    if isinstance(sizes, (numbers.Number, str)) or len(sizes) == 0:
        raise ValueError(f"split: `sizes` must be a non-empty sequence of ints or fractions, got {sizes!r}")
    if all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in sizes):
        counts = [int(s) for s in sizes]
        if min(counts) < 0:
            raise ValueError(f"split: `sizes` must be >= 0, got {tuple(sizes)}")
        if sum(counts) > n:
            raise ValueError(f"split: `sizes` {tuple(counts)} sum to {sum(counts)}, "
                             f"more than the {n} examples of `x`")
        return counts
    if all(isinstance(s, numbers.Real) and not isinstance(s, (bool, numbers.Integral)) for s in sizes):
        fractions = [float(s) for s in sizes]
        total = math.fsum(fractions)
        if min(fractions) < 0 or total > 1 + 1e-9:
            raise ValueError(f"split: fractional `sizes` must be >= 0 and sum to at most 1, "
                             f"got {tuple(sizes)} (sum {total:g})")
        bounds = [0] + [min(n, round(c * n)) for c in np.cumsum(fractions)]
        return [b - a for a, b in zip(bounds, bounds[1:])]
    raise ValueError(f"split: `sizes` must be all ints (counts) or all floats (fractions), got {tuple(sizes)}")


def split(
    x: Any, y: Any, sizes: Sequence[int | float], *, seed: Seed = None
) -> tuple[tuple[np.ndarray, np.ndarray | None], ...]:
    """Split (x, y) along the first axis into len(sizes) disjoint parts ((x_1, y_1), (x_2, y_2), ...).

    `sizes` are counts (ints, sum <= N) or fractions (floats, sum <= 1; part i gets
    round(N * (f_1 + ... + f_i)) - round(N * (f_1 + ... + f_{i-1})) examples). Examples left over
    belong to no part. With seed=None the parts are consecutive slices (views) in data order,
    otherwise they are taken from one permutation drawn from `seed` (copies). `y` may be None.
    """
    n = _length(x, y, "split")
    counts = _counts(sizes, n)
    x = np.asarray(x)
    y = None if y is None else np.asarray(y)
    order = None if seed is None else permutation(n, seed)
    parts, start = [], 0
    for c in counts:
        idx = slice(start, start + c) if order is None else order[start:start + c]
        parts.append((x[idx], None if y is None else y[idx]))
        start += c
    return tuple(parts)


def train_val_split(
    x: Any, y: Any, val_size: int | float, *, seed: Seed = 0
) -> tuple[tuple[np.ndarray, np.ndarray | None], tuple[np.ndarray, np.ndarray | None]]:
    """((x_train, y_train), (x_val, y_val)): `val_size` examples (int) or fraction (float) held out.

    Shuffled with `seed` (default 0); seed=None holds out the last `val_size` examples, as
    Loo does with MNIST (first 50k train, last 10k validation).
    """
    n = _length(x, y, "train_val_split")
    if isinstance(val_size, bool) or not isinstance(val_size, numbers.Real):
        raise ValueError(f"train_val_split: `val_size` must be an int or a float fraction, got {val_size!r}")
    if isinstance(val_size, numbers.Integral):
        if not 0 <= val_size <= n:
            raise ValueError(f"train_val_split: `val_size` must be in 0..{n} (the examples of `x`), got {val_size}")
        n_val = int(val_size)
    else:
        if not 0.0 <= val_size <= 1.0:
            raise ValueError(f"train_val_split: fractional `val_size` must be in [0, 1], got {val_size}")
        n_val = round(val_size * n)
    train, val = split(x, y, (n - n_val, n_val), seed=seed)
    return train, val
