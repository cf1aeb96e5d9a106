"""Backpropagation written out: the four delta equations of deck 000 for an MLP (CURRICULUM ch. 3).

For a plain multilayer perceptron ``z^l = a^{l-1} w^l + b^l``, ``a^l = g(z^l)`` (``a^0 = x``),
with the error term ``delta^l = dC/dz^l``, deck 000 (Nielsen's notation) gives

    BP1  delta^L = grad_a C (.) g'(z^L)                      output error
    BP2  delta^l = ((W^{l+1})^T delta^{l+1}) (.) g'(z^l)     error moved back one layer
    BP3  dC/db^l_j  = delta^l_j
    BP4  dC/dw^l_jk = a^{l-1}_k delta^l_j

:func:`backward` computes exactly these, with matrix products and no ``jax.grad``, and
:func:`numerical_gradient` / :func:`gradient_check` compare any gradient with central finite
differences (the CS231n check). ``jax.grad`` is the reference the tests hold it to (1e-6).

Layout. jdl is batch-first with ``w: (in, out)`` (``jdl.nn.Dense``): a batch of ``n`` examples is
a stack of row vectors, ``z^l = a^{l-1} @ w^l + b^l`` with ``a^{l-1}: (n, in)`` and
``z^l, delta^l: (n, out)``. The deck's ``W^{l+1}`` is ``(out, in)``, i.e. ``w^{l+1}.T``, so BP2
reads ``delta^l = (delta^{l+1} @ w^{l+1}.T) * g'(z^l)``, BP3 ``db^l = sum_x delta^l_x`` and BP4
``dw^l = a^{l-1}.T @ delta^l`` (the batch sum of the outer products ``a^{l-1}_x delta^l_x``).

Cost convention: C is the **mean over the n examples** of a per-example cost, as in deck 000's
``C = 1/2n sum_x ||y - a^L||^2`` and as ``jdl.losses.reduce`` (mean) does, so every per-example
``delta^L`` carries a factor 1/n. The costs:

* ``"quadratic"``: ``C_x = 1/2 ||a^L - y||^2`` (``jdl.losses.quadratic``); ``grad_a C = a^L - y``;
  any output activation (BP1 in full).
* ``"cross_entropy"``: ``C_x = -sum_j [y log a + (1 - y) log(1 - a)]`` with sigmoid outputs;
  ``sigma'`` cancels and ``delta^L = a^L - y`` (deck 000;
  ``jdl.losses.sigmoid_binary_cross_entropy`` on the logits ``z^L``).
* ``"log_likelihood"``: ``C_x = -log a^L_y`` with softmax outputs; ``delta^L = a^L - onehot(y)``
  (``jdl.losses.log_likelihood`` on the logits ``z^L``).

Params: the dict of :func:`jdl.models.mlp` (``{"dense_0": {"w", "b"}, ..., "dense_{L-1}"}``;
batch norm is refused; dropout has no params and is treated as at evaluation time, the
identity), the ``{"dense": {"w", "b"}}`` of :func:`jdl.models.logistic_regression`, or a list of
``{"w", "b"}`` dicts. Gradients come back in the same structure. Inputs ``(n, ...)`` are
flattened to ``(n, in)`` as ``mlp``'s ``Flatten`` does. Everything here is pure ``jnp``:
``jax.jit(backward, static_argnames=("activation", "cost", "output_activation"))`` works.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.flatten_util import ravel_pytree
from jax.typing import ArrayLike

from jdl import activations as _act
from jdl.paths import path_str

__all__ = ["ACTIVATIONS", "OUTPUT_ACTIVATIONS", "COSTS", "derivative", "forward", "backward",
           "total_cost", "numerical_gradient", "gradient_check", "GradientCheck"]


# ----------------------------------------------------------------------------- g and g'
# The derivatives are written by hand on purpose: the module exists to show BP1-BP4, so g' must be
# visible, not hidden behind jax.grad (which is the independent reference in the tests). At a kink
# the subgradient is the one jax.grad takes for the jdl.activations function, so the two agree
# everywhere. Leaky-ReLU slope 0.01 and ELU alpha 1 are jdl's (and mlp's) defaults.
_LEAKY_SLOPE = 0.01
_ELU_ALPHA = 1.0


def _sigmoid_prime(z: Array) -> Array:
    s = jax.nn.sigmoid(z)
    return s * (1.0 - s)                                       # s (1 - s), at most 1/4


def _tanh_prime(z: Array) -> Array:
    return 1.0 - jnp.tanh(z) ** 2                              # 1 - tanh^2


def _relu_prime(z: Array) -> Array:
    return (z > 0).astype(z.dtype)                             # 1[z > 0]; 0 at z = 0


def _leaky_relu_prime(z: Array) -> Array:
    return jnp.where(z >= 0, 1.0, _LEAKY_SLOPE).astype(z.dtype)  # 1 at z = 0


def _elu_prime(z: Array) -> Array:
    return jnp.where(z > 0, 1.0, _ELU_ALPHA * jnp.exp(jnp.minimum(z, 0.0))).astype(z.dtype)


def _abs_prime(z: Array) -> Array:
    return jnp.where(z >= 0, 1.0, -1.0).astype(z.dtype)       # sign(z), +1 at z = 0


def _hard_tanh_prime(z: Array) -> Array:
    return (jnp.abs(z) <= 1.0).astype(z.dtype)                 # 1 on [-1, 1] (ends included)


def _identity_prime(z: Array) -> Array:
    return jnp.ones_like(z)


_TABLE: dict[str, tuple[Callable[[Array], Array], Callable[[Array], Array]]] = {
    # name: (g, g')
    "sigmoid": (_act.sigmoid, _sigmoid_prime),
    "tanh": (_act.tanh, _tanh_prime),
    "relu": (_act.relu, _relu_prime),
    "leaky_relu": (_act.leaky_relu, _leaky_relu_prime),
    "elu": (_act.elu, _elu_prime),
    "abs_relu": (_act.abs_relu, _abs_prime),
    "hard_tanh": (_act.hard_tanh, _hard_tanh_prime),
    "ramp": (_act.ramp, _hard_tanh_prime),
    "identity": (_act.identity, _identity_prime),
    "linear": (_act.identity, _identity_prime),
}

ACTIVATIONS: tuple[str, ...] = tuple(_TABLE)
"""Hidden (elementwise) activations with a hand-written derivative."""
OUTPUT_ACTIVATIONS: tuple[str, ...] = ACTIVATIONS + ("softmax",)
"""Output units: every hidden activation, plus softmax (its Jacobian is used in BP1)."""

# cost name -> the output unit it implies (None: any, identity by default)
_COSTS: dict[str, str | None] = {"quadratic": None, "cross_entropy": "sigmoid",
                                 "log_likelihood": "softmax"}
COSTS: tuple[str, ...] = tuple(_COSTS)


def derivative(activation: str) -> Callable[[Array], Array]:
    """The hand-written ``g'`` of `activation` (a name in :data:`ACTIVATIONS`), elementwise."""
    return _TABLE[_check_activation(activation, "activation")][1]


