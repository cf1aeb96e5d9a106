"""The variational autoencoder (Kingma & Welling 2014; *Engineering Deep Learning*,
"Architectures: Variational Autoencoders"; Salakhutdinov, "Statistical Generative Models") and
its conditional form (Sohn et al. 2015: Salakhutdinov's conditional generative model p(x | y)).

How the VAE fits the Layer contract: `vae.model.apply(params, state, x, key=k, train=True)`
returns `(VAEOutput(reconstruction, mean, log_var, decoder_log_var), state)`, an ordinary
pytree. The encoder gives q(z|x) = N(mean, diag(exp(log_var))); the model draws
z = mean + exp(log_var / 2) * eps, eps ~ N(0, I) from `fold_in(k, 1)` (the reparameterization:
z is a differentiable function of the parameters), and decodes z. `losses.vae_loss(outputs, x)`
turns the outputs into the per-example negative ELBO, so the usual
`make_train_step(vae.model, opt, vae.loss())` trains it with targets x. With `train=False`
z = mean (no noise, no key needed): deterministic reconstructions and codes, and a
reconstruction term evaluated at the mean, an optimistic estimate of E_q[-log p(x|z)].
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp

from jdl import losses, nn
from jdl.checks import check_key
from jdl.models._autoencoder import _image_shape, _sizes

LIKELIHOODS = ("bernoulli", "gaussian")


class VAEOutput(NamedTuple):
    """What `VAE.model` returns: `reconstruction` (the decoder output for the sampled z, the
    input's shape: logits for a Bernoulli decoder, the mean for a Gaussian one), the encoder's
    `mean` and `log_var` (batch, latent), and `decoder_log_var` (Gaussian decoders: log of the
    pixel variance, shape (batch, 1, ..., 1); Bernoulli: None)."""

    reconstruction: jax.Array
    mean: jax.Array
    log_var: jax.Array
    decoder_log_var: jax.Array | None = None


def _labels_input(num_classes: int) -> nn.Layer:
    """Layer `(x, labels) -> concat([flatten(x), one_hot(labels)])`; labels are class indices
    (batch,) or one-hot rows (batch, num_classes). `init` takes the shape of x."""

    def init(key, input_shape):
        shape = tuple(int(d) for d in input_shape)
        return (shape[0], math.prod(shape[1:]) + num_classes), {}, {}

    def apply(params, state, x, *, key=None, train=False):
        if not (isinstance(x, (tuple, list)) and len(x) == 2):
            raise ValueError(f"vae: a conditional VAE (num_classes={num_classes}) expected the "
                             f"pair (x, labels), got {type(x).__name__}")
        values, labels = jnp.asarray(x[0]), jnp.asarray(x[1])
        flat = values.reshape(values.shape[0], -1)
        if labels.shape == (values.shape[0],) and jnp.issubdtype(labels.dtype, jnp.integer):
            labels = jax.nn.one_hot(labels, num_classes, dtype=flat.dtype)
        elif labels.shape != (values.shape[0], num_classes):
            raise ValueError(f"labels: expected class indices of shape ({values.shape[0]},) or "
                             f"one-hot rows ({values.shape[0]}, {num_classes}), got "
                             f"{labels.dtype} {labels.shape}")
        return jnp.concatenate([flat, labels.astype(flat.dtype)], axis=1), state

    return nn.Layer(init, apply, "with_labels")


def _split_pair(latent: int) -> nn.Layer:
    """(batch, 2 * latent) -> the pair (mean, log_var); the declared shape is each half's."""

    def init(key, input_shape):
        return (input_shape[0], latent), {}, {}

    def apply(params, state, x, *, key=None, train=False):
        return (x[:, :latent], x[:, latent:]), state

    return nn.Layer(init, apply, "split_mean_log_var")


def _mlp_body(sizes: Sequence[int], flatten: bool) -> nn.Layer:
    layers: list = [("flatten", nn.Flatten())] if flatten else []
    for i, width in enumerate(sizes):
        layers += [(f"dense_{i}", nn.Dense(width, w_init="he")), (f"relu_{i}", nn.Relu())]
    return nn.serial(*layers)


def gaussian_encoder(body: nn.Layer, latent_size: int, num_classes: int | None = None
                     ) -> nn.Layer:
    """`x -> (mean, log_var)`, each (batch, latent_size): `body`, then two Dense heads.
    Conditional (`num_classes`): the input is the pair (x, labels) and `body` sees the flat
    vector `[x, one_hot(labels)]`. Paths: `input`, `body/...`, `heads/mean`, `heads/log_var`."""
    layers: list = [("input", _labels_input(num_classes))] if num_classes else []
    heads = nn.parallel(("mean", nn.Dense(latent_size)), ("log_var", nn.Dense(latent_size)))
    layers += [("body", body), ("heads", heads), ("split", _split_pair(latent_size))]
    return nn.serial(*layers)


class VAE(NamedTuple):
    """A VAE: `encoder` (x -> (mean, log_var)), `decoder` (z -> reconstruction; conditional:
    (z, labels) -> ...), `model` (x -> VAEOutput) and its configuration."""

    encoder: nn.Layer
    decoder: nn.Layer
    model: nn.Layer
    latent_size: int
    likelihood: str
    image_shape: tuple[int, ...]
    num_classes: int | None = None

    def loss(self, beta: float = 1.0) -> Callable:
        """`(outputs, x) -> (batch,)` negative ELBO: `losses.vae_loss` with this likelihood."""
        if not (isinstance(beta, (int, float)) and beta >= 0):
            raise ValueError(f"beta: expected a number >= 0 (the KL weight), got {beta!r}")
        return partial(losses.vae_loss, beta=beta, likelihood=self.likelihood)

    def encode(self, params, x, *, state=None):
        """The pair (mean, log_var) of q(z|x), evaluation mode (x is (x, labels) if conditional)."""
        state = {} if state is None else state
        return self.encoder.apply(params["encoder"], state.get("encoder", {}), x)[0]

    def decode(self, params, z, *, labels=None, state=None) -> jax.Array:
        """E[x | z], evaluation mode: pixel probabilities sigmoid(logits) (Bernoulli) or the
        mean (Gaussian), (n, *image_shape). `z` (n, latent_size); `labels` (n,) if conditional."""
        z = jnp.asarray(z)
        if z.ndim != 2 or z.shape[1] != self.latent_size:
            raise ValueError(f"z: expected shape (n, latent_size={self.latent_size}), got "
                             f"{z.shape}")
        if self.num_classes:
            if labels is None:
                raise ValueError(f"labels: a conditional VAE (num_classes={self.num_classes}) "
                                 f"expected labels of shape ({z.shape[0]},), got None")
            z = (z, labels)
        state = {} if state is None else state
        out, _ = self.decoder.apply(params["decoder"], state.get("decoder", {}), z)
        return jax.nn.sigmoid(out) if self.likelihood == "bernoulli" else out

    def sample(self, params, key, n: int, *, labels=None, state=None) -> jax.Array:
        """`decode(params, z)` for z ~ N(0, I): n new examples (their means, not pixel draws)."""
        if not (isinstance(n, int) and n > 0):
            raise ValueError(f"n: expected a positive int, got {n!r}")
        check_key(key)
        z = jax.random.normal(key, (n, self.latent_size))
        return self.decode(params, z, labels=labels, state=state)


def _check(latent_size, likelihood, decoder_variance, num_classes) -> None:
    if not (isinstance(latent_size, int) and latent_size > 0):
        raise ValueError(f"vae: expected latent_size to be a positive int, got {latent_size!r}")
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"vae: expected likelihood in {LIKELIHOODS}, got {likelihood!r}")
    if likelihood == "bernoulli" and decoder_variance != 1.0:
        raise ValueError(f"vae: decoder_variance is for likelihood='gaussian'; expected 1.0 with "
                         f"'bernoulli', got {decoder_variance!r}")
    if not (decoder_variance == "learned" or (isinstance(decoder_variance, (int, float))
                                              and decoder_variance > 0)):
        raise ValueError(f"vae: expected decoder_variance to be a number > 0 or 'learned', got "
                         f"{decoder_variance!r}")
    if num_classes is not None and not (isinstance(num_classes, int) and num_classes > 1):
        raise ValueError(f"vae: expected num_classes to be None or an int > 1, got "
                         f"{num_classes!r}")


