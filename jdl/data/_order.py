"""The order of an epoch: the one shuffling rule of jdl, used by `batches` and by `jdl.train.fit`.

Epoch e of a run with key k visits the examples in the order

    epoch_order(k, e, n) = jax.random.permutation(shuffle_key(k, e), n),
    shuffle_key(k, e)    = fold_in(fold_in(k, 1), e)

so a loop written by hand over `batches(x, y, batch_size=B, key=ts.key, epoch=e,
drop_remainder=True)` sees exactly the batches `fit` trains on (`fit` draws the permutation on
the device and gathers K batches per call; the rows are the same). The 1 in `fold_in(k, 1)`
keeps shuffling apart from the dropout keys, which `jdl.train.dropout_key` folds in with 0.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

__all__ = ["shuffle_key", "epoch_order"]


def shuffle_key(run_key: jax.Array, epoch: int | jax.Array) -> jax.Array:
    """The key that shuffles epoch `epoch`: fold_in(fold_in(run_key, 1), epoch)."""
    return jax.random.fold_in(jax.random.fold_in(run_key, 1), epoch)


@partial(jax.jit, static_argnums=2)
def _order(run_key, epoch, n: int):
    return jax.random.permutation(shuffle_key(run_key, epoch), n).astype(jnp.int32)


def epoch_order(run_key: jax.Array, epoch: int, n: int) -> jax.Array:
    """(n,) int32: the permutation of range(n) that epoch `epoch` of the run `run_key` follows."""
    if not (isinstance(run_key, jax.Array) and jnp.issubdtype(run_key.dtype, jax.dtypes.prng_key)
            and run_key.ndim == 0):
        raise TypeError(f"key: expected one typed PRNG key (jax.random.key(seed), or ts.key), got "
                        f"{getattr(run_key, 'dtype', type(run_key).__name__)} of shape "
                        f"{getattr(run_key, 'shape', ())}")
    return _order(run_key, epoch, int(n))
