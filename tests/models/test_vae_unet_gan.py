"""The VAE (reparameterization, KL term, ELBO gradient, conditional form, sampling, bad inputs),
the U-Net and DCGAN shapes. Big shapes are traced with `jax.eval_shape` (nothing compiled)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jdl import losses, models, nn

SHAPE = (2, 3, 1)  # a tiny "image" keeps the VAE tests fast


def _vae(**kw):
    kw.setdefault("image_shape", SHAPE)
    v = models.vae(3, (5,), **kw)
    x = jax.random.uniform(jax.random.key(1), (4, *SHAPE))
    _, params, state = v.model.init(jax.random.key(0), x.shape)
    return v, params, state, x


def _traced(f):
    """`f(key)`'s output shapes, traced only."""
    return jax.tree.map(lambda a: a.shape, jax.eval_shape(f, jax.random.key(0)))


# ----------------------------------------------------------------------------- VAE
def test_vae_outputs_and_the_reparameterization():
    v, params, state, x = _vae()
    k = jax.random.key(7)
    out, _ = v.model.apply(params, state, x, key=k, train=True)
    assert isinstance(out, models.VAEOutput) and out.decoder_log_var is None
    assert out.reconstruction.shape == x.shape and out.mean.shape == out.log_var.shape == (4, 3)
    mean, log_var = v.encode(params, x)
    np.testing.assert_allclose(out.mean, mean, rtol=1e-6)
    eps = jax.random.normal(jax.random.fold_in(k, 1), mean.shape)
    z = mean + jnp.exp(0.5 * log_var) * eps
    np.testing.assert_allclose(out.reconstruction, v.decoder.apply(params["decoder"], {}, z)[0],
                               rtol=1e-5, atol=1e-6)
    other, _ = v.model.apply(params, state, x, key=jax.random.key(8), train=True)
    assert not np.allclose(other.reconstruction, out.reconstruction)


def test_vae_evaluation_uses_the_mean_and_needs_no_key():
    v, params, state, x = _vae()
    out, _ = v.model.apply(params, state, x)
    mean, _ = v.encode(params, x)
    np.testing.assert_allclose(out.reconstruction, v.decoder.apply(params["decoder"], {}, mean)[0],
                               rtol=1e-6)
    np.testing.assert_allclose(v.decode(params, mean), jax.nn.sigmoid(out.reconstruction),
                               rtol=1e-6)
    with pytest.raises(ValueError, match=r"vae: train=True needs a random key"):
        v.model.apply(params, state, x, train=True)


def test_vae_kl_term_matches_numpy_and_monte_carlo():
    """The KL inside the VAE's loss, for the encoder's actual q(z|x): closed form by hand, and
    a 10^5-sample Monte-Carlo estimate E_q[log q(z) - log p(z)] within 3 standard errors."""
    v, params, state, x = _vae()
    out, _ = v.model.apply(params, state, x, key=jax.random.key(2), train=True)
    m, lv = np.asarray(out.mean, np.float64), np.asarray(out.log_var, np.float64)
    by_hand = 0.5 * (m ** 2 + np.exp(lv) - lv - 1).sum(axis=1)
    kl = v.loss()(out, x) - losses.sigmoid_binary_cross_entropy(out.reconstruction, x)
    np.testing.assert_allclose(kl, by_hand, rtol=1e-4, atol=1e-5)
    eps = np.random.default_rng(0).normal(size=(100_000, 1, 3))
    z = m + np.exp(0.5 * lv) * eps  # (S, batch, latent)
    d = (-0.5 * eps ** 2 - 0.5 * lv + 0.5 * z ** 2).sum(axis=2)  # log q - log p
    se = d.std(axis=0, ddof=1) / math.sqrt(d.shape[0])
    assert (np.abs(d.mean(axis=0) - by_hand) < 3 * se).all(), (d.mean(axis=0), by_hand, se)


def test_elbo_gradient_through_the_reparameterization_matches_finite_differences():
    """For a fixed key, the sampled negative ELBO is a smooth function of the parameters
    (z = mean + sigma * eps): reverse-mode gradients agree with central differences in float64."""
    v, params, state, x = _vae()
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        x64 = jnp.asarray(x, jnp.float64)
        loss_fn = v.loss(beta=0.5)

        def neg_elbo(p):
            out, _ = v.model.apply(p, state, x64, key=jax.random.key(3), train=True)
            return jnp.mean(loss_fn(out, x64))
        check_grads(jax.jit(neg_elbo), (p64,), order=1, modes=("rev",), eps=1e-6, atol=1e-6,
                    rtol=1e-6)


