"""jdl.initializers: shapes, dtypes, and the variances of decks 000, 003, 004 on large draws."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jdl import initializers as I

ALL = {"zeros": I.zeros, "ones": I.ones, "constant": I.constant(0.3), "normal": I.normal(0.1),
       "uniform": I.uniform(0.2), "he": I.he, "he_uniform": I.he_uniform, "glorot": I.glorot,
       "glorot_normal": I.glorot_normal, "lecun": I.lecun}


# Two shapes for the statistics: eager JAX compiles the random-bits primitive once per shape
# and reuses it across initializers (a rank-4 threefry draw takes seconds to compile on CPU).
DENSE = (400, 300)        # fan_in 400, fan_out 300
CONV = (3, 3, 32, 64)     # HWIO: fan_in 3*3*32 = 288, fan_out 3*3*64 = 576


def _np(key, init, shape, dtype=jnp.float32):
    return np.asarray(init(key, shape, dtype), np.float64)


@pytest.mark.parametrize("name", sorted(ALL))
def test_shape_and_dtype(key, name):
    for shape in [(6, 5), CONV]:
        for dtype in [jnp.float32, jnp.bfloat16, jnp.float16]:
            out = jax.eval_shape(lambda k: ALL[name](k, shape, dtype), key)
            assert out.shape == shape and out.dtype == dtype, (shape, dtype)
    for dtype in [jnp.float32, jnp.bfloat16]:
        w = ALL[name](key, (6, 5), dtype)
        assert w.shape == (6, 5) and w.dtype == dtype
        assert np.isfinite(np.asarray(w, np.float32)).all()


def test_every_public_initializer_is_covered():
    assert set(I.__all__) - {"get", "variance_scaling"} == set(ALL)


@pytest.mark.parametrize("mode,distribution", [("fan_in", "truncated_normal"), ("fan_out", "normal"),
                                               ("fan_avg", "uniform")])
def test_variance_scaling_matches_jax_nn_statistics(mode, distribution):
    """Flat draws (fast to compile) with the distribution of jax.nn's variance_scaling."""
    shape = (3, 3, 40, 60)  # fan_in 360, fan_out 540
    ours = np.asarray(I.variance_scaling(2.0, mode, distribution)(jax.random.key(0), shape))
    ref = np.asarray(jax.nn.initializers.variance_scaling(2.0, mode, distribution)(
        jax.random.key(1), shape))
    assert ours.shape == shape
    assert abs(ours.std() / ref.std() - 1) < 0.02           # 21,600 draws each
    np.testing.assert_allclose(np.abs(ours).max(), np.abs(ref).max(), rtol=0.15)


@pytest.mark.parametrize("name", ["normal", "uniform", "he", "he_uniform", "glorot",
                                  "glorot_normal", "lecun"])
def test_random_initializers_are_keyed(name):
    init = ALL[name]
    a = init(jax.random.key(0), (6, 5), jnp.float32)
    b = init(jax.random.key(0), (6, 5), jnp.float32)
    c = init(jax.random.key(1), (6, 5), jnp.float32)
    np.testing.assert_array_equal(a, b)       # same key, same draw
    assert not np.array_equal(a, c)           # another key, another draw


def test_zeros_ones_constant(key):
    np.testing.assert_array_equal(I.zeros(key, (3, 4)), np.zeros((3, 4)))
    np.testing.assert_array_equal(I.ones(key, (2, 2)), np.ones((2, 2)))
    np.testing.assert_allclose(I.constant(0.3)(key, (4, 2)), np.full((4, 2), 0.3), rtol=1e-7)
    np.testing.assert_array_equal(I.constant(-2.0)(key, (5,), jnp.float16), np.full(5, -2.0))


def test_normal_sigma(key):
    w = _np(key, I.normal(0.05), DENSE)              # 120,000 draws: std error ~0.2 %
    assert abs(w.std() / 0.05 - 1) < 0.02
    assert abs(w.mean()) < 0.05 * 0.02


