"""Train and eval steps: pure functions of (TrainState, batch), jit-compiled (DESIGN.md section 2).

    train_step(ts, (x, y))          -> (ts, {"loss": ..., metric: ...})
    eval_step(ts, (x, y[, weights])) -> {"loss": ..., metric: ...}

A loss is a function `(outputs, targets) -> per-example losses (batch,)` (see `jdl.losses`);
a metric has the same signature (see `jdl.metrics`). The step reports batch means.
"""
from __future__ import annotations

from typing import Callable, Mapping

import jax
import jax.numpy as jnp
import optax

from jdl.nn import Layer
from jdl.train._state import TrainState, dropout_key

LossFn = Callable[[jax.Array, jax.Array], jax.Array]
Metrics = Mapping[str, LossFn]


def _weighted_mean(values: jax.Array, weights: jax.Array | None) -> jax.Array:
    values = values.reshape(values.shape[0], -1).mean(axis=1) if values.ndim > 1 else values
    if values.ndim == 0:
        return values
    if weights is None:
        return jnp.mean(values)
    # jnp.where, not a product: a NaN on a padded row (e.g. an invalid label) must not count.
    weighted = jnp.where(weights != 0, values * weights, 0.0)
    return jnp.sum(weighted) / jnp.maximum(jnp.sum(weights), 1.0)


def make_train_step(model: Layer, optimizer: optax.GradientTransformation, loss_fn: LossFn, *,
                    metrics: Metrics | None = None,
                    penalty: Callable[[dict], jax.Array] | None = None,
                    jit: bool = True) -> Callable:
    """Build `train_step(ts, (x, y)) -> (ts, metrics)`.

    One step: k = dropout_key(ts.key, ts.step); (outputs, state') = model.apply(params, state,
    x, key=k, train=True); L = mean(loss_fn(outputs, y)) (+ penalty(params)); g = dL/dparams;
    (updates, opt_state') = optimizer.update(g, opt_state, params); params' = params + updates.

    Args:
      model: the Layer to train.
      optimizer: any Optax `GradientTransformation`.
      loss_fn: `(outputs, targets) -> (batch,)` per-example losses (batch mean is optimised).
      metrics: `{name: fn(outputs, targets)}` reported as batch means beside "loss".
      penalty: optional regularizer `params -> scalar` added to the objective (not to "loss").
      jit: return the step jit-compiled with the TrainState donated (default), or the plain
        function (to compose in your own `jit`, `vmap` or `scan`).
    """
    metrics = dict(metrics or {})

    def train_step(ts: TrainState, batch) -> tuple[TrainState, dict]:
        x, y = batch[0], batch[1]
        key = dropout_key(ts.key, ts.step)

        def objective(params):
            outputs, new_state = model.apply(params, ts.state, x, key=key, train=True)
            loss = jnp.mean(loss_fn(outputs, y))
            total = loss + penalty(params) if penalty is not None else loss
            return total, (loss, outputs, new_state)

        grads, (loss, outputs, new_state) = jax.grad(objective, has_aux=True)(ts.params)
        updates, opt_state = optimizer.update(grads, ts.opt_state, ts.params)
        params = optax.apply_updates(ts.params, updates)
        logs = {"loss": loss}
        logs.update({name: _weighted_mean(fn(outputs, y), None) for name, fn in metrics.items()})
        return TrainState(params, new_state, opt_state, ts.step + 1, ts.key), logs

    return jax.jit(train_step, donate_argnums=0) if jit else train_step


def make_eval_step(model: Layer, loss_fn: LossFn, *, metrics: Metrics | None = None,
                   jit: bool = True) -> Callable:
    """Build `eval_step(ts, (x, y) or (x, y, weights)) -> {"loss": ..., name: ...}`.

    Runs the model with `train=False` (running batch-norm statistics, no dropout) and returns
    weighted means over the batch; `weights` (batch,) of 0/1 lets a padded last batch count
    only its real rows (`evaluate` uses this, so the eval step compiles once).
    """
    metrics = dict(metrics or {})

    def eval_step(ts: TrainState, batch) -> dict:
        x, y = batch[0], batch[1]
        weights = batch[2] if len(batch) > 2 else None
        outputs, _ = model.apply(ts.params, ts.state, x, train=False)
        logs = {"loss": _weighted_mean(loss_fn(outputs, y), weights)}
        logs.update({name: _weighted_mean(fn(outputs, y), weights) for name, fn in metrics.items()})
        return logs

    return jax.jit(eval_step) if jit else eval_step


def make_steps(model: Layer, optimizer: optax.GradientTransformation, loss_fn: LossFn, *,
               metrics: Metrics | None = None, penalty: Callable | None = None
               ) -> tuple[Callable, Callable]:
    """`(train_step, eval_step)` sharing the same loss and metrics (both jitted)."""
    return (make_train_step(model, optimizer, loss_fn, metrics=metrics, penalty=penalty),
            make_eval_step(model, loss_fn, metrics=metrics))
