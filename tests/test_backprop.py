"""Tests for jdl.backprop: the four delta equations (deck 000) against independent references.

References: `jax.grad` of costs written with `jdl.models.mlp` + `jdl.losses`, or with `jax.nn`
directly; central differences; and a 1-1-1 sigmoid network worked by hand. Everything runs in
float64 (the `x64` fixture) so that 1e-6 is a meaningful tolerance, except the float32 check.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jdl import activations as A
from jdl import backprop as bp
from jdl import losses as L
from jdl import models

# The main network is 4-4-4-4 on 5 examples: few distinct shapes keep the eager-mode compile cost
# (one XLA program per primitive and shape) low. Non-square layers are covered by the forward,
# jit and by-hand tests.
N, D, WIDTHS = 5, 4, [4, 4, 4]
HIDDEN = list(bp.ACTIVATIONS)             # sigmoid, tanh, relu, leaky_relu, elu, abs_relu, ...
KEY = jax.ShapeDtypeStruct((), jax.random.key(0).dtype)   # a key for eval_shape


def _enable_x64():
    if hasattr(jax, "enable_x64"):        # current JAX: a config option usable as a context
        return jax.enable_x64(True)
    from jax.experimental import enable_x64  # older JAX
    return enable_x64()


@pytest.fixture(autouse=True)
def x64():
    with _enable_x64():
        yield


def close(a, b, atol=1e-6, rtol=0.0):
    jax.tree.map(lambda u, v: np.testing.assert_allclose(np.asarray(u), np.asarray(v),
                                                         atol=atol, rtol=rtol), a, b)


def mlp_params(activation="tanh", widths=WIDTHS, d=D, seed=0, output_activation=None):
    """A jdl mlp, float64 params in its layout with random (non-zero) biases, and a batch x.

    The numbers come from numpy (jax.random would compile a program per shape); the layout is
    the model's own, checked with `jax.eval_shape(model.init, ...)` (which compiles nothing).
    """
    model = models.mlp(widths, activation, output_activation=output_activation)
    _, shapes, _ = jax.eval_shape(lambda k: model.init(k, (N, d)), KEY)
    rng = np.random.default_rng(seed)
    params = jax.tree.map(lambda s: jnp.asarray(rng.normal(size=s.shape) / math.sqrt(
        s.shape[0] if len(s.shape) == 2 else 2.0)), shapes)       # LeCun-like w, N(0, 1/2) b
    x = jnp.asarray(rng.normal(size=(N, d)))
    return model, params, x


def targets(cost, k=WIDTHS[-1]):
    rng = np.random.default_rng(1)
    if cost == "log_likelihood":
        return jnp.asarray(rng.integers(0, k, N))
    if cost == "cross_entropy":
        return jnp.asarray(rng.integers(0, 2, (N, k)), jnp.float64)
    return jnp.asarray(rng.normal(size=(N, k)))


# ------------------------------------------------------------------ against jax.grad
# (cost, output_activation) -> the same mean cost written with jdl.models.mlp and jdl.losses
CONFIGS = {
    ("quadratic", None): lambda out, y: L.quadratic(out, y),             # linear output unit
    ("quadratic", "sigmoid"): lambda out, y: L.quadratic(out, y),        # Nielsen's network
    ("cross_entropy", None): lambda out, y: L.sigmoid_binary_cross_entropy(out, y),
    ("log_likelihood", None): lambda out, y: L.softmax_cross_entropy(out, y),
}


@pytest.mark.parametrize("config", list(CONFIGS), ids=lambda c: f"{c[0]}-{c[1] or 'default'}")
@pytest.mark.parametrize("activation", HIDDEN)
def test_backward_equals_jax_grad_of_jdl_mlp_and_losses(activation, config):
    cost, out = config
    model, params, x = mlp_params(activation, output_activation=out)
    y = targets(cost)
    per_example = CONFIGS[config]

    kw = dict(activation=activation, cost=cost, output_activation=out)

    def mean_cost(p):
        return jnp.mean(per_example(model.apply(p, {}, x)[0], y))

    want = jax.grad(mean_cost)(params)
    got = bp.backward(params, x, y, **kw)
    assert jax.tree.structure(got) == jax.tree.structure(params)
    assert all(g.dtype == jnp.float64 for g in jax.tree.leaves(got))
    close(got, want, atol=1e-6)
    close(got, want, atol=1e-12, rtol=1e-9)     # in fact to rounding
    close(bp.total_cost(params, x, y, **kw), mean_cost(params), atol=1e-12)


JAX_NN = {  # output units written with jax.nn / jnp only (independent of jdl.activations)
    "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "relu": jax.nn.relu,
    "leaky_relu": lambda z: jax.nn.leaky_relu(z, 0.01), "elu": jax.nn.elu,
    "abs_relu": jnp.abs, "hard_tanh": jax.nn.hard_tanh, "ramp": jax.nn.hard_tanh,
    "identity": lambda z: z, "linear": lambda z: z, "softmax": jax.nn.softmax,
}


@pytest.mark.parametrize("output_activation", list(bp.OUTPUT_ACTIVATIONS))
def test_quadratic_cost_with_every_output_unit_on_list_params(output_activation):
    _, params, x = mlp_params("tanh")
    layers = [params[f"dense_{i}"] for i in range(len(WIDTHS))]     # the list layout
    y = targets("quadratic")
    g_out = JAX_NN[output_activation]

    def mean_cost(ls):
        a = x
        for i, p in enumerate(ls):
            z = a @ p["w"] + p["b"][None]
            a = g_out(z) if i == len(ls) - 1 else jnp.tanh(z)
        return jnp.mean(0.5 * jnp.sum((a - y) ** 2, axis=1))        # C = 1/2n sum ||a - y||^2

    got = bp.backward(layers, x, y, activation="tanh", cost="quadratic",
                      output_activation=output_activation)
    want = jax.grad(mean_cost)(layers)
    assert isinstance(got, list) and len(got) == 3
    close(got, want, atol=1e-6)
    close(got, want, atol=1e-12, rtol=1e-9)


def test_log_likelihood_takes_integer_labels_or_one_hot_targets():
    _, params, x = mlp_params("relu")
    labels = targets("log_likelihood")
    kw = dict(activation="relu", cost="log_likelihood")
    one_hot = np.eye(WIDTHS[-1])[np.asarray(labels)]
    close(bp.backward(params, x, labels, **kw), bp.backward(params, x, one_hot, **kw), atol=1e-15)


def test_softmax_regression_params_and_image_inputs_are_flattened():
    model = models.logistic_regression(4)                # multinomial: params {"dense": {w, b}}
    x = jnp.asarray(np.random.default_rng(3).normal(size=(N, 2, 2, 1)))  # NHWC, flattened to 4
    _, params, _ = mlp_params()
    params = {"dense": params["dense_0"]}
    assert jax.tree.structure(params) == jax.tree.structure(
        jax.eval_shape(lambda k: model.init(k, x.shape), KEY)[1])
    y = targets("log_likelihood")
    want = jax.grad(lambda p: jnp.mean(L.softmax_cross_entropy(model.apply(p, {}, x)[0], y)))(params)
    got = bp.backward(params, x, y, activation="sigmoid", cost="log_likelihood")
    assert list(got) == ["dense"]
    close(got, want, atol=1e-12)


def test_backward_is_jittable_with_static_names_on_a_non_square_net():
    _, params, x = mlp_params("elu", widths=[3, 2])                  # 4-3-2
    y = targets("quadratic", k=2)
    kw = dict(activation="elu", cost="quadratic", output_activation="tanh")
    jitted = jax.jit(bp.backward, static_argnames=("activation", "cost", "output_activation"))
    want = jax.jit(jax.grad(lambda p: bp.total_cost(p, x, y, **kw)))(params)
    close(jitted(params, x, y, **kw), want, atol=1e-12)


# ------------------------------------------------------------------ forward
def test_forward_keeps_every_z_and_a_and_ends_at_the_model_output():
    model, params, x = mlp_params("elu", widths=[3, 2], output_activation="tanh")   # 4-3-2
    zs, acts = bp.forward(params, x, "elu", "tanh")
    assert [z.shape for z in zs] == [(N, 3), (N, 2)]
    assert [a.shape for a in acts] == [(N, 4), (N, 3), (N, 2)]
    close(acts[0], x, atol=0)
    close(acts[1], jax.nn.elu(x @ params["dense_0"]["w"] + params["dense_0"]["b"][None]), atol=1e-15)
    close(acts[-1], model.apply(params, {}, x)[0], atol=1e-15)
    # output_activation=None returns the logits, as jdl.models.mlp does
    close(bp.forward(params, x, "elu")[1][-1], zs[-1], atol=0)
    close(zs[-1], models.mlp([3, 2], "elu").apply(params, {}, x)[0], atol=1e-15)


# ------------------------------------------------------------------ by hand
def test_one_one_one_sigmoid_network_worked_by_hand():
    # x -> z1 = w1 x + b1 -> a1 = s(z1) -> z2 = w2 a1 + b2 -> a2 = s(z2); C = 1/2n sum (a2 - y)^2.
    # w1 = 0, b1 = 0: z1 = 0, a1 = 1/2, s'(z1) = 1/4.  w2 = 2, b2 = -1: z2 = 0, a2 = 1/2, s' = 1/4.
    params = [{"w": np.array([[0.0]]), "b": np.array([0.0])},
              {"w": np.array([[2.0]]), "b": np.array([-1.0])}]
    kw = dict(activation="sigmoid", cost="quadratic", output_activation="sigmoid")
    # one example, x = 2, y = 1:
    #   BP1 delta2 = (a2 - y) s'(z2) = (-1/2)(1/4) = -1/8
    #   BP3 dC/db2 = -1/8;          BP4 dC/dw2 = a1 delta2 = -1/16
    #   BP2 delta1 = w2 delta2 s'(z1) = 2 (-1/8)(1/4) = -1/16
    #   BP3 dC/db1 = -1/16;         BP4 dC/dw1 = x delta1 = -1/8
    def grads(x, y):  # as numpy, so that indexing compiles nothing
        return jax.tree.map(np.asarray, bp.backward(params, np.array(x), np.array(y), **kw))

    g = grads([[2.0]], [[1.0]])
    assert (g[1]["b"][0], g[1]["w"][0, 0]) == (-0.125, -0.0625)
    assert (g[0]["b"][0], g[0]["w"][0, 0]) == (-0.0625, -0.125)
    assert float(bp.total_cost(params, np.array([[2.0]]), np.array([[1.0]]), **kw)) == 0.125
    # two examples, (x, y) = (2, 1) and (4, 0): the second has delta2 = +1/8, delta1 = +1/16,
    # and the cost is the mean, so every gradient is the average of the two examples':
    #   db2 = (-1/8 + 1/8)/2 = 0, dw2 = (-1/16 + 1/16)/2 = 0, db1 = 0, dw1 = (-1/8 + 4/16)/2 = 1/16
    g = grads([[2.0], [4.0]], [[1.0], [0.0]])
    assert (g[1]["b"][0], g[1]["w"][0, 0], g[0]["b"][0], g[0]["w"][0, 0]) == (0, 0, 0, 0.0625)


def test_cross_entropy_cancels_sigma_prime_and_quadratic_saturates():
    # deck 000: with a sigmoid output, dC/db = (a - y) s'(z) for the quadratic cost (-> 0 when the
    # unit saturates) but a - y for the cross-entropy.
    params = [{"w": np.array([[0.0]]), "b": np.array([10.0])}]        # z = 10 for any x
    x, y = np.array([[1.0]]), np.array([[0.0]])                         # a = s(10), badly wrong
    a = 1.0 / (1.0 + math.exp(-10.0))
    quad = bp.backward(params, x, y, activation="sigmoid", cost="quadratic",
                       output_activation="sigmoid")
    ce = bp.backward(params, x, y, activation="sigmoid", cost="cross_entropy")
    close(ce[0]["b"], [a], atol=1e-15)                          # a - y ~ 1
    close(quad[0]["b"], [a * a * (1.0 - a)], atol=1e-15)        # (a - y) a (1 - a) ~ 4.5e-5
    assert np.asarray(quad[0]["b"])[0] < 1e-4 * np.asarray(ce[0]["b"])[0]


def test_hand_written_derivatives_match_jax_grad_including_kinks():
    # kinks of relu / leaky_relu / abs_relu / elu (0) and hard_tanh (+-1), saturation (+-10)
    z = np.concatenate([[-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 10.0, -10.0],
                        np.random.default_rng(0).normal(size=11) * 3])
    z = jnp.asarray(z.reshape(N, 4))
    for name in bp.ACTIVATIONS:
        want = jax.grad(lambda v: jnp.sum(A.get(name)(v)))(z)       # elementwise: grad of the sum
        close(bp.derivative(name)(z), want, atol=1e-15, rtol=1e-12)


# ------------------------------------------------------------------ numerical gradients
def _small_problem(activation="sigmoid", cost="quadratic", out="sigmoid", dtype=jnp.float64):
    _, params, x = mlp_params(activation)
    params, x, y = jax.tree.map(lambda a: a.astype(dtype), (params, x, targets(cost)))
    if cost == "log_likelihood":
        y = targets(cost)
    kw = dict(activation=activation, cost=cost, output_activation=out)
    return params, (lambda p: bp.total_cost(p, x, y, **kw)), bp.backward(params, x, y, **kw)


def test_numerical_gradient_agrees_with_jax_grad_in_float64():
    params, f, _ = _small_problem("tanh", "log_likelihood", None)
    num = bp.numerical_gradient(f, params)
    assert jax.tree.structure(num) == jax.tree.structure(params)
    close(num, jax.grad(f)(params), atol=1e-9, rtol=1e-8)


def test_numerical_gradient_of_a_quadratic_by_hand_with_and_without_jit():
    # f(w, b) = sum(w^2) + 3 b: df/dw = 2 w, df/db = 3; central differences are exact for a
    # quadratic up to rounding
    params = {"w": np.array([1.0, -2.0, 0.5]), "b": np.array(0.25)}

    def f(p):
        return jnp.sum(p["w"] ** 2) + 3.0 * p["b"]

    for jit in (True, False):
        num = bp.numerical_gradient(f, params, jit=jit)
        close(num["w"], [2.0, -4.0, 1.0], atol=1e-9)
        close(num["b"], 3.0, atol=1e-9)


def test_gradient_check_passes_backward_and_names_a_wrong_leaf():
    params, f, grads = _small_problem()
    report = bp.gradient_check(f, params, grads)
    assert report.ok, str(report)
    assert report.max_relative_error < 1e-5     # CS231n: < 1e-7 great, < 1e-5 fine (small entries)
    assert max(report.absolute_errors.values()) < 1e-9
    assert sorted(report.relative_errors) == [f"dense_{i}/{k}" for i in range(3) for k in "bw"]
    # a 10% error in one leaf: relative error |1.1 g - g| / |1.1 g| = 0.1 / 1.1 there only
    wrong = {**grads, "dense_1": {**grads["dense_1"], "w": 1.1 * grads["dense_1"]["w"]}}
    report = bp.gradient_check(f, params, wrong)
    assert not report.ok
    np.testing.assert_allclose(report.relative_errors["dense_1/w"], 0.1 / 1.1, rtol=1e-6)
    assert report.relative_errors["dense_0/w"] < 1e-5
    assert "FAILED" in str(report) and "dense_1/w" in str(report)


def test_gradient_check_in_float32_with_default_eps_and_tolerances():
    params, f, grads = _small_problem("sigmoid", "cross_entropy", None, dtype=jnp.float32)
    assert jax.tree.leaves(grads)[0].dtype == jnp.float32
    report = bp.gradient_check(f, params, grads)                 # eps 4.9e-3, rtol 1e-2, atol 1e-4
    assert report.ok, str(report)
    assert jax.tree.leaves(report.numerical)[0].dtype == jnp.float32


# ------------------------------------------------------------------ errors
def test_unknown_names_and_mismatched_pairs_raise_naming_the_argument():
    _, params, x = mlp_params()
    y = targets("quadratic")
    cases = [
        (dict(activation="swish", cost="quadratic"), r"activation: expected one of .*'swish'"),
        (dict(activation="softmax", cost="quadratic"), r"activation: .*only an output unit"),
        (dict(activation="tanh", cost="hinge"), r"cost: expected one of \['cross_entropy', "
                                                r"'log_likelihood', 'quadratic'\], got 'hinge'"),
        (dict(activation="tanh", cost="quadratic", output_activation="step"),
         r"output_activation: expected one of .*got 'step'"),
        (dict(activation="tanh", cost="cross_entropy", output_activation="tanh"),
         r"output_activation: cost 'cross_entropy' expects 'sigmoid' .*got 'tanh'"),
        (dict(activation="tanh", cost="log_likelihood", output_activation="sigmoid"),
         r"output_activation: cost 'log_likelihood' expects 'softmax' .*got 'sigmoid'"),
    ]
    for kw, match in cases:
        with pytest.raises(ValueError, match=match):
            bp.backward(params, x, y, **kw)
    with pytest.raises(ValueError, match="activation: expected one of"):
        bp.forward(params, x, "gelu")
    with pytest.raises(ValueError, match="activation: expected one of"):
        bp.derivative("softmax")


def test_shape_errors_name_expected_and_received():
    _, params, x = mlp_params()
    kw = dict(activation="tanh", cost="quadratic")
    y = targets("quadratic")
    with pytest.raises(ValueError, match=r"x: expected 4 features per example .* got 3"):
        bp.backward(params, np.ones((N, 3)), y, **kw)
    with pytest.raises(ValueError, match=r"x: expected shape \(batch, features\).* got \(4,\)"):
        bp.forward(params, np.ones(4), "tanh")
    with pytest.raises(ValueError, match=r"y: expected shape \(5, 4\) \(the output a\^L\), got "
                                         r"\(5, 3\)"):
        bp.backward(params, x, np.ones((N, 3)), **kw)
    with pytest.raises(ValueError, match=r"use y\[:, None\]"):
        bp.backward([params["dense_0"], {"w": np.ones((4, 1)), "b": np.ones(1)}], x,
                    np.ones(N), **kw)
    kw = dict(activation="tanh", cost="log_likelihood")
    with pytest.raises(ValueError, match=r"y: expected shape \(5, 4\) \(the output a\^L\) or "
                                         r"integer labels of shape \(5,\), got \(5, 1\)"):
        bp.backward(params, x, np.zeros((N, 1), np.int32), **kw)
    with pytest.raises(ValueError, match=r"y: expected class indices in \[0, 4\), got min -1, "
                                         r"max 4"):
        bp.backward(params, x, np.array([0, 1, -1, 4, 2]), **kw)


def test_out_of_range_labels_under_jit_give_nan_not_a_silent_zero_row():
    _, params, x = mlp_params()
    run = jax.jit(lambda y: bp.backward(params, x, y, activation="tanh", cost="log_likelihood"))
    assert np.isnan(np.asarray(run(jnp.array([0, 1, 2, 3, 4]))["dense_0"]["w"])).all()
    assert np.isfinite(np.asarray(run(jnp.array([0, 1, 2, 3, 3]))["dense_0"]["w"])).all()


def test_params_layout_errors():
    kw = dict(activation="relu", cost="quadratic")
    x, y = np.ones((N, 3)), np.ones((N, 2))
    bn_model = models.mlp([4, 2], batch_norm=True)
    _, bn_params, _ = jax.eval_shape(lambda k: bn_model.init(k, (N, 3)), KEY)
    with pytest.raises(ValueError, match=r"params: expected the plain MLP layout .*batch_norm_0"):
        bp.backward(bn_params, x, y, **kw)
    with pytest.raises(ValueError, match=r"params\['0'\]: expected a dict with keys \['b', 'w'\]"
                                         r", got \['w'\]"):
        bp.backward([{"w": np.ones((3, 2))}], x, y, **kw)
    with pytest.raises(ValueError, match=r"params\['1'\]\['w'\]: expected 4 input rows"):
        bp.backward([{"w": np.ones((3, 4)), "b": np.ones(4)},
                     {"w": np.ones((5, 2)), "b": np.ones(2)}], x, y, **kw)
    with pytest.raises(ValueError, match=r"params\['0'\]: expected w \(in, out\) and b \(out,\)"):
        bp.backward([{"w": np.ones((3, 2)), "b": np.ones(3)}], x, y, **kw)
    with pytest.raises(ValueError, match="params: expected a dict"):
        bp.backward([], x, y, **kw)


def test_gradient_check_argument_errors():
    params, f, grads = _small_problem()
    with pytest.raises(ValueError, match="grads: expected the structure of params"):
        bp.gradient_check(f, params, [grads["dense_0"], grads["dense_1"], grads["dense_2"]])
    with pytest.raises(ValueError, match=r"grads\['dense_0/b'\]: expected shape \(4,\)"):
        bp.gradient_check(f, params, {**grads, "dense_0": {**grads["dense_0"], "b": np.ones(3)}})
    with pytest.raises(ValueError, match=r"f: expected f\(params\) to be a scalar"):
        bp.numerical_gradient(lambda p: p["w"], {"w": np.ones(2)})
    with pytest.raises(ValueError, match=r"params\['w'\]: expected a floating dtype, got int"):
        bp.numerical_gradient(lambda p: jnp.sum(p["w"]), {"w": np.ones(2, np.int32)})
    with pytest.raises(ValueError, match="eps: .* below the resolution"):
        bp.numerical_gradient(lambda p: jnp.sum(p["w"]), {"w": np.full(2, 1e8, np.float32)},
                              eps=1e-3)
