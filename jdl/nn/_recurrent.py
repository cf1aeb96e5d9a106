"""Recurrent layers: a cell unfolded over time with shared parameters (*Engineering Deep
Learning*, section "Recurrent Networks").

    scan_cell(cell, params, xs, lengths=, carry=, reverse=)  -> (final carry, ys)
    RNN(cell, return_sequences=, reverse=, unroll=)           a Layer: many-to-one or many-to-many
    Bidirectional(cell, backward_cell, merge=)               a Layer: both directions, merged

Inputs are batch-major, `xs (batch, time, in)`, or the pair `(xs, lengths)` of padded
sequences (see `jdl/nn/_sequence.py`); inside, `lax.scan` runs time-major.

Where the input projections x_t W_x + b are computed (`project_ahead=`): ahead, all T steps in
one matrix product before the scan (what cuDNN and PyTorch do, the accelerators' choice), or
inside the scan, one small product per step. On XLA:CPU the second is faster: an LSTM training
step (hidden 128, batch 64, Adam) ran 90.8 against 72.1 steps/s at T = 28 and 19.5 against
15.0 at T = 100 (experiments/benchmarks/recurrent.py), because the ahead form writes and
reads back a (T, B, 4F) array in both passes. The default (None) therefore projects inside
the scan on the CPU and ahead on a GPU or TPU; the results are equal to float rounding.

Masking: with lengths, step t of sequence b is real when t < lengths[b]. At padded steps the
carry is kept (frozen after the last real step) and the output is zero, so a padded batch
gives exactly the outputs and final carries of each sequence run alone, and padded steps get
no gradient. `reverse=True` runs backward over the real steps only: a sequence of length L
starts at step L-1 (each sequence is reversed within its length, run forward, reversed back).
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import Array, lax

from jdl.nn._cells import Carry, Cell
from jdl.nn._layer import Layer, as_shape, check_rank
from jdl.nn._sequence import check_lengths, join_lengths, split_lengths

LAYOUT = "(batch, time, features)"


def _reverse_within(z: Array, lengths: Array | None) -> Array:
    """Time-major `z (T, B, ...)` with each sequence reversed within its length (an
    involution: index L-1-t for t < L, t itself on padded steps)."""
    if lengths is None:
        return z[::-1]
    t = jnp.arange(z.shape[0], dtype=jnp.int32)[:, None]
    index = jnp.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)
    return jnp.take_along_axis(z, index.reshape(index.shape + (1,) * (z.ndim - 2)), axis=0)


def _masked(m: Array, new: Array, old: Array) -> Array:
    return jnp.where(m.reshape(m.shape + (1,) * (new.ndim - 1)), new, old)


def _check_carry(cell: Cell, carry: Carry, batch: int, dtype) -> Carry:
    expected = jax.eval_shape(lambda: cell.initial_carry(batch, dtype))
    got_tree, want_tree = jax.tree.structure(carry), jax.tree.structure(expected)
    shapes = [jnp.shape(c) for c in jax.tree.leaves(carry)]
    if got_tree != want_tree or shapes != [e.shape for e in jax.tree.leaves(expected)]:
        want = jax.tree.map(lambda e: e.shape, expected)
        got = jax.tree.map(jnp.shape, carry)
        raise ValueError(f"{cell.kind}: carry: expected {want} (cell.initial_carry({batch})), "
                         f"got {got}")
    return jax.tree.map(lambda c: jnp.asarray(c, dtype), carry)


def _check_xs(kind: str, xs: Array) -> None:
    check_rank(kind, xs.shape, 3, layout=LAYOUT,
               hint="pass ids through Embedding first, or add a feature axis with x[..., None]")
    if not jnp.issubdtype(xs.dtype, jnp.floating):
        raise TypeError(f"{kind}: x: expected a floating dtype, got {xs.dtype}; embed integer "
                        f"ids with nn.Embedding first")


def _projects_ahead(project_ahead: bool | None) -> bool:
    """`project_ahead`, or by default ahead on accelerators and per step on the CPU."""
    if project_ahead is None:
        return jax.default_backend() != "cpu"
    if not isinstance(project_ahead, bool):
        raise TypeError(f"project_ahead: expected True, False or None, got {project_ahead!r}")
    return project_ahead


def scan_cell(cell: Cell, params: dict, xs: Array, *, lengths: Array | None = None,
              carry: Carry | None = None, reverse: bool = False, unroll: int | bool = 1,
              project_ahead: bool | None = None) -> tuple[Carry, Array]:
    """Run `cell` over `xs (batch, time, in)`: `(final_carry, ys (batch, time, F))`.

    `lengths` int (batch,): padded steps keep the carry and output zeros; `carry`: the initial
    carry (default `cell.initial_carry(batch)`), e.g. the final carry of the previous chunk of
    a long sequence; `reverse`: backward over the real steps; `unroll`: steps per loop
    iteration of `lax.scan` (more is faster for small cells, slower to compile);
    `project_ahead`: the input projections of all steps in one product before the scan (True)
    or one per step inside it (False); None picks per step on the CPU, ahead elsewhere (the
    module docstring has the measurements).

    Example (the last state of a GRU on two sequences of lengths 3 and 1)::

        cell = nn.GRUCell(8); params = cell.init(key, 4)
        carry, ys = nn.scan_cell(cell, params, xs, lengths=jnp.array([3, 1]))  # xs (2, 3, 4)
    """
    kind = cell.kind
    xs = jnp.asarray(xs)
    _check_xs(kind, xs)
    batch, time = xs.shape[:2]
    lengths = check_lengths(None if lengths is None else jnp.asarray(lengths), batch, time, kind)
    # the projection's dtype; a wrong input width fails here, before the scan is traced
    dtype = jax.eval_shape(cell.input_projection, params, xs[:, :1]).dtype
    if _projects_ahead(project_ahead):  # (T, B, k*F): one matrix product for every step
        seq, step = cell.input_projection(params, jnp.swapaxes(xs, 0, 1)), cell.step_projected
    else:  # (T, B, in): each step projects its own input
        seq, step = jnp.swapaxes(xs, 0, 1), cell.step
    carry = (cell.initial_carry(batch, dtype) if carry is None
             else _check_carry(cell, carry, batch, dtype))
    if reverse:
        seq = _reverse_within(seq, lengths)
    if lengths is None:
        carry, ys = lax.scan(lambda c, s: step(params, c, s), carry, seq, unroll=unroll)
    else:
        def body(c, inputs):
            s, m = inputs
            new, y = step(params, c, s)
            return (jax.tree.map(lambda n, o: _masked(m, n, o), new, c),
                    _masked(m, y, jnp.zeros_like(y)))

        mask = jnp.arange(time, dtype=jnp.int32)[:, None] < lengths[None, :]  # (T, B)
        carry, ys = lax.scan(body, carry, (seq, mask), unroll=unroll)
    if reverse:
        ys = _reverse_within(ys, lengths)
    return carry, jnp.swapaxes(ys, 0, 1)


def _last_output(ys: Array, lengths: Array | None, reverse: bool) -> Array:
    """The output of the last step processed: `ys[:, L-1]` forward, `ys[:, 0]` in reverse
    (the backward pass ends at step 0); zeros for an empty sequence."""
    if lengths is None:
        return ys[:, 0] if reverse else ys[:, -1]
    index = jnp.zeros_like(lengths) if reverse else jnp.maximum(lengths - 1, 0)
    y = jnp.take_along_axis(ys, index[:, None, None], axis=1)[:, 0]
    return jnp.where((lengths > 0)[:, None], y, jnp.zeros_like(y))


def _check_options(kind: str, cell: Any, unroll: Any, project_ahead: Any = None) -> None:
    _projects_ahead(project_ahead)   # refuses anything but True, False or None
    if not isinstance(cell, Cell):
        raise TypeError(f"{kind}: expected cell to be a recurrent cell such as nn.GRUCell(64), "
                        f"got {type(cell).__name__}: {cell!r}")
    if unroll is not True and (isinstance(unroll, bool) or not isinstance(unroll, int) or unroll < 1):
        raise ValueError(f"{kind}: expected unroll to be a positive int or True, got {unroll!r}")


def _init_cell(kind: str, cell: Cell, key: Array, input_shape) -> tuple[tuple, dict]:
    shape = as_shape(input_shape, kind)
    check_rank(kind, shape, 3, layout=LAYOUT,
               hint="pass ids through Embedding first, or add a feature axis with x[..., None]")
    return shape, cell.init(key, shape[-1])


def RNN(cell: Cell, *, return_sequences: bool = False, reverse: bool = False,
        unroll: int | bool = 1, project_ahead: bool | None = None) -> Layer:
    """`cell` unfolded over time with shared parameters, as a Layer.

    x: `(batch, time, in)` or the pair `(x, lengths)`. Output: with `return_sequences=True` the
    outputs of every step `(batch, time, F)` (many-to-many), returned as the pair
    `(ys, lengths)` when the input was a pair, so a second RNN can follow (`on_values(...)` for
    layers in between); with `return_sequences=False` the output of the last real step
    `(batch, F)` (many-to-one; in reverse, the output at step 0). Params are the cell's
    (`{"wx", "wh", "b"}`); the layer's kind is the cell's (`gru` -> children named `gru_0`).
    The initial carry is zeros; for a given initial carry or the final carry (sampling a
    language model step by step) use `scan_cell` or `cell.step` on the same params.
    `unroll` and `project_ahead` as in `scan_cell`.

    Example::

        model = nn.serial(nn.Embedding(1000, 32, padding_id=0), nn.RNN(nn.LSTMCell(64)),
                          nn.Dense(2))      # ids (batch, time) with trailing 0s -> logits
    """
    _check_options("RNN", cell, unroll, project_ahead)
    kind = cell.kind

    def init(key, input_shape):
        shape, params = _init_cell(kind, cell, key, input_shape)
        out = shape[:2] + (cell.features,) if return_sequences else (shape[0], cell.features)
        return out, params, {}

    def apply(params, state, x, *, key=None, train=False):
        xs, lengths = split_lengths(x, kind)
        _, ys = scan_cell(cell, params, xs, lengths=lengths, reverse=reverse, unroll=unroll,
                          project_ahead=project_ahead)
        if return_sequences:
            return join_lengths(ys, lengths), state
        return _last_output(ys, lengths, reverse), state

    return Layer(init, apply, kind)


def Bidirectional(cell: Cell, backward_cell: Cell | None = None, *, merge: str = "concat",
                  return_sequences: bool = False, unroll: int | bool = 1,
                  project_ahead: bool | None = None) -> Layer:
    """A forward and a backward RNN over the same input, merged (Schuster & Paliwal 1997).

    The backward cell (default: a copy of `cell`'s type and size, with its own parameters)
    runs over the real steps only, from L-1 down to 0, so with `(x, lengths)` every output
    sees the whole real sequence and none of the padding. `merge="concat"` gives 2F features
    `[forward, backward]`, `"sum"` gives F (both cells must then have the same F). Params
    `{"forward": ..., "backward": ...}`. `return_sequences` as in `RNN`; with False the
    output merges the forward pass's last real step and the backward pass's step 0 (Keras).
    `unroll` and `project_ahead` as in `scan_cell`.
    """
    _check_options("Bidirectional", cell, unroll)
    backward_cell = cell if backward_cell is None else backward_cell
    _check_options("Bidirectional", backward_cell, unroll, project_ahead)
    if merge not in ("concat", "sum"):
        raise ValueError(f"Bidirectional: expected merge 'concat' or 'sum', got {merge!r}")
    if merge == "sum" and cell.features != backward_cell.features:
        raise ValueError(f"Bidirectional: merge='sum' needs cells of the same features, got "
                         f"{cell.features} and {backward_cell.features}")
    cells = (("forward", cell, False), ("backward", backward_cell, True))

    def init(key, input_shape):
        params = {}
        for i, (name, c, _) in enumerate(cells):
            shape, params[name] = _init_cell("Bidirectional", c, jax.random.fold_in(key, i),
                                             input_shape)
        f = cell.features + backward_cell.features if merge == "concat" else cell.features
        return (shape[:2] if return_sequences else shape[:1]) + (f,), params, {}

    def apply(params, state, x, *, key=None, train=False):
        xs, lengths = split_lengths(x, "Bidirectional")
        outs = []
        for name, c, backward in cells:
            _, ys = scan_cell(c, params[name], xs, lengths=lengths, reverse=backward,
                              unroll=unroll, project_ahead=project_ahead)
            outs.append(ys if return_sequences else _last_output(ys, lengths, backward))
        y = jnp.concatenate(outs, axis=-1) if merge == "concat" else outs[0] + outs[1]
        return (join_lengths(y, lengths) if return_sequences else y), state

    return Layer(init, apply, "bidirectional")
