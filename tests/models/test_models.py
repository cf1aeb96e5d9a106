"""The model zoo: parameter counts by hand, output shapes under jit, one train step each."""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jdl import losses
from jdl.models import fashion_cnn, lenet5, logistic_regression, mlp
from jdl.train import TrainState, init_train_state, make_train_step


def _count(tree):
    return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(tree))


def _init(model, shape, seed=0):
    return model.init(jax.random.key(seed), shape)


def _abstract_init(model, shape):
    """`init`'s output shape and the params / state as ShapeDtypeStructs: no arrays drawn.

    Counting parameters needs shapes only, and `jax.eval_shape` compiles nothing (a rank-4
    random draw takes seconds to compile on XLA:CPU)."""
    captured = {}

    def f(key):
        out, params, state = model.init(key, shape)
        captured["out"] = out
        return params, state

    params, state = jax.eval_shape(f, jax.random.key(0))
    return captured["out"], params, state


def _synthetic(tree):
    """Deterministic values for an abstract params/state tree: w ~ sin(i) / sqrt(fan_in),
    biases 0, BN scale and running variance 1 (real random init is tested on the cheap models:
    each distinct rank-4 kernel shape costs ~2 s of XLA:CPU compile for its random draw)."""

    def fill(path, leaf):
        name = path[-1].key
        if name in ("scale", "var"):
            return jnp.ones(leaf.shape, leaf.dtype)
        if len(leaf.shape) < 2:
            return jnp.zeros(leaf.shape, leaf.dtype)
        fan_in = int(np.prod(leaf.shape[:-1]))
        values = np.sin(np.arange(int(np.prod(leaf.shape))) * 0.7 + 0.3) / np.sqrt(fan_in)
        return jnp.asarray(values.reshape(leaf.shape), leaf.dtype)

    return jax.tree_util.tree_map_with_path(fill, tree)


# ----------------------------------------------------------------------------- parameter counts
def test_lenet5_parameter_count_32():
    out, params, state = _abstract_init(lenet5(), (1, 32, 32, 1))
    c1 = 5 * 5 * 1 * 6 + 6          # 156:    (28, 28, 6)
    c3 = 5 * 5 * 6 * 16 + 16        # 2,416:  (10, 10, 16), full connection table
    c5 = 5 * 5 * 16 * 120 + 120     # 48,120: 400 -> 120
    f6 = 120 * 84 + 84              # 10,164
    output = 84 * 10 + 10           # 850
    assert c1 + c3 + c5 + f6 + output == 61_706
    assert _count(params) == 61_706
    assert _count(params["c1"]) == c1 and _count(params["c3"]) == c3
    assert _count(params["c5"]) == c5 and _count(params["f6"]) == f6
    assert _count(params["output"]) == output
    assert out == (1, 10) and state == {}
    assert params["c1"]["w"].shape == (5, 5, 1, 6)          # HWIO


def test_lenet5_input_28_same_count_and_shapes():
    model = lenet5(input_size=28)
    out, params, _ = _abstract_init(model, (1, 28, 28, 1))
    assert out == (1, 10)
    assert _count(params) == 61_706
    assert params["c5"]["w"].shape == (5 * 5 * 16, 120)    # S4 is still 5x5x16
    assert _count(_abstract_init(lenet5(num_classes=2), (1, 32, 32, 1))[1]) == \
        61_706 - 850 + (84 * 2 + 2)


def test_fashion_cnn_parameter_count():
    out, params, state = _abstract_init(fashion_cnn(), (1, 28, 28, 1))
    conv1 = 3 * 3 * 1 * 32           # 288: no bias before batch norm
    bn1 = 2 * 32                     # 64: scale, bias (running mean/var are state)
    conv2 = 3 * 3 * 32 * 64          # 18,432
    bn2 = 2 * 64                     # 128
    fc = 7 * 7 * 64 * 128 + 128      # 401,536: 28 -> 14 -> 7 after two 2x2 pools
    logits = 128 * 10 + 10           # 1,290
    assert conv1 + bn1 + conv2 + bn2 + fc + logits == 421_738
    assert _count(params) == 421_738
    assert set(params["features"]["block1"]["conv"]) == {"w"}
    assert out == (1, 10)
    assert _count(params["features"]["block1"]) == conv1 + bn1
    assert _count(params["classifier"]["fc"]) == fc
    assert _count(state) == 2 * (32 + 64)                  # mean and var per channel
    assert set(state["features"]["block1"]["bn"]) == {"mean", "var"}


