"""scale, center, standardize, one_hot against hand formulas and jax.nn.one_hot."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jdl.data import center, one_hot, scale, standardize


def test_scale_unit_and_symmetric():
    x = np.array([0, 51, 255], dtype=np.uint8)
    out = scale(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.0, 0.2, 1.0], rtol=1e-6)
    sym = scale(x, -1, 1)
    assert sym[0] == -1.0 and sym[-1] == 1.0  # endpoints exact
    np.testing.assert_allclose(sym, -1 + 2 * x.astype(np.float64) / 255.0, rtol=1e-6)
    full = scale(np.arange(256, dtype=np.uint8), -1.0, 1.0)
    assert full.min() == -1.0 and full.max() == 1.0


def test_scale_works_on_jax_arrays_under_jit():
    x = jnp.array([0, 255], dtype=jnp.uint8)
    out = jax.jit(lambda a: scale(a, -1, 1))(x)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out), [-1.0, 1.0], atol=1e-6)  # XLA may use x * (1/255)


def test_scale_validates():
    with pytest.raises(ValueError, match=r"expected `low` < `high`, got low=1, high=0"):
        scale(np.zeros(2, np.uint8), 1, 0)


def test_center():
    x = np.array([[1, 2], [3, 6]], dtype=np.uint8)
    xc, mean = center(x)
    assert mean.shape == (1, 1) and mean.item() == 3.0
    np.testing.assert_array_equal(xc, x - 3.0)
    xc, mean = center(x, axis=0)  # per-feature mean (mean image)
    np.testing.assert_array_equal(mean, [[2.0, 4.0]])
    np.testing.assert_array_equal(xc.sum(axis=0), [0.0, 0.0])
    xt, _ = center(np.array([[5, 5]]), mean)  # reuse training mean
    np.testing.assert_array_equal(xt, [[3.0, 1.0]])


def test_standardize_fit_and_reuse():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(50, 4, 4, 3)).astype(np.uint8)
    xs, mean, std = standardize(x, axis=(0, 1, 2))  # per channel, NHWC
    assert mean.shape == std.shape == (1, 1, 1, 3) and xs.dtype == np.float32
    np.testing.assert_allclose(mean.ravel(), x.reshape(-1, 3).mean(0), rtol=1e-6)
    np.testing.assert_allclose(std.ravel(), x.reshape(-1, 3).std(0), rtol=1e-6)
    np.testing.assert_allclose(xs.reshape(-1, 3).mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(xs.reshape(-1, 3).std(0), 1, rtol=1e-5)
    xt, m2, s2 = standardize(x[:5], mean, std)
    np.testing.assert_allclose(xt, xs[:5], rtol=1e-6, atol=1e-6)
    assert m2 is not None and np.array_equal(s2, std)


def test_standardize_constant_feature_and_errors():
    x = np.array([[0, 1], [0, 3]], dtype=np.float32)
    xs, _, std = standardize(x, axis=0)
    np.testing.assert_array_equal(std, [[1.0, 1.0]])  # constant column: std -> 1, only centred
    np.testing.assert_array_equal(xs, [[0, -1], [0, 1]])
    with pytest.raises(ValueError, match=r"pass both `mean` and `std` or neither, got mean=an array, std=None"):
        standardize(x, np.zeros(1))
    with pytest.raises(ValueError, match=r"`std` > 0 everywhere, got min 0"):
        standardize(x, np.zeros(1), np.zeros(1))


def test_one_hot_matches_jax():
    labels = np.array([[0, 3], [9, 1]], dtype=np.int32)
    out = one_hot(labels, 10)
    assert out.shape == (2, 2, 10) and out.dtype == np.float32
    np.testing.assert_array_equal(out, np.asarray(jax.nn.one_hot(labels, 10)))
    assert one_hot(np.array([2], np.uint8), 3, dtype=np.int32).tolist() == [[0, 0, 1]]
    assert one_hot(np.array([], np.int64), 4).shape == (0, 4)


def test_one_hot_validates():
    with pytest.raises(ValueError, match=r"`labels` must be in \[0, 10\), got values in -1\.\.12 \(2 out of range\)"):
        one_hot(np.array([-1, 3, 12]), 10)
    with pytest.raises(ValueError, match=r"`labels` must have an integer dtype, got float64"):
        one_hot(np.array([1.0]), 10)
    with pytest.raises(ValueError, match=r"`num_classes` must be a positive int, got 0"):
        one_hot(np.array([0]), 0)
