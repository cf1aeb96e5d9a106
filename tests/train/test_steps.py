"""TrainState and the jitted train / eval steps, against hand-computed gradient steps."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jdl import data, initializers, losses, metrics, nn
from jdl.train import (TrainState, dropout_key, init_train_state, make_eval_step, make_steps,
                       make_train_step)

N, D, K = 8, 4, 3


def _data(seed=0, n=N):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, D)).astype(np.float32)
    y = rng.integers(0, K, size=n).astype(np.int32)
    return x, y


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _ce_and_grads(w, b, x, y):
    """Mean softmax cross-entropy of x @ w + b and its gradient, by hand (float64 numpy)."""
    w, b, x = (np.asarray(a, np.float64) for a in (w, b, x))
    n = len(x)
    p = _softmax(x @ w + b)
    onehot = np.eye(w.shape[1])[y]
    loss = -np.mean(np.log(p[np.arange(n), y]))
    dz = (p - onehot) / n
    return loss, x.T @ dz, dz.sum(0), p


def _host(tree):
    return jax.tree.map(lambda a: np.array(a), tree)


def _dense_state(key, optimizer):
    return init_train_state(nn.serial(("dense", nn.Dense(K))), optimizer, key, (1, D))


# ----------------------------------------------------------------------------- init_train_state
def test_init_train_state_fields(key):
    opt = optax.adam(1e-3)
    ts = _dense_state(key, opt)
    assert isinstance(ts, TrainState)
    assert ts.params["dense"]["w"].shape == (D, K) and ts.params["dense"]["b"].shape == (K,)
    assert ts.state == {}
    assert ts.step.shape == () and ts.step.dtype == jnp.int32 and int(ts.step) == 0
    assert jnp.issubdtype(ts.key.dtype, jax.dtypes.prng_key)
    # the run key is not the seed key itself (one half of it initialised the parameters)
    assert not np.array_equal(jax.random.key_data(ts.key), jax.random.key_data(key))
    chex.assert_trees_all_equal(ts.opt_state, opt.init(ts.params))
    # a pytree: leaves are the params, the optimizer state, the step and the key
    assert len(jax.tree.leaves(ts)) == 2 + len(jax.tree.leaves(opt.init(ts.params))) + 2


def test_init_train_state_needs_typed_key():
    with pytest.raises(TypeError, match=r"key: expected a typed PRNG key from jax.random.key"
                                        r"\(seed\), got uint32"):
        _dense_state(jax.random.PRNGKey(0), optax.sgd(0.1))


def test_dropout_and_shuffle_keys(key):
    kd = jax.random.key_data
    assert not np.array_equal(kd(dropout_key(key, 0)), kd(dropout_key(key, 1)))
    assert not np.array_equal(kd(data.shuffle_key(key, 0)), kd(data.shuffle_key(key, 1)))
    # dropout and shuffling never share a key
    assert not np.array_equal(kd(dropout_key(key, 3)), kd(data.shuffle_key(key, 3)))
    # pure functions of (key, step), traced or not
    np.testing.assert_array_equal(kd(dropout_key(key, 5)), kd(jax.jit(dropout_key)(key, 5)))
    np.testing.assert_array_equal(kd(dropout_key(key, 2)), kd(dropout_key(jax.random.key(0), 2)))


# ----------------------------------------------------------------------------- one step by hand
def test_sgd_step_equals_hand_gradient_step(key):
    lr = 0.3
    ts = _dense_state(key, optax.sgd(lr))
    w0, b0 = np.array(ts.params["dense"]["w"]), np.array(ts.params["dense"]["b"])
    run_key = np.array(jax.random.key_data(ts.key))
    x, y = _data()
    step = make_train_step(nn.serial(("dense", nn.Dense(K))), optax.sgd(lr),
                           losses.softmax_cross_entropy, metrics={"accuracy": metrics.accuracy})
    ts1, logs = step(ts, (x, y))
    loss, gw, gb, p = _ce_and_grads(w0, b0, x, y)
    np.testing.assert_allclose(ts1.params["dense"]["w"], w0 - lr * gw, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ts1.params["dense"]["b"], b0 - lr * gb, rtol=1e-5, atol=1e-6)
    assert float(logs["loss"]) == pytest.approx(loss, rel=1e-5)
    assert float(logs["accuracy"]) == pytest.approx(np.mean(p.argmax(-1) == y))
    assert int(ts1.step) == 1
    np.testing.assert_array_equal(jax.random.key_data(ts1.key), run_key)  # the run key is kept


def test_step_matches_independent_jax_grad_for_adam(key):
    """Two Adam steps against jax.grad of a hand-written loss of (w, b) and optax directly."""
    model = nn.serial(("dense", nn.Dense(K)))
    opt = optax.adam(0.1)
    ts = init_train_state(model, opt, key, (1, D))
    ref = {"dense": {"w": jnp.array(ts.params["dense"]["w"]),
                     "b": jnp.array(ts.params["dense"]["b"])}}
    ref_opt = opt.init(ref)
    step = make_train_step(model, opt, losses.softmax_cross_entropy)

    def hand_loss(p, x, y):
        z = x @ p["dense"]["w"] + p["dense"]["b"][None]
        return jnp.mean(jax.nn.logsumexp(z, axis=-1) - jnp.take_along_axis(z, y[:, None], 1)[:, 0])

    @jax.jit
    def ref_step(p, o, x, y):  # plain jax.grad + optax, no jdl
        g = jax.grad(hand_loss)(p, x, y)
        upd, o = opt.update(g, o, p)
        return optax.apply_updates(p, upd), o

    for seed in (1, 2):
        x, y = _data(seed)
        ts, logs = step(ts, (x, y))
        ref, ref_opt = ref_step(ref, ref_opt, x, y)
    chex.assert_trees_all_close(ts.params, ref, rtol=1e-5, atol=1e-6)
    assert int(ts.step) == 2


def test_penalty_in_objective_not_in_reported_loss(key):
    lr, lam = 0.2, 0.5
    model = nn.serial(("dense", nn.Dense(K)))
    ts = init_train_state(model, optax.sgd(lr), key, (1, D))
    w0, b0 = np.array(ts.params["dense"]["w"]), np.array(ts.params["dense"]["b"])
    penalty = lambda p: 0.5 * lam * jnp.sum(p["dense"]["w"] ** 2)  # noqa: E731  (L2 on weights)
    step = make_train_step(model, optax.sgd(lr), losses.softmax_cross_entropy, penalty=penalty)
    x, y = _data()
    ts1, logs = step(ts, (x, y))
    loss, gw, gb, _ = _ce_and_grads(w0, b0, x, y)
    np.testing.assert_allclose(ts1.params["dense"]["w"], w0 - lr * (gw + lam * w0), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(ts1.params["dense"]["b"], b0 - lr * gb, rtol=1e-5, atol=1e-6)
    assert float(logs["loss"]) == pytest.approx(loss, rel=1e-5)   # data loss only


def test_unjitted_step_composes_with_vmap(key):
    """jit=False gives the plain function: vmapped over a population it equals per-member steps."""
    model = nn.serial(("dense", nn.Dense(K)))
    opt = optax.sgd(0.1, momentum=0.9)
    plain = make_train_step(model, opt, losses.softmax_cross_entropy, jit=False)
    jitted = make_train_step(model, opt, losses.softmax_cross_entropy)
    assert not hasattr(plain, "lower") and hasattr(jitted, "lower")   # plain vs jitted
    x, y = _data()
    keys = jax.random.split(key, 3)
    pop = jax.jit(jax.vmap(lambda k: init_train_state(model, opt, k, (1, D))))(keys)
    pop2, logs = jax.jit(jax.vmap(plain, in_axes=(0, None)))(pop, (x, y))
    assert logs["loss"].shape == (3,)
    np.testing.assert_array_equal(pop2.step, [1, 1, 1])
    for i in (0, 2):
        member = jax.tree.map(lambda a: a[i], pop)
        one, one_logs = jitted(member, (x, y))
        chex.assert_trees_all_close(one.params, jax.tree.map(lambda a: a[i], pop2.params),
                                    rtol=1e-6, atol=1e-7)
        assert float(one_logs["loss"]) == pytest.approx(float(logs["loss"][i]), rel=1e-6)
    assert not np.allclose(pop2.params["dense"]["w"][0], pop2.params["dense"]["w"][1])


# ----------------------------------------------------------------------------- jit and donation
def test_step_compiles_once(key):
    traces = []

    def counting_loss(logits, y):
        traces.append(1)  # runs only while tracing
        return losses.softmax_cross_entropy(logits, y)

    model = nn.serial(("dense", nn.Dense(K)))
    opt = optax.sgd(0.1)
    step = make_train_step(model, opt, counting_loss)
    ts = init_train_state(model, opt, key, (1, D))
    for seed in range(3):
        ts, _ = step(ts, _data(seed))
    assert len(traces) == 1
    assert step._cache_size() == 1
    assert int(ts.step) == 3
    ts, _ = step(ts, _data(0, n=5))  # a new batch shape does retrace (the counter works)
    assert len(traces) == 2


def test_train_state_is_donated(key):
    model = nn.serial(("dense", nn.Dense(K)))
    opt = optax.adam(0.01)
    step = make_train_step(model, opt, losses.softmax_cross_entropy)
    ts = init_train_state(model, opt, key, (1, D))
    ts1, _ = step(ts, _data())
    assert ts.params["dense"]["w"].is_deleted()
    assert ts.params["dense"]["b"].is_deleted()
    assert not ts1.params["dense"]["w"].is_deleted()
    with pytest.raises(RuntimeError, match="deleted|donated"):
        np.asarray(ts.params["dense"]["w"])


# ----------------------------------------------------------------------------- determinism and keys
def _dropout_model():
    return nn.serial(("dense_0", nn.Dense(16)), ("relu", nn.Relu()), ("drop", nn.Dropout(0.5)),
                     ("dense_1", nn.Dense(K)))


DROPOUT_MODEL, DROPOUT_OPT = _dropout_model(), optax.adam(0.05)
DROPOUT_STEP = make_train_step(DROPOUT_MODEL, DROPOUT_OPT, losses.softmax_cross_entropy)


def _run(seed, n_steps=4, key_override=None, step=DROPOUT_STEP):
    ts = init_train_state(DROPOUT_MODEL, DROPOUT_OPT, jax.random.key(seed), (1, D))
    if key_override is not None:
        ts = ts._replace(key=key_override)
    for i in range(n_steps):
        ts, _ = step(ts, _data(i))
    return ts


def test_same_seed_same_params_bit_for_bit():
    a = _run(0)
    b = _run(0, step=make_train_step(DROPOUT_MODEL, DROPOUT_OPT, losses.softmax_cross_entropy))
    chex.assert_trees_all_equal(a.params, b.params)
    chex.assert_trees_all_equal(a.opt_state, b.opt_state)
    c = _run(1)
    assert not np.array_equal(a.params["dense_1"]["w"], c.params["dense_1"]["w"])
    # same initial params, another run key: only the dropout masks differ, and the result does
    d = _run(0, key_override=jax.random.key(123))
    assert not np.array_equal(a.params["dense_1"]["w"], d.params["dense_1"]["w"])


def test_dropout_mask_changes_every_step(key):
    """With lr 0 the params never move, so a changing loss can only come from new dropout masks."""
    model = nn.serial(("drop", nn.Dropout(0.5)),
                      ("dense", nn.Dense(1, use_bias=False, w_init=initializers.ones)))
    opt = optax.sgd(0.0)
    out_loss = lambda out, y: out[:, 0]  # noqa: E731  (loss = output = 2 x the kept units)
    step = make_train_step(model, opt, out_loss)
    x, y = np.ones((1, 64), np.float32), np.zeros((1,), np.int32)
    ts = init_train_state(model, opt, key, (1, 64))
    seen = []
    for t in range(4):
        assert int(ts.step) == t
        ts, logs = step(ts, (x, y))
        seen.append(float(logs["loss"]))
        assert seen[-1] % 2 == 0 and 0 < seen[-1] < 128   # 2 x (number of kept units)
    assert len(set(seen)) > 1
    # and a replay from the same TrainState reproduces them
    ts2 = init_train_state(model, opt, key, (1, 64))
    replay = []
    for t in range(4):
        ts2, logs = step(ts2, (x, y))
        replay.append(float(logs["loss"]))
    assert replay == seen


# ----------------------------------------------------------------------------- batch norm state
def test_batch_norm_state_threaded(key):
    model = nn.serial(("dense", nn.Dense(K)), ("bn", nn.BatchNorm(momentum=0.9)))
    opt = optax.sgd(0.1)
    train_step, eval_step = make_steps(model, opt, losses.softmax_cross_entropy)
    ts = init_train_state(model, opt, key, (1, D))
    np.testing.assert_array_equal(ts.state["bn"]["mean"], np.zeros(K))
    w0, b0 = np.array(ts.params["dense"]["w"], np.float64), np.array(ts.params["dense"]["b"])
    x, y = _data()
    ts, _ = train_step(ts, (x, y))
    z = x.astype(np.float64) @ w0 + b0                       # batch statistics of the BN input
    np.testing.assert_allclose(ts.state["bn"]["mean"], 0.1 * z.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ts.state["bn"]["var"], 0.9 + 0.1 * z.var(0), rtol=1e-5, atol=1e-6)
    # eval: running statistics used, state untouched, TrainState not donated
    before = _host(ts.state)
    logs = eval_step(ts, (x, y))
    chex.assert_trees_all_equal(_host(ts.state), before)
    assert not ts.params["dense"]["w"].is_deleted()
    w1, b1 = np.array(ts.params["dense"]["w"], np.float64), np.array(ts.params["dense"]["b"])
    m, v = before["bn"]["mean"], before["bn"]["var"]
    scale, bias = np.array(ts.params["bn"]["scale"]), np.array(ts.params["bn"]["bias"])
    logits = ((x @ w1 + b1) - m) / np.sqrt(v + 1e-5) * scale + bias
    ref = -np.mean(np.log(_softmax(logits)[np.arange(N), y]))
    assert float(logs["loss"]) == pytest.approx(ref, rel=1e-5)


# ----------------------------------------------------------------------------- eval step
def test_eval_step_weights_ignore_padding(key):
    model = nn.serial(("dense", nn.Dense(K)))
    eval_step = make_eval_step(model, losses.softmax_cross_entropy,
                               metrics={"accuracy": metrics.accuracy})
    ts = init_train_state(model, optax.sgd(0.1), key, (1, D))
    x, y = _data(n=5)
    rng = np.random.default_rng(9)
    xp = np.concatenate([x, 100 * rng.normal(size=(3, D)).astype(np.float32)])  # garbage rows
    yp = np.concatenate([y, np.array([2, 0, 1], np.int32)])
    wts = np.array([1, 1, 1, 1, 1, 0, 0, 0], np.float32)
    padded = eval_step(ts, (xp, yp, wts))
    plain = eval_step(ts, (x, y))
    loss, _, _, p = _ce_and_grads(np.array(ts.params["dense"]["w"]),
                                  np.array(ts.params["dense"]["b"]), x, y)
    assert float(padded["loss"]) == pytest.approx(loss, rel=1e-5)
    assert float(plain["loss"]) == pytest.approx(loss, rel=1e-5)
    assert float(padded["accuracy"]) == pytest.approx(np.mean(p.argmax(-1) == y))
    unweighted = eval_step(ts, (xp, yp))
    assert abs(float(unweighted["loss"]) - loss) > 1e-2           # the garbage would count


def test_eval_step_padding_with_nan_loss_is_dropped(key):
    """A padded row whose loss is NaN (an invalid label under jit) must not poison the mean."""
    model = nn.serial(("dense", nn.Dense(K)))
    eval_step = make_eval_step(model, losses.softmax_cross_entropy,
                               metrics={"accuracy": metrics.accuracy})
    ts = init_train_state(model, optax.sgd(0.1), key, (1, D))
    x, y = _data(n=6)
    yp = jnp.asarray(np.concatenate([y[:4], [-1, -1]]).astype(np.int32))
    out = eval_step(ts, (x, yp, np.array([1, 1, 1, 1, 0, 0], np.float32)))
    loss, _, _, p = _ce_and_grads(np.array(ts.params["dense"]["w"]),
                                  np.array(ts.params["dense"]["b"]), x[:4], y[:4])
    assert float(out["loss"]) == pytest.approx(loss, rel=1e-5)
    assert float(out["accuracy"]) == pytest.approx(np.mean(p.argmax(-1) == y[:4]))
