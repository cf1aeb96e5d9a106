"""Model summary: every named layer's path, kind, output shape, parameters and multiply-adds.

Everything comes from shapes: each layer's `init` runs under `jax.eval_shape`, so summarising
VGG-16 (138M parameters) allocates nothing. The walk follows `Layer.children`: `serial` feeds
each child the previous child's output shape, `parallel` and `residual` give every child the
combinator's input shape; any other layer is a leaf.

    >>> from jdl.models import lenet5
    >>> from jdl.summary import summary
    >>> s = summary(lenet5(), (1, 32, 32, 1))
    >>> s.total_params
    61706
    >>> print(s)  # doctest: +SKIP

Multiply-adds (MACs) are counted per example for the layers that dominate the cost, the usual
convention (torchvision's "GFLOPS" column, e.g. 15.47 G for VGG-16, counts these):

    conv            H' * W' * kh * kw * (C_in / groups) * C_out   = H' * W' * w.size
    dense           (positions) * in * out                        = w.size per position
    conv_transpose  H * W * kh * kw * C_in * C_out                = H * W * w.size (input pixels)

Activations, pooling and normalization are not counted; a combinator's MACs are its children's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, NamedTuple, Sequence

import jax

from jdl import nn
from jdl.nn import Layer

__all__ = ["Row", "Summary", "summary", "print_summary"]

_SEQUENTIAL = "serial"
_SAME_INPUT = ("parallel", "residual")


class Row(NamedTuple):
    """One layer of a `Summary`.

    Attributes:
      path: child names joined by "/" (`features/conv1_1`), as for `nn.cut` and params.
      kind: the layer's kind (`conv`, `serial`, ...).
      output_shape: the output shape, batch dimension included.
      params: number of trained parameters of the layer and its children.
      state: number of non-trained values (batch-norm running statistics).
      macs: multiply-adds per example (see the module docstring).
      depth: 1 for the model's children, 2 for theirs, ...
    """

    path: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    state: int
    macs: int
    depth: int


def _size(tree) -> int:
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


def _nbytes(tree) -> int:
    return sum(math.prod(leaf.shape) * leaf.dtype.itemsize for leaf in jax.tree.leaves(tree))


def _abstract_init(layer: Layer, key, shape: tuple[int, ...]):
    """`(output_shape, params, state)` with params/state as `ShapeDtypeStruct`s: nothing allocated."""
    box = {}

    def init(k):
        out, params, state = layer.init(k, shape)
        box["out"] = tuple(int(d) for d in out)  # shape arithmetic is Python: concrete here
        return params, state

    params, state = jax.eval_shape(init, key)
    return box["out"], params, state


def _leaf_macs(kind: str, in_shape, out_shape, params) -> int:
    w = params.get("w") if isinstance(params, dict) else None
    if w is None:
        return 0
    if kind in ("conv", "dense"):
        return math.prod(out_shape[1:-1]) * math.prod(w.shape)
    if kind == "conv_transpose":
        return math.prod(in_shape[1:-1]) * math.prod(w.shape)
    return 0


def _walk(layer: Layer, key, shape, path: str, depth: int, rows: list[Row]):
    """Append the rows of `layer` and its descendants; return (output_shape, params, state, macs)."""
    inner = nn.wrapped_layer(layer)
    if inner is not None:  # nn.eval_mode: the wrapped layer's rows, under the same paths
        slot = len(rows)
        result = _walk(inner, key, shape, path, depth, rows)
        rows[slot] = rows[slot]._replace(kind=f"{layer.kind}({inner.kind})")
        return result
    out, params, state = _abstract_init(layer, key, shape)
    slot = len(rows)
    rows.append(None)  # this layer's row, filled in once the children's MACs are known
    if layer.children and (layer.kind == _SEQUENTIAL or layer.kind in _SAME_INPUT):
        macs, child_in = 0, shape
        for i, (name, child) in enumerate(layer.children):
            child_out, _, _, child_macs = _walk(child, jax.random.fold_in(key, i), child_in,
                                                f"{path}/{name}" if path else name, depth + 1, rows)
            macs += child_macs
            if layer.kind == _SEQUENTIAL:
                child_in = child_out
    else:
        macs = _leaf_macs(layer.kind, shape, out, params)
    rows[slot] = Row(path, layer.kind, out, _size(params), _size(state), macs, depth)
    return out, params, state, macs


@dataclass(frozen=True)
class Summary:
    """The rows of every named layer (depth-first, a combinator before its children) and totals.

    Iterating (or `len`, indexing) goes over `rows`; `str(summary)` is a table with one line per
    row (full paths, ready for `nn.cut`); `summary[path]` with a string finds the row of that path.
    """

    rows: tuple[Row, ...]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    total_params: int
    total_state: int
    total_macs: int
    param_bytes: int

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int | str) -> Row:
        if isinstance(index, str):
            for row in self.rows:
                if row.path == index:
                    return row
            raise KeyError(f"summary: no layer at path {index!r}; paths are "
                           f"{[r.path for r in self.rows][:12]}...")
        return self.rows[index]

    def __str__(self) -> str:
        header = ("path", "kind", "output shape", "params", "MACs")
        body = [(r.path or "(model)", r.kind, str(r.output_shape), f"{r.params:,}", f"{r.macs:,}")
                for r in self.rows]
        widths = [max(len(line[j]) for line in [header, *body]) for j in range(5)]
        fmt = lambda line: "  ".join(  # noqa: E731
            c.ljust(w) if j < 3 else c.rjust(w) for j, (c, w) in enumerate(zip(line, widths)))
        rule = "-" * len(fmt(header))
        totals = (f"input {self.input_shape} -> output {self.output_shape}\n"
                  f"params: {self.total_params:,} ({self.param_bytes / 2**20:,.1f} MiB)   "
                  f"state: {self.total_state:,}   multiply-adds per example: {self.total_macs:,}")
        return "\n".join([fmt(header), rule, *map(fmt, body), rule, totals])


def summary(model: Layer, input_shape: Sequence[int], *, max_depth: int | None = None,
            key: jax.Array | None = None) -> Summary:
    """Summarise `model` on inputs of `input_shape` (batch dimension included) without allocating.

    Args:
      model: any `Layer`; combinators are expanded through `children`.
      input_shape: e.g. `(1, 224, 224, 3)`.
      max_depth: keep rows down to this depth (1: the model's direct children); totals always
        cover the whole model.
      key: the init key (only shapes are used; default `jax.random.key(0)`).

    Returns:
      A `Summary`: `rows` of `Row(path, kind, output_shape, params, state, macs, depth)`, and
      `total_params`, `total_state`, `total_macs`, `param_bytes`.
    """
    if not isinstance(model, Layer):
        raise TypeError(f"summary: expected model to be a jdl.nn.Layer, got {type(model).__name__}")
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise ValueError(f"summary: expected input_shape to be a sequence of ints with the batch "
                         f"axis first, got {input_shape!r}") from None
    if max_depth is not None and max_depth < 1:
        raise ValueError(f"summary: expected max_depth >= 1 or None, got {max_depth!r}")
    rows: list[Row] = []
    out, params, state, macs = _walk(model, jax.random.key(0) if key is None else key, shape,
                                     "", 0, rows)
    kept = tuple(r for r in rows[1:] if max_depth is None or r.depth <= max_depth) or (rows[0],)
    return Summary(kept, shape, out, _size(params), _size(state), macs, _nbytes(params))


def print_summary(model: Layer, input_shape: Sequence[int], **kwargs) -> Summary:
    """Print `summary(model, input_shape, **kwargs)` as a table and return it."""
    s = summary(model, input_shape, **kwargs)
    print(s)
    return s
