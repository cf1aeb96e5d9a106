"""Embedding: integer ids -> learned vectors, a lookup in a table (the input of recurrent
networks over words or characters; *Engineering Deep Learning*, section "Recurrent Networks").
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jdl import initializers
from jdl.nn._layer import Layer, as_shape, check_rank
from jdl.nn._sequence import join_lengths, lengths_from_padding, split_lengths


def _positive_int(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"Embedding: expected {name} to be a positive int, got {value!r}")
    return value


def _check_ids(ids: jax.Array, vocab_size: int) -> None:
    """Integer dtype always; the range [0, vocab_size) when the ids are concrete."""
    if not jnp.issubdtype(ids.dtype, jnp.integer):
        raise TypeError(f"Embedding: x: expected integer ids, got dtype {ids.dtype}; cast with "
                        f"x.astype(jnp.int32) if the values are whole numbers")
    if isinstance(ids, jax.core.Tracer) or ids.size == 0:
        return
    values = np.asarray(ids)  # numpy: jnp.min would be traced inside a jit
    lo, hi = int(values.min()), int(values.max())
    if lo < 0 or hi >= vocab_size:
        raise ValueError(f"Embedding: x: expected ids in [0, vocab_size={vocab_size}), got min "
                         f"{lo} and max {hi}")


def Embedding(vocab_size: int, features: int, *, padding_id: int | None = None,
              init: Any = initializers.normal(1.0)) -> Layer:
    """A table of `vocab_size` learned vectors of size `features`: y[b, t] = table[x[b, t]].

    x: integer ids `(batch, ...)` in [0, vocab_size) -> `(batch, ..., features)`. Equal to a
    one-hot vector times a (vocab_size, features) Dense kernel without bias, without building
    the one-hot. Params `{"table": (vocab_size, features)}`, N(0, 1) by default (Flax,
    PyTorch). Ids out of range raise a ValueError when the ids are concrete; under `jit` they
    cannot be checked and give NaN rows.

    `padding_id` (for an RNN behind): the input `(batch, time)` is a batch of sequences padded
    at the end with `padding_id`, and the output is the pair `(vectors, lengths)` with
    `lengths = nn.lengths_from_padding(x, padding_id)`, which `RNN` and `Bidirectional` use to
    mask the padded steps. The padding row is an ordinary row of the table (PyTorch zeroes
    it and stops its gradient): behind a masking RNN it changes no output and receives no
    gradient anyway. A pair `(ids, lengths)` as input passes its lengths on unchanged.
    """
    vocab_size = _positive_int(vocab_size, "vocab_size")
    features = _positive_int(features, "features")
    if padding_id is not None and not (isinstance(padding_id, int) and 0 <= padding_id < vocab_size):
        raise ValueError(f"Embedding: expected padding_id to be None or an int in [0, "
                         f"vocab_size={vocab_size}), got {padding_id!r}")
    table_init = initializers.get(init)

    def init_fn(key, input_shape):
        shape = as_shape(input_shape, "Embedding")
        if padding_id is None:
            check_rank("Embedding", shape, min_rank=1, layout="(batch, ...) of integer ids")
        else:
            check_rank("Embedding", shape, 2, layout="(batch, time) of integer ids padded with "
                       f"padding_id={padding_id}")
        return shape + (features,), {"table": table_init(key, (vocab_size, features),
                                                         jnp.float32)}, {}

    def apply(params, state, x, *, key=None, train=False):
        ids, lengths = split_lengths(x, "Embedding")
        _check_ids(ids, vocab_size)
        y = params["table"].at[ids].get(mode="fill", fill_value=jnp.nan, wrap_negative_indices=False)
        if lengths is None and padding_id is not None:
            if ids.ndim != 2:
                raise ValueError(f"Embedding: x: expected ids (batch, time) with padding_id, got "
                                 f"shape {ids.shape}")
            lengths = lengths_from_padding(ids, padding_id)
        return join_lengths(y, lengths), state

    return Layer(init_fn, apply, "embedding")
