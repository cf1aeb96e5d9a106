"""`jdl.transfer`: feature extraction and fine-tuning (deck 003, CURRICULUM ch. 8).

Checks: the extractor returns the named layer's output (against a hand computation), batched
extraction equals one call, a classifier trained on features separates a trivial problem,
transplant copies exactly the selected tensors, frozen parameters stay bit-identical under
Adam + weight decay, the pretrained update is s x the full one (by hand against optax.sgd),
and weights round-trip through a file. Tiny models on 8x8 inputs keep the file fast.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jdl import checkpoint, losses, metrics, models, nn, transfer
from jdl.paths import paths
from jdl.regularizers import weight_decay
from jdl.train import TrainState, fit, make_steps, make_train_step, predict

SHAPE = (1, 8, 8, 1)


def tiny_cnn(num_classes: int = 3) -> nn.Layer:
    """An AlexNet in miniature: conv, pool, then fc6 / fc7 with dropout, then the output."""
    return nn.serial(("conv", nn.Conv(4, 3)), ("relu", nn.Relu()), ("pool", nn.MaxPool(2)),
                     ("flatten", nn.Flatten()), ("fc6", nn.Dense(16)), ("relu6", nn.Relu()),
                     ("drop6", nn.Dropout(0.5)), ("fc7", nn.Dense(8)), ("relu7", nn.Relu()),
                     ("out", nn.Dense(num_classes)))


def small_fashion(num_classes: int = 10) -> nn.Layer:
    """fashion_cnn with one block: features/block1/{conv,bn}, classifier/{fc,dropout,logits}."""
    return models.fashion_cnn(num_classes, widths=(4,), dense=8, dropout=0.5)


def init(model, seed=0, shape=SHAPE):
    """Random (params, state) of `model`'s structure without compiling its initializers
    (XLA:CPU compiles random draws slowly): shapes from `jax.eval_shape`, values from NumPy,
    w ~ N(0, 1 / fan_in), other leaves ~ N(0, 0.1^2); batch-norm variances in [0.5, 2]."""
    rng = np.random.default_rng(seed)
    _, params, state = jax.eval_shape(lambda: model.init(jax.random.key(0), shape))

    def fill(path, leaf):
        name = path[-1].key
        if name == "var":
            value = rng.uniform(0.5, 2.0, size=leaf.shape)
        elif name == "w":
            value = rng.normal(size=leaf.shape) / np.sqrt(np.prod(leaf.shape[:-1]))
        else:
            value = 0.1 * rng.normal(size=leaf.shape)
        return jnp.asarray(value, leaf.dtype)

    return tuple(jax.tree_util.tree_map_with_path(fill, t) for t in (params, state))


def train_state(model, optimizer, params, state=None):
    """A TrainState around given params (what `init_train_state` builds, minus the init)."""
    state = {} if state is None else state
    return TrainState(params, state, optimizer.init(params), jnp.zeros((), jnp.int32),
                      jax.random.key(0))


@pytest.fixture(scope="module")
def cnn():
    return init(tiny_cnn())


@pytest.fixture(scope="module")
def fashion():
    return init(small_fashion())  # running statistics far from (0, 1): eval mode must use them


def images(n, seed=0):
    """Three trivially separable classes: a bright 4x4 quadrant (0, 1 or 2) plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n).astype(np.int32)
    x = 0.1 * rng.normal(size=(n, 8, 8, 1)).astype(np.float32)
    for i, c in enumerate(y):
        r, col = divmod(int(c), 2)
        x[i, 4 * r:4 * r + 4, 4 * col:4 * col + 4] += 1.0
    return x, y


def conv_same(x, w, b):
    return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC")) + b[None, None, None]


