"""Losses (costs) of all five lectures (docs/curriculum.md, chapter 2), as pure per-example
functions.

Every loss is ``loss(predictions, targets, ...) -> per-example losses``: it reduces over the
class / feature axes and **never over the batch**, so a train step chooses the reduction
(mean, sum, masked mean) with :func:`reduce`. Shapes:

* elementwise losses (``quadratic``, ``mean_squared_error``, the binary cross-entropies,
  ``log_loss``, ``hinge``): predictions and targets have the same shape ``(batch, ...)``;
  the result is ``(batch,)`` (all trailing axes reduced; a 0-d input gives a 0-d result).
* class losses (``categorical_cross_entropy``, ``softmax_cross_entropy``, ``multiclass_max_margin``,
  ...): logits ``(..., K)`` with classes on the last axis; the result is ``logits.shape[:-1]``,
  i.e. ``(batch,)`` for ``(batch, K)`` logits (``(batch, T)`` for per-token sequence logits).
* the sequence loss ``sequence_softmax_cross_entropy``: logits ``(batch, T, V)`` (or the pair
  ``(logits, lengths)`` of a recurrent model) and integer targets ``(batch, T)`` -> ``(batch,)``,
  the mean over each sequence's real (non-padding) target steps.
* the generative losses (``sum_squared_error``, ``gaussian_nll``, ``vae_loss``, the GAN
  losses) sum over all trailing axes (all pixels) like the elementwise ones; ``gaussian_kl``
  takes the encoder's ``(batch, latent)`` mean and log-variance; ``vae_loss`` takes the VAE's
  outputs ``(reconstruction, mean, log_var[, decoder_log_var])`` and the clean input.

Loo's quadratic cost ``C = 1/2n sum_i ||y_i - a_i||^2`` is ``reduce(quadratic(a, y))``;
Salakhutdinov's empirical risk is ``reduce(loss(...)) + lambda * regularizer``.

Senk's "loss bricks" table maps to: Square -> :func:`quadratic`; Log (c = +-1) ->
:func:`log_loss`; Hinge (c = +-1, margin m) -> :func:`hinge`; LogSoftMax
``log sum_k e^{x_k} - x_c`` -> :func:`softmax_cross_entropy`; MaxMargin ->
:func:`multiclass_max_margin`.

One function per loss: the other names a loss goes by (Keras's ``"mse"``,
``"sparse_categorical_crossentropy"``, the lectures' ``"log_likelihood"``, ...) are the alias
table of :func:`get`, ``get("log_likelihood") is softmax_cross_entropy``.

Validation (nothing is silently wrong):

* shapes and dtypes are static, so they are checked at trace time and the checks work under
  ``jit``: a float ``labels`` array raises ``TypeError``, mismatched shapes raise ``ValueError``
  naming both shapes.
* values (class indices in ``[0, K)``, ``c`` in ``{-1, +1}``, probabilities / binary targets in
  ``[0, 1]``) are only known at run time. When the argument is concrete (an eager call, or a
  constant closed over by a jitted function) a bad value raises ``ValueError``. When it is traced
  (inside ``jit``/``grad``/``vmap``) the affected examples get a **NaN loss** instead (never a
  silently clamped or wrapped index). Gradients w.r.t. the predictions stay finite (they are
  zero for those examples); only the loss value shows the NaN. Padding examples: give them
  weight 0 in :func:`reduce`, which drops zero-weight entries (NaN included); in eager calls they
  also need a valid label (e.g. 0), since a concrete -1 raises.
* the concrete value checks copy the argument to the host: cheap in eager use, free under jit.
"""
from jdl.losses._binary import binary_cross_entropy as binary_cross_entropy
from jdl.losses._binary import hinge as hinge
from jdl.losses._binary import log_loss as log_loss
from jdl.losses._binary import sigmoid_binary_cross_entropy as sigmoid_binary_cross_entropy
from jdl.losses._combine import get as get
from jdl.losses._combine import multi_task as multi_task
from jdl.losses._combine import reduce as reduce
from jdl.losses._generative import gan_discriminator_loss as gan_discriminator_loss
from jdl.losses._generative import gan_generator_loss as gan_generator_loss
from jdl.losses._generative import gaussian_kl as gaussian_kl
from jdl.losses._generative import gaussian_nll as gaussian_nll
from jdl.losses._generative import sum_squared_error as sum_squared_error
from jdl.losses._generative import vae_loss as vae_loss
from jdl.losses._multiclass import categorical_cross_entropy as categorical_cross_entropy
from jdl.losses._multiclass import (
    categorical_cross_entropy_from_probs as categorical_cross_entropy_from_probs,
)
from jdl.losses._multiclass import multiclass_max_margin as multiclass_max_margin
from jdl.losses._multiclass import nll_from_log_probs as nll_from_log_probs
from jdl.losses._multiclass import softmax_cross_entropy as softmax_cross_entropy
from jdl.losses._regression import mean_squared_error as mean_squared_error
from jdl.losses._regression import quadratic as quadratic
from jdl.losses._sequence import sequence_softmax_cross_entropy as sequence_softmax_cross_entropy

__all__ = [
    "reduce",
    "quadratic", "mean_squared_error",
    "binary_cross_entropy", "sigmoid_binary_cross_entropy",
    "categorical_cross_entropy", "categorical_cross_entropy_from_probs",
    "softmax_cross_entropy", "nll_from_log_probs",
    "log_loss", "hinge", "multiclass_max_margin",
    "sequence_softmax_cross_entropy",
    "sum_squared_error", "gaussian_nll", "gaussian_kl", "vae_loss",
    "gan_discriminator_loss", "gan_generator_loss",
    "multi_task", "get",
]
