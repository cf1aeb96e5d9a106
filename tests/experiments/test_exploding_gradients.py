"""experiments/exploding_gradients.py in --quick mode (the JSON layout, sane values, the plots;
no claims), and its helpers: the gradient-norm recorder, clipping, the skipped steps."""
import math
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

RUNS = tuple(f"{config}_{clip}" for config in ("radius3_sgd", "radius1_sgd", "radius1_adam")
             for clip in ("unclipped", "clipped"))


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("exploding_gradients")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("exploding_gradients", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, module, returned, strict_json(out / "metrics.json")


def test_json_layout_and_values(outputs):
    _, _, returned, m = outputs
    assert m["length"] == 10 and m["baseline_mse"] == pytest.approx(1 / 6)
    assert set(m["runs"]) == set(RUNS) and m["settings"]["quick"] is True
    for name, r in m["runs"].items():
        assert r["init_scale"] == (3.0 if name.startswith("radius3") else 1.0)
        assert r["optimizer"] == ("adam" if "adam" in name else "sgd")
        assert r["clip"] == (1.0 if name.endswith("_clipped") else None)
        assert len(r["seeds"]) == 2
        assert r["summary"]["test_mse"] == [s["test_mse"] for s in r["seeds"]]
        for s in r["seeds"]:
            assert 0 <= s["skipped_steps"] <= 60
            assert (s["first_skipped_step"] is None) == (s["skipped_steps"] == 0)
            assert s["finite_loss_but_nonfinite_gradient"] <= s["skipped_steps"]
            assert len(s["loss_curve"]) == len(s["grad_norm_curve"]) == 6  # 60 steps, windows of 10
            assert len(s["state_grad_norm_init"]) == len(s["state_grad_norm_trained"]) == 10
            assert s["grad_norm_first_step"] > 0
            if r["clip"] is None:
                assert s["clipped_fraction"] is None
            else:
                assert 0 <= s["clipped_fraction"] <= 1
    assert returned["runs"].keys() == m["runs"].keys()
    assert {"seconds", "versions", "command"} <= set(m["run"])


def test_same_start_for_clipped_and_unclipped(outputs):
    """Same seed, same init, same first batch: the first gradient (recorded before clipping) and
    dL/dh_t at the start do not depend on the optimizer."""
    runs = outputs[3]["runs"]
    pairs = [(f"{c}_unclipped", f"{c}_clipped") for c in ("radius3_sgd", "radius1_sgd")]
    for one, other in pairs + [("radius1_sgd_unclipped", "radius1_adam_unclipped")]:
        for a, b in zip(runs[one]["seeds"], runs[other]["seeds"]):
            assert a["grad_norm_first_step"] == pytest.approx(b["grad_norm_first_step"], rel=1e-3)
            np.testing.assert_allclose(a["state_grad_norm_init"], b["state_grad_norm_init"],
                                       rtol=1e-3)
    # the orthogonal x 3 start has far larger gradients than orthogonal x 1 (same seed)
    for big, small in zip(runs["radius3_sgd_unclipped"]["seeds"],
                          runs["radius1_sgd_unclipped"]["seeds"]):
        assert big["grad_norm_first_step"] > 2 * small["grad_norm_first_step"]


def test_table_and_plots(outputs):
    out = outputs[0]
    text = (out / "table.md").read_text()
    assert len(text.splitlines()) == 2 + 6 and all(f"| {r} |" in text for r in RUNS)
    for name in ("loss.png", "grad_norm.png", "state_gradients.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_global_norm_and_recorder(outputs):
    module = outputs[1]
    args = SimpleNamespace(lr=0.1, adam_lr=0.003)
    clipped_sgd, adam = module.optimizer("sgd", args, 1.0), module.optimizer("adam", args, None)
    params = {"w": jnp.zeros(3)}

    def checks(tree, huge, grads, bad):
        updates, state = clipped_sgd.update(grads, clipped_sgd.init(params), params)
        _, bad_state = adam.update(bad, adam.init(params), params)
        return (module.global_norm(tree), optax.tree.norm(tree), module.global_norm(huge),
                optax.tree.norm(huge), updates, state[0], bad_state[0])

    out = jax.jit(checks, compiler_options=module.compiler_options(True))(
        {"a": jnp.array([3.0, 0.0]), "b": {"c": jnp.array([[4.0]])}},
        {"a": jnp.full((4,), 1e20)},
        {"w": jnp.array([0.0, 6.0, 8.0])},                              # norm 10
        {"w": jnp.array([1.0, jnp.nan, 0.0])})
    norm, optax_norm, huge_norm, optax_huge, updates, state, bad_state = out
    assert float(norm) == pytest.approx(5.0) and float(optax_norm) == pytest.approx(5.0)
    assert not math.isfinite(float(optax_huge))                      # squares overflow float32
    assert float(huge_norm) == pytest.approx(2e20, rel=1e-5)
    # first in the chain, the recorder sees the gradient before clipping; the update is clipped
    assert float(state.norm) == pytest.approx(10.0) and bool(state.finite)
    np.testing.assert_allclose(updates["w"], -0.1 * np.array([0.0, 0.6, 0.8]), rtol=1e-6)
    assert not bool(bad_state.finite)


def test_nonfinite_step_is_skipped(outputs):
    """A batch with a NaN gives a NaN loss: that step keeps the parameters, the others train."""
    module = outputs[1]
    args = SimpleNamespace(hidden=8, quick=True, lr=0.1)             # the --quick model
    opt = module.optimizer("sgd", args, None)
    program = module.make_program(opt, args)
    net = module.networks(8)[1.0]                                    # its init is compiled
    ts = module.init_state(net, opt, 0, True)
    xs, ys = module.training_batches(np.random.default_rng(0), 3, 2, 5)
    xs[1, 0, 2, 0] = np.nan
    probe = (xs[0], ys[0])
    start = jax.tree.map(np.array, ts.params)
    ts, logs, out = program(ts, xs, ys, probe, probe)
    assert np.asarray(logs["skipped"]).tolist() == [False, True, False]
    assert not math.isfinite(float(logs["loss"][1])) and int(ts.step) == 3
    assert all(np.all(np.isfinite(p)) for p in jax.tree.leaves(ts.params))
    assert not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(start),
                                                        jax.tree.leaves(ts.params)))
