"""Losses of unsupervised and generative models: reconstruction, the VAE's negative ELBO and the
two GAN losses (docs/curriculum.md, chapter 9).

All are per example, ``(batch, ...) -> (batch,)``, summed over every trailing axis (all pixels),
in nats. The Bernoulli reconstruction loss on logits is `sigmoid_binary_cross_entropy` itself
(it already sums over all pixels), so it is not repeated here. GAN losses take logits and use
``log sigmoid(x) = jax.nn.log_sigmoid(x)`` and ``log(1 - sigmoid(x)) = log_sigmoid(-x)``, finite
for any logit.
"""
from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from jdl.checks import as_float, check_range, is_concrete, same_shape, sum_trailing
from jdl.losses._binary import _bce_logits

_LIKELIHOODS = ("bernoulli", "gaussian")
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


# ----------------------------------------------------------------------------- reconstruction
@jax.jit
def _sse(p: Array, t: Array) -> Array:
    return sum_trailing(jnp.square(p - t.astype(p.dtype)))


@jax.jit
def _gaussian_nll(mean: Array, x: Array, log_var: Array) -> Array:
    x = x.astype(mean.dtype)
    log_var = jnp.broadcast_to(log_var.astype(mean.dtype), mean.shape)
    nll = _HALF_LOG_2PI + 0.5 * log_var + 0.5 * jnp.square(x - mean) * jnp.exp(-log_var)
    return sum_trailing(nll)


@jax.jit
def _kl(mean: Array, log_var: Array) -> Array:
    return 0.5 * sum_trailing(jnp.square(mean) + jnp.exp(log_var) - log_var - 1.0)


def sum_squared_error(predictions: ArrayLike, targets: ArrayLike) -> Array:
    """Sum of squared errors per example, ``sum_j (a_j - y_j)^2`` over all trailing axes.

    The usual autoencoder reconstruction loss (and its anomaly score). It is twice
    :func:`quadratic` and, up to a constant, twice the Gaussian negative log-likelihood with
    unit variance (:func:`gaussian_nll`). Shapes ``(batch, ...)`` -> ``(batch,)``.
    """
    predictions = as_float(predictions, "predictions")
    targets = jnp.asarray(targets)
    same_shape(predictions, targets, "predictions", "targets")
    return _sse(predictions, targets)


def _log_var_like(log_var: ArrayLike, x: Array, name: str) -> Array:
    """A log-variance as an array of the rank of `x` that broadcasts to `x` (scalar allowed)."""
    log_var = as_float(log_var, name)
    if log_var.ndim == 0:
        return log_var.reshape((1,) * x.ndim)
    try:
        ok = log_var.ndim == x.ndim and np.broadcast_shapes(log_var.shape, x.shape) == x.shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{name}: expected a scalar or a shape of rank {x.ndim} that broadcasts "
                         f"to {x.shape} (e.g. (batch, 1, 1, 1)), got {log_var.shape}")
    return log_var


def gaussian_nll(mean: ArrayLike, targets: ArrayLike, log_var: ArrayLike = 0.0) -> Array:
    """Gaussian negative log-likelihood per example, in nats:
    ``sum_j [1/2 log(2 pi) + 1/2 log s^2 + (x_j - m_j)^2 / (2 s^2)]`` over all trailing axes.

    `log_var` is ``log s^2``: a scalar (0: unit variance, then the loss is
    ``quadratic(m, x) + D/2 log(2 pi)``) or an array of the rank of `targets` that broadcasts to
    it (a per-example or per-pixel variance). Shapes ``(batch, ...)`` -> ``(batch,)``.
    """
    mean = as_float(mean, "mean")
    targets = jnp.asarray(targets)
    same_shape(mean, targets, "mean", "targets")
    return _gaussian_nll(mean, targets, _log_var_like(log_var, mean, "log_var"))