def test_mlp_parameter_count_deck_002():
    out, params, state = _abstract_init(mlp([500, 500, 10], "sigmoid"), (1, 784))
    expected = (784 * 500 + 500) + (500 * 500 + 500) + (500 * 10 + 10)
    assert expected == 648_010
    assert _count(params) == expected
    assert out == (1, 10) and state == {}
    # images are flattened first: (1, 28, 28, 1) gives the same network
    assert _count(_abstract_init(mlp([500, 500, 10]), (1, 28, 28, 1))[1]) == expected


def test_logistic_regression():
    out, params, _ = _init(logistic_regression(1), (1, 5))
    assert out == (1, 1)
    assert _count(params) == 5 + 1
    assert params["dense"]["w"].shape == (5, 1)
    out, params, _ = _init(logistic_regression(3), (1, 4, 4, 1))
    assert out == (1, 3) and _count(params) == 16 * 3 + 3
    # it is p = sigmoid(w.x + b)
    _, params, state = _init(logistic_regression(1), (1, 5))
    x = jnp.arange(10.0).reshape(2, 5) / 10
    logit, _ = logistic_regression(1).apply(params, state, x)
    ref = np.asarray(x) @ np.asarray(params["dense"]["w"]) + np.asarray(params["dense"]["b"])
    np.testing.assert_allclose(logit, ref, rtol=1e-6)


