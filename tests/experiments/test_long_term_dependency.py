"""experiments/long_term_dependency.py in --quick mode (the JSON layout, sane values, the
plots; no claims), and its helpers: the adding problem and dL/dh_t per step."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jdl import nn

CELLS = ("simple_rnn", "gru", "lstm")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("long_term_dependency")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("long_term_dependency", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, module, returned, strict_json(out / "metrics.json")


def test_json_layout_and_values(outputs):
    _, _, returned, m = outputs
    assert m["baseline_mse"] == pytest.approx(1 / 6) and m["tolerance"] == 0.04
    assert m["settings"]["quick"] is True and set(m["results"]) == {"10"}
    assert set(m["results"]["10"]) == set(CELLS)
    for name, r in m["results"]["10"].items():
        s = r["summary"]
        assert 0 < s["test_mse_mean"] < 1.0 and 0 <= s["test_accuracy_mean"] <= 1, name
        assert s["test_mse_std"] == 0.0 and s["learned"] in (0, 1)  # one seed
        assert s["grad_ratio_first_last_init"] > 0 and s["grad_ratio_first_last_trained"] > 0
        (seed,) = r["seeds"]
        assert len(seed["loss_curve"]) == 6                           # 60 steps, windows of 10
        assert all(math.isfinite(v) and v >= 0 for v in seed["loss_curve"])
        for key in ("grad_norm_init", "grad_norm_trained"):
            assert len(seed[key]) == 10 and all(v > 0 for v in seed[key]), (name, key)
        assert len(seed["grad_ratio_by_chunk"]) == 3                  # 2 chunks of 30, + the end
        assert seed["grad_ratio_by_chunk"][0] == pytest.approx(
            seed["grad_norm_init"][0] / seed["grad_norm_init"][-1], rel=1e-3)
        assert seed["steps_to_learn"] is None or 10 <= seed["steps_to_learn"] <= 60
    assert returned["results"]["10"].keys() == set(CELLS)
    assert {"seconds", "versions", "command"} <= set(m["run"])


def test_table_and_plots(outputs):
    out = outputs[0]
    rows = (out / "table.md").read_text().splitlines()
    assert len(rows) == 2 + 3 and all(f"| 10 | {c} |" in "".join(rows) for c in CELLS)
    for name in ("learning_curves.png", "state_gradients.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_adding_problem(outputs):
    module = outputs[1]
    for length in (4, 10, 50):
        x, y = module.adding_problem(np.random.default_rng(length), 500, length)
        assert x.shape == (500, length, 2) and y.shape == (500,) and x.dtype == np.float32
        values, markers = x[..., 0], x[..., 1]
        assert np.all((values >= 0) & (values < 1)) and set(np.unique(markers)) == {0.0, 1.0}
        assert np.all(markers.sum(axis=1) == 2)
        positions = np.array([np.flatnonzero(row) for row in markers])
        assert np.all(positions[:, 0] < max(1, length // 10))         # first 10% (step 0 if T < 20)
        assert np.all((positions[:, 1] >= length // 2) & (positions[:, 1] < length))
        np.testing.assert_allclose(y, values[np.arange(500), positions[:, 0]]
                                   + values[np.arange(500), positions[:, 1]], rtol=1e-6)
    _, y = module.adding_problem(np.random.default_rng(0), 20_000, 20)
    assert np.mean((y - 1.0) ** 2) == pytest.approx(module.BASELINE_MSE, abs=0.01)
    xs, ys = module.training_batches(np.random.default_rng(0), 3, 4, 10)
    assert xs.shape == (3, 4, 10, 2) and ys.shape == (3, 4)
    assert np.allclose(ys, np.sum(xs[..., 0] * xs[..., 1], axis=-1))


def test_state_gradients_by_hand(outputs):
    """wx = 0, b = 0, wh = s I: h_t stays 0, so dh_t/dh_{t-1} = s I and
    dL/dh_t = 2 (b - y) s^(T-1-t) w for the head y^ = h w + b."""
    module = outputs[1]
    cell, steps, s = nn.SimpleRNNCell(3), 6, 0.5
    w, b = jnp.array([[1.0], [-2.0], [0.5]]), jnp.array([0.25])
    params = {"rnn": {"wx": jnp.zeros((2, 3)), "wh": s * jnp.eye(3), "b": jnp.zeros(3)},
              "head": {"w": w, "b": b}}
    x, y = (jnp.asarray(a) for a in module.adding_problem(np.random.default_rng(1), 2, steps))
    grads, norms = jax.jit(lambda p: (module.state_gradients(cell, p, x, y),
                                      module.state_gradient_norms(cell, p, x, y)),
                           compiler_options=module.compiler_options(True))(params)
    expected = (2 * (b - y)[None, :, None] * s ** (steps - 1 - np.arange(steps))[:, None, None]
                * w[:, 0][None, None, :])
    np.testing.assert_allclose(grads, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(norms, np.mean(np.linalg.norm(expected, axis=-1), axis=1),
                               rtol=1e-5)


def test_lstm_state_gradients_against_finite_differences(outputs):
    module = outputs[1]
    cell, steps = nn.LSTMCell(4), 5
    net, rng = module.model(cell), np.random.default_rng(3)
    shapes = {"rnn": {"wx": (2, 16), "wh": (4, 16), "b": (16,)}, "head": {"w": (4, 1), "b": (1,)}}
    params = jax.tree.map(lambda shape: jnp.asarray(rng.normal(0, 0.7, shape), jnp.float32), shapes,
                          is_leaf=lambda v: isinstance(v, tuple))
    x, y = (jnp.asarray(a) for a in module.adding_problem(np.random.default_rng(2), 3, steps))
    options = module.compiler_options(True)                         # level 0: compiles faster
    loss = jax.jit(lambda d: module.loss_with_deltas(cell, params, x, y, d),
                   compiler_options=options)
    zeros = jax.tree.map(lambda c: jnp.zeros((steps,) + c.shape), cell.initial_carry(3))
    # zero deltas: exactly the model's summed loss
    outputs_, _ = jax.jit(net.apply, compiler_options=options)(params, {}, x)
    np.testing.assert_allclose(loss(zeros), jnp.sum(module.squared_error(outputs_, y)), rtol=1e-5)
    grads = jax.jit(lambda p: module.state_gradients(cell, p, x, y), compiler_options=options)(
        params)                                                     # the pair (dL/dc, dL/da)
    assert isinstance(grads, tuple) and grads[0].shape == grads[1].shape == (steps, 3, 4)
    eps = 1e-2
    for t in (0, steps - 1):
        direction = jax.tree.map(lambda z: z.at[t].set(rng.normal(size=z.shape[1:])), zeros)
        plus = jax.tree.map(lambda z, d: z + eps * d, zeros, direction)
        minus = jax.tree.map(lambda z, d: z - eps * d, zeros, direction)
        numeric = (loss(plus) - loss(minus)) / (2 * eps)
        analytic = sum(jnp.sum(g * d) for g, d in zip(grads, direction))
        np.testing.assert_allclose(numeric, analytic, rtol=2e-2, atol=1e-4)


def test_steps_to_learn_and_windows(outputs):
    module = outputs[1]
    loss = np.concatenate([np.full(20, 0.2), np.full(10, 0.01), np.full(10, 0.001)])
    assert module.windowed(loss, 10) == [0.2, 0.2, 0.01, 0.001]
    assert module.steps_to_learn(loss, 10) == 30
    assert module.steps_to_learn(np.full(40, 0.1), 10) is None
