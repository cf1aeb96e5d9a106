"""Callbacks for `fit` and `fit_population`: small host-side objects called after each epoch.

A callback may stop training (`stop_training = True`), may return a replacement TrainState
from `on_epoch_end` (a plateau schedule changes the learning rate in the optimizer state)
and at the end (early stopping restores the best one). This is host-side control flow
around the jitted step, so plain objects are the simplest honest form. Every callback that
asks "did the metric improve?" asks the one rule of `jdl.train._improvement.Improvement`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jdl.train._improvement import Improvement
from jdl.train._population import select_members
from jdl.train._state import TrainState


class Callback:
    """Base class: override what you need. `stop_training` ends training after the current epoch.

    For a population (`fit_population`), a callback may also keep `active`, an (N,) bool array:
    members whose flag is off stop changing from the next epoch on.
    """

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


def _monitored(owner: str, monitor: str, logs: dict):
    if monitor not in logs:
        raise ValueError(f"{owner}: expected monitor to be one of the epoch logs {sorted(logs)}, "
                         f"got {monitor!r}; pass val_data (and eval_step) to get val_* metrics")
    return logs[monitor]


def _check_patience(patience, owner: str) -> None:
    if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 0:
        raise ValueError(f"{owner}: expected patience an int >= 0, got {patience!r}")


class EarlyStopping(Callback):
    """Stop once `monitor` has not improved for `patience` epochs in a row (Keras semantics).

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
        _check_patience(patience, "EarlyStopping")
        self.rule = Improvement.of(monitor, mode, min_delta)
        self.monitor, self.patience, self.mode = monitor, patience, self.rule.mode
        self.restore_best = restore_best

    def on_train_begin(self, ts: TrainState) -> None:
        self.best_value = self.rule.worst()
        self.best_epoch, self.stopped_epoch, self.wait = None, None, 0
        self.best_state, self.stop_training = None, False

    def on_epoch_end(self, epoch: int, logs: dict[str, float], ts: TrainState) -> None:
        value = _monitored("EarlyStopping", self.monitor, logs)
        if self.rule.improved(value, self.best_value):
            self.best_value, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_state = _snapshot(ts)
        else:
            self.wait += 1
            if self.wait >= self.patience:  # Keras: `patience` epochs without improvement
                self.stop_training, self.stopped_epoch = True, epoch

    def on_train_end(self, ts: TrainState) -> TrainState | None:
        return self.best_state if self.restore_best else None


class MemberEarlyStopping(Callback):
    """`EarlyStopping` for each member of a population at once (what `fit_population` uses).

    Member i stops once `monitor` has not improved for `patience` epochs in a row; from then on
    its `active` flag is off and its TrainState no longer changes. With `restore_best`, every
    member ends with the TrainState of its own best epoch (a member that never improved, e.g.
    NaN from the start, keeps its last state). With `patience=None` nobody stops; the best epoch
    of each member is still tracked when `monitor` is logged. `best_epoch` is (N,), -1 where
    there was none.
    """

    def __init__(self, members: int, monitor: str = "val_loss", patience: int | None = None, *,
                 min_delta: float = 0.0, mode: str = "auto", restore_best: bool = True):
        if patience is not None:
            _check_patience(patience, "patience")
        self.rule = Improvement.of(monitor, mode, min_delta)
        self.members, self.patience, self.restore_best = members, patience, restore_best

    def on_train_begin(self, pop: TrainState) -> None:
        n = self.members
        self.best_value = np.full(n, self.rule.worst())
        self.best_epoch = np.full(n, -1)
        self.wait, self.active = np.zeros(n, np.int64), np.ones(n, bool)
        self.best_state, self.stop_training = None, False

    def on_epoch_end(self, epoch: int, logs: dict, pop: TrainState) -> None:
        if self.patience is None and self.rule.monitor not in logs:
            return
        value = _monitored("patience", self.rule.monitor, logs)
        improved = self.active & self.rule.improved(value, self.best_value)
        self.best_value = np.where(improved, value, self.best_value)
        self.best_epoch = np.where(improved, epoch, self.best_epoch)
        if self.patience is None:
            return
        self.wait = np.where(improved, 0, self.wait + self.active)
        if self.restore_best and improved.any():
            snapshot = _snapshot(pop)
            self.best_state = snapshot if self.best_state is None else _select(
                jnp.asarray(improved), snapshot, self.best_state)
        self.active = self.active & (self.wait < self.patience)

    def on_train_end(self, pop: TrainState) -> TrainState | None:
        if self.patience is None or not self.restore_best or self.best_state is None:
            return None
        return _select(jnp.asarray(self.best_epoch >= 0), self.best_state, pop)


_select = jax.jit(select_members)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by `factor` when `monitor` stops improving ("halve the learning
    rate when the validation error stops improving").

    The rule is Keras's and Optax's `contrib.reduce_on_plateau`: after `patience` epochs
    without improvement (by more than `atol + rtol * |best|`), scale <- max(scale * factor,
    min_scale), then wait `cooldown` epochs before counting again. Optax's transform is meant to
    run inside the step on the training loss; a validation metric arrives once per epoch on the
    host, so the rule runs here, on the shared `Improvement` (Optax's own threshold,
    `(1 - rtol) * best - atol`, would call a slightly *worse* value an improvement once a
    metric is negated for mode "max"). The scale is applied to
    `opt_state.hyperparams["learning_rate"]` (or `"lr"`), so the optimizer must be built with
    `optax.inject_hyperparams`, e.g. `optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)` or
    `optax.inject_hyperparams(jdl.optimizers.sgd)(lr=0.1)`.

    After each epoch, `scale` holds the current multiplier of the initial learning rate.
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.5, patience: int = 2, *,
                 mode: str = "auto", rtol: float = 1e-4, atol: float = 0.0, cooldown: int = 0,
                 min_scale: float = 0.0):
        _check_patience(patience, "ReduceLROnPlateau")
        if not 0.0 < factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: expected factor in (0, 1), got {factor!r}")
        self.rule = Improvement.of(monitor, mode, atol, rtol)
        self.monitor, self.factor, self.patience = monitor, factor, patience
        self.cooldown, self.min_scale = cooldown, min_scale

    def on_train_begin(self, ts: TrainState) -> None:
        hyper = getattr(ts.opt_state, "hyperparams", None) or {}
        names = [n for n in ("learning_rate", "lr") if n in hyper]
        if not names:
            raise ValueError("ReduceLROnPlateau: expected an optimizer built with "
                             "optax.inject_hyperparams(...)(learning_rate=...) (or lr=... for "
                             f"jdl.optimizers), got hyperparams {sorted(hyper)}")
        self.name = names[0]
        self.base_lr = jnp.copy(hyper[self.name])
        self.best_value, self.wait, self.cooling = self.rule.worst(), 0, 0
        self.scale, self.stop_training = 1.0, False

    def on_epoch_end(self, epoch: int, logs: dict[str, float], ts: TrainState) -> TrainState:
        value = _monitored("ReduceLROnPlateau", self.monitor, logs)
        if self.rule.improved(value, self.best_value):
            self.best_value, self.wait = value, 0
        else:
            self.wait += 1
        if self.cooling > 0:
            self.cooling, self.wait = self.cooling - 1, 0
        elif self.wait >= self.patience:
            self.scale = max(self.scale * self.factor, self.min_scale)
            self.wait, self.cooling = 0, self.cooldown
        hyper = dict(ts.opt_state.hyperparams)
        hyper[self.name] = (self.base_lr * self.scale).astype(self.base_lr.dtype)
        return ts._replace(opt_state=ts.opt_state._replace(hyperparams=hyper))
