"""Recurrent cells against the lecture's equations computed by hand in NumPy, and against the
flax.linen cells of the same form with copied parameters."""
import flax.linen as fnn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jdl import nn

B, T, IN, F = 2, 3, 4, 5
TOL = dict(rtol=1e-5, atol=1e-5)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def random_params(cell, seed=1):
    """The cell's parameter shapes filled with N(0, 0.5^2), biases included."""
    shapes = cell.init(jax.random.key(0), IN)
    keys = dict(zip(sorted(shapes), jax.random.split(jax.random.key(seed), 3)))
    return {n: 0.5 * jax.random.normal(keys[n], v.shape) for n, v in shapes.items()}


def gate(params, i, k):
    """The lecture's (W_g, b_g) of block i of k: W_g acts on [a_{t-1}, x_t] (row vectors)."""
    wx, wh, b = (np.asarray(params[n]) for n in ("wx", "wh", "b"))
    cols = slice(i * F, (i + 1) * F)
    return np.concatenate([wh[:, cols], wx[:, cols]], axis=0), b[cols]


def affine(params, i, k, a, x):
    w, b = gate(params, i, k)
    return np.concatenate([a, x], axis=1) @ w + b


def numpy_simple(p, a, x):
    a = np.tanh(affine(p, 0, 1, a, x))
    return a, a


def numpy_gru_full(p, c, x):  # blocks (r, u, c)
    r, u = sigmoid(affine(p, 0, 3, c, x)), sigmoid(affine(p, 1, 3, c, x))
    candidate = np.tanh(affine(p, 2, 3, r * c, x))
    c = u * candidate + (1 - u) * c
    return c, c


def numpy_gru_simplified(p, c, x):  # blocks (u, c)
    u, candidate = sigmoid(affine(p, 0, 2, c, x)), np.tanh(affine(p, 1, 2, c, x))
    c = u * candidate + (1 - u) * c
    return c, c


def numpy_lstm(p, carry, x):  # blocks (u, f, c, o)
    c, a = carry
    u, f, o = (sigmoid(affine(p, i, 4, a, x)) for i in (0, 1, 3))
    c = u * np.tanh(affine(p, 2, 4, a, x)) + f * c
    a = o * np.tanh(c)
    return (c, a), a


CASES = [(nn.SimpleRNNCell(F), numpy_simple), (nn.GRUCell(F), numpy_gru_full),
         (nn.GRUCell(F, form="simplified"), numpy_gru_simplified), (nn.LSTMCell(F), numpy_lstm)]
IDS = ["simple", "gru_full", "gru_simplified", "lstm"]


@pytest.mark.parametrize("cell,reference", CASES, ids=IDS)
def test_cell_equals_the_lecture_equations(cell, reference):
    params = random_params(cell)
    xs = jax.random.normal(jax.random.key(2), (B, T, IN))
    carry, ys = jax.jit(lambda p, x: nn.scan_cell(cell, p, x))(params, xs)
    ref_carry = jax.tree.map(np.asarray, cell.initial_carry(B))
    for t in range(T):
        previous = ref_carry
        ref_carry, y = reference(params, previous, np.asarray(xs[:, t]))
        np.testing.assert_allclose(ys[:, t], y, **TOL)
    _, step_y = cell.step(params, jax.tree.map(jnp.asarray, previous), xs[:, -1])  # no scan
    np.testing.assert_allclose(step_y, y, **TOL)
    for got, want in zip(jax.tree.leaves(carry), jax.tree.leaves(ref_carry)):
        np.testing.assert_allclose(got, want, **TOL)
    assert ys.shape == (B, T, F)


def test_simple_cell_matches_flax():
    cell = nn.SimpleRNNCell(F)
    p = random_params(cell)
    variables = {"params": {"i": {"kernel": p["wx"], "bias": p["b"]}, "h": {"kernel": p["wh"]}}}
    a, x = jax.random.normal(jax.random.key(3), (B, F)), jax.random.normal(jax.random.key(4), (B, IN))
    ref_carry, ref_y = fnn.SimpleCell(F).apply(variables, a, x)
    carry, y = cell.step(p, a, x)
    np.testing.assert_allclose(y, ref_y, **TOL)
    np.testing.assert_allclose(carry, ref_carry, **TOL)


def test_lstm_cell_matches_flax_with_gate_order_u_f_c_o():
    cell = nn.LSTMCell(F)
    p = random_params(cell)
    block = lambda w, i: w[..., i * F:(i + 1) * F]  # noqa: E731
    variables = {"params": {}}
    for i, g in enumerate("ifgo"):  # flax's i, f, g, o = the lecture's u, f, c~, o
        variables["params"]["i" + g] = {"kernel": block(p["wx"], i)}
        variables["params"]["h" + g] = {"kernel": block(p["wh"], i), "bias": block(p["b"], i)}
    keys = jax.random.split(jax.random.key(5), 3)
    carry = (jax.random.normal(keys[0], (B, F)), jax.random.normal(keys[1], (B, F)))
    x = jax.random.normal(keys[2], (B, IN))
    (ref_c, ref_h), ref_y = fnn.LSTMCell(F).apply(variables, carry, x)
    (c, a), y = cell.step(p, carry, x)
    for got, want in ((c, ref_c), (a, ref_h), (y, ref_y)):
        np.testing.assert_allclose(got, want, **TOL)


