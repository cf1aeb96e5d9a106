"""cut(model, path): the named child's output from the full model's params, same keys."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jdl import models, nn


def test_cut_returns_the_named_intermediate(key):
    model = models.fashion_cnn()
    _, params, state = model.init(key, (2, 28, 28, 1))
    x = jax.random.normal(key, (2, 28, 28, 1))
    features = nn.cut(model, "features")
    shape, p2, _ = features.init(key, (2, 28, 28, 1))
    assert shape == (2, 7, 7, 64)
    y, _ = features.apply(params, state, x)
    # independent reference: run the two blocks by hand from the same params
    ref = x
    for block in ("block1", "block2"):
        b = params["features"][block]
        s = state["features"][block]["bn"]
        c = lambda v: v[None, None, None]  # noqa: E731  (per channel, broadcast written out)
        h = jax.lax.conv_general_dilated(ref, b["conv"]["w"], (1, 1), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))  # no conv bias
        h = (h - c(s["mean"])) / jnp.sqrt(c(s["var"]) + 1e-5) * c(b["bn"]["scale"]) + c(b["bn"]["bias"])
        h = jax.nn.relu(h)
        ref = h.reshape(2, h.shape[1] // 2, 2, h.shape[2] // 2, 2, -1).max(axis=(2, 4))
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
    # nested path: the hidden layer of the classifier (fc7-style features)
    fc, _ = nn.cut(model, "classifier/fc").apply(params, state, x)
    flat = ref.reshape(2, -1)
    want = flat @ params["classifier"]["fc"]["w"] + params["classifier"]["fc"]["b"][None]
    np.testing.assert_allclose(fc, want, rtol=1e-4, atol=1e-4)


def test_cut_matches_full_model_in_training_mode(key):
    model = nn.serial(("a", nn.Dense(8)), ("drop", nn.Dropout(0.5)), ("out", nn.Dense(3)))
    _, params, state = model.init(key, (4, 5))
    x = jax.random.normal(key, (4, 5))
    full, _ = model.apply(params, state, x, key=key, train=True)
    last, _ = nn.cut(model, "out").apply(params, state, x, key=key, train=True)
    np.testing.assert_array_equal(full, last)  # same keys -> same dropout mask


def test_cut_errors(key):
    model = nn.serial(("a", nn.Dense(2)))
    with pytest.raises(ValueError, match=r"cut: no child 'b' on the way to 'b'.*\['a'\]"):
        nn.cut(model, "b")


def test_cut_subtree_keeps_what_the_cut_reads():
    """Serial: the children before the named one and the named one; parallel / residual: only
    the named branch. Trees of placeholders keep it a pure bookkeeping check (no init)."""
    model = nn.serial({"stem": nn.Conv(2, 3),
                       "block": nn.residual(nn.serial({"a": nn.Conv(2, 3), "b": nn.BatchNorm()})),
                       "branches": nn.parallel({"left": nn.Dense(2), "right": nn.Dense(3)}),
                       "head": nn.Dense(4)})
    tree = {"stem": {"w": 0}, "block": {"main": {"a": {"w": 1}, "b": {"scale": 2}}},
            "branches": {"left": {"w": 3}, "right": {"w": 4}}, "head": {"w": 5}}
    assert nn.cut_subtree(model, "stem", tree) == {"stem": {"w": 0}}
    assert nn.cut_subtree(model, "block/main/a", tree) == {
        "stem": {"w": 0}, "block": {"main": {"a": {"w": 1}}}}
    assert nn.cut_subtree(model, "branches/right", tree) == {
        "stem": {"w": 0}, "block": tree["block"], "branches": {"right": {"w": 4}}}
    assert nn.cut_subtree(model, "head", tree) == tree
    with pytest.raises(ValueError, match="no child 'fc7'"):
        nn.cut_subtree(model, "fc7", tree)


def test_cut_subtree_matches_the_params_the_cut_uses(key):
    """The pruned params give the cut the same output as the full ones."""
    model = models.fashion_cnn(10, widths=(4, 8), dense=16)
    shape = (2, 28, 28, 1)
    _, params, state = model.init(key, shape)
    x = jax.random.uniform(jax.random.key(3), shape)
    cut = nn.cut(model, "features/block2")
    full, _ = cut.apply(params, state, x)
    pruned, _ = cut.apply(nn.cut_subtree(model, "features/block2", params),
                          nn.cut_subtree(model, "features/block2", state), x)
    np.testing.assert_array_equal(pruned, full)
    assert "classifier" not in nn.cut_subtree(model, "features/block2", params)
