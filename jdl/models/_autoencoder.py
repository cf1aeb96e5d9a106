"""Autoencoders (*Engineering Deep Learning*, "Autoencoders"; Loo, "Autoencoders", "Denoising"):
an encoder that "performs dimensionality reduction and creates a latent space" and a decoder
that "reconstructs the input using the latent space", trained to output their input.

    ae = dense_autoencoder((256, 32))            # Autoencoder(encoder, decoder, model)
    step = train.make_train_step(ae.model, optax.adam(1e-3), losses.sigmoid_binary_cross_entropy)
    ts, _ = train.fit(ts, step, (x, x), ...)     # the target is the input
    codes, _ = ae.encoder.apply(ts.params["encoder"], {}, x)        # (n, 32): the latent space

`ae.encoder` and `ae.decoder` are ordinary Layers; `ae.model` is `serial(encoder, decoder)` (so
the model's params are `{"encoder": ..., "decoder": ...}` and either half can be taken out of
a trained model) whose `init` checks that the reconstruction has the input's shape. Decoders
return logits (pixels in [0, 1]: train with `losses.sigmoid_binary_cross_entropy`, the
Bernoulli negative log-likelihood, or pass `output_activation="sigmoid"` and a squared error).
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp

from jdl import nn
from jdl.checks import check_key

CORRUPTIONS = ("gaussian", "masking", "salt_and_pepper")


class Autoencoder(NamedTuple):
    """`encoder: x -> code`, `decoder: code -> reconstruction` (Layers usable on their own) and
    `model = serial(("encoder", encoder), ("decoder", decoder))`."""

    encoder: nn.Layer
    decoder: nn.Layer
    model: nn.Layer


def _sizes(sizes, name: str, kind: str, allow_empty: bool = False) -> tuple[int, ...]:
    sizes = tuple(sizes)
    if (not sizes and not allow_empty) or not all(isinstance(s, int) and s > 0 for s in sizes):
        raise ValueError(f"{kind}: expected {name} to be a {'' if allow_empty else 'non-empty '}"
                         f"sequence of positive ints, got {sizes!r}")
    return sizes


def _image_shape(shape, kind: str, name: str = "output_shape") -> tuple[int, ...]:
    try:
        shape = tuple(int(d) for d in shape)
    except TypeError:
        shape = ()
    if not shape or min(shape) <= 0:
        raise ValueError(f"{kind}: expected {name} to be the per-example shape of the input, "
                         f"e.g. (28, 28, 1), got {shape!r}")
    return shape


def _reconstructing(encoder: nn.Layer, decoder: nn.Layer, kind: str = "autoencoder") -> nn.Layer:
    """`serial(("encoder", encoder), ("decoder", decoder))` whose `init` raises a ValueError
    naming `input_shape` when the decoder's output shape is not the input shape."""
    inner = nn.serial(("encoder", encoder), ("decoder", decoder))

    def init(key, input_shape):
        out, params, state = inner.init(key, input_shape)
        expected = tuple(int(d) for d in input_shape)
        if tuple(out) != expected:
            raise ValueError(f"{kind}: the decoder must reconstruct the input: expected its output "
                             f"shape to be input_shape {expected}, got {tuple(out)}; build the "
                             f"model with output_shape={expected[1:]}")
        return out, params, state

    return nn.Layer(init, inner.apply, inner.kind, inner.children)


def _activation(linear: bool, activation) -> list:
    return [] if linear else [nn.activation_layer(activation)]


