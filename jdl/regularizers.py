"""Regularization: norm penalties, weight decay, freezing and weight noise (Loo, COMP9321,
*Engineering Deep Learning*).

Penalties are functions `params -> scalar` for `make_train_step(..., penalty=...)`, which adds
them to the mean loss before differentiating:

    step = make_train_step(model, optax.sgd(0.1), loss, penalty=l2(1e-4))            # L2
    step = make_train_step(model, opt, loss, penalty=l2(0.5, n=len(x_train)))        # Loo
    step = make_train_step(model, opt, loss, penalty=l1_towards(pretrained, 1e-3))   # Loo

Optimizer wrappers return Optax transformations:

    opt = weight_decay(optax.adam(1e-3), 1e-4)     # decoupled decay (AdamW), weights only
    opt = freeze(optax.adam(1e-3), ["features/*"])  # zero updates for the frozen tensors

Weight noise (*Engineering Deep Learning*) is a model wrapper: `noisy_apply(model, 0.01)` perturbs
the weights with the layer key on every training forward pass; the train step needs no change.

Which tensors: "only weights are penalized, biases are not" (*Engineering Deep Learning*;
Loo, eq. 5), so every selector defaults to `jdl.paths.weights_only` (leaves named "w").
Selectors are glob patterns over paths such as "dense_0/w" (see `jdl.paths`).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import optax

from jdl import nn
from jdl.checks import check_key
from jdl.nn import Layer
from jdl.paths import Selector, check_matches, mask, path_str, select, weights_only

Penalty = Callable[[Any], jax.Array]

__all__ = ["Penalty", "l2", "l1", "l1_towards", "weight_decay", "freeze", "add_weight_noise",
           "noisy_apply"]

_NUMBER = (int, float)


def _check_coef(fn: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, _NUMBER) or not value >= 0:
        raise ValueError(f"{fn}: expected {name} to be a number >= 0, got {value!r}")
    return float(value)


def _check_n(fn: str, n: Any) -> float:
    if n is None:
        return 1.0
    if isinstance(n, bool) or not isinstance(n, _NUMBER) or not n > 0:
        raise ValueError(f"{fn}: expected n (the number of training examples) to be a positive "
                         f"number or None, got {n!r}")
    return float(n)


def _selected(fn: str, params: Any, include: Selector, per_layer: list, coef: float
              ) -> list[tuple[str, Any, float]]:
    """`[(path, leaf, coefficient)]` of the included leaves (first matching per-layer pattern
    wins); raises when nothing is included or a per-layer pattern matches nothing."""
    pred = select(include, name=f"{fn}: include")
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    out, used = [], set()
    for key_path, leaf in flat:
        path = path_str(key_path)
        if not pred(path, leaf):
            continue
        c = coef
        for pattern, layer_pred, pc in per_layer:
            if layer_pred(path, leaf):
                c = pc
                used.add(pattern)
                break
        out.append((path, leaf, c))
    if not out:
        check_matches(params, include, name=f"{fn}: include")
    unused = [p for p, _, _ in per_layer if p not in used]
    if unused:
        raise ValueError(f"{fn}: expected every per_layer pattern to match an included "
                         f"parameter, got no match for {unused}; the included paths are "
                         f"{[p for p, _, _ in out]}")
    return out


def _norm_penalty(fn: str, coef: float, include: Selector, per_layer: Mapping[str, float] | None,
                  n: int | None, term: Callable[[jax.Array], jax.Array], half: bool) -> Penalty:
    coef = _check_coef(fn, "coef", coef)
    scale = (0.5 if half else 1.0) / _check_n(fn, n)
    select(include, name=f"{fn}: include")  # type check now, not at the first step
    if per_layer is not None and not isinstance(per_layer, Mapping):
        raise TypeError(f"{fn}: expected per_layer to be a dict {{pattern: coef}}, got "
                        f"{type(per_layer).__name__}")
    layers = [(p, select(p, name=f"{fn}: per_layer"), _check_coef(fn, f"per_layer[{p!r}]", c))
              for p, c in (per_layer or {}).items()]

    def penalty(params: Any) -> jax.Array:
        total = jnp.zeros((), jnp.float32)
        for _, leaf, c in _selected(fn, params, include, layers, coef):
            if c:
                total = total + c * term(leaf)
        return scale * total

    return penalty


def l2(coef: float, *, include: Selector = weights_only,
       per_layer: Mapping[str, float] | None = None, n: int | None = None) -> Penalty:
    """L2 penalty `params -> (coef / 2) * sum w^2` over the included tensors
    (*Engineering Deep Learning*: p(w) = alpha/2 w^T w, gradient coef * w).

    With `n` (the training-set size) it is Loo's eq. (4): `coef / (2n) * sum w^2`, whose
    gradient coef/n * w gives the update w <- (1 - lr coef / n) w - lr dC0/dw (eq. 6).
    COMP9321's `lambda * sum theta^2` (no 1/2) is `l2(2 * lambda)`.

    Args:
      coef: lambda >= 0, used for every included tensor not matched by `per_layer`.
      include: which tensors (default: weights "w", never biases or batch-norm parameters).
      per_layer: `{pattern: coef}` overriding `coef` for the included tensors whose path matches
        (first match wins), e.g. `{"dense_0/*": 1e-3}` (*Engineering Deep Learning*: "a separate
        penalty term for each layer"). Each pattern must match at least one included tensor.
      n: divide by the number of training examples (Loo); None for no division.
    """
    return _norm_penalty("l2", coef, include, per_layer, n,
                         lambda w: jnp.sum(jnp.square(w), dtype=jnp.float32), half=True)


def l1(coef: float, *, include: Selector = weights_only,
       per_layer: Mapping[str, float] | None = None, n: int | None = None) -> Penalty:
    """L1 penalty `params -> coef * sum |w|` over the included tensors (*Engineering Deep
    Learning*: p(w) = sum |w|, gradient coef * sign(w)); with `n`, Loo's eq. (7)
    `coef / n * sum |w|`. Arguments as in `l2`."""
    return _norm_penalty("l1", coef, include, per_layer, n,
                         lambda w: jnp.sum(jnp.abs(w), dtype=jnp.float32), half=False)


def l1_towards(reference_params: Any, coef: float, *, include: Selector = weights_only,
               n: int | None = None) -> Penalty:
    """Adaptive L1 penalty towards a reference: `params -> coef * ||w - w_hat||_1` (Loo,
    the adaptive SVM: the regularizer ||w||_1 becomes ||w - w_hat||_1, so training stays close
    to `w_hat`, e.g. pretrained weights). With `n`, `coef / n * ||w - w_hat||_1`.

    `reference_params` must hold every included path with the same shape; its arrays are
    closed over (constants of the compiled step). Include biases too with `include="*"`.
    """
    fn = "l1_towards"
    coef = _check_coef(fn, "coef", coef)
    scale = coef / _check_n(fn, n)
    select(include, name=f"{fn}: include")
    ref = {path_str(p): jnp.asarray(leaf)
           for p, leaf in jax.tree_util.tree_flatten_with_path(reference_params)[0]}

    def penalty(params: Any) -> jax.Array:
        total = jnp.zeros((), jnp.float32)
        for path, leaf, _ in _selected(fn, params, include, [], coef):
            if path not in ref:
                raise ValueError(f"{fn}: expected reference_params to contain {path!r}, got "
                                 f"paths {sorted(ref)[:12]}")
            if ref[path].shape != leaf.shape:
                raise ValueError(f"{fn}: expected reference {path!r} of shape {leaf.shape}, got "
                                 f"{ref[path].shape}")
            total = total + jnp.sum(jnp.abs(leaf - ref[path].astype(leaf.dtype)),
                                    dtype=jnp.float32)
        return scale * total

    return penalty


def _mask_fn(selector: Selector, name: str) -> Callable[[Any], Any]:
    select(selector, name=name)  # type check now, not at the first step
    return lambda tree: mask(tree, selector)


def weight_decay(optimizer: optax.GradientTransformation, wd: float | Callable[[Any], Any], *,
                 mask: Selector = weights_only, decoupled: bool = True
                 ) -> optax.GradientTransformation:
    """Weight decay on the selected tensors (default: weights only, never biases).

    decoupled=True (default; Loshchilov & Hutter's AdamW form): after `optimizer` has turned
    the gradient into its update u, shrink the weights by the factor wd:

        w <- w + u - wd * w = (1 - wd) w + u
        `optax.chain(optimizer, optax.add_decayed_weights(-wd, mask))`

    `wd` is the per-step shrink factor (Loo's eq. 6 writes it lr * lambda / n; *Engineering Deep
    Learning* lr * alpha); it may be a schedule `count -> wd`. For plain SGD this equals the L2
    penalty `l2(wd / lr)`; for adaptive optimizers (Adam, RMSProp) it does not, because the decay
    is not rescaled by the optimizer.

    decoupled=False: classic coupled L2 through the optimizer, g <- g + wd * w before it,
    `optax.chain(optax.add_decayed_weights(wd, mask), optimizer)`, the same as adding the
    penalty `l2(wd, include=mask)` to the loss.
    """
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"weight_decay: expected optimizer to be an optax.GradientTransformation,"
                        f" got {type(optimizer).__name__}")
    if isinstance(wd, _NUMBER):
        _check_coef("weight_decay", "wd", wd)
    elif not callable(wd):
        raise TypeError(f"weight_decay: expected wd to be a number >= 0 or a schedule, got {wd!r}")
    mask_fn = _mask_fn(mask, "weight_decay: mask")
    if decoupled:
        neg = (lambda count: -wd(count)) if callable(wd) else -float(wd)
        return optax.chain(optimizer, optax.add_decayed_weights(neg, mask=mask_fn))
    return optax.chain(optax.add_decayed_weights(wd, mask=mask_fn), optimizer)


def freeze(optimizer: optax.GradientTransformation, patterns: Selector
           ) -> optax.GradientTransformation:
    """Freeze the selected tensors: their updates are exactly zero, the others get `optimizer`.

    `optax.multi_transform({"train": optimizer, "frozen": optax.set_to_zero()}, labels)`.
    Not `optax.masked`: outside its mask `masked` passes the raw gradient through, which
    would apply w <- w + g (measured: docs/design.md, section 5). The optimizer keeps no state for
    the frozen tensors; their gradient is still computed by the step (cheap for a few layers).
    Raises `ValueError` at `init` when `patterns` select nothing (a typo would freeze nothing).
    """
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"freeze: expected optimizer to be an optax.GradientTransformation, got "
                        f"{type(optimizer).__name__}")
    pred = select(patterns, name="freeze: patterns")

    def labels(tree: Any) -> Any:
        check_matches(tree, patterns, name="freeze: patterns")
        return jax.tree_util.tree_map_with_path(
            lambda p, leaf: "frozen" if pred(path_str(p), leaf) else "train", tree)

    return optax.multi_transform({"train": optimizer, "frozen": optax.set_to_zero()}, labels)


def add_weight_noise(params: Any, key: jax.Array, std: float,
                     patterns: Selector = weights_only) -> Any:
    """`params` with Gaussian noise on the selected tensors: w + std * N(0, 1) (*Engineering Deep
    Learning*, "noise robustness": noise on the weights pushes training towards flat minima).

    Pure: leaf i of `jax.tree.leaves(params)` uses `fold_in(key, i)`, so the same key gives
    the same noise. Unselected tensors (default: everything but the weights "w") are returned
    unchanged. Differentiable in `params` (the noise is additive).
    """
    check_key(key)
    if isinstance(std, _NUMBER):
        _check_coef("add_weight_noise", "std", std)
        if std == 0:
            return params
    pred = select(patterns, name="add_weight_noise: patterns")
    flat, treedef = jax.tree_util.tree_flatten_with_path(params)
    out = []
    for i, (key_path, leaf) in enumerate(flat):
        if pred(path_str(key_path), leaf):
            noise = jax.random.normal(jax.random.fold_in(key, i), jnp.shape(leaf))
            leaf = leaf + (std * noise).astype(jnp.result_type(leaf))
        out.append(leaf)
    return jax.tree_util.tree_unflatten(treedef, out)


def noisy_apply(model: Layer, std: float, patterns: Selector = weights_only) -> Layer:
    """`model` with weight noise during training (*Engineering Deep Learning*): a Layer with the
    same `init`, params and state, whose `apply(..., key, train=True)` runs `model` on
    `add_weight_noise(params, fold_in(key, 1), std, patterns)` with key `fold_in(key, 0)` for the
    model's own randomness (dropout). With `train=False` it is `model.apply` unchanged.

    Use it in place of the model; `make_train_step` already passes a fresh key per step, so
    each step draws new noise, and gradients are taken at the perturbed weights:

        model = noisy_apply(mlp([256, 10]), std=0.01)
        train_step, eval_step = make_steps(model, optax.sgd(0.1), loss)

    (A `penalty` cannot do this: it only adds a term to the loss, it cannot change the weights
    the forward pass sees.) `kind` and `children` are the model's, so paths, `cut` and
    checkpoints are unchanged.
    """
    if isinstance(std, _NUMBER):
        _check_coef("noisy_apply", "std", std)
    select(patterns, name="noisy_apply: patterns")

    def transform(key, params, x):
        return add_weight_noise(params, key, std, patterns), x

    return nn.training_transform(model, transform, name="noisy_apply")