# ----------------------------------------------------------------------------- shapes under jit
CASES = {
    "lenet5": (lambda: lenet5(), (3, 32, 32, 1), 10),
    "lenet5_28": (lambda: lenet5(input_size=28, pool="max", activation="relu"), (3, 28, 28, 1), 10),
    "fashion_cnn": (lambda: fashion_cnn(), (3, 28, 28, 1), 10),
    "mlp": (lambda: mlp([8, 4, 3], dropout=0.1, batch_norm=True), (3, 5), 3),
    "logreg": (lambda: logistic_regression(4), (3, 6), 4),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_under_jit_and_one_train_step(name):
    make, shape, k = CASES[name]
    model, opt = make(), optax.sgd(0.01)
    out_shape, abstract_params, abstract_state = _abstract_init(model, shape)
    assert out_shape == (shape[0], k)               # init's shape arithmetic
    if name in ("mlp", "logreg"):                    # real random init where it is cheap
        ts = init_train_state(model, opt, jax.random.key(0), (1,) + shape[1:])
        assert jax.tree.structure(abstract_params) == jax.tree.structure(ts.params)
        assert all(a.shape == b.shape for a, b in zip(jax.tree.leaves(abstract_params),
                                                      jax.tree.leaves(ts.params)))
    else:
        params, state = _synthetic(abstract_params), _synthetic(abstract_state)
        ts = TrainState(params, state, opt.init(params), jnp.zeros((), jnp.int32),
                        jax.random.key(0))
    # forward pass under jit, evaluation mode
    x = jnp.asarray(np.random.default_rng(1).normal(size=shape), jnp.float32)
    y, new_state = jax.jit(partial(model.apply, train=False))(ts.params, ts.state, x)
    assert y.shape == (shape[0], k) and y.dtype == jnp.float32
    assert np.isfinite(np.asarray(y)).all()
    assert jax.tree.structure(new_state) == jax.tree.structure(ts.state)
    # one jitted train step (train=True: dropout keys, batch statistics)
    before = jax.tree.map(np.array, ts.params)
    step = make_train_step(model, opt, losses.softmax_cross_entropy)
    labels = jnp.arange(shape[0]) % k
    ts, logs = step(ts, (x, labels))
    assert np.isfinite(float(logs["loss"])) and float(logs["loss"]) > 0
    assert int(ts.step) == 1
    changed = jax.tree.map(lambda a, b: not np.array_equal(a, np.asarray(b)), before, ts.params)
    assert any(jax.tree.leaves(changed))
    assert all(np.isfinite(np.asarray(a)).all() for a in jax.tree.leaves(ts.params))


def test_logistic_regression_binary_step():
    model, opt = logistic_regression(1), optax.sgd(0.5)
    ts = init_train_state(model, opt, jax.random.key(0), (1, 2))
    w0, b0 = np.array(ts.params["dense"]["w"], np.float64), np.array(ts.params["dense"]["b"])
    step = make_train_step(model, opt, losses.sigmoid_binary_cross_entropy)
    x = np.array([[1.0, 2.0], [-1.0, 0.5], [0.0, -1.0], [2.0, 1.0]], np.float32)
    t = np.array([[1.0], [0.0], [0.0], [1.0]], np.float32)
    ts, logs = step(ts, (x, t))
    s = 1 / (1 + np.exp(-(x @ w0 + b0)))                     # deck 002: gradient (s - t) x
    loss = -np.mean(t * np.log(s) + (1 - t) * np.log(1 - s))
    assert float(logs["loss"]) == pytest.approx(loss, rel=1e-5)
    np.testing.assert_allclose(ts.params["dense"]["w"], w0 - 0.5 * x.T @ (s - t) / 4, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(ts.params["dense"]["b"], b0 - 0.5 * np.mean(s - t, 0), rtol=1e-5,
                               atol=1e-6)


# ----------------------------------------------------------------------------- mlp options
def _names(model):
    return [name for name, _ in model.children]


def test_mlp_plain_children():
    model = mlp([8, 4, 3])
    assert _names(model) == ["flatten", "dense_0", "act_0", "dense_1", "act_1", "dense_2"]
    _, params, state = _init(model, (2, 5))
    assert set(params) == {"dense_0", "dense_1", "dense_2"} and state == {}
    assert params["dense_0"]["w"].shape == (5, 8) and params["dense_2"]["w"].shape == (4, 3)


def test_mlp_options_children():
    model = mlp([8, 4, 3], "tanh", dropout=0.5, batch_norm=True, output_activation="softmax")
    assert _names(model) == ["flatten", "dense_0", "batch_norm_0", "act_0", "dropout_0",
                             "dense_1", "batch_norm_1", "act_1", "dropout_1", "dense_2", "output"]
    _, params, state = _init(model, (2, 5))
    assert set(params) == {"dense_0", "batch_norm_0", "dense_1", "batch_norm_1", "dense_2"}
    assert set(state) == {"batch_norm_0", "batch_norm_1"}
    assert set(params["batch_norm_0"]) == {"scale", "bias"}
    assert params["batch_norm_1"]["scale"].shape == (4,)
    x = jnp.asarray(np.random.default_rng(3).normal(size=(6, 5)), jnp.float32)
    probs, _ = jax.jit(model.apply)(params, state, x)
    np.testing.assert_allclose(jnp.sum(probs, -1), np.ones(6), rtol=1e-6)   # softmax output
    assert bool(jnp.all(probs > 0))
    with pytest.raises(ValueError, match=r"Dropout: train=True needs a random key"):
        model.apply(params, state, x, train=True)
    train_apply = jax.jit(partial(model.apply, train=True))
    a, new_state = train_apply(params, state, x, key=jax.random.key(0))
    b, _ = train_apply(params, state, x, key=jax.random.key(1))
    assert not np.allclose(a, b)                                             # dropout is active
    assert not np.allclose(new_state["batch_norm_0"]["mean"], 0.0)          # BN stats updated


def test_mlp_activation_choice_is_used():
    _, params, state = _init(mlp([8, 4, 3], "relu"), (1, 5))
    x = jnp.asarray(np.random.default_rng(5).normal(size=(4, 5)), jnp.float32)
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    xs = np.asarray(x, np.float64)
    for act, fn in (("relu", lambda z: np.maximum(z, 0)),
                    ("sigmoid", lambda z: 1 / (1 + np.exp(-z))), ("tanh", np.tanh)):
        y, _ = jax.jit(mlp([8, 4, 3], act).apply)(params, state, x)
        h = fn(xs @ p["dense_0"]["w"] + p["dense_0"]["b"])
        h = fn(h @ p["dense_1"]["w"] + p["dense_1"]["b"])
        np.testing.assert_allclose(y, h @ p["dense_2"]["w"] + p["dense_2"]["b"], rtol=1e-5,
                                   atol=1e-6)


# ----------------------------------------------------------------------------- invalid arguments
def test_invalid_arguments():
    with pytest.raises(ValueError, match=r"mlp: expected sizes to be a non-empty list of positive "
                                         r"ints, got \[\]"):
        mlp([])
    with pytest.raises(ValueError, match=r"mlp: expected sizes .*got \[10, 0\]"):
        mlp([10, 0])
    with pytest.raises(ValueError, match=r"lenet5: expected input_size 28 or 32, got 30"):
        lenet5(input_size=30)
    with pytest.raises(ValueError, match=r"lenet5: expected pool 'avg' or 'max', got 'min'"):
        lenet5(pool="min")
    with pytest.raises(ValueError, match=r"activation: expected one of .*got 'sigmod'"):
        mlp([4, 2], "sigmod")
    with pytest.raises(ValueError, match=r"Dropout: expected rate"):
        fashion_cnn(dropout=1.0)