def _check_activation(name: Any, arg: str, allowed: tuple[str, ...] = ACTIVATIONS) -> str:
    if not isinstance(name, str) or name not in allowed:
        extra = ("; softmax is not elementwise and is only an output unit (output_activation)"
                 if name == "softmax" and "softmax" not in allowed else "")
        raise ValueError(f"{arg}: expected one of {sorted(allowed)}, got {name!r}{extra}")
    return name


def _check_cost(cost: Any, output_activation: str | None) -> str:
    if not isinstance(cost, str) or cost not in _COSTS:
        raise ValueError(f"cost: expected one of {sorted(_COSTS)}, got {cost!r}")
    needed = _COSTS[cost]
    if output_activation is None:
        return needed or "identity"
    out = _check_activation(output_activation, "output_activation", OUTPUT_ACTIVATIONS)
    if needed is not None and out != needed:
        raise ValueError(f"output_activation: cost {cost!r} expects {needed!r} outputs (the "
                         f"deck's delta^L = a^L - y needs them), got {out!r}; pass None or "
                         f"{needed!r}, or use cost='quadratic'")
    return out


# ----------------------------------------------------------------------------- params
_DENSE = re.compile(r"dense_(\d+)")


def _layers(params: Any) -> list[tuple[Array, Array]]:
    """The (w, b) pairs of `params`, input layer first, with their shapes checked."""
    if isinstance(params, Mapping):
        keys = list(params)
        if keys == ["dense"]:
            names = ["dense"]
        else:
            idx = sorted(int(m.group(1)) for k in keys if (m := _DENSE.fullmatch(str(k))))
            if not keys or len(idx) != len(keys) or idx != list(range(len(keys))):
                raise ValueError(
                    "params: expected the plain MLP layout of jdl.models.mlp, {'dense_0': "
                    "{'w', 'b'}, ..., 'dense_{L-1}': ...} (no batch_norm or PReLU layers), or a "
                    f"list of {{'w', 'b'}} dicts, got keys {keys}")
            names = [f"dense_{i}" for i in idx]
        entries = [(n, params[n]) for n in names]
    elif isinstance(params, (list, tuple)) and params:
        entries = [(str(i), p) for i, p in enumerate(params)]
    else:
        raise ValueError("params: expected a dict {'dense_0': {'w', 'b'}, ...} (jdl.models.mlp) "
                         f"or a non-empty list of {{'w', 'b'}} dicts, got {type(params).__name__}")
    layers = []
    for name, p in entries:
        if not isinstance(p, Mapping) or set(p) != {"w", "b"}:
            got = sorted(p) if isinstance(p, Mapping) else type(p).__name__
            raise ValueError(f"params[{name!r}]: expected a dict with keys ['b', 'w'], got {got}")
        w, b = jnp.asarray(p["w"]), jnp.asarray(p["b"])
        if w.ndim != 2 or b.shape != w.shape[1:]:
            raise ValueError(f"params[{name!r}]: expected w (in, out) and b (out,), got w "
                             f"{w.shape} and b {b.shape}")
        if layers and w.shape[0] != layers[-1][0].shape[1]:
            raise ValueError(f"params[{name!r}]['w']: expected {layers[-1][0].shape[1]} input rows "
                             f"(the width of the layer before), got shape {w.shape}")
        layers.append((w, b))
    return layers


