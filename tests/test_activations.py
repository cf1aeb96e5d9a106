"""jdl.activations against numpy / jax.nn / hand values, and deck 002's derivative table."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jdl import activations as A

X = np.array([-5.0, -2.0, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.5, 1.0, 2.0, 5.0], np.float32)
X64 = X.astype(np.float64)


def _np_softmax(x, axis=-1):
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


# Independent references: numpy formulas written from the decks' definitions.
REFERENCES = {
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.01 * x),
    "abs_relu": np.abs,
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "hard_tanh": lambda x: np.clip(x, -1.0, 1.0),
    "ramp": lambda x: np.clip(x, -1.0, 1.0),
    "softmax": _np_softmax,
    "log_softmax": lambda x: np.log(_np_softmax(x)),
    "step": lambda x: (x > 0).astype(np.float64),
    "identity": lambda x: x,
}


def test_every_public_function_has_a_reference():
    public = set(A.__all__) - {"get", "prelu"}  # prelu takes a slope argument: tested below
    assert public == set(REFERENCES)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_values_against_numpy(name):
    fn = getattr(A, name)
    x = X.reshape(1, -1)
    y = fn(jnp.asarray(x))
    assert y.shape == x.shape
    np.testing.assert_allclose(np.asarray(y), REFERENCES[name](X64.reshape(1, -1)),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "elu", "softmax", "log_softmax"])
def test_reuses_jax_nn(name):
    ref = {"tanh": jnp.tanh}.get(name) or getattr(jax.nn, name)
    x = jnp.asarray(X)
    np.testing.assert_array_equal(getattr(A, name)(x), ref(x))


def test_shape_preserved_on_nd_input():
    x = jnp.arange(24.0).reshape(2, 3, 4) - 12.0
    for name in REFERENCES:
        assert getattr(A, name)(x).shape == (2, 3, 4), name


def test_sigmoid_hand_values_and_saturation():
    assert float(A.sigmoid(0.0)) == 0.5
    np.testing.assert_allclose(float(A.sigmoid(1.0)), 1 / (1 + np.exp(-1.0)), rtol=1e-6)
    np.testing.assert_allclose(float(A.sigmoid(2.0)) + float(A.sigmoid(-2.0)), 1.0, rtol=1e-6)
    d = jax.grad(A.sigmoid)
    assert float(d(0.0)) == pytest.approx(0.25, rel=1e-6)   # the steepest point
    assert float(d(10.0)) < 5e-5                             # deck 003: saturated unit
    assert float(d(-10.0)) < 5e-5
    assert float(d(10.0)) == pytest.approx(np.exp(-10) / (1 + np.exp(-10)) ** 2, rel=1e-2)


def test_tanh_range_and_zero():
    assert float(A.tanh(0.0)) == 0.0
    y = A.tanh(jnp.linspace(-20, 20, 101))
    assert float(jnp.max(jnp.abs(y))) <= 1.0
    assert float(jax.grad(A.tanh)(0.0)) == pytest.approx(1.0)


def test_relu_subgradient_zero_at_zero():
    d = jax.grad(A.relu)
    assert float(d(0.0)) == 0.0
    assert float(d(-1.0)) == 0.0
    assert float(d(2.0)) == 1.0


def test_leaky_relu_slope():
    assert float(A.leaky_relu(-2.0)) == pytest.approx(-0.02)
    assert float(A.leaky_relu(3.0)) == 3.0
    assert float(jax.grad(A.leaky_relu)(-1.0)) == pytest.approx(0.01)
    assert float(jax.grad(A.leaky_relu)(1.0)) == 1.0
    assert float(A.leaky_relu(-2.0, 0.2)) == pytest.approx(-0.4)


def test_prelu_broadcast_slope():
    x = jnp.array([[-1.0, -2.0, 3.0], [4.0, -5.0, -6.0]])
    alpha = jnp.array([0.1, 0.2, 0.3])
    ref = np.where(np.asarray(x) >= 0, np.asarray(x), np.asarray(alpha) * np.asarray(x))
    np.testing.assert_allclose(A.prelu(x, alpha), ref, rtol=1e-6)
    # gradient w.r.t. the slope: x where x < 0, else 0
    g = jax.grad(lambda a: jnp.sum(A.prelu(x, a)))(alpha)
    np.testing.assert_allclose(g, [-1.0, -7.0, -6.0], rtol=1e-6)


def test_abs_relu():
    np.testing.assert_array_equal(A.abs_relu(jnp.array([-3.0, 0.0, 2.5])), [3.0, 0.0, 2.5])
    assert float(jax.grad(A.abs_relu)(-2.0)) == -1.0
    assert float(jax.grad(A.abs_relu)(2.0)) == 1.0


def test_elu_hand_values():
    assert float(A.elu(2.0)) == 2.0
    assert float(A.elu(-1.0)) == pytest.approx(np.exp(-1.0) - 1.0, rel=1e-6)
    assert float(A.elu(-50.0)) == pytest.approx(-1.0, abs=1e-6)   # saturates at -alpha
    assert float(A.elu(-1.0, 2.0)) == pytest.approx(2.0 * (np.exp(-1.0) - 1.0), rel=1e-6)


def test_hard_tanh_and_ramp():
    x = jnp.array([-3.0, -1.0, -0.25, 0.0, 0.7, 1.0, 4.0])
    np.testing.assert_array_equal(A.hard_tanh(x),
                                  np.array([-1.0, -1.0, -0.25, 0.0, 0.7, 1.0, 1.0], np.float32))
    np.testing.assert_array_equal(A.ramp(x), A.hard_tanh(x))
    g = jax.vmap(jax.grad(A.hard_tanh))(jnp.array([-3.0, 0.5, 3.0]))
    np.testing.assert_array_equal(g, [0.0, 1.0, 0.0])


def test_softmax_sums_to_one_and_is_stable():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(5, 7)) * 10, jnp.float32)
    np.testing.assert_allclose(jnp.sum(A.softmax(x), axis=-1), np.ones(5), rtol=1e-6)
    big = jnp.array([1000.0, 1000.0, 1000.0, 0.0])
    p = A.softmax(big)
    assert np.isfinite(np.asarray(p)).all()
    np.testing.assert_allclose(p, [1 / 3, 1 / 3, 1 / 3, 0.0], atol=1e-7)
    lp = A.log_softmax(jnp.array([1000.0, 0.0]))
    np.testing.assert_allclose(lp, [0.0, -1000.0], atol=1e-4)
    # invariant to adding a constant
    np.testing.assert_allclose(A.softmax(x + 100.0), A.softmax(x), rtol=1e-4, atol=1e-6)
    # axis argument
    cols = A.softmax(x, axis=0)
    np.testing.assert_allclose(jnp.sum(cols, axis=0), np.ones(7), rtol=1e-6)


def test_step_unit():
    assert float(A.step(0.0)) == 0.0
    assert float(A.step(0.1)) == 1.0
    assert float(A.step(-0.1)) == 0.0
    assert A.step(jnp.array([1, -1, 0])).dtype == jnp.float32      # ints give floats
    assert float(jax.grad(A.step)(0.5)) == 0.0                     # zero gradient everywhere
    assert float(jax.grad(A.step)(-0.5)) == 0.0


def test_identity():
    x = jnp.array([-2.0, 3.0])
    np.testing.assert_array_equal(A.identity(x), x)
    assert float(jax.grad(A.identity)(7.0)) == 1.0


def test_derivative_table_of_deck_002():
    x = jnp.linspace(-6.0, 6.0, 49)
    s = 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))
    np.testing.assert_allclose(jax.vmap(jax.grad(A.sigmoid))(x), s * (1 - s), rtol=1e-5, atol=1e-7)
    t = np.tanh(np.asarray(x, np.float64))
    np.testing.assert_allclose(jax.vmap(jax.grad(A.tanh))(x), 1 - t ** 2, rtol=1e-5, atol=5e-7)
    xr = jnp.array([-2.0, -0.5, 0.5, 2.0])
    np.testing.assert_array_equal(jax.vmap(jax.grad(A.relu))(xr), [0.0, 0.0, 1.0, 1.0])


def test_get_by_name():
    for name in REFERENCES:
        assert A.get(name) is getattr(A, name), name
    assert A.get("linear") is A.identity
    assert A.get("ramp") is A.hard_tanh
    fn = lambda x: x * 2  # noqa: E731
    assert A.get(fn) is fn


def test_get_errors():
    with pytest.raises(ValueError, match=r"activation: expected a callable or one of "
                                         r"\[.*'relu'.*\], got 'swish_typo'"):
        A.get("swish_typo")
    with pytest.raises(ValueError, match=r"activation: .*got 3"):
        A.get(3)