def dense_autoencoder(encoder: Sequence[int] = (256, 32), decoder: Sequence[int] | None = None,
                      *, output_shape: Sequence[int] = (28, 28, 1), activation="relu",
                      linear: bool = False, output_activation=None) -> Autoencoder:
    """A fully connected autoencoder: Flatten, Dense `encoder` sizes (the last is the code),
    then Dense `decoder` sizes (default: the hidden sizes mirrored), Dense(prod(output_shape)),
    Reshape(output_shape).

    Hidden layers use `activation`; the code and the output are linear (logits) unless
    `output_activation` is given. `linear=True` drops every activation: with a squared-error
    loss the optimum then spans the top principal subspace of the (centred) data, so the
    autoencoder is PCA (Baldi & Hornik 1989), the "dimensionality reduction" use; the biases
    take care of the centring. `dense_autoencoder((32,), linear=True)` is that comparison.
    The input width comes from `init`'s input shape.
    """
    kind = "dense_autoencoder"
    encoder = _sizes(encoder, "encoder", kind)
    decoder = tuple(reversed(encoder[:-1])) if decoder is None else _sizes(
        decoder, "decoder", kind, allow_empty=True)
    output_shape = _image_shape(output_shape, kind)
    if linear and output_activation is not None:
        raise ValueError(f"{kind}: linear=True has no activations, got output_activation="
                         f"{output_activation!r}")
    enc: list = [("flatten", nn.Flatten())]
    for i, width in enumerate(encoder):
        enc.append((f"dense_{i}", nn.Dense(width)))
        if i < len(encoder) - 1:
            enc += [(f"act_{i}", a) for a in _activation(linear, activation)]
    dec: list = []
    for i, width in enumerate(decoder):
        dec.append((f"dense_{i}", nn.Dense(width)))
        dec += [(f"act_{i}", a) for a in _activation(linear, activation)]
    dec += [("output", nn.Dense(math.prod(output_shape))), ("reshape", nn.Reshape(output_shape))]
    if output_activation is not None:
        dec.append(("output_activation", nn.activation_layer(output_activation)))
    enc_layer, dec_layer = nn.serial(*enc), nn.serial(*dec)
    return Autoencoder(enc_layer, dec_layer, _reconstructing(enc_layer, dec_layer, kind))


