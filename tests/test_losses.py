"""Tests for jdl.losses: every loss against an independent reference (optax, jax.nn, or numbers
worked out by hand with `math`), gradients, +-1000 logits, validation messages, NaN under jit."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.test_util import check_grads
from scipy.special import expit, log_softmax, softmax

from jdl import losses as L

F32_EPS = float(np.finfo(np.float32).eps)
RNG = np.random.default_rng(0)

# References are computed with numpy / scipy / math, or with a jitted optax function (jitting
# keeps the tests fast: eager JAX compiles every primitive separately).
optax_ce_int = jax.jit(optax.losses.softmax_cross_entropy_with_integer_labels)
optax_hinge = jax.jit(optax.losses.hinge_loss)
optax_mc_hinge = jax.jit(optax.losses.multiclass_hinge_loss)
optax_sbce = jax.jit(optax.losses.sigmoid_binary_cross_entropy)


def one_hot(y, k):
    return np.eye(k, dtype=np.float32)[np.asarray(y)]


def grad_sum(f):
    """Jitted gradient of sum(f(x)) w.r.t. x."""
    return jax.jit(jax.grad(lambda x: jnp.sum(f(x))))


def close(a, b, atol=1e-5, rtol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol, rtol=rtol)


# ------------------------------------------------------------------ quadratic / mse
def test_quadratic_is_half_squared_norm_per_example_and_1_over_2n_cost():
    a = jnp.array([[1.0, 2.0, 2.0], [0.0, 0.0, 0.0]])
    y = jnp.array([[0.0, 0.0, 0.0], [3.0, 4.0, 0.0]])
    per = L.quadratic(a, y)
    assert per.shape == (2,)
    close(per, [0.5 * 9.0, 0.5 * 25.0])
    # deck 000: C = 1/(2n) sum ||y - a||^2 with n = 2
    close(L.reduce(per), (9.0 + 25.0) / (2 * 2))


def test_mean_squared_error_has_no_half_and_means_over_features():
    a = jnp.array([[1.0, 2.0, 2.0], [0.0, 0.0, 0.0]])
    y = jnp.array([[0.0, 0.0, 0.0], [3.0, 4.0, 0.0]])
    close(L.mean_squared_error(a, y), [9.0 / 3, 25.0 / 3])
    # 1-D batch of scalars: per-example squared error
    close(L.mean_squared_error(jnp.array([1.0, 3.0]), jnp.array([0.0, 1.0])), [1.0, 4.0])


# ------------------------------------------------------------------ binary losses
def test_binary_cross_entropy_on_probs_by_hand():
    p = jnp.array([[0.8, 0.3], [0.5, 0.9]])
    y = jnp.array([[1.0, 0.0], [1.0, 1.0]])
    want = [-math.log(0.8) - math.log(0.7), -math.log(0.5) - math.log(0.9)]
    close(L.binary_cross_entropy(p, y), want)
    # soft target
    close(L.binary_cross_entropy(jnp.array([0.25]), jnp.array([0.5])),
          [-(0.5 * math.log(0.25) + 0.5 * math.log(0.75))])


def test_binary_cross_entropy_clip_gives_finite_value_at_0_and_1():
    out = L.binary_cross_entropy(jnp.array([0.0, 1.0, 1.0]), jnp.array([1.0, 0.0, 1.0]))
    assert np.all(np.isfinite(out))
    # eps = max(1e-7, float32 machine epsilon) = 2^-23
    close(out[:2], [-math.log(F32_EPS)] * 2, rtol=1e-4)
    close(out[2], 0.0, atol=1e-6)


def test_sigmoid_binary_cross_entropy_matches_hand_formula_and_bce_on_probs():
    x = jnp.array([[0.5, -1.5], [2.0, 0.0]])
    y = jnp.array([[1.0, 0.0], [0.0, 1.0]])

    def s(v):
        return 1.0 / (1.0 + math.exp(-v))

    want = [-math.log(s(0.5)) - math.log(1 - s(-1.5)), -math.log(1 - s(2.0)) - math.log(s(0.0))]
    close(L.sigmoid_binary_cross_entropy(x, y), want)
    close(L.sigmoid_binary_cross_entropy(x, y), L.binary_cross_entropy(expit(np.asarray(x)), y))


def test_log_loss_by_hand_and_equals_bce_with_01_targets():
    x = jnp.array([2.0, 2.0, -0.5])
    c = jnp.array([1, -1, 1])
    want = [math.log(1 + math.exp(-2.0)), math.log(1 + math.exp(2.0)), math.log(1 + math.exp(0.5))]
    close(L.log_loss(x, c), want)
    ref = optax_sbce(x, (c + 1) / 2.0)
    close(L.log_loss(x, c), ref)


def test_log_loss_gradient_is_deck_formula():
    x = jnp.array([0.3, -1.2, 2.0])
    c = jnp.array([1.0, -1.0, -1.0])
    g = grad_sum(lambda v: L.log_loss(v, c))(x)
    # deck 003: dE/dx = -c / (1 + e^{cx})
    close(g, -np.asarray(c) / (1.0 + np.exp(np.asarray(c * x))))


def test_hinge_margin_2_by_hand_and_margin_1_matches_optax():
    x = jnp.array([0.5, 3.0, 0.5, -3.0])
    c = jnp.array([1, 1, -1, -1])
    close(L.hinge(x, c, margin=2.0), [1.5, 0.0, 2.5, 0.0])
    xs = np.linspace(-3, 3, 13, dtype=np.float32)
    cs = np.where(np.arange(13) % 2 == 0, 1.0, -1.0).astype(np.float32)
    close(L.hinge(xs, cs), optax_hinge(xs, cs))


def test_hinge_gradient_is_deck_formula():
    x = jnp.array([0.5, 3.0, 0.5, -3.0])
    c = jnp.array([1.0, 1.0, -1.0, -1.0])
    g = grad_sum(lambda v: L.hinge(v, c, margin=2.0))(x)
    close(g, -np.asarray(c) * (np.asarray(c * x) < 2.0))  # deck 003: -c 1{cx < m}


def test_binary_losses_sum_over_trailing_axes():
    x = jnp.array([[0.5, -1.0, 2.0]])
    c = jnp.array([[1, -1, -1]])
    want = sum(math.log(1 + math.exp(-ci * xi)) for xi, ci in zip([0.5, -1.0, 2.0], [1, -1, -1]))
    close(L.log_loss(x, c), [want])
    assert L.hinge(x, c).shape == (1,)


# ------------------------------------------------------------------ multiclass
LOGITS = jnp.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
LABELS = jnp.array([0, 2])


def test_log_likelihood_is_logsoftmax_brick_by_hand():
    want0 = math.log(math.e ** 1 + math.e ** 2 + math.e ** 0.5) - 1.0
    want1 = math.log(1 + math.e ** -1 + math.e ** 3) - 3.0
    close(L.softmax_cross_entropy(LOGITS, LABELS), [want0, want1])


def test_log_likelihood_equals_references_and_aliases():
    x = RNG.normal(size=(6, 5)).astype(np.float32)
    y = np.array([0, 4, 2, 2, 1, 3])
    ref = -log_softmax(x, axis=-1)[np.arange(6), y]
    close(L.softmax_cross_entropy(x, y), ref)
    close(L.softmax_cross_entropy(x, y), optax_ce_int(x, y))
    close(L.categorical_cross_entropy(x, one_hot(y, 5)), ref)
    close(L.nll_from_log_probs(log_softmax(x, axis=-1), y), ref)
    close(L.categorical_cross_entropy_from_probs(softmax(x, axis=-1), one_hot(y, 5)), ref)
    # one function; its other names live in the alias table of `get` only
    for alias in ("log_likelihood", "log_softmax_loss", "sparse_categorical_cross_entropy"):
        assert L.get(alias) is L.softmax_cross_entropy
        assert not hasattr(L, alias)


def test_categorical_cross_entropy_soft_targets_vs_log_softmax():
    t = jnp.array([[0.2, 0.5, 0.3], [0.0, 0.0, 1.0]])
    ref = -np.sum(np.asarray(t) * log_softmax(np.asarray(LOGITS), axis=-1), axis=-1)
    close(L.categorical_cross_entropy(LOGITS, t), ref)
    close(L.categorical_cross_entropy_from_probs(softmax(np.asarray(LOGITS), axis=-1), t), ref)


def test_log_likelihood_gradient_is_softmax_minus_onehot():
    g = grad_sum(lambda x: L.softmax_cross_entropy(x, LABELS))(LOGITS)
    close(g, softmax(np.asarray(LOGITS), axis=-1) - one_hot(LABELS, 3))


def test_class_losses_keep_leading_axes():
    x = jnp.zeros((2, 4, 3))
    y = jnp.zeros((2, 4), jnp.int32)
    assert L.softmax_cross_entropy(x, y).shape == (2, 4)
    close(L.softmax_cross_entropy(x, y), jnp.full((2, 4), math.log(3)))


def test_max_margin_by_hand():
    s = jnp.array([[1.0, 2.0, 0.5]] * 3)
    # m = 1, label 0: max(2 + 1, 0.5 + 1) - 1 = 2
    close(L.multiclass_max_margin(s[:1], jnp.array([0])), [2.0])
    # m = 0.5: label 1 -> [max(1.5, 1.0) - 2]_+ = 0; label 2 -> max(1.5, 2.5) - 0.5 = 2.0;
    # label 0 -> 2.5 - 1 = 1.5
    close(L.multiclass_max_margin(s, jnp.array([1, 2, 0]), margin=0.5), [0.0, 2.0, 1.5])


def test_max_margin_matches_optax_at_margin_1():
    s = RNG.normal(size=(8, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 3, 2, 1, 0])
    close(L.multiclass_max_margin(s, y), optax_mc_hinge(s, y))


def test_max_margin_gradient_is_deck_formula_and_single_class_is_zero():
    s = jnp.array([[1.0, 2.0, 0.5], [3.0, 0.0, 0.1]])
    y = jnp.array([0, 0])
    g = grad_sum(lambda v: L.multiclass_max_margin(v, y))(s)
    # row 0: E = 2 > 0, k* = 1 -> (delta_{s1} - delta_{s0}); row 1: E = [1 - 3]_+ = 0 -> 0
    close(g, [[-1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    close(L.multiclass_max_margin(jnp.array([[5.0]]), jnp.array([0])), [0.0])


_GX = RNG.normal(size=(3, 4)).astype(np.float32) * 0.7
_GY = np.array([1, 0, 3])
_GOH = one_hot(_GY, 4)
_GC = np.where(_GOH > 0, 1.0, -1.0).astype(np.float32)
_GT = RNG.uniform(size=(3, 4)).astype(np.float32)
_GP = expit(_GX)  # probabilities in (0.2, 0.8): inside the clip, away from 0 and 1
GRAD_CASES = {  # name: (loss as a function of its first argument, point to check at)
    "quadratic": (lambda v: L.quadratic(v, _GT), _GX),
    "mean_squared_error": (lambda v: L.mean_squared_error(v, _GT), _GX),
    "sigmoid_bce": (lambda v: L.sigmoid_binary_cross_entropy(v, _GT), _GX),
    "bce_probs": (lambda p: L.binary_cross_entropy(p, _GT), _GP),
    "categorical_ce": (lambda v: L.categorical_cross_entropy(v, _GOH), _GX),
    "categorical_ce_probs": (lambda p: L.categorical_cross_entropy_from_probs(p, _GOH), _GP),
    "log_likelihood": (lambda v: L.softmax_cross_entropy(v, _GY), _GX),
    "nll_from_log_probs": (lambda v: L.nll_from_log_probs(v, _GY), np.log(_GP)),
    "log_loss": (lambda v: L.log_loss(v, _GC), _GX),
    # margins 5 and 3 keep every point strictly inside the hinge (away from the kinks)
    "hinge": (lambda v: L.hinge(v, _GC, margin=5.0), _GX),
    "max_margin": (lambda v: L.multiclass_max_margin(v, _GY, margin=3.0), _GX),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradients_numerically(name):
    """Reverse-mode gradient vs finite differences (check_grads) at smooth points."""
    f, at = GRAD_CASES[name]
    assert 0.2 < _GP.min() and _GP.max() < 0.8
    check_grads(lambda v: jnp.sum(f(v)), (jnp.asarray(at),), order=1, modes=("rev",),
                atol=1e-2, rtol=1e-2)


def test_large_logits_are_finite_and_equal_the_analytic_limit():
    x = jnp.array([[1000.0, -1000.0, 0.0]] * 3)
    y = jnp.array([0, 1, 2])
    close(L.softmax_cross_entropy(x, y), [0.0, 2000.0, 1000.0])
    close(L.categorical_cross_entropy(x, one_hot(y, 3)), [0.0, 2000.0, 1000.0])
    close(L.nll_from_log_probs(log_softmax(np.asarray(x), axis=-1), y), [0.0, 2000.0, 1000.0])
    close(L.multiclass_max_margin(x, y), [0.0, 2001.0, 1001.0])
    b = jnp.array([1000.0, 1000.0, -1000.0, -1000.0])
    t = jnp.array([1.0, 0.0, 1.0, 0.0])
    close(L.sigmoid_binary_cross_entropy(b, t), [0.0, 1000.0, 1000.0, 0.0])
    c = 2 * t - 1
    close(L.log_loss(b, c), [0.0, 1000.0, 1000.0, 0.0])
    close(L.hinge(b, c), [0.0, 1001.0, 1001.0, 0.0])
    for g in [grad_sum(lambda v: L.softmax_cross_entropy(v, y))(x),
              grad_sum(lambda v: L.sigmoid_binary_cross_entropy(v, t))(b),
              grad_sum(lambda v: L.log_loss(v, c))(b)]:
        assert np.all(np.isfinite(g))


# ------------------------------------------------------------------ validation
def test_float_labels_raise_type_error_naming_the_argument():
    with pytest.raises(TypeError, match=r"labels: expected an integer dtype \(class indices\), "
                                        r"got float32; for one-hot targets use categorical_cross"):
        L.softmax_cross_entropy(LOGITS, jnp.array([0.0, 2.0]))
    with pytest.raises(TypeError, match="labels: expected an integer dtype"):
        L.multiclass_max_margin(LOGITS, jnp.array([0.0, 2.0]))
    with pytest.raises(TypeError, match="labels: expected an integer dtype"):  # also under jit
        jax.jit(L.softmax_cross_entropy)(LOGITS, jnp.array([0.0, 2.0]))


def test_out_of_range_concrete_labels_raise():
    x = jnp.zeros((3, 10))
    with pytest.raises(ValueError, match=r"labels: expected class indices in \[0, 10\), "
                                         r"got min -1, max 12"):
        L.softmax_cross_entropy(x, jnp.array([-1, 5, 12]))
    for f in (L.nll_from_log_probs, L.multiclass_max_margin):
        with pytest.raises(ValueError, match=r"in \[0, 10\)"):
            f(x, jnp.array([0, 10, 1]))


def test_out_of_range_labels_give_nan_under_jit_and_other_rows_are_right():
    x = jnp.array([[1.0, 2.0, 0.5]] * 4)
    y = jnp.array([0, -1, 3, 1])
    want_ll = math.log(math.e + math.e ** 2 + math.e ** 0.5)
    for f, valid in [(L.softmax_cross_entropy, [want_ll - 1.0, want_ll - 2.0]),
                     (L.nll_from_log_probs, None),
                     (L.multiclass_max_margin, [2.0, 0.0])]:
        out = np.asarray(jax.jit(f)(x, y))
        assert np.isnan(out[1]) and np.isnan(out[2])
        assert np.all(np.isfinite(out[[0, 3]]))
        if valid is not None:
            close(out[[0, 3]], valid)
    # the loss shows the NaN, but the gradient ignores the bad rows (stays finite, zero there);
    # labels are an argument of the jitted function (a closed-over constant would be concrete)
    g = jax.jit(jax.grad(lambda v, lab: jnp.mean(L.softmax_cross_entropy(v, lab))))(x, y)
    assert np.all(np.isfinite(g))
    close(g[1:3], 0.0)


def test_shape_mismatches_name_both_shapes():
    with pytest.raises(ValueError, match=r"labels: expected shape \(2,\).*\(2, 3\).*got \(3,\)"):
        L.softmax_cross_entropy(LOGITS, jnp.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"one-hot targets, use categorical_cross_entropy"):
        L.softmax_cross_entropy(LOGITS, jnp.zeros((2, 3), jnp.int32))
    with pytest.raises(ValueError, match=r"one_hot_targets: expected shape \(2, 3\).*got \(2,\)"
                                         r"; these look like integer labels, use softmax_cross_entropy"):
        L.categorical_cross_entropy(LOGITS, LABELS)
    with pytest.raises(ValueError, match=r"targets: expected shape \(4, 1\).*got \(4,\)"):
        L.quadratic(jnp.zeros((4, 1)), jnp.zeros((4,)))
    with pytest.raises(ValueError, match=r"targets: expected shape \(4,\).*got \(4, 1\)"):
        L.sigmoid_binary_cross_entropy(jnp.zeros((4,)), jnp.zeros((4, 1)))
    with pytest.raises(ValueError, match=r"c: expected shape \(2,\).*got \(3,\)"):
        L.hinge(jnp.zeros(2), jnp.ones(3))


def test_bad_signs_and_probabilities_raise_when_concrete_and_nan_under_jit():
    with pytest.raises(ValueError, match=r"c: expected class signs in \{-1, \+1\}, got values \[0"):
        L.hinge(jnp.array([0.5, 1.0]), jnp.array([0, 1]))
    with pytest.raises(ValueError, match=r"c: expected class signs"):
        L.log_loss(jnp.array([0.5]), jnp.array([0.0]))
    with pytest.raises(ValueError, match=r"probs: expected values in \[0, 1\], got min -2, max 3;"
                                         r" for logits use sigmoid_binary_cross_entropy"):
        L.binary_cross_entropy(jnp.array([-2.0, 3.0]), jnp.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"targets: expected values in \[0, 1\]"):
        L.sigmoid_binary_cross_entropy(jnp.array([0.0]), jnp.array([-1.0]))
    with pytest.raises(ValueError, match=r"probs: expected values in \[0, 1\]"):
        L.categorical_cross_entropy_from_probs(jnp.array([[2.0, -1.0]]), jnp.array([[1.0, 0.0]]))
    out = jax.jit(L.hinge)(jnp.array([0.5, 0.5]), jnp.array([0, 1]))
    assert np.isnan(out[0]) and out[1] == 0.5
    out = jax.jit(L.binary_cross_entropy)(jnp.array([3.0, 0.5]), jnp.array([1.0, 1.0]))
    assert np.isnan(out[0])
    close(out[1], math.log(2))


# ------------------------------------------------------------------ reduce / multi_task / get
def test_reduce_modes_and_masked_mean():
    l = jnp.array([1.0, 2.0, 3.0, jnp.nan])
    w = jnp.array([1.0, 1.0, 2.0, 0.0])
    close(L.reduce(l[:3]), 2.0)
    close(L.reduce(l[:3], "sum"), 6.0)
    close(L.reduce(l[:3], "none"), [1.0, 2.0, 3.0])
    close(L.reduce(l, "mean", w), (1 + 2 + 6) / 4.0)  # NaN on the padding row is dropped
    close(L.reduce(l, "sum", w), 9.0)
    close(L.reduce(l, "none", w), [1.0, 2.0, 6.0, 0.0])
    close(L.reduce(l, "mean", jnp.zeros(4)), 0.0)
    close(L.reduce(jnp.ones((2, 3)), "mean", jnp.array([[1.0], [0.0]])), 1.0)
    with pytest.raises(ValueError, match=r"reduction: expected one of .*got 'avg'"):
        L.reduce(l, "avg")
    with pytest.raises(ValueError, match=r"weights: expected a shape that broadcasts to the "
                                         r"losses shape \(4,\), got \(3,\)"):
        L.reduce(l, "mean", jnp.ones(3))


def test_multi_task_weights_dict_and_sequence():
    la, lb = jnp.array(2.0), jnp.array(0.25)
    close(L.multi_task({"a": la, "b": lb}, {"a": 0.5, "b": 10.0}), 0.5 * 2.0 + 10.0 * 0.25)
    close(L.multi_task([la, lb], [0.5, 10.0]), 3.5)
    close(L.multi_task([la, lb]), 2.25)
    close(L.multi_task({"a": jnp.array([1.0, 2.0]), "b": jnp.array([1.0, 0.0])},
                       {"a": 0.5, "b": 10.0}), [10.5, 1.0])
    with pytest.raises(ValueError, match=r"weights: expected the keys of losses \['a', 'b'\], "
                                         r"got \['a', 'c'\] \(missing \['b'\], extra \['c'\]\)"):
        L.multi_task({"a": la, "b": lb}, {"a": 0.5, "c": 10.0})
    with pytest.raises(ValueError, match="weights: expected 2 weights"):
        L.multi_task([la, lb], [1.0])
    # gradient flows through both tasks with their weights
    g = jax.jit(jax.grad(lambda p: L.multi_task({"a": p ** 2, "b": p}, {"a": 0.5, "b": 10.0})))(
        3.0)
    close(g, 0.5 * 2 * 3.0 + 10.0)


def test_get_by_name():
    assert L.get("mse") is L.mean_squared_error
    assert L.get("sparse_categorical_crossentropy") is L.softmax_cross_entropy
    assert L.get("categorical_crossentropy") is L.categorical_cross_entropy
    assert L.get(L.hinge) is L.hinge
    with pytest.raises(ValueError, match="loss: expected a callable or one of"):
        L.get("nope")


def test_all_is_explicit_and_resolves():
    for name in L.__all__:
        assert callable(getattr(L, name))
