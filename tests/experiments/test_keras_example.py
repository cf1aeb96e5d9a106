"""experiments/keras_example.py in --quick mode: the JSON layout, sane values, the plot (no claims)."""
import json
import math

import pytest


def test_keras_example_quick(tmp_path, monkeypatch, load_script):
    returned = load_script("keras_example", monkeypatch).main(["--quick", "--out", str(tmp_path)])
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["sizes"][1:] == [500, 500, 10]
    assert set(m["runs"]) == set(m["test_accuracy"]) == {"sigmoid_mse", "relu_cross_entropy"}
    assert (m["runs"]["sigmoid_mse"]["activation"], m["runs"]["sigmoid_mse"]["loss"]) == ("sigmoid", "mse")
    assert m["settings"]["lr"] == 0.1 and m["settings"]["batch_size"] == 100
    for run in m["runs"].values():
        history = run["history"]
        assert len(history["loss"]) == len(history["val_accuracy"]) == 2  # --quick: 2 epochs
        assert all(math.isfinite(v) for v in history["loss"] + history["val_loss"])
        assert all(0 <= a <= 1 for a in history["accuracy"] + history["val_accuracy"])
        assert 0 <= run["test_accuracy"] <= 1
    assert returned["test_accuracy"] == m["test_accuracy"]
    assert {"seconds", "versions", "command"} <= set(m["run"])
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_keras_example_rejects_unknown_variant(tmp_path, monkeypatch, load_script):
    with pytest.raises(SystemExit):
        load_script("keras_example", monkeypatch).main(["--quick", "--variants", "tanh_mse",
                                                        "--out", str(tmp_path)])
    assert not (tmp_path / "metrics.json").exists()
