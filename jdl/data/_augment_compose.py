"""Composing augmentations and training with them (see `jdl.data._augment` for the functions).

`compose` chains per-image functions (function k gets `fold_in(key, k)`), `augment` applies
them to a batch with one key per example under `vmap`, and `jdl.nn.augmenting(model, batch_fn)`
wraps a model so the unchanged train step augments its inputs when `train=True`.
"""
from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp

from jdl.checks import check_key
from jdl.data._augment import BatchFn, ImageFn

__all__ = ["compose", "augment", "make_augmentation"]


# ---- composition and training ---------------------------------------------------------------

def _check_fns(fn: str, fns: Sequence[Any]) -> tuple[ImageFn, ...]:
    for i, f in enumerate(fns):
        if not callable(f):
            raise TypeError(f"{fn}: expected each augmentation to be a function (key, img) -> img,"
                            f" got {type(f).__name__} at position {i}")
    return tuple(fns)


def compose(*fns: ImageFn) -> ImageFn:
    """One per-image function `(key, img) -> img` applying `fns` in order; function k gets
    `fold_in(key, k)`, so no two functions share a key. No functions: the identity."""
    fns = _check_fns("compose", fns)

    def composed(key: jax.Array, img: jax.Array) -> jax.Array:
        for k, f in enumerate(fns):
            img = f(jax.random.fold_in(key, k), img)
        return img

    return composed


def augment(key: jax.Array, images: jax.Array, *fns: ImageFn) -> jax.Array:
    """Augment a batch: `vmap(compose(*fns))(split(key, N), images)`, one key per example.

    images: (N, H, W, C); each `fns[k]` is a per-image `(key, img (H, W, C)) -> img`, e.g.
    `partial(random_crop, padding=4)`. Returns (N, H, W, C). Jittable; the same key gives the
    same batch.
    """
    check_key(key)
    images = jnp.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"augment: expected images of shape (N, height, width, channels), got "
                         f"shape {images.shape}; call the random_* functions on one image")
    keys = jax.random.split(key, images.shape[0])
    return jax.vmap(compose(*fns))(keys, images)


def make_augmentation(*fns: ImageFn) -> BatchFn:
    """`(key, images (N, H, W, C)) -> images`: `augment` with `fns` bound (for `augmenting`)."""
    fns = _check_fns("make_augmentation", fns)

    def augmentation(key: jax.Array, images: jax.Array) -> jax.Array:
        return augment(key, images, *fns)

    return augmentation
