"""`jdl.optimizers`: the first updates on a 2-D quadratic against the decks' formulas, by hand.

f(w) = 1/2 w^T A w - b^T w, grad f(w) = A w - b. Every reference below is a numpy loop written
from the deck's update rule in float64; jdl's optimizers run in float32 through Optax.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jdl import optimizers, schedules

A = np.array([[3.0, 0.5], [0.5, 1.0]])
B = np.array([1.0, -2.0])
W0 = np.array([1.0, 1.0])
STEPS = 3


def grad(w):
    return A @ w - B


def run(tx, steps=STEPS, w0=W0):
    """Parameters after each of `steps` updates of `tx` on the quadratic (float32, via Optax)."""
    a, b = jnp.asarray(A, jnp.float32), jnp.asarray(B, jnp.float32)
    f = lambda w: 0.5 * w @ a @ w - b @ w  # noqa: E731
    w = jnp.asarray(w0, jnp.float32)
    state = tx.init(w)
    out = []
    for _ in range(steps):
        updates, state = tx.update(jax.grad(f)(w), state, w)
        w = optax.apply_updates(w, updates)
        out.append(np.asarray(w, np.float64))
    return np.array(out)


def close(actual, expected, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def lr_at(lr, t):
    return float(lr(t)) if callable(lr) else lr


# ---- hand references (decks) -------------------------------------------------------------

def hand_sgd(lr, steps=STEPS):
    """Deck 004 Alg. 8.1: w <- w - lr_k g."""
    w, out = W0.copy(), []
    for t in range(steps):
        w = w - lr_at(lr, t) * grad(w)
        out.append(w)
    return np.array(out)


def hand_momentum_optax(lr, mu, steps=STEPS):
    """Deck 001: v <- g + mu v; w <- w - lr v."""
    w, v, out = W0.copy(), np.zeros(2), []
    for t in range(steps):
        v = grad(w) + mu * v
        w = w - lr_at(lr, t) * v
        out.append(w)
    return np.array(out)


def hand_momentum_deck(lr, mu, steps=STEPS):
    """Deck 004 Alg. 8.2: v <- mu v - lr g; w <- w + v."""
    w, v, out = W0.copy(), np.zeros(2), []
    for t in range(steps):
        v = mu * v - lr_at(lr, t) * grad(w)
        w = w + v
        out.append(w)
    return np.array(out)


def hand_momentum_deck002(lr, mu, steps=STEPS):
    """Deck 002: v <- gamma v + eta dE/dw; w <- w - v."""
    w, v, out = W0.copy(), np.zeros(2), []
    for t in range(steps):
        v = mu * v + lr_at(lr, t) * grad(w)
        w = w - v
        out.append(w)
    return np.array(out)


def hand_nesterov_sutskever(lr, mu, steps=STEPS):
    """Sutskever et al. 2013: u <- mu u - lr grad(theta + mu u); theta <- theta + u.
    Returns the look-ahead points theta + mu u, which Optax's form tracks."""
    theta, u, out = W0.copy(), np.zeros(2), []
    for _ in range(steps):
        u = mu * u - lr * grad(theta + mu * u)
        theta = theta + u
        out.append(theta + mu * u)
    return np.array(out)


def hand_adagrad(lr, eps, steps=STEPS):
    """Deck 001: gamma <- gamma + g^2; w <- w - lr g / sqrt(gamma + eps)."""
    w, gam, out = W0.copy(), np.zeros(2), []
    for _ in range(steps):
        g = grad(w)
        gam = gam + g ** 2
        w = w - lr * g / np.sqrt(gam + eps)
        out.append(w)
    return np.array(out)


def hand_rmsprop(lr, beta, eps, mu=None, steps=STEPS):
    """Deck 001: gamma <- beta gamma + (1-beta) g^2; step g / sqrt(gamma + eps); with `mu`,
    heavy-ball momentum on that step (v <- mu v - lr step; w <- w + v)."""
    w, gam, v, out = W0.copy(), np.zeros(2), np.zeros(2), []
    for _ in range(steps):
        g = grad(w)
        gam = beta * gam + (1 - beta) * g ** 2
        step = g / np.sqrt(gam + eps)
        if mu is None:
            w = w - lr * step
        else:
            v = mu * v - lr * step
            w = w + v
        out.append(w)
    return np.array(out)


