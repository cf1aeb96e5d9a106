"""Populations: N models trained in one compiled program by `vmap` over stacked TrainStates.

Deck 001 says grid search "needs lots of GPUs"; on one device, `vmap` turns N small training
runs into one program with N-times-wider operations (research/jax-stack.md section 3: 16 MLPs
at 3.1x the throughput of 16 runs one after another). Member i is exactly the lone run with the
same seed and hyper-parameters.

    optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)
    pop = init_population(model, optimizer, jax.random.split(jax.random.key(0), 8), (1, 784),
                          hyperparams={"learning_rate": jnp.logspace(-4, -1, 8)})
    step = make_population_step(make_train_step(model, optimizer, loss, jit=False))
    pop, logs = step(pop, (x, y))          # every member sees the same batch; logs are (N,)
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import optax
from jax import Array

from jdl.nn import Layer
from jdl.train._state import TrainState, init_train_state


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
    (N,) logs, jitted with the population donated.
    """
    train_step = getattr(train_step, "__wrapped__", train_step)
    step = jax.vmap(train_step, in_axes=(0, None))
    return jax.jit(step, donate_argnums=0) if jit else step


def member(population: TrainState, i: int) -> TrainState:
    """The TrainState of member `i` (a lone-run TrainState)."""
    return jax.tree.map(lambda leaf: leaf[i], population)


def ensemble_predict(model: Layer, population: TrainState, x: Array,
                     combine: Callable[[Array], Array] = jax.nn.softmax) -> Array:
    """The ensemble's prediction: the mean over members of `combine(outputs)` (softmax probabilities).

    `x: (B, ...)` -> `(B, classes)`; evaluation mode (`train=False`).
    """
    outputs = jax.vmap(lambda p, s: model.apply(p, s, x, train=False)[0])(
        population.params, population.state)
    return jnp.mean(combine(outputs), axis=0)
