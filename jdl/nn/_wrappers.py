"""Layer wrappers: a model run differently, with the same `init`, params, state and paths.

- `training_transform(model, transform)`: the shared helper. With `train=True` the wrapper
  draws `transform(fold_in(key, 1), params, x) -> (params, x)` and runs the model on the result
  with `fold_in(key, 0)` for the model's own randomness; with `train=False` it is the model.
  `augmenting` (a keyed augmentation of the input) and `jdl.regularizers.noisy_apply` (Gaussian
  noise on the weights) are this helper with one line of transform each.
- `eval_mode(layer)`: the layer always runs as at test time (frozen batch norm, no dropout).

Why `eval_mode`: fine-tuning (Senk's *Deep Learning and CNNs* lecture) freezes the early,
generic layers. Freezing their *parameters* is the
optimizer's job (`jdl.transfer.fine_tune_optimizer`, `jdl.regularizers.freeze`); a frozen block
that contains batch norm must also stop *normalizing by the batch* and stop moving its running
statistics, or the pretrained features drift while their weights stay fixed (the classic
"frozen BatchNorm still updates in train mode" pitfall of PyTorch fine-tuning; Keras runs a
layer with `trainable = False` in inference mode for the same reason).
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from jdl.nn._keys import note_key
from jdl.nn._layer import Layer

EVAL_MODE = "eval_mode"

# transform(key, params, x) -> (params, x), applied on the training pass only
Transform = Callable[[jax.Array, Any, Any], tuple[Any, Any]]


def _check_model(name: str, model: Any) -> None:
    if not isinstance(model, Layer):
        raise TypeError(f"{name}: expected model to be a Layer, got {type(model).__name__}")


def training_transform(model: Layer, transform: Transform, *, name: str = "training_transform"
                       ) -> Layer:
    """`model` whose training pass first transforms its params and input with a fresh key:

        apply(params, state, x, key=k, train=True):
            params', x' = transform(fold_in(k, 1), params, x)
            return model.apply(params', state, x', key=fold_in(k, 0), train=True)
        apply(params, state, x, train=False) = model.apply(params, state, x, train=False)

    The result has the
    model's `init`, `kind` and `children`, so params, state, paths, `cut` and checkpoints are
    unchanged. `make_train_step` passes a fresh key per step, so every step draws anew, inside
    the compiled step; evaluation and prediction see the model as it is. `name` goes into the
    error raised when `train=True` comes without a key.
    """
    _check_model(name, model)
    if not callable(transform):
        raise TypeError(f"{name}: expected a function (key, params, x) -> (params, x), got "
                        f"{type(transform).__name__}")

    def apply(params, state, x, *, key=None, train=False):
        if not train:
            return model.apply(params, state, x, key=key, train=False)
        if key is None:
            raise ValueError(f"{name}: train=True needs a random key; call apply(params, state, x,"
                             " key=jax.random.key(seed), train=True), or pass train=False for "
                             "evaluation")
        note_key(key, name)
        params, x = transform(jax.random.fold_in(key, 1), params, x)
        return model.apply(params, state, x, key=jax.random.fold_in(key, 0), train=True)

    return Layer(model.init, apply, model.kind, model.children)


def augmenting(model: Layer, augment_fn: Callable[[jax.Array, Any], Any], *,
               name: str = "augmenting", argument: str = "augment_fn") -> Layer:
    """`model` that augments its input while training (data augmentation inside the step):

        apply(params, state, x, key=k, train=True)  = model.apply(params, state,
                         augment_fn(fold_in(k, 1), x), key=fold_in(k, 0), train=True)
        apply(params, state, x, train=False)        = model.apply(params, state, x, train=False)

    `augment_fn` is a batch function `(key, x) -> x` of the same shape, e.g.
    `jdl.data.make_augmentation(random_flip, partial(random_translate, max_shift=2))`.
    Built on `training_transform`: params, state and paths are the model's. `name` and
    `argument` go into the error messages (`models.denoising` is this wrapper with a corruption).
    """
    _check_model("augmenting", model)
    if not callable(augment_fn):
        raise TypeError(f"augmenting: expected augment_fn to be a function (key, images) -> "
                        f"images, got {type(augment_fn).__name__}")

    def transform(key, params, x):
        x_aug = augment_fn(key, x)
        if jnp.shape(x_aug) != jnp.shape(x):
            raise ValueError(f"{name}: expected {argument} to keep the input shape "
                             f"{jnp.shape(x)}, got {jnp.shape(x_aug)}")
        return params, x_aug

    return training_transform(model, transform, name=name)


def eval_mode(layer: Layer) -> Layer:
    """`layer` that always runs as with `train=False`, whatever the caller's `train` says.

        apply(params, state, x, key=..., train=True) == (layer.apply(params, state, x,
                                                                     train=False)[0], state)

    Inside it, batch norm normalizes with its running mean and variance and returns its state
    unchanged, dropout is the identity (no key is needed), and any other layer behaves as at
    test time. Params and state have the same tree and paths as `layer`'s, so pretrained
    weights plug in unchanged; gradients still flow through it (freeze the parameters with
    the optimizer if they must not move). Use it when building the new model:

        model = nn.serial({"features": nn.eval_mode(features), "head": nn.Dense(5)})

    or `transfer.attach_head(..., base_train=False)` for the Keras idiom
    `base_model(inputs, training=False)`.

    The wrapper is transparent to paths: its one child (named "") is `layer`, and the tools
    that walk `children` look through it (`wrapped_layer`): `jdl.summary` lists the layers
    inside with their own paths and MACs (the wrapper's row reads `eval_mode(<kind>)`), and
    `nn.cut` can cut inside it, where the cut runs in evaluation mode too.
    """
    if not isinstance(layer, Layer):
        raise TypeError(f"eval_mode: expected a jdl.nn.Layer, got {type(layer).__name__}")

    def apply(params, state, x, *, key=None, train=False):
        del key, train  # evaluation mode draws nothing
        y, _ = layer.apply(params, state, x, key=None, train=False)
        return y, state

    return Layer(layer.init, apply, EVAL_MODE, (("", layer),))


def wrapped_layer(layer: Layer) -> Layer | None:
    """The layer inside an `eval_mode` wrapper (same params and state paths), else None."""
    return layer.children[0][1] if layer.kind == EVAL_MODE and layer.children else None
