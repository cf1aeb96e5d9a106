"""Autoencoders: encoder / decoder round trips, the linear autoencoder as PCA, and the
denoising wrapper (corruption on the training pass only, keyed, with the right statistics)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jdl import losses, models, nn
from jdl.train import init_train_state, make_train_step


def _shapes(layer, shape, x=None):
    """Output shape of `init` and of `apply` on zeros, traced only (nothing compiled)."""
    def f(key):
        out, params, state = layer.init(key, shape)
        y, _ = layer.apply(params, state, jnp.zeros(shape) if x is None else x)
        return out, y
    captured = {}

    def g(key):
        out, y = f(key)
        captured["out"] = out
        return y
    y = jax.eval_shape(g, jax.random.key(0))
    return captured["out"], y.shape


def test_dense_autoencoder_round_trip_through_encoder_and_decoder():
    ae = models.dense_autoencoder((16, 4), output_shape=(6, 5, 1))
    x = jax.random.uniform(jax.random.key(1), (3, 6, 5, 1))
    out, params, state = ae.model.init(jax.random.key(0), x.shape)
    assert out == x.shape and set(params) == {"encoder", "decoder"}
    code, _ = ae.encoder.apply(params["encoder"], {}, x)
    assert code.shape == (3, 4)
    recon, _ = ae.decoder.apply(params["decoder"], {}, code)
    np.testing.assert_allclose(ae.model.apply(params, state, x)[0], recon, rtol=1e-6)
    assert [n for n, _ in ae.decoder.children] == ["dense_0", "act_0", "output", "reshape"]


def test_conv_autoencoder_shapes_with_and_without_a_vector_code():
    ae = models.conv_autoencoder((4, 8))
    assert _shapes(ae.encoder, (2, 28, 28, 1))[0] == (2, 7, 7, 8)
    assert _shapes(ae.model, (2, 28, 28, 1)) == ((2, 28, 28, 1), (2, 28, 28, 1))
    ae = models.conv_autoencoder((4, 8), latent=10, output_shape=(32, 32, 3))
    assert _shapes(ae.encoder, (2, 32, 32, 3))[0] == (2, 10)
    assert _shapes(ae.decoder, (2, 10)) == ((2, 32, 32, 3), (2, 32, 32, 3))


def test_a_decoder_that_does_not_reconstruct_the_input_shape_is_a_clear_error():
    ae = models.dense_autoencoder((8, 2))
    with pytest.raises(ValueError, match=r"dense_autoencoder: the decoder must reconstruct the "
                                         r"input: expected its output shape to be input_shape "
                                         r"\(1, 32, 32, 3\), got \(1, 28, 28, 1\)"):
        jax.eval_shape(lambda k: ae.model.init(k, (1, 32, 32, 3))[1], jax.random.key(0))
    with pytest.raises(ValueError, match=r"divisible by 2\*\*len\(filters\) = 4, got \(30, 30, 1\)"):
        models.conv_autoencoder((4, 8), output_shape=(30, 30, 1))
    with pytest.raises(ValueError, match=r"expected encoder to be a non-empty sequence"):
        models.dense_autoencoder(())
    with pytest.raises(ValueError, match=r"linear=True has no activations"):
        models.dense_autoencoder((4,), linear=True, output_activation="sigmoid")


def _pca_autoencoder_params(x, k):
    """The PCA solution written into a linear autoencoder: code U_k^T (x - mu), reconstruction
    mu + U_k U_k^T (x - mu), U_k the top-k principal directions."""
    mu = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mu, full_matrices=False)
    u = vt[:k].T  # (d, k)
    return {"encoder": {"dense_0": {"w": jnp.asarray(u, jnp.float32),
                                    "b": jnp.asarray(-mu @ u, jnp.float32)}},
            "decoder": {"output": {"w": jnp.asarray(u.T, jnp.float32),
                                   "b": jnp.asarray(mu, jnp.float32)}}}


def test_linear_autoencoder_is_affine_and_pca_is_a_stationary_point_of_its_loss():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 2)) @ rng.normal(size=(2, 6)) + 0.1 * rng.normal(size=(64, 6)) + 3.0
    ae = models.dense_autoencoder((2,), output_shape=(6,), linear=True)
    assert {layer.kind for _, layer in ae.decoder.children} == {"dense", "reshape"}
    _, params, state = ae.model.init(jax.random.key(0), (64, 6))
    f = lambda v: ae.model.apply(params, state, v)[0]  # noqa: E731
    a, b = jnp.asarray(x[:4], jnp.float32), jnp.asarray(x[4:8], jnp.float32)
    np.testing.assert_allclose(f(2 * a - b) - f(0 * a), 2 * (f(a) - f(0 * a)) - (f(b) - f(0 * a)),
                               atol=1e-4)
    pca = _pca_autoencoder_params(x, 2)

    def loss(p):
        return jnp.mean(losses.sum_squared_error(ae.model.apply(p, state, x32)[0], x32))
    x32 = jnp.asarray(x, jnp.float32)
    grads = jax.grad(loss)(pca)
    assert max(float(jnp.abs(g).max()) for g in jax.tree.leaves(grads)) < 1e-3
    # the PCA reconstruction error is the sum of the discarded eigenvalues
    s = np.linalg.svd(x - x.mean(0), compute_uv=False)
    np.testing.assert_allclose(float(loss(pca)), (s[2:] ** 2).sum() / 64, rtol=1e-3)
    assert float(loss(params)) > float(loss(pca))


# ----------------------------------------------------------------------------- denoising
def test_corruption_statistics():
    """Each rate is checked on 10^5 pixels within 5 binomial standard errors."""
    n = 100_000
    x = jnp.full((n,), 0.5)
    key = jax.random.key(3)
    for p in (0.1, 0.5):
        masked = np.asarray(models.corrupt(key, x, "masking", p))
        frac = (masked == 0).mean()
        assert abs(frac - p) < 5 * math.sqrt(p * (1 - p) / n), (p, frac)
        assert set(np.unique(masked)) <= {0.0, 0.5}
        sp = np.asarray(models.corrupt(key, x, "salt_and_pepper", p, low=-1.0, high=2.0))
        hit = sp != 0.5
        assert abs(hit.mean() - p) < 5 * math.sqrt(p * (1 - p) / n)
        assert set(np.unique(sp[hit])) == {-1.0, 2.0}
        salt = (sp[hit] == 2.0).mean()
        assert abs(salt - 0.5) < 5 * math.sqrt(0.25 / hit.sum())
    noise = np.asarray(models.corrupt(key, x, "gaussian", 0.3)) - 0.5
    assert abs(noise.mean()) < 5 * 0.3 / math.sqrt(n)
    assert abs(noise.std() - 0.3) < 0.01
    assert models.corrupt(key, x.astype(jnp.bfloat16), "gaussian", 0.3).dtype == jnp.bfloat16


def test_denoising_corrupts_only_on_the_training_pass_and_depends_on_the_key():
    ae = models.dense_autoencoder((8, 3), output_shape=(4, 4, 1))
    dae = models.denoising(ae.model, "masking", 0.5)
    x = jax.random.uniform(jax.random.key(1), (5, 4, 4, 1)) + 0.1
    _, params, state = dae.init(jax.random.key(0), x.shape)
    clean = ae.model.apply(params, state, x)[0]
    np.testing.assert_allclose(dae.apply(params, state, x)[0], clean)
    np.testing.assert_allclose(dae.apply(params, state, x, key=jax.random.key(9))[0], clean)
    k1, k2 = jax.random.key(1), jax.random.key(2)
    y1 = dae.apply(params, state, x, key=k1, train=True)[0]
    assert not np.allclose(y1, clean)
    np.testing.assert_array_equal(y1, dae.apply(params, state, x, key=k1, train=True)[0])
    assert not np.allclose(y1, dae.apply(params, state, x, key=k2, train=True)[0])
    noisy = models.corrupt(jax.random.fold_in(k1, 1), x, "masking", 0.5)
    np.testing.assert_allclose(y1, ae.model.apply(params, state, noisy, train=True)[0], rtol=1e-6)
    with pytest.raises(ValueError, match=r"denoising: train=True needs a random key"):
        dae.apply(params, state, x, train=True)


def test_denoising_trains_against_the_clean_input():
    ae = models.dense_autoencoder((8, 3), output_shape=(4, 4, 1))
    dae = models.denoising(ae.model, lambda k, v: v * 0.0)  # a corruption that erases x
    ts = init_train_state(dae, optax.sgd(0.0), jax.random.key(0), (5, 4, 4, 1))
    step = make_train_step(dae, optax.sgd(0.0), losses.sum_squared_error)
    x = jax.random.uniform(jax.random.key(1), (5, 4, 4, 1))
    recon0 = ae.model.apply(ts.params, ts.state, jnp.zeros_like(x))[0]
    _, logs = step(ts, (x, x))  # ts is donated
    np.testing.assert_allclose(logs["loss"], losses.sum_squared_error(recon0, x).mean(), rtol=1e-5)


def test_denoising_bad_arguments():
    model = nn.Dense(2)
    with pytest.raises(ValueError, match=r"corruption: expected one of \('gaussian', 'masking', "
                                         r"'salt_and_pepper'\) or a function"):
        models.denoising(model, "dropout")
    with pytest.raises(ValueError, match=r"level: expected a probability in \[0, 1\] for "
                                         r"'masking' corruption, got 1.5"):
        models.denoising(model, "masking", 1.5)
    with pytest.raises(ValueError, match=r"level: expected a standard deviation >= 0"):
        models.corrupt(jax.random.key(0), jnp.zeros(2), "gaussian", -0.1)
    with pytest.raises(TypeError, match=r"key: expected one PRNG key"):
        models.corrupt(0, jnp.zeros(2))
