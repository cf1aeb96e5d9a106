"""experiments/initialization.py in --quick mode: outputs sane, and the claims that hold on any
data: zero and constant initializations keep every hidden unit identical, a large normal
saturates tanh, a small normal makes ReLU activations vanish, He keeps their scale.
"""


def test_initialization_quick(tmp_path, monkeypatch, load_script, strict_json):
    script = load_script("initialization", monkeypatch)
    script.main(["--quick", "--out", str(tmp_path)])
    saved = strict_json(tmp_path / "metrics.json")
    assert {"dataset", "depth", "width", "epochs", "results", "run"} <= saved.keys()
    for png in ("activations_at_init.png", "training.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    depth, res = saved["depth"], saved["results"]
    assert set(res) == {"relu", "tanh"} and saved["seeds"] == 2
    assert set(saved["he_vs_glorot_exceeds_spread"]) == {"relu", "tanh"}
    for act, runs in res.items():
        assert set(runs) == set(script.INITS)
        for name, r in runs.items():
            assert len(r["init_stats"]) == depth + 1, (act, name)
            assert len(r["val_accuracy"]) == saved["epochs"] + 1 or r["diverged"]
            assert r["test_accuracy"] is None or 0.0 <= r["test_accuracy"] <= 1.0
            seeds = r["over_seeds"]
            assert seeds["seeds"] == list(range(saved["seed"], saved["seed"] + saved["seeds"]))
            # the first seed is the run whose curves are stored
            assert seeds["test_accuracy"]["values"][0] == r["test_accuracy"]
            assert seeds["val_accuracy"]["values"][0] == (None if r["diverged"] else r["val_accuracy"][-1])
        # symmetry: zero and constant inits start with identical hidden units and keep them
        assert runs["zeros"]["symmetry_gap_init"] == runs["zeros"]["symmetry_gap_trained"] == 0.0
        assert all(s["std"] == 0.0 for s in runs["zeros"]["init_stats"][:depth])
        assert runs["constant 1/fan_in"]["symmetry_gap_init"] == 0.0
        assert runs["constant 1/fan_in"]["symmetry_gap_trained"] < 1e-6
        for name in ("normal 0.01", "normal 1.0", "he", "glorot"):
            assert runs[name]["symmetry_gap_init"] > 1e-3, (act, name)

    def layers(act, name, key):
        return [s[key] for s in res[act][name]["init_stats"][:depth]]

    assert min(layers("tanh", "normal 1.0", "frac_saturated")) > 0.3  # a large normal saturates
    assert max(layers("tanh", "he", "frac_saturated") + layers("tanh", "glorot", "frac_saturated")) < 0.1
    small, he = layers("relu", "normal 0.01", "std"), layers("relu", "he", "std")
    assert small[-1] < 1e-3 * small[0]  # a small normal: vanishing activations
    assert 0.1 < he[-1] / he[0] < 10  # He keeps the scale
