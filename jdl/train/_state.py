"""TrainState: everything a training run carries from one step to the next, as one pytree."""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import optax
from jax import Array

from jdl import compile_cache
from jdl.nn import Layer


class TrainState(NamedTuple):
    """The whole state of a run (docs/design.md); a pytree, so it can be jitted, vmapped,
    donated and checkpointed as is.

    Attributes:
      params: the trained parameters (nested dict).
      state: the model's non-trained state (batch-norm running statistics), nested dict.
      opt_state: the Optax optimizer state.
      step: int32 scalar, the number of optimizer steps taken.
      key: a typed PRNG key; the dropout key of step t is derived from (key, t), so a run is a
        pure function of its seed and a restored run continues with the same randomness.
    """

    params: Any
    state: Any
    opt_state: Any
    step: Array
    key: Array


def _init_program(model: Layer, shape: tuple[int, ...]):
    """The jitted `key -> (params, state)` of `model` at `shape`, kept in `jdl.compile_cache`:
    experiments that restart from fresh seeds (several runs of one model) compile it once."""
    return compile_cache.cached(("init", model, shape),
                                lambda: jax.jit(lambda k: model.init(k, shape)[1:]))


def init_train_state(model: Layer, optimizer: optax.GradientTransformation, key: Array,
                     input_shape: Sequence[int]) -> TrainState:
    """Initialise the model and the optimizer: `TrainState(params, state, opt_state, 0, run_key)`.

    `key` is split in two: one half initialises the parameters, the other becomes the run key
    (dropout masks, shuffling). `input_shape` includes a batch dimension (any size, e.g. 1).
    """
    if not (isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)):
        raise TypeError(f"key: expected a typed PRNG key from jax.random.key(seed), got "
                        f"{getattr(key, 'dtype', type(key).__name__)}")
    init_key, run_key = jax.random.split(key)
    shape = tuple(int(d) for d in input_shape)
    # One compiled program for the whole init: eagerly, every parameter's random draw would
    # compile on its own (about 0.5 s each on XLA:CPU). Shape errors are raised while tracing.
    params, state = _init_program(model, shape)(init_key)
    return TrainState(params, state, optimizer.init(params), jnp.zeros((), jnp.int32), run_key)


def dropout_key(run_key: Array, step: Array) -> Array:
    """The key for the random layers of step `step`: fold_in(fold_in(run_key, 0), step)."""
    return jax.random.fold_in(jax.random.fold_in(run_key, 0), step)
