"""Central-difference gradients and a CS231n-style relative-error check."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.typing import ArrayLike

from jdl.paths import path_str


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
