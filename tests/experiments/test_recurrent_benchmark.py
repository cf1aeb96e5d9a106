"""experiments/benchmarks/recurrent.py: the JAX rows train the same network (equal losses from
equal parameters is checked for jdl against the hand-written LSTM), the timer returns positive
figures, and the table reports ratios. No timing assertions: a shared machine's figures mean
nothing."""
import importlib.util
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

BENCH = pathlib.Path(__file__).resolve().parents[2] / "experiments" / "benchmarks"


def load(name, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_jdl_lstm_equals_the_hand_written_lstm_of_the_pure_jax_row():
    """Gate order (u, f, c, o) = PyTorch's (i, f, g, o): one set of weights, one loss. (Random
    weights of the cell's shapes, and both LSTMs in one jitted program: one compile, where the
    cell's init and the hand-written loop run eagerly would compile every operation.)"""
    from jdl import nn
    cell = nn.LSTMCell(6)
    rng = np.random.default_rng(0)
    shapes = jax.eval_shape(lambda k: cell.init(k, 4), jax.random.key(0))
    params = jax.tree.map(lambda s: rng.normal(0, 0.5, s.shape).astype(np.float32), shapes)
    x = rng.normal(size=(3, 5, 4)).astype(np.float32)

    @jax.jit
    def both(params, x):
        (_, a), _ = nn.scan_cell(cell, params, x)
        h = c = jnp.zeros((3, 6))
        for t in range(5):
            i, f, g, o = jnp.split(x[:, t] @ params["wx"] + h @ params["wh"] + params["b"][None],
                                   4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return a, h

    a, h = both(params, x)
    np.testing.assert_allclose(a, h, atol=1e-5)


@pytest.mark.parametrize("row", ["jdl", "pure-jax"])
def test_rows_train_and_time(row, monkeypatch):
    module = load("recurrent", monkeypatch)
    rows = load("recurrent_rows", monkeypatch)
    figures = module.measure(row, 4, 8, 1, warmup=1, windows=1)   # unroll 1: less to compile
    assert all(figures[k] > 0 for k in ("compile_s", "steps_per_s", "peak_rss_mb"))
    with pytest.raises(ValueError, match="row: expected one of"):
        rows.make_stepper("keras", 4, 8)


def test_table_reports_ratios_against_jdl(monkeypatch):
    module = load("recurrent", monkeypatch)
    ok = lambda s: {"status": "ok", "steps_per_s": s, "compile_s": 1.0, "peak_rss_mb": 300.0}  # noqa: E731
    text = module.table({28: {"jdl unroll=1": ok(50.0), "pytorch": ok(25.0),
                              "flax-linen": {"status": "error", "note": "boom"}}})
    assert "| pytorch | 25.0 | 0.50x | 1.00 | 300 |" in text and "error: boom" in text
    assert [r for r, _ in module.rows_of(module.parse_args(["--torch-python", ""]))] == [
        "jdl", "jdl", "jdl-ahead", "flax-linen", "pure-jax"]
    assert sys.executable
    assert optax.adam


def test_breakdown_phases_and_table(monkeypatch):
    """recurrent_breakdown.py: the jdl row's three programs run and time positive, and the
    table derives backward and optimizer as differences of the phases."""
    module = load("recurrent_breakdown", monkeypatch)
    args = module.parse_args(["--quick"])
    phases = module.child("jdl", 4, args)
    assert list(phases) == list(module.PHASES) and all(v > 0 for v in phases.values())
    text = module.table({28: {"jdl": {"forward": 1.0, "forward+backward": 3.5, "step": 4.0},
                              "pytorch": {"forward": 0.5, "forward+backward": 1.5, "step": 2.0,
                                          "top_ops_ms_per_step": {"aten::lstm": 0.7}},
                              "flax-linen": {"error": "boom"}}})
    assert "| jdl | 1.00 | 2.50 | 0.50 | 4.00 |" in text and "| flax-linen | boom |" in text
    assert "`aten::lstm` 0.70" in text
