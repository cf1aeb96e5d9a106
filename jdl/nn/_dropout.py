"""Dropout with an explicit key (decks 001-004; Srivastava et al. 2014)."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jdl.nn._layer import Layer, as_shape

MISSING_KEY = ("Dropout: train=True needs a random key; call "
               "apply(params, state, x, key=jax.random.key(seed), train=True), or pass "
               "train=False for evaluation")


def Dropout(rate: float) -> Layer:
    """Inverted dropout: each unit is zeroed with probability `rate` during training.

    train:  y = x * m / (1 - rate),  m ~ Bernoulli(1 - rate) elementwise, drawn from `key`;
    eval:   y = x (the identity), so the expected activation is the same in both modes.

    `rate` is the probability of *dropping* (Keras, PyTorch, Flax), not of keeping (the stax
    slip). The "scale by p at test time" variant of the decks is the same network up to the
    factor 1 / (1 - rate) moved from training to test time.
    """
    if not 0.0 <= float(rate) < 1.0:
        raise ValueError(f"Dropout: expected rate (the probability of dropping a unit) in [0, 1), "
                         f"got {rate!r}")
    keep = 1.0 - float(rate)

    def init(key, input_shape):
        return as_shape(input_shape, "Dropout"), {}, {}

    def apply(params, state, x, *, key=None, train=False):
        if not train or rate == 0.0:
            return x, state
        if key is None:
            raise ValueError(MISSING_KEY)
        mask = jax.random.bernoulli(key, keep, x.shape)
        return jnp.where(mask, x / jnp.asarray(keep, x.dtype), jnp.zeros((), x.dtype)), state

    return Layer(init, apply, "dropout")
