"""Class model visualization by gradient ascent (Simonyan, Vedaldi & Zisserman 2014, section 2;
Senk's "Visualization of CNNs" and the [Simonyan et al. 2014] appendix; docs/curriculum.md,
chapter 8)."""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

from jdl.nn import Layer
from jdl.viz._inputs import class_scores, labels_for, output_classes
from jdl.viz._optimize import check_clip, check_steps, optimize_image


def class_model(model: Layer, params, state, label, input_shape: Sequence[int], *,
                steps: int = 200, learning_rate: float = 0.05, l2: float = 1e-2,
                optimizer: optax.GradientTransformation | None = None,
                key: Array | None = None, init=None,
                clip: tuple[float, float] | None = None) -> tuple[Array, dict[str, Array]]:
    """The image I* = argmax_I S_label(I) - l2 * ||I||_2^2 (Simonyan et al. 2014, eq. 1).

    S_label is the unnormalized class score (the logit). The parameters stay fixed; the image
    is updated by `optimizer` (default `optax.adam(learning_rate)`) on the negated objective
    for `steps` steps inside one jitted `lax.scan`.

    Args:
      model, params, state: a classifier with (B, K) outputs, run with `train=False`.
      label: the class to visualize: an int, or one per image, shape (B,) (all classes at once
        with `label=jnp.arange(K)` and `input_shape=(K, H, W, C)`).
      input_shape: the images' shape *with* the batch axis, as for `init`, e.g. (1, 28, 28, 1).
      l2: the weight lambda of the L2 penalty (summed over each image's pixels).
      init: the starting images, shape `input_shape`; else 0.01 * N(0, 1) noise from `key`;
        else the zero image (the paper's start).
      clip: optional (low, high) pixel range enforced after every step.

    Returns:
      (images of shape `input_shape`, history) with history["score"] (S_label) and
      history["objective"] (S_label - l2 ||I||^2), each (steps + 1, B): row 0 the initial
      images, row -1 the returned ones.
    """
    try:
        shape = tuple(int(d) for d in input_shape)
    except TypeError:
        raise ValueError(f"input_shape: expected a sequence of ints with the batch axis first, "
                         f"got {input_shape!r}") from None
    if len(shape) < 2 or min(shape) < 1:
        raise ValueError(f"input_shape: expected (batch, ...) with positive sizes, e.g. "
                         f"(1, 28, 28, 1), got {shape}")
    steps, clip = check_steps(steps), check_clip(clip)
    if not l2 >= 0:
        raise ValueError(f"l2: expected a non-negative penalty weight, got {l2!r}")
    if init is not None:
        image = jnp.asarray(init, dtype=jnp.float32)
        if image.shape != shape:
            raise ValueError(f"init: expected shape input_shape={shape}, got {tuple(image.shape)}")
    elif key is not None:  # a flat draw reshaped: XLA:CPU compiles 4-D draws slowly
        image = 0.01 * jax.random.normal(key, (int(np.prod(shape)),)).reshape(shape)
    else:
        image = jnp.zeros(shape, jnp.float32)
    probe = jax.ShapeDtypeStruct(shape, jnp.float32)
    labels = labels_for(label, shape[0], output_classes(model, params, state, probe))
    optimizer = optax.adam(learning_rate) if optimizer is None else optimizer
    axes = tuple(range(1, len(shape)))

    def loss(image, params, state, labels):
        score = class_scores(model, params, state, image, labels)
        objective = score - l2 * jnp.sum(jnp.square(image), axis=axes)
        return -jnp.sum(objective), {"score": score, "objective": objective}

    return optimize_image(loss, image, (params, state, labels), optimizer, steps, clip)