def test_gaussian_decoder_fixed_and_learned_variance():
    v, params, state, x = _vae(likelihood="gaussian", decoder_variance=0.25)
    out, _ = v.model.apply(params, state, x)
    np.testing.assert_allclose(out.decoder_log_var, np.full((4, 1, 1, 1), np.log(0.25)),
                               rtol=1e-6)
    np.testing.assert_allclose(v.loss()(out, x),
                               losses.gaussian_nll(out.reconstruction, x, np.log(0.25))
                               + losses.gaussian_kl(out.mean, out.log_var), rtol=1e-5)
    np.testing.assert_allclose(v.decode(params, out.mean), out.reconstruction, rtol=1e-6)
    v, params, state, x = _vae(likelihood="gaussian", decoder_variance="learned")
    assert params["decoder_log_var"].shape == ()
    g = jax.grad(lambda p: v.loss()(v.model.apply(p, state, x)[0], x).mean())(params)
    # d/d(log s^2) of sum_j [log s^2 / 2 + r_j^2 / (2 s^2)] at s^2 = 1: D/2 - sum_j r_j^2 / 2
    r2 = np.square(x - v.model.apply(params, state, x)[0].reconstruction).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(g["decoder_log_var"], np.mean(0.5 * 6 - 0.5 * r2), rtol=1e-4)


def test_conditional_vae_concatenates_the_label_to_x_and_to_z():
    v, params, state, _ = _vae(num_classes=4)
    x = jax.random.uniform(jax.random.key(1), (4, *SHAPE))
    labels = jnp.array([0, 1, 2, 3])
    assert params["encoder"]["body"]["dense_0"]["w"].shape == (6 + 4, 5)
    assert params["decoder"]["body"]["hidden"]["dense_0"]["w"].shape == (3 + 4, 5)
    out, _ = v.model.apply(params, state, (x, labels), key=jax.random.key(2), train=True)
    assert out.reconstruction.shape == x.shape and out.mean.shape == (4, 3)
    onehot, _ = v.model.apply(params, state, (x, jax.nn.one_hot(labels, 4)))
    np.testing.assert_allclose(onehot.mean, v.encode(params, (x, labels))[0], rtol=1e-6)
    a = v.sample(params, jax.random.key(5), 4, labels=jnp.zeros(4, jnp.int32))
    b = v.sample(params, jax.random.key(5), 4, labels=jnp.ones(4, jnp.int32))
    assert a.shape == (4, *SHAPE) and not np.allclose(a, b)
    with pytest.raises(ValueError, match=r"labels: a conditional VAE \(num_classes=4\) expected "
                                         r"labels of shape \(4,\), got None"):
        v.sample(params, jax.random.key(5), 4)
    with pytest.raises(ValueError, match=r"expected the pair \(x, labels\)"):
        v.model.apply(params, state, x)


def test_sampling_from_the_prior():
    v, params, _, _ = _vae()
    s = v.sample(params, jax.random.key(4), 6)
    assert s.shape == (6, *SHAPE) and float(s.min()) >= 0 and float(s.max()) <= 1
    np.testing.assert_allclose(s, v.decode(params, jax.random.normal(jax.random.key(4), (6, 3))))


def test_vae_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match=r"vae: expected latent_size to be a positive int, got 0"):
        models.vae(0)
    with pytest.raises(ValueError, match=r"vae: expected likelihood in"):
        models.vae(2, likelihood="laplace")
    with pytest.raises(ValueError, match=r"decoder_variance is for likelihood='gaussian'"):
        models.vae(2, decoder_variance="learned")
    v, params, _, _ = _vae()
    with pytest.raises(ValueError, match=r"z: expected shape \(n, latent_size=3\), got \(2, 5\)"):
        v.decode(params, jnp.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"beta: expected a number >= 0 .*got -0.5"):
        v.loss(beta=-0.5)
    wrong = models.vae(3, (5,), decoder_body=nn.serial(nn.Dense(8), nn.Reshape((2, 4, 1))),
                       image_shape=SHAPE)
    with pytest.raises(ValueError, match=r"vae: the decoder does not match the encoder's input: "
                                         r"expected its output shape to be input_shape "
                                         r"\(4, 2, 3, 1\), got \(4, 2, 4, 1\)"):
        jax.eval_shape(lambda k: wrong.model.init(k, (4, *SHAPE))[1], jax.random.key(0))