def _like(params: Any, grads: list[tuple[Array, Array]]) -> Any:
    """Put per-layer (dw, db) back into the structure of `params`, in each leaf's dtype."""
    if isinstance(params, Mapping):
        names = (["dense"] if list(params) == ["dense"]
                 else [f"dense_{i}" for i in range(len(grads))])
        layer_params = [params[n] for n in names]
    else:
        names, layer_params = None, list(params)
    out = [{"w": dw.astype(jnp.result_type(p["w"])), "b": db.astype(jnp.result_type(p["b"]))}
           for (dw, db), p in zip(grads, layer_params)]
    if names is not None:
        return dict(zip(names, out))
    return type(params)(out)


def _inputs(x: ArrayLike, layers: list[tuple[Array, Array]]) -> Array:
    x = jnp.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"x: expected shape (batch, features) with a batch axis, got {x.shape}; "
                         "add one with x[None]")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    x = x.reshape(x.shape[0], -1)                                # as mlp's Flatten
    if x.shape[1] != layers[0][0].shape[0]:
        raise ValueError(f"x: expected {layers[0][0].shape[0]} features per example (the rows of "
                         f"the first w), got {x.shape[1]} (x flattened to {x.shape})")
    return x


# ----------------------------------------------------------------------------- forward
def _forward(layers, x, activation: str, output_activation: str):
    g, g_out = _TABLE[activation][0], (_act.softmax if output_activation == "softmax"
                                       else _TABLE[output_activation][0])
    zs, acts = [], [x]
    for l, (w, b) in enumerate(layers):
        z = acts[-1] @ w.astype(x.dtype) + b.astype(x.dtype)     # z^l = a^{l-1} w^l + b^l
        zs.append(z)
        acts.append(g_out(z) if l == len(layers) - 1 else g(z))  # a^l = g(z^l)
    return zs, acts


def forward(params: Any, x: ArrayLike, activation: str,
            output_activation: str | None = None) -> tuple[list[Array], list[Array]]:
    """The forward pass, keeping what backprop needs: ``z^l = a^{l-1} w^l + b^l``, ``a^l = g(z^l)``.

    Args:
      params: :func:`jdl.models.mlp` params ``{"dense_i": {"w": (in, out), "b": (out,)}}`` or a
        list of such ``{"w", "b"}`` dicts, input layer first.
      x: ``(n, features)`` (or ``(n, ...)``, flattened).
      activation: hidden activation, a name in :data:`ACTIVATIONS`.
      output_activation: a name in :data:`OUTPUT_ACTIVATIONS`; None is the identity (the logits,
        as ``jdl.models.mlp`` returns them).

    Returns:
      ``(zs, activations)``: ``zs[l-1] = z^l`` ``(n, width_l)`` for ``l = 1..L`` and
      ``activations[l] = a^l`` for ``l = 0..L`` (``a^0`` is the flattened x, ``a^L`` the output).
    """
    activation = _check_activation(activation, "activation")
    output_activation = ("identity" if output_activation is None else
                         _check_activation(output_activation, "output_activation",
                                           OUTPUT_ACTIVATIONS))
    layers = _layers(params)
    return _forward(layers, _inputs(x, layers), activation, output_activation)


