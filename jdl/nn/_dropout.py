"""Dropout with an explicit key (Salakhutdinov, COMP9321, Senk, *Engineering Deep Learning*;
Srivastava et al. 2014)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jdl.checks import check_key
from jdl.nn._keys import note_key
from jdl.nn._layer import Layer, as_shape

MISSING_KEY = ("Dropout: train=True needs a random key; call "
               "apply(params, state, x, key=jax.random.key(seed), train=True), or pass "
               "train=False for evaluation")


def Dropout(rate: float, *, inverted: bool = True, axis_name: str | None = None) -> Layer:
    """Dropout: each unit is zeroed with probability `rate` during training.

    inverted=True (default, as Keras, PyTorch, Flax):
      train:  y = x * m / (1 - rate),  m ~ Bernoulli(1 - rate) elementwise, drawn from `key`;
      eval:   y = x (the identity), so the expected activation is the same in both modes.
    inverted=False (the original formulation of Salakhutdinov and Senk, Srivastava et al. 2014):
      train:  y = x * m;
      eval:   y = (1 - rate) * x ("multiply the outputs by the keep probability at test time").
    Both give the same expected activation in training and test; they differ only in where the
    factor 1 / (1 - rate) sits, which changes the effective learning rate of the layers behind
    (experiments/dropout_at_test.py compares them).

    `rate` is the probability of *dropping* (Keras, PyTorch, Flax), not of keeping (the stax
    slip).

    `axis_name` (for `pmap` / `shard_map`, where each device holds a slice of the batch): draw
    the mask of the whole global batch and keep this device's slice, so the masks equal those
    of one device on the full batch. Not needed under `jit` with sharded arrays.
    """
    if not 0.0 <= float(rate) < 1.0:
        raise ValueError(f"Dropout: expected rate (the probability of dropping a unit) in [0, 1), "
                         f"got {rate!r}")
    keep = 1.0 - float(rate)

    def init(key, input_shape):
        return as_shape(input_shape, "Dropout"), {}, {}

    def apply(params, state, x, *, key=None, train=False):
        if rate == 0.0:
            return x, state
        if not train:
            return (x if inverted else x * jnp.asarray(keep, x.dtype)), state
        if key is None:
            raise ValueError(MISSING_KEY)
        check_key(key, "Dropout: key")
        note_key(key, "dropout")
        if axis_name is None:
            mask = jax.random.bernoulli(key, keep, x.shape)
        else:
            n, b = lax.axis_size(axis_name), x.shape[0]
            full = jax.random.bernoulli(key, keep, (n * b, *x.shape[1:]))
            mask = lax.dynamic_slice_in_dim(full, lax.axis_index(axis_name) * b, b)
        kept = x / jnp.asarray(keep, x.dtype) if inverted else x
        return jnp.where(mask, kept, jnp.zeros((), x.dtype)), state

    return Layer(init, apply, "dropout")