def hand_adadelta(rho, eps, steps=STEPS):
    """Zeiler 2012 Algorithm 1 (deck 002's Adadelta)."""
    w, eg, ex, out = W0.copy(), np.zeros(2), np.zeros(2), []
    for _ in range(steps):
        g = grad(w)
        eg = rho * eg + (1 - rho) * g ** 2
        dx = -np.sqrt(ex + eps) / np.sqrt(eg + eps) * g
        ex = rho * ex + (1 - rho) * dx ** 2
        w = w + dx
        out.append(w)
    return np.array(out)


def hand_adam(alpha, b1, b2, eps, steps=STEPS):
    """Deck 002 Algorithm 1."""
    w, m, v, out = W0.copy(), np.zeros(2), np.zeros(2), []
    for t in range(1, steps + 1):
        g = grad(w)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        m_hat = m / (1 - b1 ** t)
        v_hat = v / (1 - b2 ** t)
        w = w - alpha * m_hat / (np.sqrt(v_hat) + eps)
        out.append(w)
    return np.array(out)


# ---- tests -------------------------------------------------------------------------------

def test_sgd_and_gradient_descent_match_the_deck_update():
    close(run(optimizers.sgd(0.1)), hand_sgd(0.1))
    close(run(optimizers.gradient_descent(0.1)), hand_sgd(0.1))


def test_sgd_with_a_schedule():
    lr = schedules.inverse_sqrt(0.2)
    close(run(optimizers.sgd(lr)), hand_sgd(lambda t: 0.2 / np.sqrt(t + 1)))


def test_momentum_optax_convention():
    close(run(optimizers.momentum(0.1, 0.9)), hand_momentum_optax(0.1, 0.9))


def test_momentum_deck_convention():
    got = run(optimizers.momentum(0.1, 0.9, convention="deck"))
    close(got, hand_momentum_deck(0.1, 0.9))
    close(got, hand_momentum_deck002(0.1, 0.9))


def test_momentum_conventions_equal_for_constant_lr():
    a = run(optimizers.momentum(0.05, 0.8, "optax"), steps=6)
    b = run(optimizers.momentum(0.05, 0.8, "deck"), steps=6)
    close(a, b)


def test_momentum_conventions_differ_under_a_schedule():
    lr = schedules.inverse_time(0.1, decay=1.0)
    hand_lr = lambda t: 0.1 / (1 + t)  # noqa: E731
    a = run(optimizers.momentum(lr, 0.9, "optax"))
    b = run(optimizers.momentum(lr, 0.9, "deck"))
    close(a, hand_momentum_optax(hand_lr, 0.9))
    close(b, hand_momentum_deck(hand_lr, 0.9))
    close(a[0], b[0])  # the first step is -lr_0 g_0 in both
    assert np.abs(a[1:] - b[1:]).max() > 1e-3
    # step 2: optax rescales the old gradient by lr_1, the deck form keeps lr_0
    g0 = grad(W0)
    g1 = grad(a[0])
    close(a[1] - a[0], -hand_lr(1) * (g1 + 0.9 * g0))
    close(b[1] - b[0], -hand_lr(1) * g1 - 0.9 * hand_lr(0) * g0)


def test_nesterov_is_sutskevers_lookahead_form():
    got = run(optimizers.nesterov(0.1, 0.9), steps=5)
    close(got, hand_nesterov_sutskever(0.1, 0.9, steps=5))
    close(got[0], W0 - 0.1 * (1 + 0.9) * grad(W0))


def test_adagrad_matches_deck_001():
    close(run(optimizers.adagrad(0.5)), hand_adagrad(0.5, 1e-7))
    close(run(optimizers.adagrad(0.5, eps=1e-2)), hand_adagrad(0.5, 1e-2))


def test_adagrad_differs_from_optax_default_accumulator():
    # optax.adagrad starts the sum at 0.1; the deck at 0 (first step is then lr * sign(g))
    close(run(optimizers.adagrad(0.5), steps=1)[0], W0 - 0.5 * np.sign(grad(W0)), atol=1e-5)
    optax_default = run(optax.adagrad(0.5), steps=1)
    assert np.abs(optax_default - run(optimizers.adagrad(0.5), steps=1)).max() > 1e-3


