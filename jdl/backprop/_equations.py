"""The forward pass that stores z^l and a^l, and BP1-BP4 (Loo) with matrix products."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from jdl import activations as _act
from jdl.backprop._derivatives import (_TABLE, OUTPUT_ACTIVATIONS, _check_activation,
                                       _check_cost)


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
        z = acts[-1] @ w.astype(x.dtype) + b.astype(x.dtype)[None]   # z^l = a^{l-1} w^l + b^l
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
    """Gradients of the mean cost C by the four backpropagation equations (Loo, eq. 3).

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
        delta = a_out - y                                 # g' cancels (Loo)
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
