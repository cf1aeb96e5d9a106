"""Argument checks shared by `jdl.losses` and `jdl.metrics`: dtype and shape checks at trace time,
value checks when the values are concrete, and the NaN masks used when they are traced; and the
PRNG-key check of the functions that take a `key` (augmentation, weight noise, random search).

Public so that every package (and a user writing a loss of their own) checks arguments the same
way and raises the same messages: each names the argument, what was expected and what came."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike


# ----------------------------------------------------------------------------- helpers
# Each public loss validates its arguments in Python (static shapes / dtypes, and values when
# they are concrete) and then calls a small jitted core: one compilation per shape instead of one
# per primitive, so eager calls are fast too. Inside a user's jit the cores are simply inlined.
def is_concrete(x: ArrayLike) -> bool:
    """True when `x` has known values now (not a tracer inside jit / grad / vmap)."""
    return not isinstance(x, jax.core.Tracer)


def as_float(x: ArrayLike, name: str) -> Array:
    """`x` as a real floating array (ints and bools are promoted to the default float)."""
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise TypeError(f"{name}: expected a real floating dtype, got {x.dtype}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(x.dtype, float))
    return x


def same_shape(predictions: Array, targets: Array, p_name: str, t_name: str) -> None:
    if predictions.shape != targets.shape:
        raise ValueError(
            f"{t_name}: expected shape {predictions.shape} (the shape of {p_name}), got "
            f"{targets.shape}; broadcasting is not done, to avoid silent (batch, batch) losses"
        )


def sum_trailing(x: Array) -> Array:
    return jnp.sum(x, axis=tuple(range(1, x.ndim)))


def mean_trailing(x: Array) -> Array:
    return jnp.mean(x, axis=tuple(range(1, x.ndim)))


def all_trailing(x: Array) -> Array:
    """Per-example validity: every element of an example valid."""
    return jnp.all(x, axis=tuple(range(1, x.ndim)))


def check_labels(logits: Array, labels: ArrayLike, name: str = "labels",
                  logits_name: str = "logits", one_hot_hint: str = "categorical_cross_entropy"
                  ) -> Array:
    """Validate integer class indices for `logits` (..., K) and return them as an array.

    Dtype and shape are always checked; the range [0, K) is checked when `labels` is concrete.
    Traced labels are checked by the cores with :func:`label_valid` (NaN where out of range).
    """
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(
            f"{name}: expected an integer dtype (class indices), got {labels.dtype}; "
            f"for one-hot targets use {one_hot_hint}"
        )
    if logits.ndim < 1:
        raise ValueError(f"{logits_name}: expected shape (..., num_classes), got a scalar")
    if labels.shape != logits.shape[:-1]:
        hint = (f"; these look like one-hot targets, use {one_hot_hint}"
                if labels.shape == logits.shape else "")
        raise ValueError(
            f"{name}: expected shape {logits.shape[:-1]} ({logits_name} shape {logits.shape} "
            f"without its class axis), got {labels.shape}{hint}"
        )
    k = logits.shape[-1]
    if is_concrete(labels) and labels.size:
        values = np.asarray(labels)
        lo, hi = int(values.min()), int(values.max())
        if lo < 0 or hi >= k:
            raise ValueError(
                f"{name}: expected class indices in [0, {k}), got min {lo}, max {hi}"
            )
    return labels


def label_valid(labels: Array, k: int) -> Array:
    return (labels >= 0) & (labels < k)


def check_range(x: Array, name: str, lo: float, hi: float, hint: str = "") -> None:
    """Raise if `x` is concrete and has values outside [lo, hi] (or NaN)."""
    if is_concrete(x) and x.size:
        xn = np.asarray(x)
        mn, mx = xn.min(), xn.max()
        if not (mn >= lo and mx <= hi):
            raise ValueError(f"{name}: expected values in [{lo:g}, {hi:g}], got min {mn:g}, "
                             f"max {mx:g}{hint}")


def check_sign(c: Array, name: str = "c") -> None:
    """Raise if `c` is concrete and has values other than -1 and +1."""
    if is_concrete(c) and c.size:
        cn = np.asarray(c)
        bad = cn[(cn != 1) & (cn != -1)]
        if bad.size:
            raise ValueError(
                f"{name}: expected class signs in {{-1, +1}}, got values "
                f"{np.unique(bad)[:5].tolist()}; for 0/1 targets pass 2 * t - 1 "
                "(or use sigmoid_binary_cross_entropy)"
            )


def nan_where_invalid(loss: Array, valid: Array) -> Array:
    return jnp.where(valid, loss, jnp.nan)


def check_key(key, name: str = "key") -> None:
    """Raise TypeError unless `key` is one PRNG key: a typed `jax.random.key(seed)` or a legacy
    uint32 `jax.random.PRNGKey(seed)`, concrete or traced (so the check also works under jit)."""
    if isinstance(key, jax.Array):
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and key.ndim == 0:
            return
        if key.dtype == jnp.uint32 and key.shape == (2,):
            return
    got = f"{key.dtype} of shape {key.shape}" if hasattr(key, "dtype") else type(key).__name__
    raise TypeError(f"{name}: expected one PRNG key from jax.random.key(seed), got {got}")
