"""`nn.eval_mode`: a block that runs as at test time inside a training model (deck 003's
frozen layers). References: flax.linen.BatchNorm(use_running_average=True) on the same numbers,
the wrapped layer's own train=False output, and bit-identical state after jitted train steps."""
import flax.linen as fnn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jdl import losses, nn, regularizers
from jdl.summary import summary
from jdl.train import TrainState, make_train_step


def _bn_numbers(c=3, seed=0):
    rng = np.random.default_rng(seed)
    params = {"scale": jnp.asarray(rng.uniform(0.5, 2, c), jnp.float32),
              "bias": jnp.asarray(rng.normal(size=c), jnp.float32)}
    state = {"mean": jnp.asarray(rng.normal(size=c), jnp.float32),
             "var": jnp.asarray(rng.uniform(0.5, 2, c), jnp.float32)}
    x = jnp.asarray(rng.normal(2.0, 3.0, size=(6, 4, 4, c)), jnp.float32)
    return params, state, x


def test_batch_norm_in_eval_mode_uses_and_keeps_running_statistics_when_training():
    params, state, x = _bn_numbers()
    frozen = nn.eval_mode(nn.BatchNorm(momentum=0.9))
    y, new_state = frozen.apply(params, state, x, train=True)
    reference = fnn.BatchNorm(use_running_average=True, momentum=0.9, epsilon=1e-5).apply(
        {"params": params, "batch_stats": state}, x)
    np.testing.assert_allclose(y, reference, rtol=1e-5, atol=1e-5)
    assert new_state is state
    # the plain layer in train mode normalizes by the batch and moves its statistics
    y_train, moved = nn.BatchNorm(momentum=0.9).apply(params, state, x, train=True)
    assert not np.allclose(y_train, y) and not np.allclose(moved["mean"], state["mean"])


def test_dropout_in_eval_mode_is_the_identity_without_a_key():
    x = jnp.arange(12.0).reshape(3, 4)
    y, s = nn.eval_mode(nn.Dropout(0.5)).apply({}, {}, x, train=True)
    np.testing.assert_array_equal(y, x)
    assert s == {}
    with pytest.raises(ValueError, match="key"):  # the bare layer still refuses
        nn.Dropout(0.5).apply({}, {}, x, train=True)


def test_same_trees_as_the_wrapped_layer_and_gradients_flow():
    block = nn.serial({"conv": nn.Conv(2, 3), "bn": nn.BatchNorm(), "relu": nn.Relu()})
    shape = (2, 5, 5, 1)
    _, params, state = block.init(jax.random.key(0), shape)
    _, params_e, state_e = nn.eval_mode(block).init(jax.random.key(0), shape)
    assert jax.tree.structure((params, state)) == jax.tree.structure((params_e, state_e))
    x = jax.random.normal(jax.random.key(1), shape)

    def loss(layer, train):
        return lambda p: jnp.sum(layer.apply(p, state, x, train=train)[0] ** 2)

    got = jax.grad(loss(nn.eval_mode(block), True))(params)
    want = jax.grad(loss(block, False))(params)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)
    assert float(jnp.abs(got["conv"]["w"]).sum()) > 0


def test_frozen_block_keeps_params_and_statistics_bit_identical_while_the_rest_trains():
    """Deck 003: freeze the first block (optimizer) and run it in eval mode (statistics);
    the second block's batch norm keeps learning its running statistics."""
    def block(c):
        return nn.serial({"conv": nn.Conv(c, 3), "bn": nn.BatchNorm(), "relu": nn.Relu()})

    model = nn.serial({"block1": nn.eval_mode(block(4)), "block2": block(4),
                       "pool": nn.GlobalAvgPool(), "drop": nn.Dropout(0.3), "out": nn.Dense(3)})
    optimizer = regularizers.freeze(optax.adam(1e-2), "block1/*")
    _, params, state = model.init(jax.random.key(0), (1, 8, 8, 1))
    ts = TrainState(params, state, optimizer.init(params), jnp.zeros((), jnp.int32),
                    jax.random.key(1))
    before = jax.tree.map(np.asarray, (params, state))
    step = make_train_step(model, optimizer, losses.softmax_cross_entropy)
    rng = np.random.default_rng(0)
    for _ in range(3):
        batch = (jnp.asarray(rng.normal(size=(8, 8, 8, 1)), jnp.float32),
                 jnp.asarray(rng.integers(0, 3, 8), jnp.int32))
        ts, _ = step(ts, batch)
    for new, old in zip(jax.tree.leaves((ts.params["block1"], ts.state["block1"])),
                        jax.tree.leaves((before[0]["block1"], before[1]["block1"]))):
        np.testing.assert_array_equal(new, old)
    assert not np.array_equal(ts.state["block2"]["bn"]["mean"], before[1]["block2"]["bn"]["mean"])
    assert not np.array_equal(ts.params["block2"]["conv"]["w"], before[0]["block2"]["conv"]["w"])


def test_rejects_a_non_layer():
    with pytest.raises(TypeError, match="eval_mode: expected a jdl.nn.Layer, got function"):
        nn.eval_mode(lambda x: x)


def _two_blocks(wrap):
    def block(c):
        return nn.serial({"conv": nn.Conv(c, 3), "bn": nn.BatchNorm(), "relu": nn.Relu()})

    first = nn.eval_mode(block(3)) if wrap else block(3)
    return nn.serial({"block1": first, "block2": block(4), "pool": nn.GlobalAvgPool(),
                      "out": nn.Dense(2)})


def test_summary_looks_through_the_wrapper():
    """Same rows, paths, parameter and MAC counts as the unwrapped model; the row says so."""
    shape = (1, 6, 6, 1)
    plain, wrapped = summary(_two_blocks(False), shape), summary(_two_blocks(True), shape)
    assert [r.path for r in wrapped.rows] == [r.path for r in plain.rows]
    assert (wrapped.total_params, wrapped.total_macs) == (plain.total_params, plain.total_macs)
    assert wrapped["block1"].kind == "eval_mode(serial)"
    assert wrapped["block1/conv"].macs == plain["block1/conv"].macs == 36 * 9 * 3


def test_cut_inside_the_wrapper_runs_in_eval_mode():
    model = _two_blocks(True)
    _, params, state = model.init(jax.random.key(0), (4, 6, 6, 1))
    state = jax.tree.map(lambda v: v + 0.5, state)  # running statistics away from (0, 1)
    x = jax.random.normal(jax.random.key(1), (4, 6, 6, 1))
    cut = nn.cut(model, "block1/bn")
    got, new_state = cut.apply(params, state, x, train=True)
    conv = nn.Conv(3, 3).apply(params["block1"]["conv"], {}, x)[0]
    want = nn.BatchNorm().apply(params["block1"]["bn"], state["block1"]["bn"], conv)[0]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(new_state["block1"]["bn"]["mean"], state["block1"]["bn"]["mean"])
    assert set(nn.cut_subtree(model, "block1/bn", params)) == {"block1"}
    assert set(nn.cut_subtree(model, "block1/bn", params)["block1"]) == {"conv", "bn"}
