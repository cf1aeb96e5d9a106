"""experiments/relu_vs_tanh.py in --quick mode: every member's error curve and steps to the
target are consistent, the best learning rate is the one with the fewest median steps, and the
files are written."""
import numpy as np


def test_quick_run(tmp_path, monkeypatch, load_script, strict_json):
    script = load_script("relu_vs_tanh", monkeypatch)
    script.main(["--quick", "--out", str(tmp_path)])
    saved = strict_json(tmp_path / "metrics.json")
    s = saved["settings"]
    assert sorted(saved["results"]) == sorted(script.ACTIVATIONS)
    for name, r in saved["results"].items():
        errors = np.array(r["errors"])
        assert errors.shape == (len(s["lrs"]) * s["seeds"], r["steps_run"] // s["eval_every"])
        for curve, steps in zip(errors, r["steps_to_target"]):
            below = np.flatnonzero(curve < s["target"])
            # the steps to target are those of the first evaluation below it (-1: never)
            assert steps == ((below[0] + 1) * s["eval_every"] if len(below) else -1), name
        best = r["best"]
        finite = {float(lr): m for lr, m in best["median_steps_by_lr"].items() if m is not None}
        if finite:
            assert best["median_steps"] == min(finite.values()) == finite[best["lr"]]
    assert (tmp_path / "relu_vs_tanh.png").read_bytes()[:4] == b"\x89PNG"
    stats = {a: saved["results"][a]["best"]["steps_over_seeds"] for a in script.ACTIVATIONS}
    for a, stat in stats.items():
        assert stat["values"] == saved["results"][a]["best"]["steps"]
        if None not in stat["values"]:
            assert stat["mean"] == np.mean(stat["values"]) and stat["sd"] >= 0
    assert saved["verdict"] in (None, "within noise", "ReLU faster", "tanh faster")


def test_verdict_follows_the_spread_rule(monkeypatch, load_script, spread_rule):
    script = load_script("relu_vs_tanh", monkeypatch)
    args = script.parse_args(["--lrs", "0.1", "--seeds", "3"])
    relu = script.best_rate({"steps_to_target": [100, 110, 120], "learning_rates": [0.1] * 3}, args)
    tanh = script.best_rate({"steps_to_target": [150, 160, 170], "learning_rates": [0.1] * 3}, args)
    assert relu["steps_over_seeds"]["mean"] == 110 and relu["steps_over_seeds"]["sd"] == 10
    assert spread_rule(relu["steps_over_seeds"], tanh["steps_over_seeds"]) == "lower"  # 40 > 20


def test_best_rate_counts_a_rate_that_never_reached_as_slowest(monkeypatch, load_script):
    script = load_script("relu_vs_tanh", monkeypatch)
    args = script.parse_args(["--lrs", "0.01", "0.1", "--seeds", "3"])
    r = {"steps_to_target": [100, 200, -1, 50, 75, 80], "learning_rates": [0.01] * 3 + [0.1] * 3}
    best = script.best_rate(r, args)
    assert best["lr"] == 0.1 and best["steps"] == [50, 75, 80] and best["median_steps"] == 75.0
    assert best["median_steps_by_lr"] == {"0.01": 200.0, "0.1": 75.0}
