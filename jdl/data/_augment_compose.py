"""Composing augmentations and training with them (see `jdl.data._augment` for the functions).

`compose` chains per-image functions (function k gets `fold_in(key, k)`), `augment` applies
them to a batch with one key per example under `vmap`, and `augmenting(model, batch_fn)` wraps
a model so the unchanged train step augments its inputs when `train=True`.
"""
from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp

from jdl.data._augment import BatchFn, ImageFn
from jdl.nn._layer import Layer

__all__ = ["compose", "augment", "make_augmentation", "augmenting"]


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


def augmenting(model: Layer, augment_fn: BatchFn) -> Layer:
    """`model` that augments its input while training: a Layer with the same `init`, params,
    state, `kind` and `children` (paths, `cut`, checkpoints unchanged), whose

        apply(params, state, x, key=k, train=True)  = model.apply(params, state,
                         augment_fn(fold_in(k, 1), x), key=fold_in(k, 0), train=True)
        apply(params, state, x, train=False)        = model.apply(params, state, x, train=False)

    `augment_fn` is a batch function `(key, x) -> x` of the same shape, e.g.
    `make_augmentation(partial(random_flip), partial(random_translate, max_shift=2))`.
    `make_train_step` passes a fresh key per step, so each step sees a new augmentation, inside
    the compiled step; evaluation and prediction see the original images.
    """
    if not isinstance(model, Layer):
        raise TypeError(f"augmenting: expected model to be a Layer, got {type(model).__name__}")
    if not callable(augment_fn):
        raise TypeError(f"augmenting: expected augment_fn to be a function (key, images) -> "
                        f"images, got {type(augment_fn).__name__}")

    def apply(params, state, x, *, key=None, train=False):
        if not train:
            return model.apply(params, state, x, key=key, train=False)
        if key is None:
            raise ValueError("augmenting: train=True needs a random key for the augmentation; "
                             "call apply(params, state, x, key=jax.random.key(seed), train=True),"
                             " or pass train=False for evaluation")
        x_aug = augment_fn(jax.random.fold_in(key, 1), x)
        if jnp.shape(x_aug) != jnp.shape(x):
            raise ValueError(f"augmenting: expected augment_fn to keep the input shape "
                             f"{jnp.shape(x)}, got {jnp.shape(x_aug)}")
        return model.apply(params, state, x_aug, key=jax.random.fold_in(key, 0), train=True)

    return Layer(model.init, apply, model.kind, model.children)