def pool2(h):
    b, hh, ww, c = h.shape
    return h.reshape(b, hh // 2, 2, ww // 2, 2, c).max(axis=(2, 4))


# ---- feature extraction ---------------------------------------------------------------------

def test_feature_extractor_returns_the_named_layers_output(cnn):
    params, state = cnn
    x, _ = images(6)
    pooled = pool2(jax.nn.relu(conv_same(x, params["conv"]["w"], params["conv"]["b"])))
    fc6 = jax.nn.relu(pooled.reshape(6, -1) @ params["fc6"]["w"] + params["fc6"]["b"][None])
    fc7 = jax.nn.relu(fc6 @ params["fc7"]["w"] + params["fc7"]["b"][None])  # dropout off: train=False

    got = transfer.feature_extractor(tiny_cnn(), params, state, "relu6")(x)
    assert got.shape == (6, 16)
    np.testing.assert_allclose(got, fc6, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(transfer.feature_extractor(tiny_cnn(), params, state, "relu7")(x),
                               fc7, rtol=1e-5, atol=1e-5)
    maps = transfer.feature_extractor(tiny_cnn(), params, state, "pool", flatten=False)(x)
    assert maps.shape == (6, 4, 4, 4)
    np.testing.assert_allclose(maps, pooled, rtol=1e-5, atol=1e-5)
    flat = transfer.feature_extractor(tiny_cnn(), params, state, "pool")(x)
    np.testing.assert_allclose(flat, pooled.reshape(6, 64), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="cut: no child 'fc9'"):
        transfer.feature_extractor(tiny_cnn(), params, state, "fc9")
    with pytest.raises(TypeError, match="pass ts.params, ts.state"):
        transfer.feature_extractor(tiny_cnn(), train_state(tiny_cnn(), optax.sgd(0.1), params),
                                   state, "fc6")


def test_feature_extractor_nested_path_uses_running_statistics(fashion):
    params, state = fashion
    x, _ = images(5)
    b, s = params["features"]["block1"], state["features"]["block1"]["bn"]
    h = conv_same(x, b["conv"]["w"], jnp.zeros(b["conv"]["w"].shape[-1]))  # no bias before BN
    c = lambda v: v[None, None, None]  # noqa: E731  (per channel, broadcast written out)
    h = (h - c(s["mean"])) / jnp.sqrt(c(s["var"]) + 1e-5) * c(b["bn"]["scale"]) + c(b["bn"]["bias"])
    h = pool2(jax.nn.relu(h)).reshape(5, -1)
    fc = params["classifier"]["fc"]
    ref = jax.nn.relu(h @ fc["w"] + fc["b"][None])
    # the cut ends *after* the dropout layer: evaluation mode, so it is the identity
    got = transfer.feature_extractor(small_fashion(), params, state, "classifier/dropout")(x)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_extract_features_batches_pad_and_equal_one_call(cnn):
    params, state = cnn
    x, _ = images(10)
    whole = transfer.feature_extractor(tiny_cnn(), params, state, "relu6")(x)
    got = transfer.extract_features(tiny_cnn(), params, state, "relu6", x, batch_size=4)
    assert isinstance(got, np.ndarray) and got.shape == (10, 16) and got.dtype == np.float32
    np.testing.assert_allclose(got, whole, rtol=1e-6, atol=1e-6)
    on_device = transfer.extract_features(tiny_cnn(), params, state, "relu6", jnp.asarray(x),
                                          batch_size=4)
    np.testing.assert_array_equal(on_device, got)
    with pytest.raises(ValueError, match="batch_size"):
        transfer.extract_features(tiny_cnn(), params, state, "relu6", x, batch_size=0)


def test_classifier_on_features_then_attach_head(cnn):
    """Deck 003's feature extraction: fc6-style features of a fixed network + a new classifier;
    then the classifier on top of the cut network is one model with the same predictions."""
    params, state = cnn
    x, y = images(96, seed=2)
    x_test, y_test = images(48, seed=3)
    feats = transfer.extract_features(tiny_cnn(), params, state, "relu6", x, batch_size=32)
    feats_test = transfer.extract_features(tiny_cnn(), params, state, "relu6", x_test,
                                           batch_size=32)
    head = models.logistic_regression(3)
    opt = optax.adam(0.05)
    ts = train_state(head, opt, init(head, seed=1, shape=(1, 16))[0])
    train_step, eval_step = make_steps(head, opt, losses.softmax_cross_entropy,
                                       metrics={"accuracy": metrics.accuracy})
    ts, history = fit(ts, train_step, (feats, y), epochs=25, batch_size=32, verbose=0,
                      shuffle=False)  # no permutation to compile; the classes are interleaved
    accuracy = float(jnp.mean(metrics.accuracy(predict(head, ts, feats_test), y_test)))
    assert accuracy >= 0.95, (accuracy, history["loss"][-1])

    full = transfer.attach_head(tiny_cnn(), "relu6", head)
    fresh, _ = init(full, seed=4)
    # the base holds only what the cut runs (conv, fc6), not fc7 / out of the old model
    assert paths(fresh) == ["base/conv/b", "base/conv/w", "base/fc6/b", "base/fc6/w",
                            "head/dense/b", "head/dense/w"]
    full_params, report = transfer.transplant({"base": params, "head": ts.params}, fresh)
    assert report.kept == () and len(report.copied) == 6
    assert report.unused == ("base/fc7/b", "base/fc7/w", "base/out/b", "base/out/w")
    full_ts = train_state(full, optax.sgd(0.1), full_params)
    np.testing.assert_allclose(predict(full, full_ts, x_test), predict(head, ts, feats_test),
                               rtol=1e-5, atol=1e-5)


def test_attach_head_with_base_in_eval_mode_keeps_pretrained_statistics(fashion):
    """Keras's `base_model(x, training=False)`: with base_train=False a frozen base keeps its
    parameters *and* batch-norm running statistics bit-identical while the head trains, and
    its output is the eval-mode features (against the feature extractor)."""
    params, state = fashion
    x, y = images(16)
    head = models.logistic_regression(3)
    results = {}
    for base_train in (True, False):
        model = transfer.attach_head(small_fashion(), "features", head, base_train=base_train)
        fresh_params, fresh_state = init(model, seed=5)
        full_params, _ = transfer.transplant({"base": params}, fresh_params, exclude="head/*")
        full_state, _ = transfer.transplant({"base": state}, fresh_state)
        opt = transfer.fine_tune_optimizer(optax.adam(1e-2), frozen="base/*")
        ts = train_state(model, opt, full_params, full_state)
        step = make_train_step(model, opt, losses.softmax_cross_entropy)
        for _ in range(3):
            ts, _ = step(ts, (x, y))
        results[base_train] = ts
    frozen, moving = results[False], results[True]
    for new, old in zip(jax.tree.leaves(frozen.state["base"]), jax.tree.leaves(state)):
        np.testing.assert_array_equal(new, old)
    # in train mode the same frozen base moved its statistics (the pitfall eval mode avoids)
    assert not np.array_equal(moving.state["base"]["features"]["block1"]["bn"]["mean"],
                              state["features"]["block1"]["bn"]["mean"])
    np.testing.assert_array_equal(frozen.params["base"]["features"]["block1"]["conv"]["w"],
                                  params["features"]["block1"]["conv"]["w"])
    model = transfer.attach_head(small_fashion(), "features", head, base_train=False)
    base_out, _ = model.children[0][1].apply(frozen.params["base"], frozen.state["base"], x,
                                             train=True)
    want = transfer.feature_extractor(small_fashion(), params, state, "features",
                                      flatten=False)(x)
    np.testing.assert_allclose(base_out, want, rtol=1e-6, atol=1e-6)


# ---- transplant -----------------------------------------------------------------------------

def test_transplant_copies_selected_tensors_and_reports():
    pre, _ = init(models.mlp([16, 8, 10]), seed=0)
    new, _ = init(models.mlp([16, 8, 5]), seed=1)
    out, report = transfer.transplant(pre, new, exclude="dense_2/*")
    assert report.copied == ("dense_0/b", "dense_0/w", "dense_1/b", "dense_1/w")
    assert report.kept == ("dense_2/b", "dense_2/w") and report.missing == ()
    assert report.unused == ("dense_2/b", "dense_2/w")
    assert "copied 4 pretrained tensors" in str(report)
    for name in ("dense_0", "dense_1"):
        for leaf in ("w", "b"):
            np.testing.assert_array_equal(out[name][leaf], pre[name][leaf])
    np.testing.assert_array_equal(out["dense_2"]["w"], new["dense_2"]["w"])
    # a copy: deleting (or donating) the new tree leaves the pretrained arrays alive
    out["dense_0"]["w"].delete()
    assert np.isfinite(np.asarray(pre["dense_0"]["w"])).all()

    only, r = transfer.transplant(pre, new, include="dense_0/*", exclude="dense_2/*")
    assert r.copied == ("dense_0/b", "dense_0/w")
    np.testing.assert_array_equal(only["dense_1"]["w"], new["dense_1"]["w"])

    with pytest.raises(ValueError, match=r"dense_2/w: pretrained shape \(8, 10\), new model "
                                         r"shape \(8, 5\)[\s\S]*exclude="):
        transfer.transplant(pre, new)
    with pytest.raises(ValueError, match="transplant: exclude: expected 'dens_2/\\*'"):
        transfer.transplant(pre, new, exclude="dens_2/*")
    with pytest.raises(ValueError, match="copied nothing"):
        transfer.transplant({"params": pre}, new, exclude="dense_2/*")

    partial = {"dense_0": pre["dense_0"]}
    _, r = transfer.transplant(partial, new, exclude="dense_2/*")
    assert r.missing == ("dense_1/b", "dense_1/w") and r.copied == ("dense_0/b", "dense_0/w")
    with pytest.raises(ValueError, match="strict=True.*dense_1/b"):
        transfer.transplant(partial, new, exclude="dense_2/*", strict=True)


def test_init_transfer_state_new_head_and_batch_norm_statistics(fashion):
    params, state = fashion
    ts, report = transfer.init_transfer_state(small_fashion(5), optax.adam(1e-3),
                                              jax.random.key(3), SHAPE, params, state,
                                              exclude="classifier/logits/*")
    assert ts.params["classifier"]["logits"]["w"].shape == (8, 5)
    assert set(report.kept) == {"params/classifier/logits/b", "params/classifier/logits/w"}
    assert "state/features/block1/bn/mean" in report.copied
    np.testing.assert_array_equal(ts.state["features"]["block1"]["bn"]["var"],
                                  state["features"]["block1"]["bn"]["var"])
    np.testing.assert_array_equal(ts.params["classifier"]["fc"]["w"],
                                  params["classifier"]["fc"]["w"])
    assert int(ts.step) == 0
    with pytest.raises(ValueError, match="expected pretrained_state"):
        transfer.init_transfer_state(small_fashion(5), optax.adam(1e-3), jax.random.key(3),
                                     SHAPE, params, exclude="classifier/logits/*")


# ---- fine-tuning optimizer ------------------------------------------------------------------

def test_frozen_parameters_bit_identical_under_adam_and_weight_decay(cnn):
    opt = transfer.fine_tune_optimizer(weight_decay(optax.adam(1e-2), 1e-2),
                                       frozen=["conv/*", "fc6/*"], head="out/*",
                                       pretrained_lr_scale=0.1)
    ts = train_state(tiny_cnn(), opt, jax.tree.map(jnp.array, cnn[0]))  # a copy: donated
    before = jax.tree.map(np.array, ts.params)
    step = make_train_step(tiny_cnn(), opt, losses.softmax_cross_entropy)  # jitted, donated
    x, y = images(16)
    for _ in range(5):
        ts, logs = step(ts, (x, y))
    assert np.isfinite(float(logs["loss"]))
    for name in ("conv", "fc6"):
        for leaf in ("w", "b"):
            np.testing.assert_array_equal(np.asarray(ts.params[name][leaf]), before[name][leaf])
    for name in ("fc7", "out"):
        assert not np.array_equal(np.asarray(ts.params[name]["w"]), before[name]["w"])


def tree():
    params = {"base": {"w": jnp.array([[1.0, -2.0], [0.5, 3.0]]), "b": jnp.array([0.1, -0.2])},
              "head": {"w": jnp.array([[2.0], [-1.0]]), "b": jnp.array([0.3])}}
    grads = {"base": {"w": jnp.array([[0.4, -1.0], [2.0, 0.25]]), "b": jnp.array([-0.5, 1.5])},
             "head": {"w": jnp.array([[1.0], [-3.0]]), "b": jnp.array([0.75])}}
    return params, grads


def updates_of(tx, params, grads_seq):
    state, out = tx.init(params), []
    for g in grads_seq:
        u, state = tx.update(g, state, params)
        out.append(u)
    return out


def test_pretrained_lr_scale_by_hand_against_optax_sgd():
    params, g = tree()
    lr, s = 0.1, 0.1
    (u,) = updates_of(transfer.fine_tune_optimizer(optax.sgd(lr), pretrained="base/*",
                                                   pretrained_lr_scale=s), params, [g])
    for leaf in ("w", "b"):
        # by hand: the pretrained update is s x the full one, -s lr g; the head gets -lr g
        np.testing.assert_allclose(u["base"][leaf], -s * lr * np.asarray(g["base"][leaf]),
                                   rtol=1e-6)
        np.testing.assert_allclose(u["head"][leaf], -lr * np.asarray(g["head"][leaf]), rtol=1e-7)
        # and equals plain SGD with the smaller learning rate s * lr
        ref, _ = optax.sgd(s * lr).update(g["base"], optax.sgd(s * lr).init(params["base"]))
        np.testing.assert_allclose(u["base"][leaf], ref[leaf], rtol=1e-6)
    # "head=" is the complement form of "pretrained="
    (u2,) = updates_of(transfer.fine_tune_optimizer(optax.sgd(lr), head="head/*",
                                                    pretrained_lr_scale=s), params, [g])
    jax.tree.map(np.testing.assert_array_equal, u2, u)
    # frozen wins over pretrained: exactly zero
    (u3,) = updates_of(transfer.fine_tune_optimizer(optax.sgd(lr), frozen="base/b",
                                                    pretrained="base/*"), params, [g])
    np.testing.assert_array_equal(u3["base"]["b"], 0.0)
    np.testing.assert_allclose(u3["base"]["w"], u["base"]["w"], rtol=1e-7)
    assert transfer.fine_tune_groups(params, frozen="base/b", pretrained="base/*") == {
        "base/b": "frozen", "base/w": "scaled", "head/b": "full", "head/w": "full"}
    assert transfer.fine_tune_groups(params, head="head/*") == transfer.fine_tune_groups(
        params, pretrained="base/*")


@pytest.mark.parametrize("make", [lambda lr: optax.adam(lr), lambda lr: optax.sgd(lr, 0.9)],
                         ids=["adam", "momentum"])
def test_scaled_update_equals_smaller_learning_rate(make):
    params, g = tree()
    seq = [g, jax.tree.map(lambda a: -0.5 * a + 0.1, g), jax.tree.map(lambda a: 2.0 * a, g)]
    tuned = updates_of(transfer.fine_tune_optimizer(make(1e-2), head="head/*",
                                                    pretrained_lr_scale=0.25), params, seq)
    slow = updates_of(make(0.25e-2), params["base"], [x["base"] for x in seq])
    full = updates_of(make(1e-2), params["head"], [x["head"] for x in seq])
    for t in range(3):
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-9),
                     tuned[t]["base"], slow[t])
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9),
                     tuned[t]["head"], full[t])


