"""Mini-batches for one epoch of mini-batch SGD with shuffling, in the order `jdl.train.fit` uses.

    for epoch in range(epochs):
        for xb, yb in batches(x, y, batch_size=128, key=ts.key, epoch=epoch):
            ts, metrics = train_step(ts, (xb, yb))

With `drop_remainder=True` this loop trains on exactly the batches of
`fit(ts, train_step, (x, y), epochs=epochs, batch_size=128)` (see `epoch_order`).
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from jdl.data._order import epoch_order
from jdl.data._splits import _length

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
    key: Any = None,
    epoch: int = 0,
    drop_remainder: bool = False,
) -> Iterator[Any]:
    """Iterate over one epoch in mini-batches along the first axis: yields (xb, yb), or xb if y is None.

    Every example appears exactly once per epoch (except the last n mod batch_size when
    `drop_remainder`). `key=None` keeps the data order (batches are views); a typed key (the
    run's `ts.key`) shuffles by `epoch_order(key, epoch, n)`, the permutation `fit` draws for
    epoch `epoch`, so the same key and epoch give the same batches. Arguments are checked when
    `batches` is called, not at the first `next`.
    """
    batch_size = _check_batch_size(batch_size, "batches")
    n = _length(x, y, "batches")
    x = np.asarray(x)
    y = None if y is None else np.asarray(y)
    order = None if key is None else np.asarray(epoch_order(key, epoch, n))
    count = num_batches(n, batch_size, drop_remainder)
    return _iterate(x, y, order, batch_size, count)


def _iterate(x: np.ndarray, y: np.ndarray | None, order: np.ndarray | None,
             batch_size: int, count: int) -> Iterator[Any]:
    for i in range(count):
        start = i * batch_size
        idx = slice(start, start + batch_size) if order is None else order[start:start + batch_size]
        yield x[idx] if y is None else (x[idx], y[idx])
