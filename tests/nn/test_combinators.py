"""serial / parallel / residual: naming, shapes, state threading and key derivation."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jdl import nn


def test_serial_names_shapes_and_equivalence(key):
    model = nn.serial(nn.Dense(4), nn.Relu(), nn.Dense(3), ("head", nn.Dense(2)))
    shape, params, state = model.init(key, (5, 6))
    assert shape == (5, 2) and state == {}
    assert sorted(params) == ["dense_0", "dense_1", "head"]  # parameter-free layers are omitted
    x = jax.random.normal(key, (5, 6))
    y, _ = model.apply(params, state, x)
    h = jax.nn.relu(x @ params["dense_0"]["w"] + params["dense_0"]["b"][None])
    h = h @ params["dense_1"]["w"] + params["dense_1"]["b"][None]
    np.testing.assert_allclose(y, h @ params["head"]["w"] + params["head"]["b"][None], rtol=1e-5,
                               atol=1e-6)
    assert [n for n, _ in model.children] == ["dense_0", "relu_0", "dense_1", "head"]


def test_serial_dict_and_errors(key):
    model = nn.serial({"a": nn.Dense(3), "b": nn.Dense(1)})
    assert sorted(model.init(key, (1, 2))[1]) == ["a", "b"]
    with pytest.raises(ValueError, match="duplicates"):
        nn.serial(("x", nn.Dense(1)), ("x", nn.Dense(1)))
    with pytest.raises(TypeError, match=r"Relu\(\) instead of Relu"):
        nn.serial(nn.Dense(1), nn.Relu)
    with pytest.raises(ValueError, match=r"^block/conv: Conv: expected an input of rank 4"):
        nn.serial(("block", nn.serial(("conv", nn.Conv(2, 3))))).init(key, (1, 8))


def test_serial_threads_state_and_derives_distinct_keys(key):
    model = nn.serial(nn.Dropout(0.5), nn.Dropout(0.5), ("bn", nn.BatchNorm()))
    _, params, state = model.init(key, (1000, 1))
    x = jnp.ones((1000, 1))
    # each dropout gets fold_in(key, position): the combined mask is the product of two draws
    y, new_state = model.apply(params, state, x, key=key, train=True)
    m0 = jax.random.bernoulli(jax.random.fold_in(key, 0), 0.5, x.shape)
    m1 = jax.random.bernoulli(jax.random.fold_in(key, 1), 0.5, x.shape)
    assert not np.array_equal(m0, m1)
    kept = np.asarray(m0 & m1)[:, 0]
    assert kept.sum() > 0
    np.testing.assert_array_equal(np.asarray(y)[:, 0] != np.asarray(y).min(), kept)
    assert not np.allclose(new_state["bn"]["mean"], state["bn"]["mean"])


def test_parallel_concatenates(key):
    model = nn.parallel(("a", nn.Conv(2, 1)), ("b", nn.Conv(3, 3)), ("pool", nn.MaxPool(3, 1, "SAME")))
    shape, params, _ = model.init(key, (2, 5, 5, 4))
    assert shape == (2, 5, 5, 2 + 3 + 4) and sorted(params) == ["a", "b"]
    x = jax.random.normal(key, (2, 5, 5, 4))
    y, _ = model.apply(params, {}, x)
    a, _ = nn.Conv(2, 1).apply(params["a"], {}, x)
    np.testing.assert_allclose(y[..., :2], a, rtol=1e-6)
    with pytest.raises(ValueError, match="parallel: expected branch outputs that agree"):
        nn.parallel(nn.Conv(2, 3, stride=2), nn.Conv(2, 3)).init(key, (1, 8, 8, 1))


def test_residual_identity_and_projection(key):
    block = nn.residual(nn.serial(nn.Dense(3), nn.Relu(), nn.Dense(3)))
    _, params, _ = block.init(key, (2, 3))
    x = jax.random.normal(key, (2, 3))
    y, _ = block.apply(params, {}, x)
    main, _ = nn.serial(nn.Dense(3), nn.Relu(), nn.Dense(3)).apply(params["main"], {}, x)
    np.testing.assert_allclose(y, main + x, rtol=1e-6)
    proj = nn.residual(nn.Conv(8, 3, stride=2), nn.Conv(8, 1, stride=2))
    assert proj.init(key, (1, 8, 8, 4))[0] == (1, 4, 4, 8)
    with pytest.raises(ValueError, match="residual: expected main and shortcut outputs of the same shape"):
        nn.residual(nn.Dense(5)).init(key, (2, 3))


def test_layers_compose_with_jax_transformations(key):
    model = nn.serial(nn.Conv(4, 3), nn.BatchNorm(), nn.Relu(), nn.GlobalAvgPool(), nn.Dense(2))
    shape, params, state = model.init(key, (3, 8, 8, 1))
    abstract = jax.eval_shape(lambda p, s, x: model.apply(p, s, x)[0], params, state,
                              jax.ShapeDtypeStruct((3, 8, 8, 1), jnp.float32))
    assert abstract.shape == shape
    x = jax.random.normal(key, (3, 8, 8, 1))
    y_jit, _ = jax.jit(model.apply, static_argnames="train")(params, state, x, train=False)
    y_vmap = jax.vmap(lambda xi: model.apply(params, state, xi[None])[0][0])(x)
    np.testing.assert_allclose(y_jit, y_vmap, rtol=1e-5, atol=1e-5)