def conv_autoencoder(filters: Sequence[int] = (16, 32), latent: int | None = None, *,
                     output_shape: Sequence[int] = (28, 28, 1), kernel_size: int = 3,
                     activation="relu", linear: bool = False, output_activation=None
                     ) -> Autoencoder:
    """A convolutional autoencoder for images, e.g. 28x28x1.

    Encoder: per width in `filters` a 'SAME' Conv with stride 2 (halving H and W) and the
    activation: (28, 28, 1) -> (14, 14, 16) -> (7, 7, 32) with the defaults; with `latent` an
    int, then Flatten and Dense(latent), a vector code. Decoder: the mirror image with
    ConvTranspose stride 2 (Loo's "Transposed Convolution"), ending with ConvTranspose to
    `output_shape[-1]` channels: logits, or `output_activation`. H and W of `output_shape` must
    be divisible by 2**len(filters). Strided (transposed) convolutions learn their down- and
    upsampling instead of pooling. `linear=True` drops every activation.
    """
    kind = "conv_autoencoder"
    filters = _sizes(filters, "filters", kind)
    h, w, c = _image_shape(output_shape, kind) if len(tuple(output_shape)) == 3 else (0, 0, 0)
    factor = 2 ** len(filters)
    if not h or h % factor or w % factor:
        raise ValueError(f"{kind}: expected output_shape (height, width, channels) with height "
                         f"and width divisible by 2**len(filters) = {factor}, got "
                         f"{tuple(output_shape)!r}")
    if latent is not None and not (isinstance(latent, int) and latent > 0):
        raise ValueError(f"{kind}: expected latent to be None or a positive int, got {latent!r}")
    enc: list = []
    for i, width in enumerate(filters):
        enc.append((f"conv_{i}", nn.Conv(width, kernel_size, 2, w_init="he")))
        enc += [(f"act_{i}", a) for a in _activation(linear, activation)]
    dec: list = []
    small = (h // factor, w // factor, filters[-1])
    if latent is not None:
        enc += [("flatten", nn.Flatten()), ("code", nn.Dense(latent))]
        dec += [("dense", nn.Dense(math.prod(small)))]
        dec += [("act_dense", a) for a in _activation(linear, activation)]
        dec += [("reshape", nn.Reshape(small))]
    ups = list(reversed(filters[:-1]))
    for i, width in enumerate(ups):
        dec.append((f"deconv_{i}", nn.ConvTranspose(width, kernel_size, 2, w_init="he")))
        dec += [(f"act_{i}", a) for a in _activation(linear, activation)]
    dec.append(("output", nn.ConvTranspose(c, kernel_size, 2)))
    if output_activation is not None:
        dec.append(("output_activation", nn.activation_layer(output_activation)))
    enc_layer, dec_layer = nn.serial(*enc), nn.serial(*dec)
    return Autoencoder(enc_layer, dec_layer, _reconstructing(enc_layer, dec_layer, kind))


# ----------------------------------------------------------------------------- denoising
def _check_corruption(corruption, level) -> None:
    if corruption not in CORRUPTIONS:
        raise ValueError(f"corruption: expected one of {CORRUPTIONS} or a function (key, x) -> x, "
                         f"got {corruption!r}")
    hi = math.inf if corruption == "gaussian" else 1.0
    if not (isinstance(level, (int, float)) and 0.0 <= level <= hi):
        what = "a standard deviation >= 0" if corruption == "gaussian" else "a probability in [0, 1]"
        raise ValueError(f"level: expected {what} for {corruption!r} corruption, got {level!r}")


def corrupt(key: jax.Array, x: jax.Array, corruption: str = "gaussian", level: float = 0.1, *,
            low: float = 0.0, high: float = 1.0) -> jax.Array:
    """A corrupted copy of `x` (same shape and dtype), independently per element:

    * "gaussian": ``x + level * N(0, 1)`` (not clipped);
    * "masking": each element set to 0 with probability `level` (no rescaling, unlike dropout:
      Vincent et al. 2008's masking noise);
    * "salt_and_pepper": each element set, with probability `level`, to `low` or `high` with
      equal chance (Vincent et al. 2010).
    """
    check_key(key)
    _check_corruption(corruption, level)
    x = jnp.asarray(x)
    if corruption == "gaussian":
        return x + (level * jax.random.normal(key, x.shape)).astype(x.dtype)
    hit_key, coin_key = jax.random.split(key)
    hit = jax.random.bernoulli(hit_key, level, x.shape)
    if corruption == "masking":
        return jnp.where(hit, jnp.zeros((), x.dtype), x)
    salt = jax.random.bernoulli(coin_key, 0.5, x.shape)
    noise = jnp.where(salt, jnp.asarray(high, x.dtype), jnp.asarray(low, x.dtype))
    return jnp.where(hit, noise, x)


def denoising(model: nn.Layer, corruption: str | Callable = "gaussian", level: float = 0.1, *,
              low: float = 0.0, high: float = 1.0) -> nn.Layer:
    """`model` (an autoencoder) that corrupts its input on the training pass only: a denoising
    autoencoder (Vincent et al. 2008; *Engineering Deep Learning*, "Image Denoising").

        apply(params, state, x, key=k, train=True)  = model.apply(params, state,
                                 corrupt(fold_in(k, 1), x, ...), key=fold_in(k, 0), train=True)
        apply(params, state, x, train=False)        = model.apply(params, state, x)

    The loss still compares the output with the *clean* x: train with targets x,
    `fit(ts, step, (x, x), ...)`, and the model learns to undo the corruption. The corruption
    runs inside the compiled step with the step's key (a fresh draw every step, no corrupted
    copy of the data set), and evaluation sees clean inputs. Built on `nn.training_transform`,
    so params, state and paths are the model's. `corruption` is a name of :func:`corrupt`
    (`level` is its std or probability) or a function `(key, x) -> x` of the same shape.
    To denoise a given noisy image, run the trained model with `train=False` on it.
    """
    if callable(corruption):
        corrupt_fn = corruption
    else:
        _check_corruption(corruption, level)

        def corrupt_fn(key, x):
            return corrupt(key, x, corruption, level, low=low, high=high)

    return nn.augmenting(model, corrupt_fn, name="denoising", argument="corruption")
