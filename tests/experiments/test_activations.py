"""experiments/activations.py in --quick mode: the JSON layout, sane values, the plots (no claims)."""
import json
import math

ACTIVATIONS = {"sigmoid", "tanh", "relu", "leaky_relu", "elu"}


def test_activations_quick(tmp_path, monkeypatch, load_script):
    returned = load_script("activations", monkeypatch).main(["--quick", "--out", str(tmp_path)])
    m = json.loads((tmp_path / "metrics.json").read_text())
    depth = m["depth"]
    assert depth == 3 and set(m["runs"]) == set(m["test_accuracy"]) == ACTIVATIONS  # --quick: 3
    for run in m["runs"].values():
        for when in ("init", "trained"):
            probe = run[when]
            assert len(probe["grad_norms"]) == depth  # one per Dense layer
            assert all(g > 0 and math.isfinite(g) for g in probe["grad_norms"])
            assert len(probe["never_positive"]) == depth - 1  # one per hidden layer
            assert all(0 <= f <= 1 for f in probe["never_positive"])
            assert 0 <= probe["never_positive_total"] <= 1
        assert len(run["history"]["val_accuracy"]) == 1  # --quick: 1 epoch
        assert 0 <= run["test_accuracy"] <= 1
    dead = m["dead_relu_fraction"]
    assert dead["init"] == m["runs"]["relu"]["init"]["never_positive_total"]
    assert 0 <= dead["trained"] <= 1
    assert returned["test_accuracy"] == m["test_accuracy"]
    assert {"seconds", "versions", "command"} <= set(m["run"])
    for name in ("grad_norms.png", "training.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
