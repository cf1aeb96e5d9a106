"""experiments/exploding_gradients.py in --quick mode (the JSON layout, sane values, mean ± sd
over the 2 seeds and the spread-rule verdicts, the plots; no claims), and its helpers: the
gradient-norm recorder, clipping, the skipped steps, the verdict for diverged seeds."""
import math
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

CONFIGS = ("radius3_sgd", "radius1_sgd", "radius1_adam")
RUNS = tuple(f"{config}_{clip}" for config in CONFIGS for clip in ("unclipped", "clipped"))
PLAIN = ("test_mse", "test_accuracy", "loss_last_window", "clipped_fraction", "skipped_steps")
LOGGED = ("grad_norm_first_step", "grad_norm_max", "grad_ratio_first_last_init",
          "grad_ratio_first_last_trained")


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
        assert [s["seed"] for s in r["seeds"]] == r["over_seeds"]["seeds"] == [0, 1]
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


def finite(values):
    return [v for v in values if v is not None and math.isfinite(v)]


def test_over_seeds_are_mean_and_sd_of_the_finite_seeds(outputs):
    """Each statistic recomputed here from the per-seed records: the finite values (log10 of
    the positive ones for the norms), their mean and sample sd."""
    for name, r in outputs[3]["runs"].items():
        o = r["over_seeds"]
        assert o["diverged"] == sum(s["test_mse"] is None for s in r["seeds"])
        for key, log in [(k, False) for k in PLAIN] + [(k, True) for k in LOGGED]:
            raw = [s[key] for s in r["seeds"]]
            kept = [math.log10(v) for v in raw if v and v > 0] if log else finite(raw)
            stat = o[f"log10_{key}" if log else key]
            assert stat["finite"] == len(kept) and len(stat["values"]) == 2, (name, key)
            if not kept:
                assert stat["mean"] is None and key == "clipped_fraction" and r["clip"] is None
                continue
            assert stat["mean"] == pytest.approx(np.mean(kept), rel=1e-6, abs=1e-9), (name, key)
            assert stat["sd"] >= 0
            if len(kept) > 1:
                assert stat["sd"] == pytest.approx(np.std(kept, ddof=1), rel=1e-6, abs=1e-9)


def test_verdicts_follow_the_spread_rule(outputs, spread_rule):
    m, module = outputs[3], outputs[1]
    _, y = module.adding_problem(np.random.default_rng([20_000, 10]), 64, 10)   # the test set
    assert m["baseline_test_mse"] == pytest.approx(np.mean((y - 1.0) ** 2))
    baseline = {"mean": m["baseline_test_mse"], "sd": 0.0}   # a fixed test set: no spread
    for name, r in m["runs"].items():
        mse = r["over_seeds"]["test_mse"]
        if mse["finite"] == 2:
            assert r["vs_baseline"] == spread_rule(mse, baseline, "above baseline",
                                                   "below baseline")
    assert set(m["verdicts"]) == set(CONFIGS)
    for config, v in m["verdicts"].items():
        c, u = (m["runs"][f"{config}_{side}"]["over_seeds"] for side in ("clipped", "unclipped"))
        assert (v["diverged_clipped"], v["diverged_unclipped"]) == (c["diverged"], u["diverged"])
        assert v["clipped_vs_baseline"] == m["runs"][f"{config}_clipped"]["vs_baseline"]
        if c["diverged"] == u["diverged"] == 0:
            rule = spread_rule(c["test_mse"], u["test_mse"], "clipped worse", "clipped better")
            assert v["clipped_vs_unclipped"] == v["on_finite_seeds"] == rule
    diverging = [v for v in m["verdicts"].values() if v["diverged_unclipped"]]
    assert m["clipping_prevents_divergence"] == (
        all(v["diverged_clipped"] == 0 for v in diverging) if diverging else None)


def test_a_diverged_seed_counts_as_a_loss(outputs):
    """Synthetic records: the unclipped run diverges on 1 of 3 seeds, so clipping wins, while on
    the 2 finite seeds the two are within noise; all 3 diverged on both sides: both diverged."""
    module = outputs[1]

    def run(mses):
        records = [{k: 1.0 for k in PLAIN + LOGGED} | {"test_mse": v} for v in mses]
        stats = module.combine(records, [0, 1, 2])
        return {"over_seeds": stats, "vs_baseline": module.spread_verdict(
            stats["test_mse"], baseline, "below baseline", "above baseline")}

    baseline = {"mean": 1 / 6, "sd": 0.0, "finite": 2}

    runs = {"radius3_sgd_unclipped": run([None, None, None]),
            "radius3_sgd_clipped": run([0.23, 0.24, 0.22]),
            "radius1_sgd_unclipped": run([0.166, None, 0.165]),
            "radius1_sgd_clipped": run([0.166, 0.168, 0.164]),
            "radius1_adam_unclipped": run([None] * 3), "radius1_adam_clipped": run([None] * 3)}
    stat = runs["radius1_sgd_unclipped"]["over_seeds"]["test_mse"]
    assert stat["finite"] == 2 and stat["mean"] == pytest.approx(0.1655)
    assert stat["values"] == [0.166, None, 0.165]
    v = module.verdicts(runs, 3)
    assert v["radius3_sgd"]["clipped_vs_unclipped"] == "clipped better"
    assert v["radius3_sgd"]["on_finite_seeds"] is None               # no finite unclipped seed
    assert v["radius3_sgd"]["clipped_vs_baseline"] == "above baseline"   # 0.23 ± 0.01
    assert v["radius1_sgd"]["clipped_vs_unclipped"] == "clipped better"
    assert v["radius1_sgd"]["on_finite_seeds"] == "within noise"
    assert v["radius1_sgd"]["clipped_vs_baseline"] == "within noise"
    assert v["radius1_adam"]["clipped_vs_unclipped"] == "both diverged"
    assert v["radius1_adam"]["clipped_vs_baseline"] == "diverged"
    with pytest.raises(ValueError, match="--seeds"):
        module.parse_args(["--seeds", "0"])


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
    assert len(text.splitlines()) == 2 + 6 + 1 + 2 + 3 and all(f"| {r} |" in text for r in RUNS)
    for name, r in outputs[3]["runs"].items():   # mean ± sd over the 2 seeds, e.g. "0.141 ± 0.026"
        mse = r["over_seeds"]["test_mse"]
        assert f"| {name} | 0 of 2 | {mse['mean']:.3f} ± {mse['sd']:.3f} |" in text
    for config, v in outputs[3]["verdicts"].items():
        assert f"| {config} | 0 of 2 | 0 of 2 | {v['clipped_vs_unclipped']} |" in text
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
