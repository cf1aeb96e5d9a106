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
        h = jax.lax.conv_general_dilated(ref, b["conv"]["w"], (1, 1), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC")) + b["conv"]["b"]
        h = (h - s["mean"]) / jnp.sqrt(s["var"] + 1e-5) * b["bn"]["scale"] + b["bn"]["bias"]
        h = jax.nn.relu(h)
        ref = h.reshape(2, h.shape[1] // 2, 2, h.shape[2] // 2, 2, -1).max(axis=(2, 4))
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
    # nested path: the hidden layer of the classifier (fc7-style features)
    fc, _ = nn.cut(model, "classifier/fc").apply(params, state, x)
    flat = ref.reshape(2, -1)
    np.testing.assert_allclose(fc, flat @ params["classifier"]["fc"]["w"] + params["classifier"]["fc"]["b"],
                               rtol=1e-4, atol=1e-4)


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