def test_uniform_is_symmetric(key):
    b = 0.2
    w = _np(key, I.uniform(b), DENSE)
    assert w.min() >= -b and w.max() <= b
    assert w.min() < -0.99 * b and w.max() > 0.99 * b   # the whole of [-b, b] is used
    assert abs(w.mean()) < 0.01 * b                     # symmetric about 0 (std err 0.0017 b)
    assert abs((w < 0).mean() - 0.5) < 0.01
    assert abs(w.std() / (b / np.sqrt(3)) - 1) < 0.02   # U[-b, b] has std b / sqrt(3)
    w_default = _np(key, I.uniform(), DENSE)
    assert w_default.min() >= -0.05 and w_default.max() <= 0.05 and w_default.min() < -0.049


def test_he_dense_and_conv(key):
    w = _np(key, I.he, DENSE)                           # Dense (in, out): fan_in = 400
    assert abs(w.std() / np.sqrt(2 / 400) - 1) < 0.02
    assert abs(w.mean()) < 0.02 * np.sqrt(2 / 400)
    assert np.abs(w).max() > 3.5 * np.sqrt(2 / 400)     # untruncated (a truncated one stops at 2.3 sd)
    k = _np(key, I.he, CONV)                            # conv HWIO: fan_in = 3 * 3 * 32 = 288
    assert abs(k.std() / np.sqrt(2 / 288) - 1) < 0.03
    # not the std a wrong fan-in (c_in only, or c_out) would give
    assert abs(k.std() / np.sqrt(2 / 32) - 1) > 0.5


def test_he_uniform(key):
    w = _np(key, I.he_uniform, CONV)                    # fan_in = 288: U[-sqrt(6/288), +]
    bound = np.sqrt(6 / 288)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() / np.sqrt(2 / 288) - 1) < 0.02


def test_glorot_bound_dense_and_conv(key):
    bound = np.sqrt(6 / (400 + 300))
    w = _np(key, I.glorot, DENSE)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() / (bound / np.sqrt(3)) - 1) < 0.02   # var 2 / (fan_in + fan_out)
    # conv: fan_in = 3*3*32 = 288, fan_out = 3*3*64 = 576
    cbound = np.sqrt(6 / (288 + 576))
    k = _np(key, I.glorot, CONV)
    assert np.abs(k).max() <= cbound and np.abs(k).max() > 0.99 * cbound
    assert abs(k.std() / (cbound / np.sqrt(3)) - 1) < 0.03


def test_glorot_normal(key):
    w = _np(key, I.glorot_normal, DENSE)
    assert abs(w.std() / np.sqrt(2 / 700) - 1) < 0.03


def test_lecun_variance_truncated(key):
    w = _np(key, I.lecun, DENSE)                        # fan_in = 400
    sd = np.sqrt(1 / 400)
    assert abs(w.std() / sd - 1) < 0.03                  # truncation is compensated: var 1/fan_in
    assert np.abs(w).max() <= 2.3 * sd                   # truncated at 2 sd of the base normal
    k = _np(key, I.lecun, CONV)                          # fan_in = 288
    assert abs(k.std() / np.sqrt(1 / 288) - 1) < 0.03


def test_get():
    assert I.get("he") is I.he and I.get("he_normal") is I.he
    assert I.get("glorot") is I.glorot and I.get("xavier") is I.glorot
    assert I.get("glorot_uniform") is I.glorot
    assert I.get("lecun") is I.lecun and I.get("lecun_normal") is I.lecun
    assert I.get("zeros") is I.zeros
    custom = I.uniform(0.1)
    assert I.get(custom) is custom


def test_get_errors():
    with pytest.raises(ValueError, match=r"initializer: expected a callable or one of "
                                         r"\[.*'he'.*\], got 'kaiming'"):
        I.get("kaiming")
    with pytest.raises(ValueError, match=r"initializer: .*got None"):
        I.get(None)
