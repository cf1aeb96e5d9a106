"""Mini-batches for one epoch of mini-batch SGD with shuffling (CURRICULUM ch. 2 [000-004],
shuffling [003]). Pure NumPy.

    for epoch in range(epochs):
        for xb, yb in batches(x, y, batch_size=128, shuffle=True, seed=(seed, epoch)):
            ts, metrics = train_step(ts, (xb, yb))
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from jdl.data._splits import Seed, _generator, _length

__all__ = ["batches", "num_batches"]


def _check_batch_size(batch_size: Any, who: str) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size <= 0:
        raise ValueError(f"{who}: `batch_size` must be a positive int, got {batch_size!r}")
    return int(batch_size)


def num_batches(n: int, batch_size: int, drop_remainder: bool = False) -> int:
    """Batches per epoch of n examples: floor(n / batch_size) if drop_remainder else ceil(n / batch_size)."""
    batch_size = _check_batch_size(batch_size, "num_batches")
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"num_batches: `n` must be an int >= 0, got {n!r}")
    return n // batch_size if drop_remainder else math.ceil(n / batch_size)


def batches(
    x: Any,
    y: Any = None,
    *,
    batch_size: int,
    shuffle: bool = False,
    seed: Seed = None,
    drop_remainder: bool = False,
) -> Iterator[Any]:
    """Iterate over one epoch in mini-batches along the first axis: yields (xb, yb), or xb if y is None.

    Every example appears exactly once per epoch (except the last n mod batch_size when
    `drop_remainder`). `shuffle` orders the examples by a permutation drawn from `seed` (an int,
    ints such as (seed, epoch), a np.random.Generator or a JAX key; None draws fresh OS entropy,
    which is not reproducible); without `shuffle` batches are views in data order and `seed` is unused.
    Arguments are checked when `batches` is called, not at the first `next`.
    """
    batch_size = _check_batch_size(batch_size, "batches")
    n = _length(x, y, "batches")
    x = np.asarray(x)
    y = None if y is None else np.asarray(y)
    order = _generator(seed, "batches").permutation(n) if shuffle else None
    count = num_batches(n, batch_size, drop_remainder)
    return _iterate(x, y, order, batch_size, count)


def _iterate(x: np.ndarray, y: np.ndarray | None, order: np.ndarray | None,
             batch_size: int, count: int) -> Iterator[Any]:
    for i in range(count):
        start = i * batch_size
        idx = slice(start, start + batch_size) if order is None else order[start:start + batch_size]
        yield x[idx] if y is None else (x[idx], y[idx])
