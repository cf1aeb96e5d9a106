"""Populations: N models trained in one compiled program by `vmap` over stacked TrainStates.

The lectures say grid search "needs lots of GPUs"; on one device, `vmap` turns N small training
runs into one program with N-times-wider operations (measured on a 2-core CPU: 16 MLPs at 3.1x
the throughput of 16 runs one after another; docs/benchmarks.md). Member i is exactly the lone run with the
same seed and hyper-parameters.

    optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)
    pop = init_population(model, optimizer, jax.random.split(jax.random.key(0), 8), (1, 784),
                          hyperparams={"learning_rate": jnp.logspace(-4, -1, 8)})
    step = make_population_step(make_train_step(model, optimizer, loss, jit=False))
    pop, logs = step(pop, (x, y))          # every member sees the same batch; logs are (N,)

Over several devices, `shard_population(pop, devices)` splits the member axis across them (grid
search on "lots of GPUs"): the same step then runs each device's members there.
"""
from __future__ import annotations

import operator
from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import optax
from jax import Array
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jdl.nn import Layer
from jdl.train import _parallel as parallel
from jdl.train._state import TrainState, init_train_state

MEMBERS = "members"


def init_population(model: Layer, optimizer: optax.GradientTransformation, keys: Array,
                    input_shape: Sequence[int],
                    hyperparams: Mapping[str, Array] | None = None) -> TrainState:
    """Stacked TrainStates, one per key in `keys` (shape (N,)): every leaf gains a leading N axis.

    Args:
      keys: typed keys, e.g. `jax.random.split(jax.random.key(0), N)`; member i is
        `init_train_state(model, optimizer, keys[i], input_shape)`.
      hyperparams: per-member values `{name: (N,) array}` written into
        `opt_state.hyperparams`; the optimizer must come from `optax.inject_hyperparams`.
    """
    if keys.ndim != 1:
        raise ValueError(f"keys: expected a 1-D array of typed keys (N,), got shape {keys.shape}")
    population = jax.vmap(lambda k: init_train_state(model, optimizer, k, input_shape))(keys)
    if hyperparams:
        return set_hyperparams(population, hyperparams)
    return population


def set_hyperparams(population: TrainState, hyperparams: Mapping[str, Array]) -> TrainState:
    """Return `population` with `opt_state.hyperparams[name] = values` ((N,) each)."""
    opt_state = population.opt_state
    current = getattr(opt_state, "hyperparams", None)
    if current is None:
        raise ValueError("hyperparams: the optimizer state has no `hyperparams`; build the "
                         "optimizer with optax.inject_hyperparams(optax.adam)(learning_rate=...)")
    n = population.step.shape[0]
    updated = dict(current)
    for name, values in hyperparams.items():
        if name not in current:
            raise ValueError(f"hyperparams: expected names among {sorted(current)}, got {name!r}")
        # a copy: the population is donated to the step, which must not delete the caller's array
        values = jnp.array(values, current[name].dtype, copy=True)
        if values.shape != (n,):
            raise ValueError(f"hyperparams[{name!r}]: expected shape ({n},), one value per "
                             f"member, got {values.shape}")
        updated[name] = values
    return population._replace(opt_state=opt_state._replace(hyperparams=updated))


def make_population_step(train_step: Callable, *, jit: bool = True) -> Callable:
    """`vmap` a plain train step (`make_train_step(..., jit=False)`) over a population.

    The batch is shared (`in_axes=(0, None)`): every member sees the same examples, and its
    own dropout keys come from its own `ts.key`. Returns `step(pop, batch) -> (pop, logs)` with
    (N,) logs, jitted with the population donated. A population from `shard_population` runs
    spread over its devices (jit follows its sharding; pass the batch as NumPy arrays).
    """
    train_step = getattr(train_step, "__wrapped__", train_step)
    step = jax.vmap(train_step, in_axes=(0, None))
    return jax.jit(step, donate_argnums=0) if jit else step


