"""Train and eval steps: pure functions of (TrainState, batch), jit-compiled (docs/design.md).

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


def check_step_arguments(model, optimizer, loss_fn, metrics) -> dict:
    """TypeError naming the argument when a step is built from something that is not a model,
    an optimizer (None for an eval step), a loss function or a dict of metric functions."""
    if not (hasattr(model, "init") and hasattr(model, "apply")):
        raise TypeError(f"model: expected a jdl.nn.Layer (init, apply), got {type(model).__name__}")
    if optimizer is not None and not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(f"optimizer: expected an optax.GradientTransformation, got "
                        f"{type(optimizer).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn: expected a function (outputs, targets) -> per-example losses "
                        f"(jdl.losses.get turns a name into one), got {loss_fn!r}")
    metrics = metrics or {}
    if not isinstance(metrics, Mapping) or not all(callable(f) for f in metrics.values()):
        raise TypeError(f"metrics: expected a dict {{name: function (outputs, targets) -> "
                        f"per-example values}}, got {metrics!r}")
    return dict(metrics)


def cast_floating(tree, dtype):
    """`tree` with every floating-point leaf cast to `dtype` (ints and keys untouched)."""
    if dtype is None:
        return tree
    return jax.tree.map(
        lambda a: a.astype(dtype) if jnp.issubdtype(jnp.asarray(a).dtype, jnp.floating) else a, tree)


def _forward(model: Layer, params, state, x, key, train: bool, compute_dtype):
    """model.apply in `compute_dtype` (mixed precision), outputs back in float32."""
    if compute_dtype is None:
        return model.apply(params, state, x, key=key, train=train)
    outputs, new_state = model.apply(cast_floating(params, compute_dtype), state,
                                     cast_floating(x, compute_dtype), key=key, train=train)
    return outputs.astype(jnp.float32), new_state


def make_train_step(model: Layer, optimizer: optax.GradientTransformation, loss_fn: LossFn, *,
                    metrics: Metrics | None = None,
                    penalty: Callable[[dict], jax.Array] | None = None,
                    compute_dtype=None, jit: bool = True) -> Callable:
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
      compute_dtype: e.g. `jnp.bfloat16` for mixed precision: the forward and backward pass
        run on bfloat16 copies of the parameters and inputs, while the parameters, the
        optimizer state, the loss and the batch-norm statistics stay float32 (the gradient
        comes back float32 through the cast). Worth it on GPUs/TPUs; slower on most CPUs.
      jit: return the step jit-compiled with the TrainState donated (default), or the plain
        function (to compose in your own `jit`, `vmap` or `scan`).
    """
    step = train_step_function(model, optimizer, loss_fn, metrics=metrics, penalty=penalty,
                               compute_dtype=compute_dtype)
    return jax.jit(step, donate_argnums=0) if jit else step


def train_step_function(model: Layer, optimizer: optax.GradientTransformation, loss_fn: LossFn,
                        *, metrics: Metrics | None = None, penalty: Callable | None = None,
                        compute_dtype=None, reduce: Callable = lambda tree: tree) -> Callable:
    """The pure train step of `make_train_step`; `reduce` is applied to the gradients and to the
    logs before they are used (`lax.pmean` over devices in `make_pmap_train_step`)."""
    metrics = check_step_arguments(model, optimizer, loss_fn, metrics)

    def objective(params, state, x, y, key):
        outputs, new_state = _forward(model, params, state, x, key, True, compute_dtype)
        loss = jnp.mean(loss_fn(outputs, y))
        total = loss + penalty(params) if penalty is not None else loss
        return total, (loss, outputs, new_state)

    def train_step(ts: TrainState, batch) -> tuple[TrainState, dict]:
        x, y = batch[0], batch[1]
        key = dropout_key(ts.key, ts.step)
        grads, (loss, outputs, new_state) = jax.grad(objective, has_aux=True)(
            ts.params, ts.state, x, y, key)
        updates, opt_state = optimizer.update(reduce(grads), ts.opt_state, ts.params)
        params = optax.apply_updates(ts.params, updates)
        logs = {"loss": loss}
        logs.update({name: _weighted_mean(fn(outputs, y), None) for name, fn in metrics.items()})
        return TrainState(params, new_state, opt_state, ts.step + 1, ts.key), reduce(logs)

    return train_step


def make_eval_step(model: Layer, loss_fn: LossFn, *, metrics: Metrics | None = None,
                   compute_dtype=None, jit: bool = True) -> Callable:
    """Build `eval_step(ts, (x, y) or (x, y, weights)) -> {"loss": ..., name: ...}`.

    Runs the model with `train=False` (running batch-norm statistics, no dropout) and returns
    weighted means over the batch; `weights` (batch,) of 0/1 lets a padded last batch count
    only its real rows (`evaluate` uses this, so the eval step compiles once).
    """
    metrics = check_step_arguments(model, None, loss_fn, metrics)

    def eval_step(ts: TrainState, batch) -> dict:
        x, y = batch[0], batch[1]
        weights = batch[2] if len(batch) > 2 else None
        outputs, _ = _forward(model, ts.params, ts.state, x, None, False, compute_dtype)
        logs = {"loss": _weighted_mean(loss_fn(outputs, y), weights)}
        logs.update({name: _weighted_mean(fn(outputs, y), weights) for name, fn in metrics.items()})
        return logs

    return jax.jit(eval_step) if jit else eval_step


def make_steps(model: Layer, optimizer: optax.GradientTransformation, loss_fn: LossFn, *,
               metrics: Metrics | None = None, penalty: Callable | None = None,
               compute_dtype=None) -> tuple[Callable, Callable]:
    """`(train_step, eval_step)` sharing the loss, metrics and compute dtype (both jitted)."""
    return (make_train_step(model, optimizer, loss_fn, metrics=metrics, penalty=penalty,
                            compute_dtype=compute_dtype),
            make_eval_step(model, loss_fn, metrics=metrics, compute_dtype=compute_dtype))