def test_fine_tune_optimizer_errors():
    params, _ = tree()
    with pytest.raises(ValueError, match="not both"):
        transfer.fine_tune_optimizer(optax.sgd(0.1), pretrained="base/*", head="head/*")
    with pytest.raises(ValueError, match="pretrained_lr_scale"):
        transfer.fine_tune_optimizer(optax.sgd(0.1), head="head/*", pretrained_lr_scale=-1.0)
    with pytest.raises(TypeError, match="GradientTransformation"):
        transfer.fine_tune_optimizer("adam", head="head/*")
    with pytest.raises(ValueError, match="pretrained: expected 'bsae/\\*' to select"):
        transfer.fine_tune_optimizer(optax.sgd(0.1), pretrained="bsae/*").init(params)
    with pytest.raises(ValueError, match="head: expected '\\*' to leave some"):
        transfer.fine_tune_optimizer(optax.sgd(0.1), head="*").init(params)
    with pytest.raises(ValueError, match="freeze: patterns"):
        transfer.fine_tune_optimizer(optax.sgd(0.1), frozen="nothing/*").init(params)
    with pytest.raises(ValueError, match="fine_tune_groups: frozen: expected 'nothing/\\*'"):
        transfer.fine_tune_groups(params, frozen="nothing/*")


# ---- weights from a local file --------------------------------------------------------------

def test_save_and_load_pretrained_round_trip(tmp_path, fashion):
    params, state = fashion
    path = checkpoint.save_weights(tmp_path / "fashion.jdlw", {"params": params, "state": state})
    p2, s2 = transfer.load_pretrained(path, small_fashion(), SHAPE)
    jax.tree.map(np.testing.assert_array_equal, p2, params)
    jax.tree.map(np.testing.assert_array_equal, s2, state)
    assert jax.tree.structure(p2) == jax.tree.structure(params)
    # the file's tree must be the model's: a 5-class head is named in the error
    with pytest.raises(ValueError, match=r"params/classifier/logits/w: expected shape \(8, 5\)"):
        transfer.load_pretrained(path, small_fashion(5), SHAPE)
    # a model without state: state=None is stored as {}
    mlp_params, _ = init(models.mlp([4, 3]))
    path = checkpoint.save_weights(tmp_path / "mlp.jdlw", {"params": mlp_params, "state": {}})
    p3, s3 = transfer.load_pretrained(path, models.mlp([4, 3]), (7, 8, 8, 1))
    jax.tree.map(np.testing.assert_array_equal, p3, mlp_params)
    assert s3 == {}
