"""Learning-rate schedules of the decks: plain `count -> lr` callables (Optax `Schedule`s).

Any of them can be passed wherever Optax takes a learning rate (`optax.sgd(inverse_time(0.1))`,
`jdl.optimizers.momentum(step_decay(0.1, 0.5, 1000), convention="deck")`); `count` is the
number of updates already made (0 for the first one). All are jit-able (`jnp` arithmetic).

- `inverse_time(lr0, decay)`   lr0 / (1 + decay t)         ("1/t" decay; not in Optax)
- `inverse_sqrt(lr0)`          lr0 / sqrt(t + 1)           (COMP9321's "1/t decay" example;
                                                            not in Optax)
- `step_decay(lr0, factor, every_steps)`
                               lr0 * factor^floor(t / every_steps)
                               (COMP9321, "reduce the learning rate by some factor every
                               few epochs"; Senk, "divide the learning rate by 2");
                               `optax.exponential_decay(..., staircase=True)`

For cosine, warm-up, piecewise-constant and one-cycle schedules use Optax's directly
(`optax.cosine_decay_schedule`, ...); for "divide by 2 when validation stops improving"
(Senk) use `optax.contrib.reduce_on_plateau`.
"""
from __future__ import annotations

import operator
from typing import Callable

import jax.numpy as jnp
import optax

Schedule = Callable[[int], jnp.ndarray]

__all__ = ["Schedule", "inverse_time", "inverse_sqrt", "step_decay"]


def _positive(name: str, value: float, fn: str, *, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: expected {name} to be a number, got {value!r}") from None
    if not (v >= 0.0 if allow_zero else v > 0.0):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{fn}: expected {name} {bound}, got {value!r}")
    return v


def inverse_time(lr0: float, decay: float = 1.0) -> Schedule:
    """`lr(t) = lr0 / (1 + decay * t)`: the classic "1/t" decay (Robbins-Monro rates).

    Written here because Optax 0.2.8 has no inverse-time schedule. `decay=0` is constant.
    """
    lr0 = _positive("lr0", lr0, "inverse_time")
    decay = _positive("decay", decay, "inverse_time", allow_zero=True)

    def schedule(count):
        return jnp.asarray(lr0, jnp.float32) / (1.0 + decay * jnp.asarray(count, jnp.float32))

    return schedule


def inverse_sqrt(lr0: float) -> Schedule:
    """`lr(t) = lr0 / sqrt(t + 1)` (COMP9321 writes it as "1/t decay: eta^t = eta / sqrt(t+1)").

    Written here because Optax 0.2.8 has no inverse-square-root schedule.
    """
    lr0 = _positive("lr0", lr0, "inverse_sqrt")

    def schedule(count):
        return jnp.asarray(lr0, jnp.float32) / jnp.sqrt(jnp.asarray(count, jnp.float32) + 1.0)

    return schedule


def step_decay(lr0: float, factor: float = 0.5, every_steps: int = 1000) -> Schedule:
    """`lr(t) = lr0 * factor ** floor(t / every_steps)`: multiply by `factor` every
    `every_steps` updates (COMP9321, Senk; with an epoch of S steps, `every_steps = k * S`
    means "every k epochs"). `optax.exponential_decay(lr0, every_steps, factor, staircase=True)`.
    """
    lr0 = _positive("lr0", lr0, "step_decay")
    factor = _positive("factor", factor, "step_decay")
    try:
        every = operator.index(every_steps)
    except TypeError:
        every = 0
    if isinstance(every_steps, bool) or every < 1:
        raise ValueError(f"step_decay: expected every_steps to be a positive int, got "
                         f"{every_steps!r}")
    return optax.exponential_decay(init_value=lr0, transition_steps=every,
                                   decay_rate=factor, staircase=True)
