"""Evaluation mode for part of a model: frozen batch-norm statistics and no dropout there.

Deck 003's fine-tuning freezes the early, generic layers. Freezing their *parameters* is the
optimizer's job (`jdl.transfer.fine_tune_optimizer`, `jdl.regularizers.freeze`); a frozen block
that contains batch norm must also stop *normalizing by the batch* and stop moving its running
statistics, or the pretrained features drift while their weights stay fixed (the classic
"frozen BatchNorm still updates in train mode" pitfall of PyTorch fine-tuning; Keras runs a
layer with `trainable = False` in inference mode for the same reason).
"""
from __future__ import annotations

from jdl.nn._layer import Layer

EVAL_MODE = "eval_mode"


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
