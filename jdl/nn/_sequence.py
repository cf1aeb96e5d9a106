"""How the lengths of padded sequences travel through a model.

A batch of sequences of varying length is padded to a common length T. Its true lengths travel
*beside* the values, as a pair

    (values, lengths)      values (batch, time, ...), lengths int (batch,), 0 <= lengths <= T

which every sequence layer accepts in place of a plain array (the layer contract allows any
pytree as `x`). The rules:

- `Embedding(..., padding_id=p)` turns an id array into the pair, with
  `lengths_from_padding(ids, p)`; `Embedding`, `RNN` and `Bidirectional` also accept a pair.
- `RNN` / `Bidirectional` with `return_sequences=True` return the pair again when they
  received one (outputs at padded steps are zeros); with `return_sequences=False` they return
  the array of the last *real* step's outputs, (batch, features).
- `on_values(layer)` runs any other layer (`Dropout`, `Dense`, `LayerNorm`, ...) on the values
  and passes the lengths on; `drop_lengths()` keeps only the values (e.g. before a loss).
- Shapes in `init` describe the values only: `init(key, (batch, time))` for ids.

Why a pair and not a mask array: a length is one int per sequence, so "frozen after the last
step" and "reverse within the real steps" are one comparison with `arange(T)`, and a pair is
an ordinary pytree that `jit`, `grad` and `vmap` carry without help.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jdl.nn._layer import Layer


def split_lengths(x: Any, kind: str) -> tuple[Array, Array | None]:
    """`x` or `(x, lengths)` -> `(values, lengths or None)`; anything else is a TypeError."""
    if isinstance(x, (tuple, list)):
        if len(x) != 2:
            raise TypeError(f"{kind}: expected x to be an array or a pair (values, lengths), got a "
                            f"{type(x).__name__} of {len(x)} items")
        values, lengths = x
        return jnp.asarray(values), (None if lengths is None else jnp.asarray(lengths))
    return jnp.asarray(x), None


def join_lengths(values: Array, lengths: Array | None) -> Any:
    """The inverse of `split_lengths`: the pair when there are lengths, else the values."""
    return values if lengths is None else (values, lengths)


def check_lengths(lengths: Array | None, batch: int, time: int, kind: str) -> Array | None:
    """Validate `lengths` for values (batch, time, ...): int dtype, shape (batch,), and, when
    concrete, values in [0, time]. Returns the lengths as int32."""
    if lengths is None:
        return None
    if not jnp.issubdtype(lengths.dtype, jnp.integer):
        raise TypeError(f"{kind}: lengths: expected an integer array of shape (batch,), got dtype "
                        f"{lengths.dtype}")
    if lengths.shape != (batch,):
        raise ValueError(f"{kind}: lengths: expected shape (batch,) = ({batch},), got "
                         f"{lengths.shape}")
    if not isinstance(lengths, jax.core.Tracer) and batch > 0:
        values = np.asarray(lengths)  # numpy: jnp.min would be traced inside a jit
        lo, hi = int(values.min()), int(values.max())
        if lo < 0 or hi > time:
            raise ValueError(f"{kind}: lengths: expected values in [0, time={time}], got min {lo} "
                             f"and max {hi}")
    return lengths.astype(jnp.int32)


def lengths_from_padding(ids: Array, padding_id: int) -> Array:
    """Lengths (batch,) of id sequences (batch, time) padded at the end with `padding_id`.

    length = 1 + the position of the last id that is not `padding_id` (0 for a row of padding
    only), so a `padding_id` inside a sequence counts as an ordinary token.
    Example: `[[5, 2, 0, 0], [0, 7, 1, 0]]` with padding_id 0 -> `[2, 3]`.
    """
    ids = jnp.asarray(ids)
    if ids.ndim != 2:
        raise ValueError(f"lengths_from_padding: ids: expected shape (batch, time), got {ids.shape}")
    positions = jnp.arange(1, ids.shape[1] + 1, dtype=jnp.int32)[None, :]
    return jnp.max(jnp.where(ids != padding_id, positions, 0), axis=1, initial=0)


def on_values(layer: Layer) -> Layer:
    """`layer` applied to the values of a `(values, lengths)` pair; the lengths pass on.

    A plain array goes to `layer` unchanged, so `on_values(Dropout(0.2))` works on both. Same
    params, state and kind as `layer`, so paths and checkpoints do not change.
    Example: `serial(Embedding(V, 32, padding_id=0), RNN(GRUCell(64), return_sequences=True),
    on_values(Dropout(0.2)), RNN(GRUCell(64)), Dense(2))`.
    """
    def apply(params, state, x, *, key=None, train=False):
        values, lengths = split_lengths(x, layer.kind)
        y, new_state = layer.apply(params, state, values, key=key, train=train)
        return join_lengths(y, lengths), new_state

    return Layer(layer.init, apply, layer.kind, layer.children)


def drop_lengths() -> Layer:
    """`(values, lengths) -> values`; an array passes unchanged. Outputs at padded steps are
    whatever the layers before made of them (zeros straight after an `RNN`)."""
    def init(key, input_shape):
        return tuple(int(d) for d in input_shape), {}, {}

    def apply(params, state, x, *, key=None, train=False):
        return split_lengths(x, "drop_lengths")[0], state

    return Layer(init, apply, "drop_lengths")
