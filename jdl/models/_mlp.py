"""Fully connected models: the multilayer perceptron and logistic regression (Loo, COMP9321)."""
from __future__ import annotations

from typing import Callable, Sequence

from jdl import nn


def mlp(sizes: Sequence[int], activation: str | Callable | nn.Layer = "relu", *,
        output_activation: str | Callable | nn.Layer | None = None, dropout: float = 0.0,
        dropout_inverted: bool = True, batch_norm: bool = False, w_init="lecun") -> nn.Layer:
    """A multilayer perceptron: Flatten, then Dense layers of widths `sizes`.

    `mlp([500, 500, 10], "sigmoid")` is COMP9321's 784-500-500-10 Keras network (the input width
    comes from `init`'s input shape). Hidden layer i is `dense_i -> [batch_norm_i] -> activation
    -> [dropout]` (`dropout_inverted=False`: the decks' scale-at-test form, see `nn.Dropout`); the last Dense returns logits unless `output_activation` is given (keep logits
    and use a cross-entropy on logits: it is the numerically stable choice).

    Params: `{"dense_0": {"w", "b"}, ..., "dense_{L-1}": ...}` (+ `batch_norm_i`).
    """
    sizes = list(sizes)
    if not sizes or not all(isinstance(s, int) and s > 0 for s in sizes):
        raise ValueError(f"mlp: expected sizes to be a non-empty list of positive ints, got {sizes!r}")
    layers: list = [("flatten", nn.Flatten())]
    for i, width in enumerate(sizes):
        layers.append((f"dense_{i}", nn.Dense(width, w_init=w_init)))
        if i == len(sizes) - 1:
            break
        if batch_norm:
            layers.append((f"batch_norm_{i}", nn.BatchNorm()))
        layers.append((f"act_{i}", nn.activation_layer(activation)))
        if dropout:
            layers.append((f"dropout_{i}", nn.Dropout(dropout, inverted=dropout_inverted)))
    if output_activation is not None:
        layers.append(("output", nn.activation_layer(output_activation)))
    return nn.serial(*layers)


def logistic_regression(num_classes: int = 1) -> nn.Layer:
    """Logistic regression as a one-neuron network (COMP9321): Flatten, Dense(num_classes).

    Returns logits: with `num_classes=1` train it with `losses.sigmoid_binary_cross_entropy`
    (p = sigmoid(w.x + b)); with more classes it is multinomial (softmax) regression, trained with
    `losses.softmax_cross_entropy`.
    """
    return nn.serial(("flatten", nn.Flatten()), ("dense", nn.Dense(num_classes)))
