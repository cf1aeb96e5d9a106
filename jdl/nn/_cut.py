"""Cut a model at a named layer: intermediate outputs without capture flags (docs/design.md,
section 1).

`cut(model, "features/block2")` is a Layer whose output is the output of that child. It takes
the *full* model's params and state (so a trained model's weights plug in unchanged) and
derives the same keys as the full model, so in training mode it draws the same dropout masks.
Uses: feature maps for pictures, fc7-style features for transfer learning (Senk).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jdl.nn._layer import Layer
from jdl.nn._wrappers import wrapped_layer


def _child_index(model: Layer, name: str, path: str) -> int:
    names = [n for n, _ in model.children]
    if name not in names:
        raise ValueError(f"cut: no child {name!r} on the way to {path!r}; the {model.kind} there "
                         f"has children {names}")
    return names.index(name)


def _runs_before(model: Layer, i: int) -> tuple:
    """The children that run before child i inside `model` on the way to a cut: in a `serial`
    each child takes the previous output, so children 0..i-1 run first; the other
    combinators (parallel, residual) give every child their own input, so none does."""
    return model.children[:i] if model.kind == "serial" else ()


def _parts(path: str) -> list[str]:
    parts = [p for p in path.split("/") if p]
    if not parts:
        raise ValueError(f"cut: expected a path like 'features/conv1', got {path!r}")
    return parts


def _cut_apply(model: Layer, parts: list[str], path: str):
    """`apply(params, state, x, key, train) -> (y, new_state)` of the prefix ending at `parts`."""
    inner = wrapped_layer(model)
    if inner is not None:  # inside nn.eval_mode: the same paths, always train=False
        run = _cut_apply(inner, parts, path)

        def apply_eval(params, state, x, *, key=None, train=False):
            return run(params, state, x, key=None, train=False)[0], state

        return apply_eval
    i = _child_index(model, parts[0], path)
    name, child = model.children[i]
    inner = child.apply if len(parts) == 1 else _cut_apply(child, parts[1:], path)
    before = _runs_before(model, i)

    def apply(params, state, x, *, key=None, train=False):
        new_state = dict(state)
        for j, (n, layer) in enumerate(before):
            k = None if key is None else jax.random.fold_in(key, j)
            x, s = layer.apply(params.get(n, {}), state.get(n, {}), x, key=k, train=train)
            if s:
                new_state[n] = s
        k = None if key is None else jax.random.fold_in(key, i)
        y, s = inner(params.get(name, {}), state.get(name, {}), x, key=k, train=train)
        if s:
            new_state[name] = s
        return y, new_state

    return apply


def cut(model: Layer, path: str) -> Layer:
    """The part of `model` from its input up to and including the child at `path`.

    Args:
      model: a model built from `serial` / `parallel` / `residual`.
      path: child names joined by "/", e.g. "features/block2" or "classifier/fc".

    Returns:
      A Layer: `init` gives (the cut's output shape, the full model's params, the full state);
      `apply(full_params, full_state, x, ...)` returns (the child's output, the full state with
      the entries of the children that ran updated).
    """
    apply = _cut_apply(model, _parts(path), path)

    def init(key, input_shape):
        _, params, state = model.init(key, input_shape)
        x = jax.ShapeDtypeStruct(tuple(input_shape), jnp.float32)
        out = jax.eval_shape(lambda p, s, x: apply(p, s, x)[0], params, state, x)
        return tuple(out.shape), params, state

    return Layer(init, apply, f"cut({path})")


def _subtree(model: Layer, parts: list[str], tree: dict, path: str) -> dict:
    inner = wrapped_layer(model)
    if inner is not None:
        return _subtree(inner, parts, tree, path)
    i = _child_index(model, parts[0], path)
    name, child = model.children[i]
    out = {n: tree[n] for n, _ in _runs_before(model, i) if n in tree}
    if name in tree:
        sub = tree[name] if len(parts) == 1 else _subtree(child, parts[1:], tree[name], path)
        if sub:
            out[name] = sub
    return out


def cut_subtree(model: Layer, path: str, tree: dict) -> dict:
    """The part of a full model's params (or state) that `cut(model, path)` reads.

    The same walk as `cut`: the children that run before the named one inside each `serial`,
    and the named child itself; layers after the cut (an old classifier) are left out. Use it
    to keep a cut model's trees small (`jdl.transfer.attach_head` does, so the old head gets no
    optimizer state and no weight decay). Raises ValueError for a path that names no child.
    """
    return _subtree(model, _parts(path), tree, path)