def shard_population(population: TrainState,
                     devices: int | Sequence[jax.Device] | Mesh) -> TrainState:
    """Spread the members over devices: with N members and D devices, each device holds N / D.

    Every leaf's leading member axis is split over a 1-D mesh (axis "members", or the axis of
    a 1-D `Mesh` passed in). `make_population_step`, `fit_population`, `evaluate_population`
    and `ensemble_predict` take the result as they take a one-device population: `jit`
    follows the input sharding, so each device trains its own members. Members are
    independent, so, unlike data parallelism, the compiled step has no cross-device
    communication at all (the tests check its HLO for collectives); the batch is copied to
    every device (pass NumPy arrays, or `replicate(batch, population_mesh(pop))`).

    Returns a copy; member i is still member i (`member(pop, i)` gathers it to one device).
    Raises ValueError if N is not a multiple of D (uneven shards would need padding members).
    """
    mesh = parallel.make_mesh(devices, MEMBERS)
    if len(mesh.axis_names) != 1:
        raise ValueError(f"devices: expected a 1-D mesh (members are split along one axis), "
                         f"got a mesh with axes {mesh.axis_names}")
    n, d = population.step.shape[0], mesh.devices.size
    if n % d:
        raise ValueError(f"devices: expected a device count that divides the {n} members, got "
                         f"{d} devices ({n} % {d} = {n % d}); use a population of "
                         f"{n + d - n % d}, or a device count that divides {n}")
    sharding = NamedSharding(mesh, P(mesh.axis_names[0]))
    return jax.tree.map(lambda leaf: parallel.place(leaf, sharding), population)


def population_mesh(population: TrainState) -> Mesh | None:
    """The mesh a population is spread over by `shard_population`, or None on one device."""
    sharding = getattr(population.step, "sharding", None)
    if isinstance(sharding, NamedSharding) and sharding.mesh.devices.size > 1:
        return sharding.mesh
    return None


def select_members(mask: Array, new, old):
    """`where(mask, new, old)` leaf by leaf (typed keys included): `mask` is a scalar (one run:
    keep all of `new` or all of `old`) or (N,) (member i takes `new_i` or `old_i`)."""

    def pick(a, b):
        if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
            data = select_members(mask, jax.random.key_data(a), jax.random.key_data(b))
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(a))
        return jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - mask.ndim)), a, b)

    return jax.tree.map(pick, new, old)


@jax.jit
def member_rows_order(rows: Array, perm: Array) -> Array:
    """(N, m): `rows[i][perm[i]]`, member i's own training rows (k-fold) in its epoch order."""
    return jnp.take_along_axis(rows, perm, -1)


def member(population: TrainState, i: int) -> TrainState:
    """The TrainState of member `i` (a lone-run TrainState)."""
    n = _members(population, "population")
    if not isinstance(i, jax.core.Tracer):
        try:
            valid = -n <= operator.index(i) < n
        except TypeError:
            valid = False
        if not valid:
            raise ValueError(f"i: expected a member index in [0, {n}) (or from -{n}), got {i!r}")
    return jax.tree.map(lambda leaf: leaf[i], population)


def _members(population: TrainState, name: str) -> int:
    """The number of members; ValueError naming `name` for a lone-run TrainState."""
    if jnp.ndim(population.step) != 1:
        raise ValueError(f"{name}: expected a population (from init_population: a leading member "
                         f"axis on every leaf), got step of shape {jnp.shape(population.step)}")
    return int(jnp.shape(population.step)[0])


def ensemble_predict(model: Layer, population: TrainState, x: Array,
                     combine: Callable[[Array], Array] = jax.nn.softmax) -> Array:
    """The ensemble's prediction: the mean over members of `combine(outputs)` (softmax probabilities).

    `x: (B, ...)` -> `(B, classes)`; evaluation mode (`train=False`).
    """
    _members(population, "population")
    outputs = jax.vmap(lambda p, s: model.apply(p, s, x, train=False)[0])(
        population.params, population.state)
    return jnp.mean(combine(outputs), axis=0)