def _targets(y: ArrayLike, a_out: Array, cost: str) -> Array:
    """`y` as an array shaped like the output a^L (one-hot rows for integer labels).

    Labels outside [0, K) raise when concrete and give NaN rows (so NaN gradients) when traced,
    as in jdl.losses: never a silently zero one-hot row.
    """
    y = jnp.asarray(y)
    n, k = a_out.shape
    if cost == "log_likelihood" and jnp.issubdtype(y.dtype, jnp.integer) and y.ndim == 1:
        if y.shape != (n,):
            raise ValueError(f"y: expected integer labels of shape ({n},) or one-hot targets of "
                             f"shape {(n, k)}, got {y.shape}")
        if not isinstance(y, jax.core.Tracer) and y.size:
            values = np.asarray(y)                       # host copy: no jnp op under a trace
            lo, hi = int(values.min()), int(values.max())
            if lo < 0 or hi >= k:
                raise ValueError(f"y: expected class indices in [0, {k}), got min {lo}, max {hi}")
        valid = ((y >= 0) & (y < k))[:, None]
        return jnp.where(valid, jax.nn.one_hot(y, k, dtype=a_out.dtype), jnp.nan)
    if y.shape != (n, k):
        hint = "; use y[:, None] for one output" if y.shape == (n,) and k == 1 else ""
        what = f" or integer labels of shape ({n},)" if cost == "log_likelihood" else ""
        raise ValueError(f"y: expected shape {(n, k)} (the output a^L){what}, got {y.shape}{hint}")
    return y.astype(a_out.dtype)


# ----------------------------------------------------------------------------- backward
def backward(params: Any, x: ArrayLike, y: ArrayLike, *, activation: str, cost: str,
             output_activation: str | None = None) -> Any:
    """Gradients of the mean cost C by the four backpropagation equations (deck 000, eq. 3).

    Args:
      params: as in :func:`forward`.
      x: ``(n, features)``.
      y: ``(n, out)`` targets; for ``"log_likelihood"`` also integer labels ``(n,)``.
      activation: hidden activation, a name in :data:`ACTIVATIONS`.
      cost: ``"quadratic"``, ``"cross_entropy"`` (sigmoid outputs) or ``"log_likelihood"``
        (softmax outputs); C is the mean over the n examples of the per-example cost.
      output_activation: None picks the cost's output unit (identity for ``"quadratic"``, sigmoid
        for ``"cross_entropy"``, softmax for ``"log_likelihood"``); ``"quadratic"`` takes any name
        of :data:`OUTPUT_ACTIVATIONS` (``"sigmoid"`` is Nielsen's network).

    Returns:
      ``dC/dparams`` in the structure and dtypes of `params`: ``dw^l = a^{l-1}.T @ delta^l``
      (BP4) and ``db^l = sum over the batch of delta^l`` (BP3), where ``delta^L`` comes from BP1
      and ``delta^l = (delta^{l+1} @ w^{l+1}.T) * g'(z^l)`` from BP2, each with the 1/n of the
      mean. The same numbers as ``jax.grad`` of :func:`total_cost` (tests: 1e-6).
    """
    activation = _check_activation(activation, "activation")
    out = _check_cost(cost, output_activation)
    layers = _layers(params)
    x = _inputs(x, layers)
    zs, acts = _forward(layers, x, activation, out)
    a_out = acts[-1]
    y = _targets(y, a_out, cost)
    n = x.shape[0]

    # BP1: delta^L = grad_a C (.) g'(z^L), per example, times 1/n for the mean over the batch.
    if cost in ("cross_entropy", "log_likelihood"):
        delta = a_out - y                                 # g' cancels (deck 000)
    else:
        grad_a = a_out - y                                # quadratic: grad_a 1/2 ||a - y||^2
        if out == "softmax":                              # Jacobian diag(a) - a a^T (symmetric)
            delta = a_out * (grad_a - jnp.sum(a_out * grad_a, axis=-1, keepdims=True))
        else:
            delta = grad_a * _TABLE[out][1](zs[-1])
    delta = delta / n

    grads: list[tuple[Array, Array]] = []
    g_prime = _TABLE[activation][1]
    for l in range(len(layers) - 1, -1, -1):              # index l is the deck's layer l + 1
        grads.append((acts[l].T @ delta,                  # BP4: dC/dw_jk = a^{l-1}_k delta^l_j
                      jnp.sum(delta, axis=0)))            # BP3: dC/db_j = delta^l_j
        if l:                                 # BP2: delta^l = (W^{l+1})^T delta^{l+1} (.) g'(z^l)
            delta = (delta @ layers[l][0].astype(x.dtype).T) * g_prime(zs[l - 1])
    return _like(params, grads[::-1])