def vae(latent_size: int = 20, hidden: Sequence[int] = (400,), *,
        image_shape: Sequence[int] = (28, 28, 1), likelihood: str = "bernoulli",
        decoder_variance: float | str = 1.0, num_classes: int | None = None,
        encoder_body: nn.Layer | None = None, decoder_body: nn.Layer | None = None) -> VAE:
    """A VAE with a Gaussian encoder q(z|x) and a Bernoulli or Gaussian decoder p(x|z).

    Default networks (Kingma & Welling's MLPs, with ReLU): encoder Flatten, Dense `hidden`,
    then the heads Dense(latent_size) for the mean and for the log-variance; decoder Dense
    `hidden` reversed, Dense(prod(image_shape)), Reshape(image_shape). `encoder_body` (x ->
    features, the heads are added) and `decoder_body` (z -> image_shape) replace them.

    Args:
      latent_size: the dimension of z.
      likelihood: "bernoulli" (x in [0, 1], the decoder gives logits) or "gaussian" (the decoder
        gives the mean).
      decoder_variance: Gaussian decoders only: the fixed pixel variance (1.0: the loss is
        half the squared error plus a constant), or "learned": one scalar log-variance in
        `params["decoder_log_var"]`, learned with the rest (Rybkin et al. 2021); a per-pixel
        one would let always-black pixels drive their variance, and the loss, to -infinity.
      num_classes: a conditional VAE: `model` and `encoder` take the pair (x, labels), `decoder`
        the pair (z, labels); one_hot(labels) is concatenated to the flattened x and to z.

    Returns a `VAE`; `model.init(key, (batch, *image_shape))` raises a ValueError naming
    `input_shape` when the decoder's output shape differs from it.
    """
    _check(latent_size, likelihood, decoder_variance, num_classes)
    image_shape = _image_shape(image_shape, "vae", "image_shape")
    hidden = _sizes(hidden, "hidden", "vae", allow_empty=True)
    if encoder_body is None:
        encoder_body = _mlp_body(hidden, flatten=not num_classes)
    if decoder_body is None:
        decoder_body = nn.serial(("hidden", _mlp_body(tuple(reversed(hidden)), flatten=False)),
                                 ("output", nn.Dense(math.prod(image_shape))),
                                 ("reshape", nn.Reshape(image_shape)))
    encoder = gaussian_encoder(encoder_body, latent_size, num_classes)
    decoder = decoder_body if not num_classes else nn.serial(
        ("input", _labels_input(num_classes)), ("body", decoder_body))
    model = _vae_model(encoder, decoder, latent_size, likelihood, decoder_variance, num_classes)
    return VAE(encoder, decoder, model, latent_size, likelihood, image_shape, num_classes)


