"""Generative losses: reconstruction, the Gaussian KL (closed form and Monte Carlo), the VAE's
negative ELBO, and the GAN losses against hand computations and optax."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jdl import losses

RNG = np.random.default_rng(0)


def _normal(*shape, scale=1.0):
    return (scale * RNG.normal(size=shape)).astype(np.float32)


def _np_log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


# ----------------------------------------------------------------------------- reconstruction
def test_sum_squared_error_is_twice_quadratic_and_sums_all_pixels():
    a, y = RNG.normal(size=(3, 4, 4, 1)), RNG.normal(size=(3, 4, 4, 1))
    got = losses.sum_squared_error(a, y)
    np.testing.assert_allclose(got, ((a - y) ** 2).sum(axis=(1, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(got, 2 * losses.quadratic(a, y), rtol=1e-5)
    assert losses.get("sse") is losses.sum_squared_error


def test_gaussian_nll_matches_the_density_by_hand():
    m, x = RNG.normal(size=(2, 5)), RNG.normal(size=(2, 5))
    for log_var in (0.0, np.log(0.3) * np.ones((2, 1)), RNG.normal(size=(2, 5))):
        var = np.exp(np.broadcast_to(log_var, x.shape))
        want = (0.5 * np.log(2 * np.pi * var) + (x - m) ** 2 / (2 * var)).sum(axis=1)
        np.testing.assert_allclose(losses.gaussian_nll(m, x, log_var), want, rtol=1e-5)
    np.testing.assert_allclose(losses.gaussian_nll(m, x),
                               losses.quadratic(m, x) + 5 * 0.5 * math.log(2 * math.pi), rtol=1e-5)
    with pytest.raises(ValueError, match=r"log_var: expected a scalar or a shape of rank 2"):
        losses.gaussian_nll(m, x, np.zeros((5,)))


# ----------------------------------------------------------------------------- KL
def test_gaussian_kl_equals_the_closed_form_by_hand():
    mean, log_var = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    want = 0.5 * (mean ** 2 + np.exp(log_var) - log_var - 1).sum(axis=1)
    np.testing.assert_allclose(losses.gaussian_kl(mean, log_var), want, rtol=1e-5)
    np.testing.assert_allclose(losses.gaussian_kl(np.zeros((2, 3)), np.zeros((2, 3))), 0.0)


def test_gaussian_kl_agrees_with_a_monte_carlo_estimate():
    """KL(q || p) = E_q[log q(z) - log p(z)], estimated with 10^5 draws z ~ q: the closed form
    lies within 3 standard errors of the sample mean (fails by chance with probability ~0.3%
    per row; the seed is fixed)."""
    mean, log_var = np.array([[0.5, -1.0, 0.2]]), np.array([[-0.7, 0.4, 0.0]])
    std = np.exp(0.5 * log_var)
    eps = np.random.default_rng(1).normal(size=(100_000, 3))
    z = mean + std * eps
    log_q = (-0.5 * eps ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)).sum(axis=1)
    log_p = (-0.5 * z ** 2 - 0.5 * np.log(2 * np.pi)).sum(axis=1)
    d = log_q - log_p
    se = d.std(ddof=1) / math.sqrt(d.size)
    kl = float(losses.gaussian_kl(mean, log_var)[0])
    assert abs(d.mean() - kl) < 3 * se, (d.mean(), kl, se)


# ----------------------------------------------------------------------------- VAE loss
def _outputs(batch=3, shape=(2, 2, 1), latent=4):
    recon = RNG.normal(size=(batch, *shape))
    return recon, RNG.normal(size=(batch, latent)), RNG.normal(size=(batch, latent))


def test_vae_loss_is_reconstruction_nll_plus_beta_kl():
    recon, mean, log_var = _outputs()
    x = RNG.uniform(size=recon.shape)
    kl = losses.gaussian_kl(mean, log_var)
    bce = losses.sigmoid_binary_cross_entropy(recon, x)
    for beta in (0.0, 1.0, 4.0):
        np.testing.assert_allclose(losses.vae_loss((recon, mean, log_var), x, beta), bce + beta * kl,
                                   rtol=1e-5)
    nll = losses.gaussian_nll(recon, x, np.log(0.5))
    lv = np.full((3, 1, 1, 1), np.log(0.5))
    np.testing.assert_allclose(losses.vae_loss((recon, mean, log_var, lv), x, likelihood="gaussian"),
                               nll + kl, rtol=1e-5)
    np.testing.assert_allclose(losses.vae_loss((recon, mean, log_var), x, likelihood="gaussian"),
                               losses.gaussian_nll(recon, x) + kl, rtol=1e-5)


def test_vae_loss_bad_inputs_name_the_argument():
    recon, mean, log_var = _outputs()
    x = RNG.uniform(size=recon.shape)
    with pytest.raises(ValueError, match=r"beta: expected a number >= 0 .*got -1"):
        losses.vae_loss((recon, mean, log_var), x, beta=-1.0)
    with pytest.raises(ValueError, match=r"likelihood: expected one of"):
        losses.vae_loss((recon, mean, log_var), x, likelihood="poisson")
    with pytest.raises(ValueError, match=r"outputs: expected the VAE's outputs"):
        losses.vae_loss(recon, x)
    with pytest.raises(ValueError, match=r"x: expected shape \(3, 2, 2, 1\)"):
        losses.vae_loss((recon, mean, log_var), x[:, :1])
    with pytest.raises(ValueError, match=r"log_var: expected shape \(3, 4\)"):
        losses.vae_loss((recon, mean, log_var[:, :2]), x)
    with pytest.raises(ValueError, match=r"expected likelihood='gaussian'"):
        losses.vae_loss((recon, mean, log_var, np.zeros((3, 1, 1, 1))), x)
    with pytest.raises(ValueError, match=r"x: expected values in \[0, 1\]"):
        losses.vae_loss((recon, mean, log_var), x + 1.0)


def test_vae_loss_takes_a_traced_beta():
    recon, mean, log_var = _outputs()
    x = RNG.uniform(size=recon.shape)
    f = jax.jit(lambda b: losses.vae_loss((recon, mean, log_var), x, b))
    np.testing.assert_allclose(f(2.0), losses.vae_loss((recon, mean, log_var), x, 2.0), rtol=1e-6)


# ----------------------------------------------------------------------------- GAN
def test_discriminator_loss_by_hand_and_with_optax():
    real, fake = _normal(5, 1, scale=3), _normal(5, 1, scale=3)
    want = (-_np_log_sigmoid(real) - _np_log_sigmoid(-fake))[:, 0]  # -log D(x) - log(1 - D(G(z)))
    got = losses.gan_discriminator_loss(real, fake)
    assert got.shape == (5,)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    ox = (optax.sigmoid_binary_cross_entropy(real, jnp.ones_like(real))
          + optax.sigmoid_binary_cross_entropy(fake, jnp.zeros_like(fake)))[:, 0]
    np.testing.assert_allclose(got, ox, rtol=1e-5)


def test_one_sided_label_smoothing_softens_only_the_real_targets():
    real, fake = _normal(6), _normal(6)
    s = 0.1
    want = (-(1 - s) * _np_log_sigmoid(real) - s * _np_log_sigmoid(-real)
            - _np_log_sigmoid(-fake))
    got = losses.gan_discriminator_loss(real, fake, label_smoothing=s)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    ox = (optax.sigmoid_binary_cross_entropy(real, jnp.full_like(real, 1 - s))
          + optax.sigmoid_binary_cross_entropy(fake, jnp.zeros_like(fake)))
    np.testing.assert_allclose(got, ox, rtol=1e-5)


def test_generator_losses_by_hand_and_with_optax():
    fake = _normal(4, 1, scale=3)
    ns = losses.gan_generator_loss(fake)
    np.testing.assert_allclose(ns, -_np_log_sigmoid(fake)[:, 0], rtol=1e-5)
    np.testing.assert_allclose(ns, optax.sigmoid_binary_cross_entropy(fake, 1.0)[:, 0], rtol=1e-5)
    mm = losses.gan_generator_loss(fake, non_saturating=False)
    np.testing.assert_allclose(mm, np.log1p(-1 / (1 + np.exp(-fake)))[:, 0], rtol=1e-5)
    np.testing.assert_allclose(mm, -optax.sigmoid_binary_cross_entropy(fake, 0.0)[:, 0], rtol=1e-5)


def test_non_saturating_loss_keeps_its_gradient_where_minimax_saturates():
    """Early in training D rejects samples (logit << 0): d/dl log(1 - s(l)) = -s(l) ~ 0, while
    d/dl -log s(l) = s(l) - 1 ~ -1 (Goodfellow et al. 2014, section 3)."""
    logit = jnp.array([-8.0])
    g_mm = jax.grad(lambda l: losses.gan_generator_loss(l, non_saturating=False).sum())(logit)
    g_ns = jax.grad(lambda l: losses.gan_generator_loss(l).sum())(logit)
    assert abs(float(g_mm[0])) < 1e-3 and float(g_ns[0]) < -0.99


def test_gan_losses_are_finite_for_extreme_logits():
    big = jnp.array([-1000.0, 1000.0])
    assert np.isfinite(losses.gan_discriminator_loss(big, big)).all()
    assert np.isfinite(losses.gan_generator_loss(big)).all()
    assert np.isfinite(losses.gan_generator_loss(big, non_saturating=False)).all()
    assert np.isfinite(jax.grad(lambda l: losses.gan_generator_loss(l).sum())(big)).all()


def test_gan_loss_bad_inputs():
    with pytest.raises(ValueError, match=r"label_smoothing: expected a number in \[0, 1\)"):
        losses.gan_discriminator_loss(np.zeros(2), np.zeros(2), label_smoothing=1.0)
    with pytest.raises(ValueError, match=r"fake_logits: expected shape \(2,\)"):
        losses.gan_discriminator_loss(np.zeros(2), np.zeros(3))