def test_rmsprop_matches_deck_001_eps_inside_sqrt():
    close(run(optimizers.rmsprop(0.01, 0.9, 1e-8)), hand_rmsprop(0.01, 0.9, 1e-8))
    # a large eps makes the placement visible: inside the sqrt, as in the deck
    close(run(optimizers.rmsprop(0.01, 0.9, 0.5)), hand_rmsprop(0.01, 0.9, 0.5))


def test_rmsprop_momentum():
    close(run(optimizers.rmsprop_momentum(0.01, 0.9, 0.9)),
          hand_rmsprop(0.01, 0.9, 1e-8, mu=0.9))


def test_adadelta_matches_zeiler_without_a_learning_rate():
    close(run(optimizers.adadelta()), hand_adadelta(0.95, 1e-6), atol=1e-7)
    close(run(optimizers.adadelta(rho=0.9, eps=1e-2)), hand_adadelta(0.9, 1e-2), atol=1e-7)


def test_optax_adadelta_without_learning_rate_climbs():
    """The trap `optimizers.adadelta` avoids: optax.adadelta(learning_rate=None) adds +dw."""
    f = lambda w: 0.5 * w @ A @ w - B @ w  # noqa: E731
    assert f(run(optax.adadelta(), steps=1)[0]) > f(W0)
    assert f(run(optimizers.adadelta(), steps=1)[0]) < f(W0)


def test_adam_matches_deck_002_with_its_defaults():
    close(run(optimizers.adam()), hand_adam(0.001, 0.9, 0.999, 1e-8), atol=1e-7)
    close(run(optimizers.adam(0.1)), hand_adam(0.1, 0.9, 0.999, 1e-8))
    close(run(optimizers.adam(0.1, b1=0.5, b2=0.9, eps=0.1)), hand_adam(0.1, 0.5, 0.9, 0.1))


def test_clip_by_global_norm_by_hand():
    params = {"a": jnp.array([1.0, 2.0]), "b": jnp.array([[2.0]])}
    g = {"a": jnp.array([3.0, 0.0]), "b": jnp.array([[4.0]])}  # global norm 5
    for max_norm, factor in [(1.0, 1 / 5), (2.5, 0.5), (10.0, 1.0)]:
        tx = optimizers.clip(optimizers.sgd(0.1), max_norm)
        updates, _ = tx.update(g, tx.init(params), params)
        close(np.asarray(updates["a"]), -0.1 * factor * np.array([3.0, 0.0]))
        close(np.asarray(updates["b"]), -0.1 * factor * np.array([[4.0]]))


def test_get_by_name():
    close(run(optimizers.get("adam")), run(optimizers.adam()))
    close(run(optimizers.get("RMSProp", lr=0.01)), hand_rmsprop(0.01, 0.9, 1e-8))
    close(run(optimizers.get("momentum", lr=0.1, mu=0.5, convention="deck")),
          hand_momentum_deck(0.1, 0.5))
    tx = optax.sgd(0.1)
    assert optimizers.get(tx) is tx
    assert "adadelta" in optimizers.names()
    with pytest.raises(ValueError, match="adamw"):
        optimizers.get("adamw")
    with pytest.raises(TypeError, match="get\\('sgd'\\)"):
        optimizers.get("sgd", learning_rate=0.1)


def test_errors_name_argument_expected_and_received():
    with pytest.raises(ValueError, match="convention.*'nesterov'"):
        optimizers.momentum(0.1, 0.9, convention="nesterov")
    with pytest.raises(ValueError, match="lr > 0, got -0.1"):
        optimizers.sgd(-0.1)
    with pytest.raises(ValueError, match="mu in \\[0, 1\\), got 1.5"):
        optimizers.nesterov(0.1, 1.5)
    with pytest.raises(TypeError, match="lr"):
        optimizers.adadelta(lr=None)
    with pytest.raises(ValueError, match="max_norm > 0"):
        optimizers.clip(optimizers.sgd(0.1), 0.0)


def test_works_with_inject_hyperparams():
    """Population training sets lr through optax.inject_hyperparams (arrays skip the checks)."""
    tx = optax.inject_hyperparams(optimizers.momentum, static_args=("convention",))(
        lr=0.1, mu=0.9, convention="deck")
    close(run(tx), hand_momentum_deck(0.1, 0.9))
