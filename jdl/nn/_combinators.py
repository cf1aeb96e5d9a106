"""Combinators: build models from layers (docs/design.md, section 1).

- `serial`    y = f_n(... f_2(f_1(x)))           (stax `serial`, Keras `Sequential`)
- `parallel`  y = concat([f_1(x), ..., f_n(x)])   (the Inception module: same input to every branch)
- `residual`  y = main(x) + shortcut(x)           (ResNet; the shortcut is the identity by default)

Children are named: pass `(name, layer)` pairs (or a dict) for readable paths such as
`features/conv1/w`; an unnamed child gets `<kind>_<n>` where n counts children of the same kind
(`dense_0`, `relu_0`, `dense_1`). Keys: child i receives `fold_in(key, i)` at `init` and at
`apply`, so no key is ever used twice and the derivation depends only on the position.
Children without parameters (or state) do not appear in `params` (or `state`).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import jax
import jax.numpy as jnp

from jdl.nn._keys import key_scope
from jdl.nn._layer import Layer, Shape, as_shape

Child = Layer | tuple[str, Layer]


def _name_children(children: Sequence[Child] | Sequence[Mapping[str, Layer]], kind: str
                   ) -> tuple[tuple[str, Layer], ...]:
    if len(children) == 1 and isinstance(children[0], Mapping):
        children = list(children[0].items())
    named, counts = [], {}
    for i, child in enumerate(children):
        if isinstance(child, Layer):
            n = counts.get(child.kind, 0)
            counts[child.kind] = n + 1
            name, layer = f"{child.kind}_{n}", child
        elif (isinstance(child, tuple) and len(child) == 2 and isinstance(child[0], str)
              and isinstance(child[1], Layer)):
            name, layer = child
        else:
            raise TypeError(f"{kind}: child {i}: expected a Layer or a (name, Layer) pair, got "
                            f"{type(child).__name__}: {child!r}. Did you forget to call a "
                            f"constructor, e.g. Relu() instead of Relu?")
        if not name or "/" in name:
            raise ValueError(f"{kind}: child {i}: expected a non-empty name without '/', got {name!r}")
        named.append((name, layer))
    names = [n for n, _ in named]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{kind}: expected unique child names, got duplicates {duplicates}")
    return tuple(named)


def _fold(key, i: int):
    return None if key is None else jax.random.fold_in(key, i)


class InitError(ValueError):
    """A `ValueError` raised inside a child's `init`, prefixed with the child's path."""

    def __init__(self, path: str, message: str):
        self.path, self.message = path, message
        super().__init__(f"{path}: {message}")


def _init_child(name: str, layer: Layer, key, shape: Shape):
    try:
        return layer.init(key, shape)
    except InitError as e:  # nested: "features/conv1: Conv: expected ..."
        raise InitError(f"{name}/{e.path}", e.message) from None
    except ValueError as e:
        raise InitError(name, str(e)) from None


def _store(tree: dict, name: str, value: dict) -> None:
    if value:
        tree[name] = value


def _init_branches(named, key, shape: Shape):
    """Init every child on the same input shape: `(output_shapes, params, state)`."""
    params, state, shapes = {}, {}, []
    for i, (name, layer) in enumerate(named):
        out, p, s = _init_child(name, layer, jax.random.fold_in(key, i), shape)
        shapes.append(out)
        _store(params, name, p)
        _store(state, name, s)
    return shapes, params, state


def _apply_branches(named, params, state, x, key, train):
    """Apply every child to the same input: `(outputs, new_state)`."""
    outs, new_state = [], {}
    for i, (name, layer) in enumerate(named):
        with key_scope(name):
            y, s = layer.apply(params.get(name, {}), state.get(name, {}), x,
                               key=_fold(key, i), train=train)
        outs.append(y)
        _store(new_state, name, s)
    return outs, new_state


def serial(*children: Child | Mapping[str, Layer]) -> Layer:
    """Compose layers in sequence: y = f_n(... f_1(x)).

    Args:
      *children: `Layer`s or `(name, Layer)` pairs, or one dict `{name: Layer}`.

    Returns:
      A `Layer` whose params/state are `{child_name: child_params}` for children that have any.
    """
    named = _name_children(children, "serial")

    def init(key, input_shape):
        shape = as_shape(input_shape, "serial")
        params, state = {}, {}
        for i, (name, layer) in enumerate(named):
            shape, p, s = _init_child(name, layer, jax.random.fold_in(key, i), shape)
            _store(params, name, p)
            _store(state, name, s)
        return shape, params, state

    def apply(params, state, x, *, key=None, train=False):
        new_state = {}
        for i, (name, layer) in enumerate(named):
            with key_scope(name):
                x, s = layer.apply(params.get(name, {}), state.get(name, {}), x,
                                   key=_fold(key, i), train=train)
            _store(new_state, name, s)
        return x, new_state

    return Layer(init, apply, "serial", named)


def parallel(*branches: Child | Mapping[str, Layer], axis: int = -1) -> Layer:
    """Feed the same input to every branch and concatenate the outputs along `axis`.

    The Inception module (GoogLeNet, Salakhutdinov): branches `(B, H, W, C_i)` ->
    `(B, H, W, sum C_i)`. Unlike stax's `parallel` (one input per branch), every branch sees the
    same `x`. All branch outputs must agree on every axis except `axis`.
    """
    named = _name_children(branches, "parallel")

    def init(key, input_shape):
        shape = as_shape(input_shape, "parallel")
        shapes, params, state = _init_branches(named, key, shape)
        ax = axis % len(shapes[0])
        rest = {tuple(d for j, d in enumerate(s) if j != ax) for s in shapes}
        if len(rest) != 1 or len({len(s) for s in shapes}) != 1:
            raise ValueError(f"parallel: expected branch outputs that agree except on axis {axis}, "
                             f"got {dict(zip([n for n, _ in named], shapes))}")
        out = list(shapes[0])
        out[ax] = sum(s[ax] for s in shapes)
        return tuple(out), params, state

    def apply(params, state, x, *, key=None, train=False):
        outs, new_state = _apply_branches(named, params, state, x, key, train)
        return jnp.concatenate(outs, axis=axis), new_state

    return Layer(init, apply, "parallel", named)


def _identity() -> Layer:
    return Layer(lambda key, shape: (tuple(shape), {}, {}),
                 lambda params, state, x, *, key=None, train=False: (x, state), "identity")


def residual(main: Layer, shortcut: Layer | None = None) -> Layer:
    """Skip connection: y = main(x) + shortcut(x) (ResNet, Salakhutdinov).

    Args:
      main: the residual branch F.
      shortcut: `None` for the identity (then F must keep the shape), or a projection such as
        `serial(Conv(c, 1, stride=2), BatchNorm())` when F changes the shape.

    Params are `{"main": ..., "shortcut": ...}`. Put the activation after the sum in an
    enclosing `serial`: `serial(residual(F), Relu())`.
    """
    named = (("main", main), ("shortcut", shortcut if shortcut is not None else _identity()))

    def init(key, input_shape):
        shape = as_shape(input_shape, "residual")
        shapes, params, state = _init_branches(named, key, shape)
        if shapes[0] != shapes[1]:
            raise ValueError(f"residual: expected main and shortcut outputs of the same shape, got "
                             f"main {shapes[0]} and shortcut {shapes[1]}; pass a projection "
                             f"shortcut when the main branch changes the shape")
        return shapes[0], params, state

    def apply(params, state, x, *, key=None, train=False):
        outs, new_state = _apply_branches(named, params, state, x, key, train)
        return outs[0] + outs[1], new_state

    return Layer(init, apply, "residual", named)