def gaussian_kl(mean: ArrayLike, log_var: ArrayLike) -> Array:
    """``KL(N(m, diag(s^2)) || N(0, I))`` per example, in closed form:
    ``1/2 sum_j (m_j^2 + s_j^2 - log s_j^2 - 1)``, with ``log_var = log s^2``.

    The regularizer of the VAE's ELBO (Kingma & Welling 2014, appendix B). Shapes: `mean` and
    `log_var` ``(batch, latent)`` -> ``(batch,)`` (any trailing axes are summed).
    """
    mean = as_float(mean, "mean")
    log_var = as_float(log_var, "log_var")
    same_shape(mean, log_var, "mean", "log_var")
    return _kl(mean, log_var)


# ----------------------------------------------------------------------------- VAE
def _scalar(value, name: str, lo: float, hi: float, expected: str) -> Array:
    """`value` as a 0-d float array in [lo, hi) (checked when concrete; a traced value, e.g. a
    KL-annealing schedule inside the step, passes)."""
    try:
        arr = as_float(value, name)
    except TypeError:
        arr = None
    if arr is None or arr.ndim != 0:
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
    if is_concrete(arr) and not lo <= float(arr) < hi:
        raise ValueError(f"{name}: expected {expected}, got {float(arr)!r}")
    return arr


def _split_outputs(outputs) -> tuple[Array, Array, Array, Array | None]:
    if not isinstance(outputs, (tuple, list)) or len(outputs) not in (3, 4):
        got = (f"a {type(outputs).__name__} of {len(outputs)} items"
               if isinstance(outputs, (tuple, list)) else type(outputs).__name__)
        raise ValueError("outputs: expected the VAE's outputs (reconstruction, mean, log_var) or "
                         f"(reconstruction, mean, log_var, decoder_log_var), got {got}")
    recon, mean, log_var = (as_float(a, n) for a, n in
                            zip(outputs[:3], ("reconstruction", "mean", "log_var")))
    decoder_log_var = outputs[3] if len(outputs) == 4 else None
    return recon, mean, log_var, decoder_log_var


@partial(jax.jit, static_argnames="likelihood")
def _negative_elbo(recon, mean, log_var, decoder_log_var, x, beta, likelihood):
    if likelihood == "bernoulli":
        nll = _bce_logits(recon, x)
    else:
        nll = _gaussian_nll(recon, x, decoder_log_var)
    return nll + beta * _kl(mean, log_var)


def vae_loss(outputs, x: ArrayLike, beta: float = 1.0, likelihood: str = "bernoulli") -> Array:
    """The VAE's per-example negative ELBO in nats:
    ``-log p(x|z) + beta * KL(q(z|x) || N(0, I))``, with z drawn once by the model.

    Args:
      outputs: what a VAE's `model.apply` returns, `VAEOutput(reconstruction, mean, log_var,
        decoder_log_var)` (any tuple of these 3 or 4 arrays): the decoder output for the sampled
        z (logits for a Bernoulli decoder, the mean for a Gaussian one) and the encoder's
        ``(batch, latent)`` mean and log-variance.
      x: the clean input, the shape of `reconstruction`.
      beta: the KL weight (1: the ELBO; > 1: the beta-VAE of Higgins et al. 2017); >= 0.
      likelihood: "bernoulli": ``sigmoid_binary_cross_entropy(reconstruction, x)`` (x in [0, 1]);
        "gaussian": ``gaussian_nll(reconstruction, x, decoder_log_var)``, unit variance when
        `decoder_log_var` is None.

    Returns ``(batch,)``. `jdl.models.vae(...).loss(beta)` gives this function with the model's
    likelihood filled in, ready for `make_train_step(model, opt, loss_fn)` with targets x.
    """
    if likelihood not in _LIKELIHOODS:
        raise ValueError(f"likelihood: expected one of {_LIKELIHOODS}, got {likelihood!r}")
    beta = _scalar(beta, "beta", 0.0, math.inf, "a number >= 0 (the KL weight)")
    recon, mean, log_var, decoder_log_var = _split_outputs(outputs)
    x = jnp.asarray(x)
    same_shape(recon, x, "reconstruction", "x")
    same_shape(mean, log_var, "mean", "log_var")
    if mean.ndim < 1 or mean.shape[0] != x.shape[0]:
        raise ValueError(f"mean: expected shape (batch={x.shape[0]}, latent), got {mean.shape}")
    if likelihood == "bernoulli":
        if decoder_log_var is not None:
            raise ValueError("likelihood: the outputs carry a decoder log-variance, so they come "
                             "from a Gaussian decoder; expected likelihood='gaussian', got "
                             "'bernoulli'")
        check_range(x, "x", 0.0, 1.0, "; a Bernoulli decoder needs x in [0, 1]")
    else:
        decoder_log_var = _log_var_like(0.0 if decoder_log_var is None else decoder_log_var,
                                        recon, "decoder_log_var")
    return _negative_elbo(recon, mean, log_var, decoder_log_var, x, beta.astype(recon.dtype),
                          likelihood)