def _vae_model(encoder, decoder, latent_size, likelihood, decoder_variance, num_classes):
    learned = likelihood == "gaussian" and decoder_variance == "learned"

    def init(key, input_shape):
        shape = tuple(int(d) for d in input_shape)
        z_shape, enc_p, enc_s = encoder.init(jax.random.fold_in(key, 0), shape)
        out, dec_p, dec_s = decoder.init(jax.random.fold_in(key, 2), z_shape)
        if tuple(out) != shape:
            raise ValueError(f"vae: the decoder does not match the encoder's input: expected its "
                             f"output shape to be input_shape {shape}, got {tuple(out)}; build "
                             f"the VAE with image_shape={shape[1:]} or a matching decoder_body")
        params: dict[str, Any] = {"encoder": enc_p, "decoder": dec_p}
        if learned:
            params["decoder_log_var"] = jnp.zeros((), jnp.float32)
        state = {name: s for name, s in (("encoder", enc_s), ("decoder", dec_s)) if s}
        return shape, params, state

    def apply(params, state, x, *, key=None, train=False):
        if train and key is None:
            raise ValueError("vae: train=True needs a random key for z = mean + sigma * eps; call "
                             "apply(params, state, x, key=jax.random.key(seed), train=True), or "
                             "pass train=False (z = mean)")
        fold = (lambda i: None) if key is None else (lambda i: jax.random.fold_in(key, i))
        (mean, log_var), enc_s = encoder.apply(params["encoder"], state.get("encoder", {}), x,
                                               key=fold(0), train=train)
        z = mean
        if train:
            nn.note_key(fold(1), "vae")
            eps = jax.random.normal(fold(1), mean.shape, mean.dtype)
            z = mean + jnp.exp(0.5 * log_var) * eps
        recon, dec_s = decoder.apply(params["decoder"], state.get("decoder", {}),
                                     (z, x[1]) if num_classes else z, key=fold(2), train=train)
        decoder_log_var = None
        if likelihood == "gaussian":
            lv = params["decoder_log_var"] if learned else jnp.log(float(decoder_variance))
            decoder_log_var = jnp.broadcast_to(jnp.asarray(lv, recon.dtype),
                                               (recon.shape[0],) + (1,) * (recon.ndim - 1))
        new_state = {name: s for name, s in (("encoder", enc_s), ("decoder", dec_s)) if s}
        return VAEOutput(recon, mean, log_var, decoder_log_var), new_state

    return nn.Layer(init, apply, "vae", (("encoder", encoder), ("decoder", decoder)))
