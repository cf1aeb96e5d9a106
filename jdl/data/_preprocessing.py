"""Preprocessing (docs/curriculum.md, chapter 5: "mean subtraction, scaling to [-1, 1],
standardization, shuffling", from Senk; shuffling lives in `split` and `batches`).

Statistics are fitted on the training set and reused for validation and test data:

    x_train, mean, std = standardize(x_train)          # fit and apply
    x_test, _, _ = standardize(x_test, mean, std)      # apply the training statistics

`axis` names the axes statistics are reduced over: None -> one scalar for the whole array,
0 -> per feature / per pixel (Senk's "mean image"), (0, 1, 2) -> per channel of NHWC.
Statistics keep their reduced axes (size 1), so they broadcast against any batch.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["scale", "center", "standardize", "one_hot"]

Axis = int | tuple[int, ...] | None


def scale(x: Any, low: float = 0.0, high: float = 1.0, *, max_value: float = 255.0) -> Any:
    """Map [0, max_value] linearly to float32 [low, high]: low + (high - low) * x / max_value.

    `scale(x)` gives [0, 1]; `scale(x, -1, 1)` gives Senk's [-1, 1]. Works on NumPy
    and JAX arrays alike (so uint8 images can stay on the device and be scaled inside a jitted step).
    """
    if not high > low:
        raise ValueError(f"scale: expected `low` < `high`, got low={low}, high={high}")
    if not max_value > 0:
        raise ValueError(f"scale: expected `max_value` > 0, got {max_value}")
    x = x if hasattr(x, "astype") else np.asarray(x)
    # x / max_value first: 0 and max_value map to exactly `low` and `high` (in NumPy; XLA may
    # rewrite the division as x * (1 / max_value), off by an ulp).
    return x.astype(np.float32) / np.float32(max_value) * np.float32(high - low) + np.float32(low)


def _mean(x: np.ndarray, axis: Axis) -> np.ndarray:
    return np.mean(x, axis=axis, dtype=np.float64, keepdims=True)


def center(x: Any, mean: Any = None, *, axis: Axis = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean subtraction (Senk): (x - mean, mean) in float32; `mean` is fitted over `axis` when
    None."""
    x = np.asarray(x)
    mean = _mean(x, axis).astype(np.float32) if mean is None else np.asarray(mean, dtype=np.float32)
    return x.astype(np.float32) - mean, mean


def standardize(
    x: Any, mean: Any = None, std: Any = None, *, axis: Axis = None, eps: float = 1e-8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardization (Senk): ((x - mean) / std, mean, std) in float32.

    `mean` and `std` are both given (reuse training statistics) or both None (fit them over
    `axis`, in float64). A fitted std below `eps` (a constant feature, e.g. MNIST's border
    pixels under axis=0) is replaced by 1, so such a feature is only centred.
    """
    if (mean is None) != (std is None):
        raise ValueError("standardize: pass both `mean` and `std` or neither, "
                         f"got mean={'None' if mean is None else 'an array'}, "
                         f"std={'None' if std is None else 'an array'}")
    x = np.asarray(x)
    if mean is None:
        mean64 = _mean(x, axis)
        std64 = np.sqrt(np.mean(np.square(x - mean64), axis=axis, keepdims=True))
        mean = mean64.astype(np.float32)
        std = np.where(std64 < eps, 1.0, std64).astype(np.float32)
    else:
        mean = np.asarray(mean, dtype=np.float32)
        std = np.asarray(std, dtype=np.float32)
        if np.any(std <= 0):
            raise ValueError(f"standardize: expected `std` > 0 everywhere, got min {std.min()}")
    return (x.astype(np.float32) - mean) / std, mean, std


def one_hot(labels: Any, num_classes: int, *, dtype: Any = np.float32) -> np.ndarray:
    """One-hot codes: out[..., k] = 1 if labels[...] == k else 0; shape labels.shape + (num_classes,).

    NumPy, with validation (integer labels in [0, num_classes)); inside `jit` use `jax.nn.one_hot`.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"one_hot: `num_classes` must be a positive int, got {num_classes!r}")
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"one_hot: `labels` must have an integer dtype, got {labels.dtype}")
    if labels.size:
        bad = (labels < 0) | (labels >= num_classes)
        if bad.any():
            raise ValueError(
                f"one_hot: `labels` must be in [0, {num_classes}), got values in "
                f"{labels.min()}..{labels.max()} ({int(bad.sum())} out of range)"
            )
    return np.eye(num_classes, dtype=dtype)[labels]