def test_mnist_sized_vae_shapes():
    v = models.vae()
    shapes = _traced(lambda k: v.model.apply(v.model.init(k, (2, 28, 28, 1))[1], {},
                                             jnp.zeros((2, 28, 28, 1)), key=k, train=True)[0])
    assert shapes == models.VAEOutput((2, 28, 28, 1), (2, 20), (2, 20), None)


# ----------------------------------------------------------------------------- U-Net
@pytest.mark.parametrize("size, depth", [(28, 2), (32, 3)])
def test_unet_output_has_the_input_spatial_shape(size, depth):
    model = models.unet(5, depth=depth, base_filters=4)
    shape = (2, size, size, 3)

    def run(k):
        out, params, state = model.init(k, shape)
        assert out == (2, size, size, 5)
        return model.apply(params, state, jnp.zeros(shape))[0]
    assert _traced(run) == (2, size, size, 5)
    skip = nn.cut(model, "level0/skip")  # the concatenation: copy (4) + upsampled (4) channels
    assert _traced(lambda k: skip.apply(model.init(k, shape)[1], {}, jnp.zeros(shape))[0]) \
        == (2, size, size, 8)


def test_unet_rejects_sizes_not_divisible_by_two_to_the_depth():
    model = models.unet(1, depth=2, base_filters=4)
    with pytest.raises(ValueError, match=r"unet: expected input_shape with height and width "
                                         r"divisible by 2\*\*depth = 4 \(depth=2\), got "
                                         r"\(1, 30, 30, 1\) \(height 30, width 30\)"):
        model.init(jax.random.key(0), (1, 30, 30, 1))
    with pytest.raises(ValueError, match=r"unet: expected depth to be an int >= 1, got 0"):
        models.unet(1, depth=0)


# ----------------------------------------------------------------------------- DCGAN
def test_dcgan_shapes_and_output_units():
    g, d = models.dcgan_generator(base_filters=8), models.dcgan_discriminator(base_filters=8)

    def run(k):
        _, gp, gs = g.init(k, (3, 16))
        images, _ = g.apply(gp, gs, jnp.zeros((3, 16)), train=True)
        _, dp, ds = d.init(k, images.shape)
        return images, d.apply(dp, ds, images, train=True)[0]
    assert _traced(run) == ((3, 28, 28, 1), (3, 1))
    assert g.children[-1][1].kind == "tanh"
    assert models.dcgan_generator(output="sigmoid").children[-1][1].kind == "sigmoid"
    with pytest.raises(ValueError, match=r"dcgan_generator: expected output in"):
        models.dcgan_generator(output="relu")
    with pytest.raises(ValueError, match=r"divisible by 4 .*got \(30, 30, 1\)"):
        models.dcgan_discriminator(image_shape=(30, 30, 1))


# ----------------------------------------------------------------------------- counts
IMG = (1, 28, 28, 1)


@pytest.mark.parametrize("build, shape, count", [
    (lambda: models.dense_autoencoder().model, IMG, 419_120),   # 784-256-32-256-784
    (lambda: models.conv_autoencoder().model, IMG, 9_569),
    (lambda: models.vae().model, IMG, 652_824),                 # 784-400-(20, 20), 20-400-784
    (lambda: models.vae(num_classes=10).model, IMG, 660_824),   # + 10 x 400 twice
    (lambda: models.unet(1, 2), IMG, 116_753),
    (lambda: models.unet(2, 4, 64), (1, 32, 32, 1), 31_030_658),  # the paper's widths
    (lambda: models.dcgan_generator(), (1, 100), 759_681),
    (lambda: models.dcgan_discriminator(), IMG, 138_689),
])
def test_parameter_counts_in_the_docs(build, shape, count):
    """The counts of docs/models.md; the U-Net's and DCGAN's were also added up by hand, e.g.
    the generator: 100 x 6272 + 2 x 128 + 4x4x128x64 + 2 x 64 + 4x4x64x1 + 1."""
    model = build()
    params = jax.eval_shape(lambda k: model.init(k, shape)[1], jax.random.key(0))
    assert sum(math.prod(a.shape) for a in jax.tree.leaves(params)) == count
