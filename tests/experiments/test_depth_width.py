"""experiments/depth_width.py in --quick mode: the parameter counts by hand, the widths that
match a budget, the JSON layout and per-seed records, and the files."""
import numpy as np


def test_parameter_counts_and_widths_by_hand(monkeypatch, load_script):
    script = load_script("depth_width", monkeypatch)
    # 784-1024-10: 784*1024 + 1024 + 1024*10 + 10; 784-500-500-10 (COMP9321's network)
    assert script.mlp_params(1, 1024) == 814_090
    assert script.mlp_params(2, 500) == 784 * 500 + 500 + 500 * 500 + 500 + 500 * 10 + 10 == 648_010
    budget = script.mlp_params(1, 1024)
    for depth in (2, 4, 8, 16):
        w = script.width_for(budget, depth)
        here, below, above = (abs(script.mlp_params(depth, v) - budget) for v in (w, w - 1, w + 1))
        assert here <= below and here <= above, (depth, w)
    assert script.width_for(budget, 1) == 1024


def test_quick_run_layout(tmp_path, monkeypatch, load_script, strict_json):
    script = load_script("depth_width", monkeypatch)
    returned = script.main(["--quick", "--out", str(tmp_path)])
    saved = strict_json(tmp_path / "metrics.json")
    settings = saved["settings"]
    assert list(saved["results"]) == list(returned["results"]) == ["12,730"]
    for budget, rows in saved["results"].items():
        assert [r["depth"] for r in rows] == settings["depths"]
        for r in rows:
            assert r["params"] == script.mlp_params(r["depth"], r["width"])   # summary() agrees
            for key in ("train_accuracy", "val_accuracy", "test_accuracy", "gap", "best_epoch"):
                assert len(r[key]) == settings["seeds"], key
            assert all(0.0 <= a <= 1.0 for a in r["test_accuracy"] + r["train_accuracy"])
            np.testing.assert_allclose(r["gap"], np.subtract(r["train_accuracy"], r["test_accuracy"]),
                                       atol=1e-6)
            assert all(1 <= e <= settings["epochs"] for e in r["best_epoch"])
            assert len(r["val_accuracy_curve"]) <= settings["epochs"]
    assert (tmp_path / "depth_width.png").read_bytes()[:4] == b"\x89PNG"
    table = (tmp_path / "table.md").read_text()
    assert table.count("\n") == 2 + len(settings["depths"]) and "± " in table
