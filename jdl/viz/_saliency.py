"""Image-specific class saliency (Simonyan, Vedaldi & Zisserman 2014, "Deep inside convolutional
networks"; Senk's "Visualization of CNNs"; docs/curriculum.md, chapter 8)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

from jdl.nn import Layer
from jdl import compile_cache
from jdl.viz._inputs import class_scores, image_batch, labels_for, output_classes


def saliency(model: Layer, params, state, x, label) -> Array:
    """Saliency map M[i, j] = max_c |dS_label(x) / dx[i, j, c]| (Simonyan et al. 2014, sec. 3.1).

    S_label is the model's *unnormalized* class score (the logit, before any softmax), so the
    map says which pixels must change least to change that score most (w = dS/dx is the
    score's first-order Taylor approximation around x, their eq. 2-3).

    Args:
      model, params, state: a classifier whose output is (B, K) scores; run with `train=False`.
      x: one image (H, W, C) or a batch (B, H, W, C).
      label: the class whose score is differentiated: an int, or one per image, shape (B,).

    Returns:
      (H, W) for one image, (B, H, W) for a batch. The gradient of the batch's summed scores is
      taken in one backward pass; in inference mode examples do not interact (batch norm uses
      its running statistics), so each image gets its own gradient. Compiled once per model;
      may be called inside `jax.jit` (labels are then not range-checked).
    """
    xb, single = image_batch(x, "x")
    labels = labels_for(label, xb.shape[0], output_classes(model, params, state, xb))
    program = compile_cache.cached(("saliency", model), lambda: jax.jit(_saliency_maps(model)))
    maps = program(params, state, xb, labels)
    return maps[0] if single else maps


def _saliency_maps(model: Layer):
    def maps(params, state, x, labels):
        grad = jax.grad(lambda x: jnp.sum(class_scores(model, params, state, x, labels)))(x)
        return jnp.max(jnp.abs(grad), axis=-1)

    return maps
