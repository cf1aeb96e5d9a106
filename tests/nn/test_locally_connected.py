"""LocallyConnected2D: a numpy loop reference, equality with Conv when every position holds the
same kernel, deck 001's parameter count, gradients and the errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jdl import nn


def _abstract_init(layer, input_shape):
    """(output_shape, params as ShapeDtypeStructs): no random draws compiled (slow on XLA:CPU)."""
    box = {}

    def init():
        box["shape"], params, _ = layer.init(jax.random.key(0), input_shape)
        return params

    params = jax.eval_shape(init)
    return box["shape"], params


def _numpy_params(layer, input_shape, seed=0):
    """(output_shape, params) with N(0, 1) numpy values in the shapes `init` declares."""
    shape, abstract = _abstract_init(layer, input_shape)
    rng = np.random.default_rng(seed)
    return shape, jax.tree.map(lambda a: jnp.asarray(rng.normal(size=a.shape), jnp.float32),
                               abstract)


def _reference(x, w, b, stride, pads):
    """y[n, i, j, o] = sum_{u, v, c} xp[n, s i + u, s j + v, c] w[i, j, u, v, c, o] + b[i, j, o]."""
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), *pads, (0, 0)))
    oh, ow, kh, kw, _, f = w.shape
    y = np.zeros((x.shape[0], oh, ow, f))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, stride[0] * i:stride[0] * i + kh, stride[1] * j:stride[1] * j + kw, :]
            y[:, i, j, :] = np.einsum("nuvc,uvco->no", patch, w[i, j]) + b[i, j]
    return y


@pytest.mark.parametrize("stride, padding, pads", [
    ((1, 1), "VALID", ((0, 0), (0, 0))),
    ((2, 1), "VALID", ((0, 0), (0, 0))),
    ((1, 1), "SAME", ((1, 1), (0, 1))),          # kernel (3, 2): TensorFlow's SAME split
    ((2, 2), ((1, 0), (2, 1)), ((1, 0), (2, 1))),
])
def test_matches_numpy_loop(stride, padding, pads):
    layer = nn.LocallyConnected2D(4, (3, 2), stride, padding)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 7, 6, 3)), jnp.float32)
    shape, params = _numpy_params(layer, x.shape)
    y, new_state = jax.jit(lambda p, x: layer.apply(p, {}, x))(params, x)
    ref = _reference(x, np.asarray(params["w"]), np.asarray(params["b"]), stride, pads)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    assert shape == y.shape and new_state == {}
    assert params["w"].shape == (*shape[1:3], 3, 2, 3, 4) and params["b"].shape == shape[1:]


def test_shared_kernels_equal_conv():
    """With the same kernel at every position, local connectivity + sharing = convolution."""
    x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 8, 8, 2)), jnp.float32)
    conv = nn.Conv(3, 3, padding="SAME")
    _, cp = _numpy_params(conv, x.shape)
    local = nn.LocallyConnected2D(3, 3, padding="SAME")
    lp = {"w": jnp.broadcast_to(cp["w"], (8, 8, 3, 3, 2, 3)),
          "b": jnp.broadcast_to(cp["b"], (8, 8, 3))}
    np.testing.assert_allclose(local.apply(lp, {}, x)[0], conv.apply(cp, {}, x)[0],
                               rtol=1e-5, atol=1e-5)


def test_deck_001_parameter_count():
    """200x200 image, 40K hidden units (one 200x200 map, SAME), 10x10 filters: 4M weights."""
    shape, params = _abstract_init(nn.LocallyConnected2D(1, 10, padding="SAME"), (1, 200, 200, 1))
    assert shape == (1, 200, 200, 1)
    assert params["w"].size == 200 * 200 * 10 * 10 == 4_000_000
    assert params["b"].size == 40_000


def test_per_position_initializer_fan(key):
    """Each position's kernel has the variance of a Conv kernel: he -> Var = 2 / (kh kw C_in)."""
    layer = nn.LocallyConnected2D(8, 3, w_init="he")
    params = jax.jit(lambda k: layer.init(k, (1, 18, 18, 4))[1])(key)   # one compiled program
    assert params["w"].shape == (16, 16, 3, 3, 4, 8)
    assert float(jnp.var(params["w"])) == pytest.approx(2 / 36, rel=0.05)
    assert not np.allclose(params["w"][0, 0], params["w"][0, 1])   # unshared: independent draws


def test_gradients():
    layer = nn.LocallyConnected2D(2, 2, stride=2, padding=1)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(1, 4, 4, 2)), jnp.float32)
    _, params = _numpy_params(layer, x.shape)
    check_grads(lambda p, x: layer.apply(p, {}, x)[0], (params, x), order=1, modes=("rev",))


def test_no_bias_and_errors(key):
    _, params = _abstract_init(nn.LocallyConnected2D(2, 3, use_bias=False), (1, 5, 5, 1))
    assert set(params) == {"w"}
    with pytest.raises(ValueError, match="LocallyConnected2D: expected an input of rank 4"):
        nn.LocallyConnected2D(2, 3).init(key, (5, 5, 1))
    with pytest.raises(ValueError, match="LocallyConnected2D: input .* too small"):
        nn.LocallyConnected2D(2, 5).init(key, (1, 3, 3, 1))
    with pytest.raises(ValueError, match="features"):
        nn.LocallyConnected2D(0, 3)
    layer = nn.LocallyConnected2D(2, 3)
    _, params = _numpy_params(layer, (1, 5, 5, 1))
    with pytest.raises(ValueError, match="output grid"):
        layer.apply(params, {}, jnp.zeros((1, 6, 6, 1)))