def total_cost(params: Any, x: ArrayLike, y: ArrayLike, *, activation: str, cost: str,
               output_activation: str | None = None) -> Array:
    """The mean cost ``C = 1/n sum_x C_x`` that :func:`backward` differentiates (same arguments).

    Quadratic ``1/2 ||a^L - y||^2``; cross-entropy ``softplus(z) - y z`` summed over outputs (the
    stable form of ``-[y log a + (1 - y) log(1 - a)]``, a = sigmoid(z)); log-likelihood
    ``-sum_k y_k log_softmax(z)_k``. A scalar; ``jax.grad`` of it is :func:`backward`'s reference,
    and ``lambda p: total_cost(p, x, y, ...)`` is an ``f`` for :func:`gradient_check`.
    """
    activation = _check_activation(activation, "activation")
    out = _check_cost(cost, output_activation)
    layers = _layers(params)
    zs, acts = _forward(layers, _inputs(x, layers), activation, out)
    y = _targets(y, acts[-1], cost)
    if cost == "quadratic":
        per_example = 0.5 * jnp.sum((acts[-1] - y) ** 2, axis=-1)
    elif cost == "cross_entropy":
        per_example = jnp.sum(jax.nn.softplus(zs[-1]) - y * zs[-1], axis=-1)
    else:
        per_example = -jnp.sum(y * jax.nn.log_softmax(zs[-1]), axis=-1)
    return jnp.mean(per_example)


# ----------------------------------------------------------------------------- gradient check
def _float_leaves(params: Any, what: str) -> tuple[list, Any, list[str]]:
    flat, treedef = jax.tree_util.tree_flatten_with_path(params)
    paths = [path_str(p) for p, _ in flat]
    leaves = [jnp.asarray(v) for _, v in flat]
    if not leaves:
        raise ValueError(f"{what}: expected a pytree with at least one array, got {params!r}")
    for p, v in zip(paths, leaves):
        if not jnp.issubdtype(v.dtype, jnp.floating):
            raise ValueError(f"{what}[{p!r}]: expected a floating dtype, got {v.dtype}")
    return leaves, treedef, paths


_TINY = float(np.finfo(np.float64).tiny)


def _default_eps(dtype) -> float:
    return float(jnp.finfo(dtype).eps) ** (1.0 / 3.0)    # 6.1e-6 in float64, 4.9e-3 in float32


def numerical_gradient(f: Callable[[Any], ArrayLike], params: Any, eps: float | None = None, *,
                       jit: bool = True) -> Any:
    """Central differences ``dC/dtheta_i ~ (f(theta + eps e_i) - f(theta - eps e_i)) / 2 eps``.

    Every entry of every leaf of `params` is perturbed in turn: 2 evaluations of ``f`` per
    parameter, so this is for small networks (a check, not a training method). ``f(params)`` must
    return a scalar. The divisor is the perturbation actually representable in the leaf's dtype.

    Precision: the error is ``O(eps^2)`` (truncation) plus ``O(u |f| / eps)`` (rounding, u the
    machine epsilon), smallest near ``eps = u^(1/3)``, which ``eps=None`` picks per leaf: 6e-6 in
    float64, 5e-3 in float32. Agreement to ~1e-9 needs float64 (``jax.enable_x64(True)`` as a
    context manager, or ``jax.config.update("jax_enable_x64", True)``, with float64 params and
    inputs); float32 gives ~1e-3 relative at best. With ``jit=True`` (f must then be
    jittable) f is compiled once.
    Returns a pytree like `params`, in its dtypes.
    """
    leaves, treedef, paths = _float_leaves(params, "params")
    value_shape = (jax.eval_shape(f, params) if jit else jnp.asarray(f(params))).shape
    if value_shape != ():
        raise ValueError(f"f: expected f(params) to be a scalar, got shape {value_shape}")
    theta, unravel = ravel_pytree(leaves)        # one vector (widest dtype); unravel casts back

    def shifted(i, value):                        # f with entry i of theta set to value
        return f(jax.tree_util.tree_unflatten(treedef, unravel(theta.at[i].set(value))))

    run = jax.jit(shifted) if jit else shifted
    out, offset = [], 0
    for leaf, path in zip(leaves, paths):
        h = _default_eps(leaf.dtype) if eps is None else float(eps)
        flat = np.asarray(leaf).reshape(-1)
        grad = np.zeros(flat.shape, np.float64)
        for i in range(flat.size):
            # theta_i +- h rounded to the leaf's dtype (what f will see); divide by the real step
            plus, minus = flat.dtype.type(flat[i] + h), flat.dtype.type(flat[i] - h)
            step = float(plus) - float(minus)
            if step == 0.0:
                raise ValueError(f"eps: {h:g} is below the resolution of {path!r} "
                                 f"({flat.dtype}, value {flat[i]:g}); use a larger eps")
            j = offset + i
            grad[i] = (float(run(j, plus)) - float(run(j, minus))) / step
        offset += flat.size
        out.append(jnp.asarray(grad.reshape(leaf.shape), leaf.dtype))
    return jax.tree_util.tree_unflatten(treedef, out)