# ----------------------------------------------------------------------------- GAN
@jax.jit
def _discriminator(real: Array, fake: Array, smoothing: Array) -> Array:
    real_loss = -((1.0 - smoothing) * jax.nn.log_sigmoid(real)
                  + smoothing * jax.nn.log_sigmoid(-real))
    return sum_trailing(real_loss) + sum_trailing(-jax.nn.log_sigmoid(-fake))


@partial(jax.jit, static_argnames="non_saturating")
def _generator(fake: Array, non_saturating: bool) -> Array:
    if non_saturating:
        return sum_trailing(-jax.nn.log_sigmoid(fake))
    return sum_trailing(jax.nn.log_sigmoid(-fake))


def gan_discriminator_loss(real_logits: ArrayLike, fake_logits: ArrayLike, *,
                           label_smoothing: float = 0.0) -> Array:
    """The discriminator's loss per example pair: ``-log D(x) - log(1 - D(G(z)))``, D = sigmoid
    of the logit (Goodfellow et al. 2014: D maximises ``log D(x) + log(1 - D(G(z)))``).

    `label_smoothing` s is one-sided (Salimans et al. 2016): real targets become ``1 - s``, the
    real term ``-(1 - s) log D(x) - s log(1 - D(x))``; fake targets stay 0. In [0, 1).
    Both logit arrays have the same shape, ``(batch,)`` or ``(batch, 1)`` (one real and one
    generated example per row) -> ``(batch,)``; its batch mean is the sum of the two
    expectations of the paper's value function, with the sign flipped.
    """
    real_logits = as_float(real_logits, "real_logits")
    fake_logits = as_float(fake_logits, "fake_logits")
    same_shape(real_logits, fake_logits, "real_logits", "fake_logits")
    smoothing = _scalar(label_smoothing, "label_smoothing", 0.0, 1.0,
                        "a number in [0, 1) (real targets become 1 - label_smoothing)")
    return _discriminator(real_logits, fake_logits, smoothing.astype(real_logits.dtype))


def gan_generator_loss(fake_logits: ArrayLike, *, non_saturating: bool = True) -> Array:
    """The generator's loss per example, from the discriminator's logits on G(z).

    * ``non_saturating=True`` (default): ``-log D(G(z))``, the heuristic of Goodfellow et al.
      2014, section 3: same fixed point, but strong gradients early in training, when D rejects
      the samples with confidence and ``log(1 - D(G(z)))`` saturates.
    * ``non_saturating=False``: the minimax loss ``log(1 - D(G(z)))``, which G minimises.

    Shapes ``(batch,)`` or ``(batch, 1)`` -> ``(batch,)``.
    """
    fake_logits = as_float(fake_logits, "fake_logits")
    return _generator(fake_logits, bool(non_saturating))
