"""Two-player training (generative adversarial networks) as a train step for `fit`.

A GAN trains a generator G (noise z -> image) against a discriminator D (image -> logit of
"real") (Goodfellow et al. 2014; the GAN parts of Salakhutdinov's *Deep Learning Essentials*
and Loo's *Deep Learning*):

    D step:  minimise  E_x[-log D(x)] + E_z[-log(1 - D(G(z)))]        (G fixed)
    G step:  minimise  E_z[-log D(G(z))]  (non-saturating; or E_z[log(1 - D(G(z)))])  (D fixed)

The state is two TrainStates, one per player, each with its own parameters, model state,
Optax optimizer state, step count and key, plus the run's step and key:

    gs = init_gan_state(G, D, g_opt, d_opt, jax.random.key(0), latent_dim=64,
                        image_shape=(1, 28, 28, 1))
    step = make_gan_step(G, D, g_opt, d_opt, latent_dim=64)
    gs, history = train.fit(gs, step, (x, y), epochs=10, batch_size=64)

Why a step and not a loop of its own: `fit` already runs K steps per compiled call, shuffles,
checkpoints and resumes (`checkpoint_dir=`), stops on a NaN loss and keeps the trained state
on Ctrl-C; a GAN gets all of it by being one more train step. Each step is one D update on a
real batch and a fake batch, then one G update through the updated D (the alternating scheme
of Goodfellow et al.'s Algorithm 1 with k = 1). Noise is drawn inside the step from
`fold_in(fold_in(key, 2), step)` (2: apart from the dropout and shuffling streams), so a run
is a pure function of its seed and resumes exactly.

Who changes what: the D step updates only the discriminator (G runs in training mode to make
the fakes, but its new batch-norm statistics are dropped and no gradient reaches it); the G
step updates only the generator (D's batch-norm statistics from that pass are dropped too).
`discriminator_step` and `generator_step` are the two halves, pure and testable on their own.
Logs: `d_loss`, `g_loss`, `loss` = their sum (what the NaN guard and the progress bar watch),
`d_real` and `d_fake`, the mean probability D gives real and fake images.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

from jdl import losses
from jdl.nn import Layer
from jdl.train._callbacks import Callback
from jdl.train._state import TrainState, dropout_key, init_train_state


class GANState(NamedTuple):
    """Both players' TrainStates, and the run's step count and key (noise, shuffling)."""

    generator: TrainState
    discriminator: TrainState
    step: Array
    key: Array


def init_gan_state(generator: Layer, discriminator: Layer, g_optimizer: optax.GradientTransformation,
                   d_optimizer: optax.GradientTransformation, key: Array, *, latent_dim: int,
                   image_shape: Sequence[int]) -> GANState:
    """Initialise both players; `image_shape` includes a batch axis, e.g. (1, 28, 28, 1).

    Raises ValueError when the generator's output shape is not `image_shape` (batch aside) or
    the discriminator does not give one logit per image."""
    if not isinstance(latent_dim, int) or latent_dim < 1:
        raise ValueError(f"latent_dim: expected a positive int, got {latent_dim!r}")
    image_shape = tuple(int(d) for d in image_shape)
    g_out = generator.init(jax.random.key(0), (1, latent_dim))[0]
    if tuple(g_out[1:]) != image_shape[1:]:
        raise ValueError(f"generator: expected outputs of shape (batch, {image_shape[1:]}) for "
                         f"image_shape {image_shape}, got {tuple(g_out)}")
    d_out = discriminator.init(jax.random.key(0), (1, *image_shape[1:]))[0]
    if tuple(d_out[1:]) not in ((), (1,)):
        raise ValueError(f"discriminator: expected one logit per image, (batch,) or (batch, 1), "
                         f"got {tuple(d_out)}")
    g_key, d_key, run_key = jax.random.split(key, 3)
    return GANState(init_train_state(generator, g_optimizer, g_key, (1, latent_dim)),
                    init_train_state(discriminator, d_optimizer, d_key, (1, *image_shape[1:])),
                    jnp.zeros((), jnp.int32), run_key)


def noise(gs: GANState, batch_size: int, latent_dim: int) -> tuple[Array, Array]:
    """The step's two noise batches `(z_d, z_g)`, each (batch_size, latent_dim), N(0, I)."""
    k = jax.random.fold_in(jax.random.fold_in(gs.key, 2), gs.step)
    shape = (batch_size, latent_dim)
    return (jax.random.normal(jax.random.fold_in(k, 0), shape),
            jax.random.normal(jax.random.fold_in(k, 1), shape))


def _update(ts: TrainState, optimizer, grads, new_state) -> TrainState:
    updates, opt_state = optimizer.update(grads, ts.opt_state, ts.params)
    return TrainState(optax.apply_updates(ts.params, updates), new_state, opt_state,
                      ts.step + 1, ts.key)


def _logits(y: Array) -> Array:
    return y.reshape(y.shape[0])


