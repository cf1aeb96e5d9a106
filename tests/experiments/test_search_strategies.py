"""experiments/search_strategies.py in --quick mode: each strategy trains the budget, its trace
is consistent (best-so-far curve, winner, Bayesian batches), the grid spans the ranges, and the
cross-validation figures follow from the fold scores."""
import numpy as np


def test_grid_spans_both_ranges_log_spaced(monkeypatch, load_script):
    script = load_script("search_strategies", monkeypatch)
    g = script.grid_settings(4)
    assert len(g["learning_rate"]) == 16
    np.testing.assert_allclose(sorted(set(g["learning_rate"].tolist())), [1e-4, 1e-3, 1e-2, 1e-1], rtol=1e-5)
    np.testing.assert_allclose(sorted(set(g["weight_decay"].tolist())),
                               np.geomspace(1e-4, 1.0, 4), rtol=1e-5)


def test_quick_run(tmp_path, monkeypatch, load_script, strict_json):
    script = load_script("search_strategies", monkeypatch)
    returned = script.main(["--quick", "--out", str(tmp_path)])
    saved = strict_json(tmp_path / "metrics.json")
    s = saved["settings"]
    assert sorted(saved["runs"]) == sorted(script.STRATEGIES) == sorted(returned["runs"])
    for name, runs in saved["runs"].items():
        assert len(runs) == s["seeds"]
        for r in runs:
            scores = r["scores"]
            assert len(scores) == s["budget"] == len(r["settings"]["learning_rate"])
            np.testing.assert_allclose(r["best_so_far"], np.maximum.accumulate(scores))
            assert scores[r["winner"]] == max(scores) == r["best_val_accuracy"]
            assert 0.0 <= r["test_accuracy"] <= 1.0
            expected = (list(np.repeat(np.arange(s["budget"] // s["batch"]), s["batch"]))
                        if name == "bayes" else [0] * s["budget"])
            assert r["batch"] == expected
            for k, (_, lo, hi) in script.SPACES.items():
                assert all(lo * 0.999 <= v <= hi * 1.001 for v in r["settings"][k]), (name, k)
    cv = saved["cross_validation"]
    folds = np.asarray(cv["fold_scores"])
    assert folds.shape == (2, s["folds"])
    np.testing.assert_allclose(cv["mean"], folds.mean(1))
    np.testing.assert_allclose(cv["kfold_mean_se"], folds.std(1, ddof=1) / np.sqrt(s["folds"]))
    assert (tmp_path / "search_strategies.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "table.md").read_text().count("\n|---") == 2