class GradientCheck(NamedTuple):
    """What :func:`gradient_check` found. Paths are ``jdl.paths`` strings (``"dense_0/w"``)."""
    ok: bool                           # every relative error <= rtol
    max_relative_error: float          # the largest of relative_errors
    relative_errors: dict[str, float]  # per leaf: max |a - b| / max(|a|, |b|, atol / rtol)
    absolute_errors: dict[str, float]  # per leaf: max |a - b|
    numerical: Any                     # the numerical gradient, a pytree like params

    def __str__(self) -> str:
        width = max(len(p) for p in self.relative_errors)
        lines = [f"gradient check {'ok' if self.ok else 'FAILED'}: max relative error "
                 f"{self.max_relative_error:.3g}"]
        lines += [f"  {p:<{width}}  rel {r:.3g}  abs {self.absolute_errors[p]:.3g}"
                  for p, r in self.relative_errors.items()]
        return "\n".join(lines)


def gradient_check(f: Callable[[Any], ArrayLike], params: Any, grads: Any, *,
                   eps: float | None = None, rtol: float | None = None,
                   atol: float | None = None) -> GradientCheck:
    """Compare `grads` (e.g. from :func:`backward`) with :func:`numerical_gradient` of `f`.

    Per entry the relative error is CS231n's ``|a - b| / max(|a|, |b|)``, with the denominator
    floored at ``atol / rtol``: a near-zero gradient makes the plain ratio rounding noise, so
    below the floor the error is in effect judged absolutely. ``ok`` is True when every entry
    has relative error <= rtol, i.e. ``|a - b| <= max(rtol max(|a|, |b|), atol)``. Defaults
    follow the lowest-precision leaf: ``rtol=1e-6, atol=1e-9`` in float64 (floor 1e-3),
    ``rtol=1e-2, atol=1e-4`` in float32 (floor 1e-2). A parameter whose perturbation moves some
    z across a kink (ReLU at 0, ...) gets a wrong finite difference: a few failing entries in a
    ReLU net can be that rather than a bug.
    """
    leaves, treedef, paths = _float_leaves(params, "params")
    g_flat, g_def = jax.tree_util.tree_flatten(grads)
    if g_def != treedef:
        raise ValueError(f"grads: expected the structure of params {treedef}, got {g_def}")
    for p, a, b in zip(paths, leaves, g_flat):
        if jnp.shape(b) != a.shape:
            raise ValueError(f"grads[{p!r}]: expected shape {a.shape} (as params), got "
                             f"{jnp.shape(b)}")
    wide = min(jnp.finfo(v.dtype).bits for v in leaves) >= 64
    rtol = (1e-6 if wide else 1e-2) if rtol is None else float(rtol)
    atol = (1e-9 if wide else 1e-4) if atol is None else float(atol)
    if not (rtol > 0 and atol >= 0):
        raise ValueError(f"rtol, atol: expected rtol > 0 and atol >= 0, got {rtol}, {atol}")
    numerical = numerical_gradient(f, params, eps)
    rel, absolute = {}, {}
    for p, a, b in zip(paths, g_flat, jax.tree_util.tree_leaves(numerical)):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        err = np.abs(a - b)
        scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), max(atol / rtol, _TINY))
        rel[p] = float((err / scale).max()) if err.size else 0.0
        absolute[p] = float(err.max()) if err.size else 0.0
    ok = max(rel.values()) <= rtol
    return GradientCheck(bool(ok), max(rel.values()), rel, absolute, numerical)
