"""Tree helpers shared by checkpoints and weight files: typed keys <-> key data, and specs.

A typed PRNG key (`jax.random.key`) is stored as its raw bits, `jax.random.key_data(k)`
(uint32, shape `k.shape + (2,)` for threefry), and rebuilt on load with `wrap_key_data` and
the dtype (PRNG implementation) of the matching leaf of the caller's target. Both formats
hold plain numeric arrays only, so a file never depends on how JAX pickles a key type.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization, traverse_util

Spec = dict[str, tuple]


def is_key(x: Any) -> bool:
    """True for a typed PRNG key array or a ShapeDtypeStruct with a key dtype."""
    dtype = getattr(x, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def keys_to_data(tree: Any) -> Any:
    """Replace every typed key leaf by `jax.random.key_data(leaf)` (other leaves unchanged)."""
    return jax.tree.map(lambda x: jax.random.key_data(x) if is_key(x) else x, tree)


def abstract_storable(target: Any) -> Any:
    """The storable form of `target` as ShapeDtypeStructs (keys become their uint32 data).

    `target` may hold concrete arrays or ShapeDtypeStructs (e.g. from `jax.eval_shape`); a
    leaf's sharding is kept where it has one, otherwise the default device is used.
    """
    # JAX 0.12.1 deprecates the SingleDeviceSharding class for a factory; JAX 0.10 has only the class
    single = getattr(jax.sharding, "make_single_device_sharding", None)
    default = (single or jax.sharding.SingleDeviceSharding)(jax.devices()[0])

    def leaf(x):
        if not hasattr(x, "shape") or not hasattr(x, "dtype"):
            return x                                   # python scalars: stored as they are
        shape_dtype = jax.eval_shape(jax.random.key_data, x) if is_key(x) else x
        sharding = getattr(x, "sharding", None) or default
        return jax.ShapeDtypeStruct(shape_dtype.shape, shape_dtype.dtype, sharding=sharding)

    return jax.tree.map(leaf, target)


def _wrap_key(data: Any, like: Any) -> jax.Array:
    """Key data as a typed key of the same kind as `like` (a key array or its ShapeDtypeStruct)."""
    data = jnp.asarray(data)
    if isinstance(like, jax.Array):
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(like))
    try:
        return jax.random.wrap_key_data(data, dtype=like.dtype)
    except TypeError:   # JAX 0.10.0 and 0.10.1 have no `dtype=`: the dtype carries the impl
        return jax.random.wrap_key_data(data, impl=like.dtype._impl)


def data_to_keys(tree: Any, target: Any) -> Any:
    """Inverse of `keys_to_data`: wrap the leaves where `target` has a typed key."""
    return jax.tree.map(lambda x, t: _wrap_key(x, t) if is_key(t) else x, tree, target)


def spec(tree: Any) -> Spec:
    """`{"params/conv1/w": (shape, dtype name)}` for every leaf, by flax state-dict paths.

    NamedTuple fields keep their names (`opt_state/0/mu/...`); an empty node maps to `()`.
    """
    flat = traverse_util.flatten_dict(serialization.to_state_dict(tree), keep_empty_nodes=True,
                                      sep="/")
    out: Spec = {}
    for path, x in flat.items():
        if x is traverse_util.empty_node:
            out[path] = ()
        elif hasattr(x, "dtype") and hasattr(x, "shape"):
            out[path] = (tuple(int(d) for d in x.shape), np.dtype(x.dtype).name)
        else:
            out[path] = (tuple(np.shape(x)), np.asarray(x).dtype.name)
    return out


def check_spec(expected: Spec, received: Spec, where: str, limit: int = 12) -> None:
    """Raise ValueError listing every path whose presence, shape or dtype differs.

    `expected` describes the caller's target, `received` what the file holds.
    """
    problems = [f"{p}: missing from the file" for p in sorted(set(expected) - set(received))]
    problems += [f"{p}: in the file but not in target"
                 for p in sorted(set(received) - set(expected))]
    for p in sorted(set(expected) & set(received)):
        e, r = _norm(expected[p]), _norm(received[p])
        if e != r:
            problems.append(f"{p}: expected {_fmt(e)}, received {_fmt(r)}")
    if problems:
        more = f"\n  ... and {len(problems) - limit} more" if len(problems) > limit else ""
        raise ValueError(f"{where}: the stored tree does not match target "
                         f"({len(problems)} mismatching paths):\n  "
                         + "\n  ".join(problems[:limit]) + more)


def _norm(s) -> tuple:
    """`(shape tuple, dtype)` or `()`; JSON turns the tuples of a stored spec into lists."""
    return () if not s else (tuple(s[0]), str(s[1]))


def _fmt(s: tuple) -> str:
    return "an empty node" if not s else f"shape {tuple(s[0])} {s[1]}"
