"""Argument checks and the class score shared by the computations of `jdl.viz`.

Errors name the argument, what was expected and what was received (docs/design.md, section 1).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jdl.nn import Layer

_TRACED = (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError)


def image_batch(x, name: str) -> tuple[Array, bool]:
    """`(x as (B, H, W, C) float32, was_single)`: a rank-3 `x` is one image (H, W, C)."""
    x = jnp.asarray(x, dtype=jnp.float32)
    if x.ndim == 3:
        return x[None], True
    if x.ndim != 4:
        raise ValueError(f"{name}: expected one image (H, W, C) or a batch (B, H, W, C), got "
                         f"shape {tuple(x.shape)}")
    return x, False


def labels_for(labels, batch: int, num_classes: int, name: str = "label") -> Array:
    """Class indices as an int32 (batch,) array: a scalar is broadcast to every example.

    Concrete labels outside [0, num_classes) raise ValueError; traced ones are not checked.
    """
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(f"{name}: expected integer class indices, got dtype {labels.dtype}")
    if labels.ndim == 0:
        labels = jnp.broadcast_to(labels, (batch,))
    elif labels.shape != (batch,):
        raise ValueError(f"{name}: expected an int or shape ({batch},) (one per example), got "
                         f"shape {tuple(labels.shape)}")
    try:
        concrete = np.asarray(labels)
    except _TRACED:
        concrete = None
    if concrete is not None and concrete.size and (concrete.min() < 0 or concrete.max() >= num_classes):
        raise ValueError(f"{name}: expected class indices in [0, {num_classes}), got "
                         f"{concrete.tolist()}")
    return labels.astype(jnp.int32)


def output_classes(model: Layer, params, state, x) -> int:
    """The number of classes K of a model whose output is (B, K) scores, found by shape only."""
    out = jax.eval_shape(lambda p, s, x: model.apply(p, s, x, train=False)[0], params, state, x)
    if len(out.shape) != 2:
        raise ValueError(f"model: expected class scores of shape (batch, classes), got output "
                         f"shape {tuple(out.shape)} for input {tuple(x.shape)}")
    return int(out.shape[1])


def class_scores(model: Layer, params, state, x: Array, labels: Array) -> Array:
    """S_c(x): the model's (unnormalized) score of class `labels[b]` for each example, (B,)."""
    scores, _ = model.apply(params, state, x, train=False)
    return jnp.take_along_axis(scores, labels[:, None], axis=1)[:, 0]
