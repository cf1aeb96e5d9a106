"""A masked loss for many-to-many sequence models (*Engineering Deep Learning*, section
"Recurrent Networks": "the input and the output length is the same"): a character language
model or a tagger predicts one class per step of a padded batch, and the padded steps must not
count."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array
from jax.typing import ArrayLike

from jdl.checks import as_float, is_concrete, label_valid, nan_where_invalid


@jax.jit
def _masked_mean(logits: Array, targets: Array, real: Array) -> Array:
    valid = label_valid(targets, logits.shape[-1]) | ~real
    safe = jnp.where(real & valid, targets, 0)
    per_step = optax.losses.softmax_cross_entropy_with_integer_labels(logits, safe)
    per_step = nan_where_invalid(per_step, valid)
    total = jnp.sum(jnp.where(real, per_step, 0.0), axis=1)
    count = jnp.sum(real, axis=1)
    return total / jnp.maximum(count, 1).astype(total.dtype)


def _logits_of(outputs: Any) -> Array:
    """The logits of `outputs` or of the pair `(logits, lengths)` (the lengths are ignored)."""
    if isinstance(outputs, (tuple, list)):
        if len(outputs) != 2:
            raise TypeError(f"outputs: expected logits (batch, time, vocab) or the pair (logits, "
                            f"lengths), got a {type(outputs).__name__} of {len(outputs)} items")
        outputs = outputs[0]
    return as_float(outputs, "outputs")


def sequence_softmax_cross_entropy(outputs: Any, targets: ArrayLike, *,
                                   padding_id: int | None = 0) -> Array:
    """Per-example mean of the softmax cross-entropy over the real (non-padding) target steps.

    `outputs`: logits `(batch, time, vocab)`, or the pair `(logits, lengths)` that
    `RNN(..., return_sequences=True)` followed by `on_values(Dense(vocab))` returns (the
    lengths are ignored: the targets say which steps are real). `targets`: integer ids
    `(batch, time)`; a step whose target is `padding_id` does not count. Returns `(batch,)`:

        loss_b = sum_t m_bt * (log sum_k e^{z_btk} - z_bt,y_bt) / max(1, sum_t m_bt),
        m_bt = [y_bt != padding_id]

    so `fit`'s batch mean is the mean over sequences of each sequence's mean per-step loss
    (each sequence weighs the same, whatever its length). A row of padding only gives 0.
    `padding_id=None` counts every step (the plain mean over time). Targets outside
    [0, vocab) at real steps raise when concrete and give NaN for that example when traced,
    as in `softmax_cross_entropy`.

    Example (a character language model: targets are the inputs shifted by one)::

        model = nn.serial(nn.Embedding(V, 32, padding_id=0),
                          nn.RNN(nn.LSTMCell(128), return_sequences=True),
                          nn.on_values(nn.Dense(V)))
        train.make_train_step(model, optax.adam(1e-3), losses.sequence_softmax_cross_entropy)
    """
    logits = _logits_of(outputs)
    targets = jnp.asarray(targets)
    if logits.ndim != 3:
        raise ValueError(f"outputs: expected logits of shape (batch, time, vocab), got shape "
                         f"{logits.shape}")
    if not jnp.issubdtype(targets.dtype, jnp.integer):
        raise TypeError(f"targets: expected integer ids (batch, time), got dtype {targets.dtype}")
    if targets.shape != logits.shape[:2]:
        raise ValueError(f"targets: expected shape {logits.shape[:2]} (the logits' (batch, "
                         f"time)), got {targets.shape}")
    if padding_id is not None and (isinstance(padding_id, bool) or
                                   not isinstance(padding_id, (int, np.integer))):
        raise TypeError(f"padding_id: expected an int or None, got {padding_id!r}")
    real = (jnp.ones(targets.shape, bool) if padding_id is None
            else targets != jnp.asarray(padding_id, targets.dtype))
    vocab = logits.shape[-1]
    if is_concrete(targets) and is_concrete(real) and targets.size:
        values = np.asarray(targets)[np.asarray(real)]
        if values.size and (values.min() < 0 or values.max() >= vocab):
            raise ValueError(f"targets: expected ids in [0, {vocab}) at the real steps, got min "
                             f"{int(values.min())}, max {int(values.max())}")
    return _masked_mean(logits, targets, real)
