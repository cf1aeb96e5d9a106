"""The Layer contract (docs/design.md, section 1): a model is a pair of pure functions.

    init(key, input_shape)                            -> (output_shape, params, state)
    apply(params, state, x, *, key=None, train=False) -> (y, new_state)

`params` (trained by gradients) and `state` (everything else: batch-norm running statistics)
are plain nested dicts of arrays with readable names, so a path such as `features/conv1/w`
names one tensor for masks, summaries and checkpoints. A layer without parameters or state
returns `{}`. `apply` always returns the new state; with `train=False` it is the old one.
`key` is an explicit `jax.random` key; a layer that draws random numbers raises a clear
error when `train=True` and `key is None`. Shapes include the batch dimension; images are
NHWC. Any JAX transformation applies to `init` and `apply` directly: nothing is hidden.

Why two extra fields: `kind` names the layer in errors and in auto-generated child names
(`dense_0`), and `children` lists the named sub-layers of a combinator so that tools
(summaries, cutting a model at a named layer) can walk a model without running it. Both have
defaults, so `Layer(init, apply)` is a complete leaf layer.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Protocol, Sequence

from jax import Array

Shape = tuple[int, ...]
Params = dict[str, Any]
State = dict[str, Any]


class InitFn(Protocol):
    def __call__(self, key: Array, input_shape: Shape) -> tuple[Shape, Params, State]: ...


class ApplyFn(Protocol):
    def __call__(self, params: Params, state: State, x: Array, *, key: Array | None = None,
                 train: bool = False) -> tuple[Array, State]: ...


class Layer(NamedTuple):
    """A layer or a whole model: the pure `init` / `apply` pair of docs/design.md, section 1.

    Attributes:
      init: `init(key, input_shape) -> (output_shape, params, state)`.
      apply: `apply(params, state, x, *, key=None, train=False) -> (y, new_state)`.
      kind: a short lower-case name of the layer type (`"dense"`, `"conv"`), used in error
        messages and to name unnamed children of `serial`.
      children: `((name, Layer), ...)` for combinators; `()` for leaves.
    """

    init: InitFn
    apply: ApplyFn
    kind: str = "layer"
    children: tuple[tuple[str, "Layer"], ...] = ()

    def __repr__(self) -> str:
        if not self.children:
            return f"Layer({self.kind})"
        inner = ", ".join(f"{name}={child!r}" for name, child in self.children)
        return f"Layer({self.kind}: {inner})"


def as_shape(input_shape: Sequence[int], kind: str) -> Shape:
    """Turn `input_shape` into a tuple of ints, or raise a ValueError naming the layer."""
    try:
        return tuple(int(d) for d in input_shape)
    except TypeError:
        raise ValueError(f"{kind}: expected input_shape to be a sequence of ints including the "
                         f"batch dimension, got {input_shape!r}") from None


def check_rank(kind: str, input_shape: Shape, rank: int | None = None, *, min_rank: int | None = None,
               layout: str = "", hint: str = "") -> None:
    """Raise `ValueError` naming the layer when `input_shape` has the wrong rank.

    `layout` describes the expected axes, e.g. "(batch, height, width, channels)"; `hint` says
    how to fix the usual mistake.
    """
    n = len(input_shape)
    if rank is not None and n != rank:
        expected = f"rank {rank}"
    elif min_rank is not None and n < min_rank:
        expected = f"rank >= {min_rank}"
    else:
        return
    layout = f" {layout}" if layout else ""
    hint = f"; {hint}" if hint else ""
    raise ValueError(f"{kind}: expected an input of {expected}{layout}, got shape "
                     f"{tuple(input_shape)} of rank {n}{hint}")


def ntuple(value: int | Sequence[int], n: int, name: str, kind: str) -> tuple[int, ...]:
    """`3 -> (3, 3)`; a sequence must have length `n` and positive entries."""
    if isinstance(value, int):
        value = (value,) * n
    value = tuple(value)
    if len(value) != n or not all(isinstance(v, int) and v > 0 for v in value):
        raise ValueError(f"{kind}: expected {name} to be a positive int or {n} positive ints, "
                         f"got {value!r}")
    return value


def leaf(init: Callable, apply: Callable, kind: str) -> Layer:
    """Build a leaf `Layer` (no children)."""
    return Layer(init, apply, kind)


def per_channel(v: Array, ndim: int) -> Array:
    """A per-channel vector `(C,)` as `(1, ..., 1, C)` of rank `ndim`, for `x (B, ..., C) op v`.

    The broadcast is written out because jdl runs (and its tests check) with JAX's
    `jax_numpy_rank_promotion="raise"`, under which `x + v` of different ranks is an error:
    a silent rank promotion of (B,) against (B, 1) is a classic source of wrong numbers.
    """
    return v.reshape((1,) * (ndim - v.ndim) + v.shape)
