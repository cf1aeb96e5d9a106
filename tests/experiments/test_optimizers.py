"""experiments/optimizers.py in --quick mode: every deck optimizer ran, the outputs are sane.

No timing or ranking assertions: two epochs on 600 images say little about which optimizer is
best. The claims checked hold by construction: one starting point, GD's one update per epoch,
and the two momentum conventions agreeing for a constant learning rate only.
"""
import math


def test_optimizers_quick(tmp_path, monkeypatch, load_script, strict_json):
    script = load_script("optimizers", monkeypatch)
    result = script.main(["--quick", "--out", str(tmp_path)])
    saved = strict_json(tmp_path / "metrics.json")
    assert saved["optimizers"].keys() == result["optimizers"].keys() == script.RUNS.keys()
    assert {"dataset", "model", "epochs", "batch_size", "n_train", "run",
            "momentum_conventions_max_param_diff",
            "momentum_conventions_under_step_decay"} <= saved.keys()
    for name in ("loss_curves.png",):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "table.md").read_text().count("\n") == len(script.RUNS) + 2

    epochs, n, batch = saved["epochs"], saved["n_train"], saved["batch_size"]
    runs = saved["optimizers"]
    for name, r in runs.items():
        assert len(r["val_loss"]) == len(r["val_accuracy"]) == epochs + 1, name
        assert len(r["train_loss"]) == epochs, name
        assert all(v is None or 0.0 <= v <= 1.0 for v in r["val_accuracy"]), name
        assert 0.0 <= r["test_accuracy"] <= 1.0, name
        assert r["updates"] == epochs * (1 if name == "gd" else n // batch), name
        seeds = r["over_seeds"]
        assert len(seeds["test_accuracy"]["values"]) == saved["seeds"] == 2, name
        # the first seed is the run whose curves are stored
        assert seeds["test_accuracy"]["values"][0] == r["test_accuracy"], name
        assert seeds["val_loss"]["values"][0] == r["val_loss"][-1], name
    # one starting point: the same weights, so the same accuracy before training
    assert len({r["val_accuracy"][0] for r in runs.values()}) == 1
    # everything learned something except possibly full-batch GD (2 updates in quick mode)
    assert max(r["val_accuracy"][-1] for r in runs.values()) > 0.3
    assert all(math.isfinite(r["val_loss"][-1]) for r in runs.values())
    # the two momentum conventions: equal for a constant lr, different under a schedule
    assert saved["momentum_conventions_max_param_diff"] < 1e-5
    assert saved["momentum_conventions_under_step_decay"]["max_param_diff"] > 1e-4
