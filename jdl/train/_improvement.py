"""The one rule for "did the monitored metric improve?", shared by every part of `jdl.train`.

`EarlyStopping`, `ReduceLROnPlateau`, the per-member patience of `fit_population`,
`best_member` and `results_table` all ask the same question of a monitored value, so they ask
this object (Keras's `EarlyStopping` / `ReduceLROnPlateau` semantics):

    mode "min":  improved  <=>  value < best - min_delta - rtol * |best|
    mode "max":  improved  <=>  value > best + min_delta + rtol * |best|

"auto" picks "max" for names containing "acc" (accuracies) and "min" otherwise (losses,
errors). NaN never improves, and the best so far starts at the worst possible value. Every
method works elementwise on NumPy arrays, so a population of N members asks it once per epoch
with (N,) values.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

MODES = ("min", "max", "auto")


def resolve_mode(monitor: str, mode: str, *, owner: str = "mode") -> str:
    """"min" or "max" for `monitor`; raises ValueError for a mode not in MODES."""
    if mode not in MODES:
        raise ValueError(f"{owner}: expected 'min', 'max' or 'auto', got {mode!r}")
    if mode == "auto":
        return "max" if "acc" in monitor else "min"
    return mode


class Improvement(NamedTuple):
    """The improvement rule for one monitored metric (see the module docstring)."""

    monitor: str
    mode: str = "min"          # "min" or "max" (use `Improvement.of` to resolve "auto")
    min_delta: float = 0.0
    rtol: float = 0.0

    @classmethod
    def of(cls, monitor: str, mode: str = "auto", min_delta: float = 0.0,
           rtol: float = 0.0) -> "Improvement":
        """The rule with "auto" resolved and `min_delta` made non-negative."""
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"monitor: expected the name of a logged metric, got {monitor!r}")
        if rtol < 0:
            raise ValueError(f"rtol: expected a value >= 0, got {rtol!r}")
        return cls(monitor, resolve_mode(monitor, mode), abs(float(min_delta)), float(rtol))

    def worst(self) -> float:
        """The starting 'best so far': +inf for "min", -inf for "max"."""
        return math.inf if self.mode == "min" else -math.inf

    def improved(self, value, best):
        """Elementwise: is `value` an improvement on `best`? (bool, or a bool array)."""
        value, best = np.asarray(value, np.float64), np.asarray(best, np.float64)
        margin = self.min_delta + self.rtol * np.where(np.isfinite(best), np.abs(best), 0.0)
        if self.mode == "min":
            out = value < best - margin
        else:
            out = value > best + margin
        return bool(out) if out.ndim == 0 else out

    def best_index(self, values) -> np.ndarray:
        """Index along axis 0 of the best value (NaN never best; all-NaN gives -1)."""
        values = np.asarray(values, np.float64)
        worst = np.inf if self.mode == "min" else -np.inf
        filled = np.where(np.isnan(values), worst, values)
        index = np.argmin(filled, 0) if self.mode == "min" else np.argmax(filled, 0)
        return np.where(np.all(np.isnan(values), 0), -1, index)

    def best_value(self, values):
        """The best value along axis 0 (NaN ignored; all-NaN gives NaN)."""
        values = np.asarray(values, np.float64)
        index = self.best_index(values)
        picked = np.take_along_axis(values, np.maximum(index, 0)[None], 0)[0]
        return np.where(index < 0, np.nan, picked)
