"""Data parallelism over devices with the unchanged model and step (docs/scaling.md).

Three forms, one meaning: the global batch is split across devices, gradients are averaged
over the whole batch, and batch norm uses the statistics of the whole global batch.

1. `jit` + sharding (the path JAX recommends): `fit(..., devices=8)`. The TrainState is
   replicated, each chunk of batches is sharded on its batch axis over a 1-D mesh named
   "batch", and the *single-device* step runs unchanged: XLA inserts the all-reduces, so the
   gradient and the batch-norm moments are global, and dropout masks equal the 1-device ones
   (threefry is partitionable). BatchNorm needs no `axis_name` here.
2. `pmap` (`make_pmap_train_step`): the step runs per device on its shard; build the model
   with `BatchNorm(axis_name="batch")` (moments averaged over devices) and
   `Dropout(rate, axis_name="batch")` (each device slices its part of the global-batch mask),
   and the step averages gradients with `lax.pmean`. JAX now implements `pmap` with
   `shard_map` and calls it legacy; it is kept because the lectures name it.
3. Under either, a global batch that does not divide by the device count is refused with a
   ValueError naming both numbers (uneven shards would change the arithmetic).

On simulated CPU devices, multi-device programs issued back to back without waiting can
deadlock in XLA's CPU collectives (measured: 8 simulated devices, 300 asynchronous steps with
one all-reduce each abort after a 40 s rendezvous timeout; docs/design.md), so `fit` waits for
every multi-device call to finish before issuing the next.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from jdl.nn import Layer
from jdl.train._steps import train_step_function

AXIS = "batch"


def make_mesh(devices: int | Sequence[jax.Device] | Mesh, axis: str = AXIS) -> Mesh:
    """A 1-D mesh with axis `axis` (Auto axis type) over `devices` (a count, a list, or a Mesh).

    The default axis "batch" is the one data parallelism shards; populations use "members".
    A Mesh passed in is returned as it is.
    """
    if isinstance(devices, Mesh):
        return devices
    available = jax.devices()
    if isinstance(devices, int):
        if not 1 <= devices <= len(available):
            raise ValueError(f"devices: expected 1..{len(available)} (the devices JAX sees), "
                             f"got {devices}")
        devices = available[:devices]
    devices = list(devices)
    return jax.make_mesh((len(devices),), (axis,), axis_types=(AxisType.Auto,), devices=devices)


def place(leaf, sharding: NamedSharding):
    """Place `leaf` (the same value in every process) with `sharding`, copying it."""
    if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):  # typed keys travel as their raw data
        data = place(jax.random.key_data(leaf), sharding)
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaf))
    if sharding.is_fully_addressable:
        return jax.device_put(jnp.copy(leaf), sharding)
    # several processes: each one fills its own devices from its identical host copy
    host = np.asarray(leaf)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def replicate(tree, mesh: Mesh):
    """A copy of `tree` on every device of `mesh` (a copy, so donating it never deletes the
    original). Works across processes too, when every process passes the same values."""
    sharding = NamedSharding(mesh, P())
    return jax.tree.map(lambda leaf: place(jnp.asarray(leaf), sharding), tree)


def local(tree):
    """This process's copy of a replicated pytree (a single-device array per leaf)."""
    return jax.tree.map(
        lambda a: a if a.is_fully_addressable and len(a.devices()) == 1 else a.addressable_data(0),
        tree)


def batch_sharding(mesh: Mesh, batch_axis: int = 0) -> NamedSharding:
    """Sharding that splits axis `batch_axis` over the mesh's "batch" axis."""
    return NamedSharding(mesh, P(*([None] * batch_axis), AXIS))


def check_divisible(batch_size: int, mesh: Mesh) -> None:
    n = mesh.devices.size
    if batch_size % n:
        lower, upper = batch_size - batch_size % n, batch_size + n - batch_size % n
        raise ValueError(f"batch_size: expected a multiple of the {n} devices so every device gets "
                         f"the same number of examples, got {batch_size} (use {lower} or {upper})")


def make_pmap_train_step(model: Layer, optimizer: optax.GradientTransformation,
                         loss_fn: Callable, *, axis_name: str = AXIS,
                         metrics: dict | None = None, penalty: Callable | None = None,
                         compute_dtype=None) -> Callable:
    """`pmap`ped step: `step(ts_replicated, (x, y))` with x of shape (devices, B_local, ...).

    The step of `make_train_step` (same objective, `penalty` and `compute_dtype`), run per
    device on its shard, with the gradients and the logs averaged by `lax.pmean(., axis_name)`
    before use: the global-batch gradient (every shard has the same size), the same Optax
    update everywhere, so the replicas stay identical. Use `BatchNorm(axis_name=...)` and
    `Dropout(..., axis_name=...)` in the model to get exactly the single-device numbers.
    Replicate the TrainState with `stack_replicas(ts, n)` and read replica 0 with `unreplicate`.
    """
    step = train_step_function(model, optimizer, loss_fn, metrics=metrics, penalty=penalty,
                               compute_dtype=compute_dtype,
                               reduce=partial(lax.pmean, axis_name=axis_name))
    return jax.pmap(step, axis_name=axis_name, donate_argnums=0)


def stack_replicas(tree, n: int):
    """`n` copies of `tree` along a new leading axis (the input layout of `pmap`)."""
    return jax.tree.map(lambda leaf: jnp.broadcast_to(leaf, (n, *leaf.shape)).copy(), tree)


def unreplicate(tree):
    """Replica 0 of a `pmap`ped pytree."""
    return jax.tree.map(lambda leaf: leaf[0], tree)
