"""`jdl.paths` and `jdl.regularizers`: masks, penalties by hand, weight decay, freezing, noise."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jdl import losses, nn
from jdl.paths import is_weight, mask, paths, weights_only
from jdl.regularizers import (add_weight_noise, freeze, l1, l1_towards, l2, noisy_apply,
                              weight_decay)
from jdl.train import init_train_state, make_eval_step, make_train_step

W0 = np.array([[1.0, -2.0], [3.0, 0.5]])
W1 = np.array([[-1.0], [2.0]])


def small_params():
    return {"dense_0": {"w": jnp.asarray(W0, jnp.float32), "b": jnp.array([1.0, 1.0])},
            "bn": {"scale": jnp.array([2.0]), "bias": jnp.array([3.0])},
            "dense_1": {"w": jnp.asarray(W1, jnp.float32), "b": jnp.array([5.0])}}


# ---- paths --------------------------------------------------------------------------------

def test_paths_and_masks():
    p = small_params()
    assert paths(p) == ["bn/bias", "bn/scale", "dense_0/b", "dense_0/w", "dense_1/b", "dense_1/w"]
    assert jax.tree.leaves(mask(p, "*/w")) == [False, False, False, True, False, True]
    assert jax.tree.leaves(mask(p, ["dense_0/*", "bn/scale"])) == [False, True, True, True,
                                                                   False, False]
    assert jax.tree.leaves(mask(p, lambda path, leaf: leaf.ndim == 2)) == jax.tree.leaves(
        mask(p, "*/w"))
    assert mask(p, "*/w") == weights_only(p)
    assert mask({"w": 1.0, "x": {"w": 2.0}}, weights_only) == {"w": True, "x": {"w": True}}
    assert is_weight("features/conv1/w") and not is_weight("features/conv1/b")
    with pytest.raises(TypeError, match="mask: expected a glob pattern"):
        mask(p, 3)


# ---- penalties ----------------------------------------------------------------------------

def test_l2_by_hand_biases_never_penalized():
    p = small_params()
    sq = (W0 ** 2).sum() + (W1 ** 2).sum()
    np.testing.assert_allclose(float(l2(0.1)(p)), 0.1 / 2 * sq, rtol=1e-6)
    g = jax.grad(l2(0.1))(p)  # deck 004: gradient alpha * w
    np.testing.assert_allclose(np.asarray(g["dense_0"]["w"]), 0.1 * W0, rtol=1e-6)
    for leaf in [g["dense_0"]["b"], g["dense_1"]["b"], g["bn"]["scale"], g["bn"]["bias"]]:
        np.testing.assert_array_equal(np.asarray(leaf), 0.0)


def test_l2_per_layer_and_one_over_n():
    p = small_params()
    got = l2(0.1, per_layer={"dense_0/*": 1.0})(p)
    np.testing.assert_allclose(float(got), 1.0 / 2 * (W0 ** 2).sum() + 0.1 / 2 * (W1 ** 2).sum(),
                               rtol=1e-6)
    # deck 000 eq. (4): C = C0 + lambda / (2n) * sum w^2
    sq = (W0 ** 2).sum() + (W1 ** 2).sum()
    np.testing.assert_allclose(float(l2(0.5, n=50)(p)), 0.5 / (2 * 50) * sq, rtol=1e-6)
    g = jax.grad(l2(0.5, n=50))(p)  # eq. (5): dC/dw = lambda / n * w
    np.testing.assert_allclose(np.asarray(g["dense_1"]["w"]), 0.5 / 50 * W1, rtol=1e-6)
    # include everything
    everything = sq + 2 + 25 + 4 + 9
    np.testing.assert_allclose(float(l2(1.0, include="*")(p)), everything / 2, rtol=1e-6)


def test_l1_by_hand():
    p = small_params()
    ab = np.abs(W0).sum() + np.abs(W1).sum()
    np.testing.assert_allclose(float(l1(0.1)(p)), 0.1 * ab, rtol=1e-6)
    np.testing.assert_allclose(float(l1(0.3, n=10)(p)), 0.3 / 10 * ab, rtol=1e-6)  # deck 000 (7)
    np.testing.assert_allclose(float(l1(0.1, per_layer={"dense_1/w": 0.0})(p)),
                               0.1 * np.abs(W0).sum(), rtol=1e-6)
    g = jax.grad(l1(0.1))(p)  # deck 004: alpha * sign(w)
    np.testing.assert_allclose(np.asarray(g["dense_0"]["w"]), 0.1 * np.sign(W0), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(g["dense_0"]["b"]), 0.0)


def test_l1_towards_reference():
    p = small_params()
    ref = jax.tree.map(lambda x: x + 0.5, p)
    ref["dense_1"]["w"] = jnp.zeros((2, 1))
    want = 0.2 * (np.abs(-0.5 * np.ones_like(W0)).sum() + np.abs(W1).sum())
    np.testing.assert_allclose(float(l1_towards(ref, 0.2)(p)), want, rtol=1e-6)
    np.testing.assert_allclose(float(l1_towards(p, 0.2)(p)), 0.0)
    np.testing.assert_allclose(float(jax.jit(l1_towards(ref, 0.2, n=4))(p)), want / 4, rtol=1e-6)
    with pytest.raises(ValueError, match="reference_params to contain 'dense_1/w'"):
        l1_towards({"dense_0": p["dense_0"]}, 0.1)(p)


def test_penalty_errors():
    p = small_params()
    with pytest.raises(ValueError, match="per_layer pattern.*'dense0/\\*'"):
        l2(0.1, per_layer={"dense0/*": 1.0})(p)
    with pytest.raises(ValueError, match="l1: include: expected 'conv\\*' to select"):
        l1(0.1, include="conv*")(p)
    with pytest.raises(ValueError, match="l2: expected coef to be a number >= 0, got -1"):
        l2(-1)
    with pytest.raises(ValueError, match="n \\(the number of training examples\\)"):
        l2(0.1, n=0)


def test_penalty_in_a_train_step():
    """The step optimises mean loss + penalty: with a zero loss gradient SGD shrinks w only."""
    model = nn.serial(nn.Dense(2))
    opt = optax.sgd(0.1)
    ts = init_train_state(model, opt, jax.random.key(0), (1, 3))
    w0, b0 = np.array(ts.params["dense_0"]["w"]), np.array(ts.params["dense_0"]["b"])
    zero_loss = lambda out, y: 0.0 * jnp.sum(out, axis=-1)  # noqa: E731
    step = make_train_step(model, opt, zero_loss, penalty=l2(0.5))
    ts, _ = step(ts, (jnp.ones((4, 3)), jnp.zeros((4, 2))))
    np.testing.assert_allclose(np.asarray(ts.params["dense_0"]["w"]), (1 - 0.1 * 0.5) * w0,
                               rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(ts.params["dense_0"]["b"]), b0)


# ---- weight decay -------------------------------------------------------------------------

def _one_update(tx, params, grads):
    updates, _ = tx.update(grads, tx.init(params), params)
    return optax.apply_updates(params, updates)


def test_weight_decay_decoupled_by_hand_never_touches_biases():
    p = small_params()
    g = jax.tree.map(lambda x: jnp.full_like(x, 0.5), p)
    new = _one_update(weight_decay(optax.sgd(0.1), 0.01), p, g)
    # w <- (1 - wd) w - lr g
    np.testing.assert_allclose(np.asarray(new["dense_0"]["w"]), 0.99 * W0 - 0.05, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(new["dense_1"]["w"]), 0.99 * W1 - 0.05, rtol=1e-6)
    for name in [("dense_0", "b"), ("dense_1", "b"), ("bn", "scale"), ("bn", "bias")]:
        np.testing.assert_array_equal(np.asarray(new[name[0]][name[1]]),
                                      np.asarray(p[name[0]][name[1]]) - np.float32(0.05))
    # zero gradient, Adam: decay alone, biases bit-identical
    zero = jax.tree.map(jnp.zeros_like, p)
    new = _one_update(weight_decay(optax.adam(0.1), 0.01), p, zero)
    np.testing.assert_allclose(np.asarray(new["dense_0"]["w"]), 0.99 * W0, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(new["dense_0"]["b"]), np.asarray(p["dense_0"]["b"]))
    np.testing.assert_array_equal(np.asarray(new["bn"]["scale"]), np.asarray(p["bn"]["scale"]))


def test_weight_decay_coupled_equals_l2_penalty_and_decoupled_sgd():
    p = small_params()
    g = jax.tree.map(lambda x: jnp.full_like(x, 0.5), p)
    lam, lr = 0.2, 0.1
    coupled = _one_update(weight_decay(optax.adam(lr), lam, decoupled=False), p, g)
    g_pen = jax.tree.map(jnp.add, g, jax.grad(l2(lam))(p))
    via_penalty = _one_update(optax.adam(lr), p, g_pen)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), coupled, via_penalty)
    # plain SGD: decoupled with wd = lr * lambda is the L2 penalty lambda (deck 000 eq. 6)
    dec = _one_update(weight_decay(optax.sgd(lr), lr * lam), p, g)
    cou = _one_update(weight_decay(optax.sgd(lr), lam, decoupled=False), p, g)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), dec, cou)


def test_weight_decay_schedule_and_custom_mask():
    p = small_params()
    zero = jax.tree.map(jnp.zeros_like, p)
    tx = weight_decay(optax.sgd(0.1), lambda t: 0.1 / (1.0 + t), mask="dense_1/*")
    state = tx.init(p)
    for t in range(2):
        u, state = tx.update(zero, state, p)
        p = optax.apply_updates(p, u)
    np.testing.assert_allclose(np.asarray(p["dense_1"]["w"]), 0.9 * 0.95 * W1, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(p["dense_1"]["b"]), 0.9 * 0.95 * 5.0, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(p["dense_0"]["w"]), W0.astype(np.float32))


# ---- freezing -----------------------------------------------------------------------------

def _regression_setup(opt, model=None, key=0):
    model = model or nn.serial(nn.Dense(4), nn.Tanh(), nn.Dense(2))
    ts = init_train_state(model, opt, jax.random.key(key), (1, 3))
    x = jax.random.normal(jax.random.key(1), (8, 3))
    y = jax.random.normal(jax.random.key(2), (8, 2))
    return model, ts, (x, y)


def test_freeze_in_train_steps_is_bit_exact():
    opt = freeze(optax.adam(0.1), ["dense_0/*"])
    model, ts, batch = _regression_setup(opt)
    before = jax.tree.map(lambda a: np.array(a, copy=True), ts.params)
    step = make_train_step(model, opt, losses.mean_squared_error)
    for _ in range(5):
        ts, _ = step(ts, batch)
    np.testing.assert_array_equal(np.asarray(ts.params["dense_0"]["w"]), before["dense_0"]["w"])
    np.testing.assert_array_equal(np.asarray(ts.params["dense_0"]["b"]), before["dense_0"]["b"])
    assert np.abs(np.asarray(ts.params["dense_1"]["w"]) - before["dense_1"]["w"]).min() > 0
    assert np.abs(np.asarray(ts.params["dense_1"]["b"]) - before["dense_1"]["b"]).min() > 0


def test_freeze_is_not_masked():
    """optax.masked would pass the raw gradient to the 'frozen' leaves; freeze gives zero."""
    p = small_params()
    g = jax.tree.map(jnp.ones_like, p)
    tx = freeze(optax.sgd(0.1), "bn/*")
    u, _ = tx.update(g, tx.init(p), p)
    np.testing.assert_array_equal(np.asarray(u["bn"]["scale"]), 0.0)
    np.testing.assert_allclose(np.asarray(u["dense_0"]["w"]), -0.1, rtol=1e-6)
    masked = optax.masked(optax.sgd(0.1), lambda t: mask(t, lambda path, _: "bn" not in path))
    u, _ = masked.update(g, masked.init(p), p)
    np.testing.assert_array_equal(np.asarray(u["bn"]["scale"]), 1.0)  # not frozen at all


def test_freeze_pattern_that_matches_nothing_raises():
    with pytest.raises(ValueError, match="freeze: patterns: expected 'dense0/\\*' to select"):
        freeze(optax.sgd(0.1), "dense0/*").init(small_params())


# ---- weight noise -------------------------------------------------------------------------

def test_add_weight_noise_keyed_weights_only():
    p = small_params()
    a = add_weight_noise(p, jax.random.key(3), 0.1)
    b = add_weight_noise(p, jax.random.key(3), 0.1)
    c = add_weight_noise(p, jax.random.key(4), 0.1)
    jax.tree.map(np.testing.assert_array_equal, a, b)
    assert np.abs(np.asarray(a["dense_0"]["w"]) - W0).min() > 0
    assert np.abs(np.asarray(a["dense_0"]["w"]) - np.asarray(c["dense_0"]["w"])).min() > 0
    for name in [("dense_0", "b"), ("bn", "scale"), ("dense_1", "b")]:
        np.testing.assert_array_equal(np.asarray(a[name[0]][name[1]]),
                                      np.asarray(p[name[0]][name[1]]))
    big = add_weight_noise({"w": jnp.zeros((200, 100))}, jax.random.key(0), 0.3)["w"]
    assert abs(float(big.std()) - 0.3) < 0.01 and abs(float(big.mean())) < 0.01


def test_noisy_apply_train_vs_eval():
    base = nn.serial(nn.Dense(4), nn.Tanh(), nn.Dense(2))
    model = noisy_apply(base, 0.1)
    _, params, state = model.init(jax.random.key(0), (5, 3))
    _, base_params, _ = base.init(jax.random.key(0), (5, 3))
    jax.tree.map(np.testing.assert_array_equal, params, base_params)  # same init, same paths
    x = jax.random.normal(jax.random.key(1), (5, 3))
    clean, _ = base.apply(params, state, x)
    ev, _ = model.apply(params, state, x, key=jax.random.key(2), train=False)
    np.testing.assert_array_equal(np.asarray(ev), np.asarray(clean))
    t1, _ = model.apply(params, state, x, key=jax.random.key(2), train=True)
    t2, _ = model.apply(params, state, x, key=jax.random.key(2), train=True)
    t3, _ = model.apply(params, state, x, key=jax.random.key(3), train=True)
    np.testing.assert_array_equal(np.asarray(t1), np.asarray(t2))
    assert np.abs(np.asarray(t1) - np.asarray(clean)).max() > 1e-3
    assert np.abs(np.asarray(t1) - np.asarray(t3)).max() > 1e-3
    with pytest.raises(ValueError, match="noisy_apply: train=True needs a random key"):
        model.apply(params, state, x, train=True)


def test_noisy_apply_with_the_unchanged_train_step():
    model = noisy_apply(nn.serial(nn.Dense(4), nn.Tanh(), nn.Dense(2)), 0.05)
    opt = optax.sgd(0.1)
    model, ts, batch = _regression_setup(opt, model)
    step = make_train_step(model, opt, losses.mean_squared_error)
    eval_step = make_eval_step(model, losses.mean_squared_error)
    loss0 = float(eval_step(ts, batch)["loss"])
    for _ in range(20):
        ts, logs = step(ts, batch)
    assert np.isfinite(float(logs["loss"]))
    assert float(eval_step(ts, batch)["loss"]) < loss0