def test_gru_differs_from_flax_only_by_the_reset_gate_placement():
    """Flax (and PyTorch): n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) n + z h.
    With z = 1 - Γu (negated update weights) the two agree exactly when the reset gate is open
    (Γr = r = 1), and differ otherwise: r multiplies h before W_c in the lecture, after in Flax."""
    cell = nn.GRUCell(F)
    keys = jax.random.split(jax.random.key(6), 2)
    c, x = jax.random.normal(keys[0], (B, F)), jax.random.normal(keys[1], (B, IN))

    def flax_step(p):
        blk = lambda w, i: w[..., i * F:(i + 1) * F]  # noqa: E731 (blocks r, u, c)
        params = {"ir": {"kernel": blk(p["wx"], 0), "bias": blk(p["b"], 0)},
                  "hr": {"kernel": blk(p["wh"], 0)},
                  "iz": {"kernel": -blk(p["wx"], 1), "bias": -blk(p["b"], 1)},
                  "hz": {"kernel": -blk(p["wh"], 1)},
                  "in": {"kernel": blk(p["wx"], 2), "bias": blk(p["b"], 2)},
                  "hn": {"kernel": blk(p["wh"], 2), "bias": jnp.zeros(F)}}
        return fnn.GRUCell(F).apply({"params": params}, c, x)[1]

    p = random_params(cell)
    open_reset = dict(p, b=p["b"].at[:F].set(40.0))  # σ(40 + O(5)) == 1 in float32
    np.testing.assert_allclose(cell.step(open_reset, c, x)[1], flax_step(open_reset), **TOL)
    assert np.abs(cell.step(p, c, x)[1] - flax_step(p)).max() > 1e-3


def test_init_layout_and_initializers():
    p = nn.LSTMCell(F).init(jax.random.key(0), IN)
    assert {n: v.shape for n, v in p.items()} == {"wx": (IN, 4 * F), "wh": (F, 4 * F), "b": (4 * F,)}
    np.testing.assert_array_equal(p["b"], np.r_[np.zeros(F), np.ones(F), np.zeros(2 * F)])
    for i in range(4):  # each recurrent block is orthogonal; each input block is Glorot-uniform
        w = p["wh"][:, i * F:(i + 1) * F]
        np.testing.assert_allclose(w.T @ w, np.eye(F), atol=1e-5)
        assert np.abs(p["wx"][:, i * F:(i + 1) * F]).max() <= np.sqrt(6 / (IN + F))
    assert nn.LSTMCell(F, forget_bias=0.0).init(jax.random.key(0), IN)["b"].sum() == 0
    assert nn.GRUCell(F, form="simplified").init(jax.random.key(0), IN)["wh"].shape == (F, 2 * F)
    carry = nn.LSTMCell(F).initial_carry(3)
    assert isinstance(carry, tuple) and [c.shape for c in carry] == [(3, F), (3, F)]


@pytest.mark.parametrize("cell", [nn.GRUCell(3), nn.LSTMCell(3)], ids=["gru", "lstm"])
def test_gradients_through_the_masked_scan(cell):
    layer = nn.RNN(cell, return_sequences=True, reverse=True)
    _, params, _ = layer.init(jax.random.key(0), (2, 3, 2))
    xs = jax.random.normal(jax.random.key(1), (2, 3, 2))
    lengths = jnp.array([3, 2])
    f = jax.jit(lambda p, x: layer.apply(p, {}, (x, lengths))[0][0])
    check_grads(f, (params, xs), order=1, modes=["rev"], atol=1e-2, rtol=1e-2)
    g = jax.grad(lambda x: f(params, x).sum())(xs)
    assert np.all(g[1, 2] == 0)  # the padded step gets no gradient


@pytest.mark.parametrize("make,match", [
    (lambda: nn.GRUCell(0), "GRUCell: expected features to be a positive int, got 0"),
    (lambda: nn.LSTMCell(2.5), "LSTMCell: expected features"),
    (lambda: nn.SimpleRNNCell(True), "SimpleRNNCell: expected features"),
    (lambda: nn.GRUCell(4, form="reset_after"), "expected form 'full' or 'simplified'"),
    (lambda: nn.GRUCell(4).init(jax.random.key(0), 0), "input_features"),
])
def test_bad_cell_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()
