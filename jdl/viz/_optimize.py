"""Optimize an input image with an Optax optimizer in one jitted `lax.scan` (class models and style
transfer, Senk; docs/curriculum.md, chapter 8): the parameters stay fixed, the pixels move."""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from jax import Array, lax


def check_steps(steps: int) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps: expected a non-negative int, got {steps!r}")
    return steps


def check_clip(clip) -> tuple[float, float] | None:
    if clip is None:
        return None
    try:
        lo, hi = (float(c) for c in clip)
    except (TypeError, ValueError):
        raise ValueError(f"clip: expected None or a pair (low, high), got {clip!r}") from None
    if not lo < hi:
        raise ValueError(f"clip: expected low < high, got {clip!r}")
    return lo, hi


def optimize_image(loss: Callable[..., tuple[Array, Any]], image: Array, args: tuple,
                   optimizer: optax.GradientTransformation, steps: int,
                   clip: tuple[float, float] | None,
                   prepare: Callable[..., tuple] | None = None) -> tuple[Array, Any]:
    """Minimize `loss(image, *args) -> (scalar, aux)` over `image` for `steps` updates.

    Returns (final image, aux history): every leaf of `aux` stacked over the steps + 1 images
    visited (index 0: the initial image, -1: the returned one). `args` (params, state, targets)
    are arguments of the compiled program, not constants baked into it. With `clip=(lo, hi)`
    the pixels are projected onto [lo, hi] after each update. `prepare(*args) -> args` runs once
    inside the compiled program before the loop (targets that do not depend on the image).
    """
    grad_fn = jax.value_and_grad(loss, has_aux=True)

    def run(image, args):
        if prepare is not None:
            args = prepare(*args)

        def step(carry, _):
            image, opt_state = carry
            (_, aux), g = grad_fn(image, *args)
            updates, opt_state = optimizer.update(g, opt_state, image)
            image = optax.apply_updates(image, updates)
            if clip is not None:
                image = jnp.clip(image, *clip)
            return (image, opt_state), aux

        (image, _), history = lax.scan(step, (image, optimizer.init(image)), None, length=steps)
        _, last = loss(image, *args)
        history = jax.tree.map(lambda h, x: jnp.concatenate([h, x[None]]), history, last)
        return image, history

    return jax.jit(run)(image, args)
