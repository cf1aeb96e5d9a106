"""Callbacks for `fit`: small host-side objects called at the end of each epoch.

A callback may stop training (`stop_training = True`), may return a replacement TrainState
from `on_epoch_end` (a plateau schedule changes the learning rate in the optimizer state)
and at the end (early stopping restores the best one). This is host-side control flow
around the jitted step, so plain objects are the simplest honest form.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jdl.train._state import TrainState


class Callback:
    """Base class: override what you need. `stop_training` ends `fit` after the current epoch."""

    stop_training: bool = False

    def on_train_begin(self, ts: TrainState) -> None:
        """Called once before the first epoch."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float], ts: TrainState) -> TrainState | None:
        """Called after each epoch with its train and validation means; may return a new TrainState."""

    def on_train_end(self, ts: TrainState) -> TrainState | None:
        """Called once at the end; return a TrainState to replace the result, or None."""
        return None


def _snapshot(ts: TrainState) -> TrainState:
    """A copy that survives the donation of `ts` to the next train step."""
    return jax.tree.map(jnp.copy, ts)


class EarlyStopping(Callback):
    """Stop once `monitor` has not improved for `patience` epochs in a row (decks 000-004; Keras).

    Args:
      monitor: a key of the epoch logs, e.g. "val_loss" or "val_accuracy".
      patience: epochs without improvement before stopping.
      min_delta: the least change that counts as an improvement.
      mode: "min", "max", or "auto" (max for names containing "acc", else min).
      restore_best: at the end, return the TrainState of the best epoch (parameters, batch-norm
        statistics, optimizer state and step, as they were then) instead of the last one.

    After `fit`, `best_epoch` and `best_value` say where the best was; `stopped_epoch` is the
    epoch after which training stopped (None if it ran to the end).
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, *, min_delta: float = 0.0,
                 mode: str = "auto", restore_best: bool = True):
        if mode not in ("min", "max", "auto"):
            raise ValueError(f"EarlyStopping: expected mode 'min', 'max' or 'auto', got {mode!r}")
        if patience < 0:
            raise ValueError(f"EarlyStopping: expected patience >= 0, got {patience!r}")
        self.monitor, self.patience, self.min_delta = monitor, patience, abs(min_delta)
        self.mode = ("max" if "acc" in monitor else "min") if mode == "auto" else mode
        self.restore_best = restore_best

    def on_train_begin(self, ts: TrainState) -> None:
        self.best_value = -math.inf if self.mode == "max" else math.inf
        self.best_epoch, self.stopped_epoch, self.wait = None, None, 0
        self.best_state, self.stop_training = None, False

    def _improved(self, value: float) -> bool:
        if self.mode == "max":
            return value > self.best_value + self.min_delta
        return value < self.best_value - self.min_delta

    def on_epoch_end(self, epoch: int, logs: dict[str, float], ts: TrainState) -> None:
        if self.monitor not in logs:
            raise KeyError(f"EarlyStopping: monitor {self.monitor!r} is not among the epoch logs "
                           f"{sorted(logs)}; pass val_data to fit to get val_* metrics")
        value = logs[self.monitor]
        if self._improved(value):
            self.best_value, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_state = _snapshot(ts)
        else:
            self.wait += 1
            if self.wait >= self.patience:  # Keras: `patience` epochs without improvement
                self.stop_training, self.stopped_epoch = True, epoch

    def on_train_end(self, ts: TrainState) -> TrainState | None:
        return self.best_state if self.restore_best else None


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by `factor` when `monitor` stops improving (decks 002, 003:
    "halve the learning rate when the validation error stops improving").

    The plateau logic is Optax's `contrib.reduce_on_plateau` (fed the monitored value once per
    epoch); its scale is applied to `opt_state.hyperparams["learning_rate"]`, so the optimizer
    must be built with `optax.inject_hyperparams`, e.g.
    `optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)` or, for jdl's optimizers,
    `optax.inject_hyperparams(jdl.optimizers.sgd)(lr=0.1)`. Optax's own usage (chaining the
    transform and passing the *training* loss each step) cannot see validation metrics.

    Args:
      monitor: epoch-log key, e.g. "val_loss" (lower is better; pass mode="max" for accuracies).
      factor, patience, rtol, atol, cooldown, min_scale: as in `optax.contrib.reduce_on_plateau`.
    After each epoch, `scale` holds the current multiplier of the initial learning rate.
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.5, patience: int = 2, *,
                 mode: str = "min", rtol: float = 1e-4, atol: float = 0.0, cooldown: int = 0,
                 min_scale: float = 0.0):
        import optax

        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: expected mode 'min' or 'max', got {mode!r}")
        self.monitor, self.sign = monitor, 1.0 if mode == "min" else -1.0
        self.plateau = optax.contrib.reduce_on_plateau(
            factor=factor, patience=patience, rtol=rtol, atol=atol, cooldown=cooldown,
            min_scale=min_scale)

    def on_train_begin(self, ts: TrainState) -> None:
        hyper = getattr(ts.opt_state, "hyperparams", None) or {}
        names = [n for n in ("learning_rate", "lr") if n in hyper]
        if not names:
            raise ValueError("ReduceLROnPlateau: expected an optimizer built with "
                             "optax.inject_hyperparams(...)(learning_rate=...) (or lr=... for "
                             f"jdl.optimizers), got hyperparams {sorted(hyper)}")
        self.name = names[0]
        self.base_lr = jnp.copy(hyper[self.name])
        self.plateau_state = self.plateau.init(jnp.zeros(()))
        self.scale, self.stop_training = 1.0, False

    def on_epoch_end(self, epoch: int, logs: dict[str, float], ts: TrainState) -> TrainState:
        if self.monitor not in logs:
            raise KeyError(f"ReduceLROnPlateau: monitor {self.monitor!r} is not among the epoch "
                           f"logs {sorted(logs)}")
        value = jnp.asarray(self.sign * logs[self.monitor], jnp.float32)
        _, self.plateau_state = self.plateau.update(jnp.zeros(()), self.plateau_state, value=value)
        self.scale = float(self.plateau_state.scale)
        hyper = dict(ts.opt_state.hyperparams)
        hyper[self.name] = (self.base_lr * self.scale).astype(self.base_lr.dtype)
        return ts._replace(opt_state=ts.opt_state._replace(hyperparams=hyper))
