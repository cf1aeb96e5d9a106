"""Two-player training: each half-step changes only its own player (bit for bit), the step runs
in `fit` (history of both losses), checkpoints resume exactly, and the fixed noise batch gives
progress pictures. (One step per call: a K-step chunk of two players compiles slowly on CPU.)"""
from functools import partial

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jdl import nn, train

LATENT, SHAPE = 4, (1, 6)


def players():
    generator = nn.serial(nn.Dense(8), nn.BatchNorm(), nn.Relu(), nn.Dense(6), nn.Tanh())
    discriminator = nn.serial(nn.Dense(8), nn.LeakyRelu(), nn.Dropout(0.1), nn.Dense(1))
    return generator, discriminator


def bce_d(real, fake):          # -log D(x) - log(1 - D(G(z))), written out by hand
    return -jax.nn.log_sigmoid(real) - jax.nn.log_sigmoid(-fake)


def bce_g(fake):                # -log D(G(z)), the non-saturating generator loss
    return -jax.nn.log_sigmoid(fake)


G, D = players()   # built once: their init programs are compiled once (jdl.compile_cache)
SMALL = (nn.Dense(6), nn.Dense(1))   # for fit: the two-player step compiles slowly on a CPU


def start(seed=0, pair=(G, D)):
    g, d = pair
    return g, d, train.init_gan_state(g, d, optax.adam(1e-2), optax.adam(1e-2),
                                      jax.random.key(seed), latent_dim=LATENT, image_shape=SHAPE)


def test_each_half_step_changes_only_its_own_player():
    g, d, gs = start()
    x = jnp.asarray(np.random.default_rng(0).normal(size=(16, 6)), jnp.float32)
    z_d, z_g = train.gan_noise(gs, 16, LATENT)
    d_step = jax.jit(partial(train.discriminator_step, g, d, optax.adam(1e-2), bce_d))
    g_step = jax.jit(partial(train.generator_step, g, d, optax.adam(1e-2), bce_g))
    after_d, logs = d_step(gs, x, z_d)
    chex.assert_trees_all_equal(after_d.generator, gs.generator)        # G untouched, BN too
    assert int(after_d.discriminator.step) == 1 and 0 < float(logs["d_real"]) < 1
    assert not np.array_equal(after_d.discriminator.params["dense_0"]["w"],
                              gs.discriminator.params["dense_0"]["w"])
    after_g, logs = g_step(after_d, z_g)
    chex.assert_trees_all_equal(after_g.discriminator, after_d.discriminator)   # D untouched
    assert int(after_g.generator.step) == 1 and np.isfinite(float(logs["g_loss"]))
    assert not np.array_equal(after_g.generator.state["batch_norm_0"]["mean"],
                              gs.generator.state["batch_norm_0"]["mean"])


def test_the_losses_are_the_gan_objectives_by_hand():
    g, d, gs = start()
    x = jnp.ones((4, 6))
    z_d, _ = train.gan_noise(gs, 4, LATENT)
    _, logs = jax.jit(partial(train.discriminator_step, g, d, optax.sgd(0.0), bce_d))(gs, x, z_d)
    fakes = g.apply(gs.generator.params, gs.generator.state, z_d, train=True)[0]
    dk = train.dropout_key(gs.discriminator.key, 0)
    real = d.apply(gs.discriminator.params, {}, x, key=jax.random.fold_in(dk, 0), train=True)[0]
    fake = d.apply(gs.discriminator.params, {}, fakes, key=jax.random.fold_in(dk, 1),
                   train=True)[0]
    p_real, p_fake = jax.nn.sigmoid(real[:, 0]), jax.nn.sigmoid(fake[:, 0])
    want = np.mean(-np.log(p_real) - np.log(1 - p_fake))
    np.testing.assert_allclose(float(logs["d_loss"]), want, rtol=1e-5)
    np.testing.assert_allclose(float(logs["d_fake"]), np.mean(p_fake), rtol=1e-5)


def test_fit_trains_both_players_and_resumes_exactly(tmp_path):
    x = np.random.default_rng(1).normal(0.5, 0.2, size=(64, 6)).astype(np.float32)
    y = np.zeros(64, np.int32)
    g, d, gs = start(pair=SMALL)
    step = train.make_gan_step(g, d, optax.adam(1e-2), optax.adam(1e-2), latent_dim=LATENT,
                               d_loss=bce_d, g_loss=bce_g)
    z = jax.random.normal(jax.random.key(9), (5, LATENT))
    pictures = train.SampleGrid(g, z, every=2)
    full, history = train.fit(gs, step, (x, y), epochs=4, batch_size=16, steps_per_call=1,
                              verbose=0, callbacks=[pictures])
    assert {"loss", "d_loss", "g_loss", "d_real", "d_fake"} <= set(history)
    np.testing.assert_allclose(history["loss"], np.add(history["d_loss"], history["g_loss"]),
                               rtol=1e-5)
    assert int(full.step) == 16 and int(full.generator.step) == int(full.discriminator.step) == 16
    assert [e for e, _ in pictures.samples] == [1, 3] and pictures.samples[0][1].shape == (5, 6)
    class Crash(train.Callback):
        def on_epoch_end(self, epoch, logs, ts):
            if epoch == 1:
                raise RuntimeError("crash")

    _, _, first = start(pair=SMALL)
    with pytest.raises(RuntimeError, match="crash"):      # after epoch 2's checkpoint
        train.fit(first, step, (x, y), epochs=4, batch_size=16, steps_per_call=1, verbose=0,
                  callbacks=[Crash()], checkpoint_dir=tmp_path)
    _, _, again = start(pair=SMALL)
    resumed, h = train.fit(again, step, (x, y), epochs=4, batch_size=16, steps_per_call=1,
                           verbose=0, checkpoint_dir=tmp_path)
    assert len(h["loss"]) == 2                                  # epochs 3 and 4 only
    chex.assert_trees_all_equal(jax.random.key_data(resumed.key), jax.random.key_data(full.key))
    chex.assert_trees_all_equal((resumed.generator.params, resumed.discriminator.params),
                                (full.generator.params, full.discriminator.params))


def test_bad_players_get_clear_errors():
    g, d = players()
    with pytest.raises(ValueError, match=r"generator: expected outputs of shape \(batch, \(7,\)"):
        train.init_gan_state(g, d, optax.sgd(0.1), optax.sgd(0.1), jax.random.key(0),
                             latent_dim=LATENT, image_shape=(1, 7))
    with pytest.raises(ValueError, match="discriminator: expected one logit per image"):
        train.init_gan_state(g, nn.Dense(3), optax.sgd(0.1), optax.sgd(0.1), jax.random.key(0),
                             latent_dim=LATENT, image_shape=SHAPE)
    with pytest.raises(ValueError, match="latent_dim: expected a positive int, got 0"):
        train.make_gan_step(g, d, optax.sgd(0.1), optax.sgd(0.1), latent_dim=0)
    with pytest.raises(ValueError, match="every: expected a positive int"):
        train.SampleGrid(g, jnp.zeros((2, LATENT)), every=0)