def discriminator_step(generator: Layer, discriminator: Layer, d_optimizer, d_loss: Callable,
                       gs: GANState, x: Array, z: Array) -> tuple[GANState, dict]:
    """One D update on the real batch `x` and the fakes G(z); the generator is unchanged."""
    g, d = gs.generator, gs.discriminator
    g_key, d_key = dropout_key(g.key, g.step), dropout_key(d.key, d.step)
    fakes, _ = generator.apply(g.params, g.state, z, key=jax.random.fold_in(g_key, 1), train=True)
    fakes = jax.lax.stop_gradient(fakes)

    def objective(params):
        real, state = discriminator.apply(params, d.state, x, key=jax.random.fold_in(d_key, 0),
                                          train=True)
        fake, state = discriminator.apply(params, state, fakes,
                                          key=jax.random.fold_in(d_key, 1), train=True)
        real, fake = _logits(real), _logits(fake)
        return jnp.mean(d_loss(real, fake)), (state, real, fake)

    (value, (state, real, fake)), grads = jax.value_and_grad(objective, has_aux=True)(d.params)
    logs = {"d_loss": value, "d_real": jnp.mean(jax.nn.sigmoid(real)),
            "d_fake": jnp.mean(jax.nn.sigmoid(fake))}
    return gs._replace(discriminator=_update(d, d_optimizer, grads, state)), logs


def generator_step(generator: Layer, discriminator: Layer, g_optimizer, g_loss: Callable,
                   gs: GANState, z: Array) -> tuple[GANState, dict]:
    """One G update through the current D; the discriminator is unchanged."""
    g, d = gs.generator, gs.discriminator
    g_key, d_key = dropout_key(g.key, g.step), dropout_key(d.key, d.step)

    def objective(params):
        fakes, state = generator.apply(params, g.state, z, key=jax.random.fold_in(g_key, 0),
                                       train=True)
        fake, _ = discriminator.apply(d.params, d.state, fakes, key=jax.random.fold_in(d_key, 2),
                                      train=True)
        return jnp.mean(g_loss(_logits(fake))), state

    (value, state), grads = jax.value_and_grad(objective, has_aux=True)(g.params)
    return gs._replace(generator=_update(g, g_optimizer, grads, state)), {"g_loss": value}


def make_gan_step(generator: Layer, discriminator: Layer, g_optimizer: optax.GradientTransformation,
                  d_optimizer: optax.GradientTransformation, *, latent_dim: int,
                  label_smoothing: float = 0.0, non_saturating: bool = True,
                  d_loss: Callable | None = None, g_loss: Callable | None = None) -> Callable:
    """The jitted, donating GAN train step `step(gs, (x, y)) -> (gs, logs)` for `fit`.

    Default losses: `losses.gan_discriminator_loss(real, fake, label_smoothing=...)` and
    `losses.gan_generator_loss(fake, non_saturating=...)` (per example, from logits); pass
    `d_loss(real_logits, fake_logits)` / `g_loss(fake_logits)` to use others. `y` is ignored.
    """
    if not isinstance(latent_dim, int) or latent_dim < 1:
        raise ValueError(f"latent_dim: expected a positive int, got {latent_dim!r}")
    if d_loss is None:
        d_loss = lambda r, f: losses.gan_discriminator_loss(  # noqa: E731
            r, f, label_smoothing=label_smoothing)
    if g_loss is None:
        g_loss = lambda f: losses.gan_generator_loss(f, non_saturating=non_saturating)  # noqa: E731

    def step(gs: GANState, batch) -> tuple[GANState, dict]:
        x = batch[0]
        z_d, z_g = noise(gs, x.shape[0], latent_dim)
        gs, d_logs = discriminator_step(generator, discriminator, d_optimizer, d_loss, gs, x, z_d)
        gs, g_logs = generator_step(generator, discriminator, g_optimizer, g_loss, gs, z_g)
        logs = {**d_logs, **g_logs, "loss": d_logs["d_loss"] + g_logs["g_loss"]}
        return gs._replace(step=gs.step + 1), logs

    return jax.jit(step, donate_argnums=0)


def generate(generator: Layer, gs: GANState, z: Array) -> Array:
    """Images G(z) in evaluation mode (batch-norm running statistics, no dropout)."""
    g = gs.generator
    return generator.apply(g.params, g.state, z, train=False)[0]


class SampleGrid(Callback):
    """Keeps G(z) of a fixed noise batch `z` after every `every`-th epoch, for progress pictures:
    `.samples` is a list of `(epoch, images as numpy)`."""

    def __init__(self, generator: Layer, z: Any, every: int = 1):
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every: expected a positive int, got {every!r}")
        self.generator, self.z, self.every = generator, jnp.asarray(z), every
        self.samples: list[tuple[int, np.ndarray]] = []

    def on_epoch_end(self, epoch: int, logs: dict, ts: GANState) -> None:
        if (epoch + 1) % self.every == 0:
            self.samples.append((epoch, np.asarray(generate(self.generator, ts, self.z))))
