"""experiments/keras_example.py in --quick mode: the JSON layout over 2 seeds, sane values, the
mean ± sd against the per-seed values, the verdict, the table and the plot (no claims)."""
import math

import numpy as np
import pytest


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("keras_example")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("keras_example", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, module, returned, strict_json(out / "metrics.json")


def test_layout_and_values(outputs):
    out, _, returned, m = outputs
    assert m["sizes"][1:] == [500, 500, 10]
    assert set(m["runs"]) == {"sigmoid_mse", "relu_cross_entropy"}
    assert (m["runs"]["sigmoid_mse"]["activation"], m["runs"]["sigmoid_mse"]["loss"]) == ("sigmoid", "mse")
    assert m["settings"]["lr"] == 0.1 and m["settings"]["batch_size"] == 100
    assert m["settings"]["seeds"] == 2 and m["seeds"] == m["over_seeds"]["seeds"] == [0, 1]
    for run in m["runs"].values():   # the first seed's runs, with their histories
        history = run["history"]
        assert len(history["loss"]) == len(history["val_accuracy"]) == 2  # --quick: 2 epochs
        assert all(math.isfinite(v) for v in history["loss"] + history["val_loss"])
        assert all(0 <= a <= 1 for a in history["accuracy"] + history["val_accuracy"])
        assert 0 <= run["test_accuracy"] <= 1 and run["diverged"] is False
    assert m["per_seed"][0]["test_accuracy"] == {n: r["test_accuracy"] for n, r in m["runs"].items()}
    assert returned["verdict"] == m["verdict"]
    assert {"seconds", "versions", "command"} <= set(m["run"])
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mean_sd_over_seeds(outputs):
    m = outputs[3]
    assert [r["seed"] for r in m["per_seed"]] == [0, 1]
    for name in ("sigmoid_mse", "relu_cross_entropy"):
        per_seed = [r["test_accuracy"][name] for r in m["per_seed"]]
        stat = m["over_seeds"][f"test_accuracy.{name}"]
        assert stat["mean"] == pytest.approx(np.mean(per_seed))
        assert stat["sd"] == pytest.approx(np.std(per_seed, ddof=1)) and stat["sd"] >= 0
        for epoch in (1, 2):   # --quick shows epochs 1 and 2 (the last)
            vals = [r["val_accuracy"][name][f"epoch_{epoch}"] for r in m["per_seed"]]
            stat = m["over_seeds"][f"val_accuracy.{name}.epoch_{epoch}"]
            assert stat["mean"] == pytest.approx(np.mean(vals)) and stat["sd"] >= 0
        assert per_seed[0] != per_seed[1]   # the seeds differ (weights, split, data order)


def test_verdict_and_table(outputs):
    out, module, _, m = outputs
    v = m["verdict"]
    a, b = (m["over_seeds"][f"test_accuracy.{n}"] for n in ("relu_cross_entropy", "sigmoid_mse"))
    assert v["vs_sigmoid_mse"]["relu_cross_entropy"]["test_accuracy_gap"] == pytest.approx(
        a["mean"] - b["mean"])
    wide = abs(a["mean"] - b["mean"]) > a["sd"] + b["sd"]
    assert (v["vs_sigmoid_mse"]["relu_cross_entropy"]["test_accuracy"] == "within noise") == (not wide)
    assert v["claim"] in ("held", "not held", "within noise")
    assert v["relu_cross_entropy_epoch_1_vs_sigmoid_mse_epoch_2"] in ("higher", "lower", "within noise")
    lines = (out / "table.md").read_text().strip().splitlines()
    assert len(lines) == 2 + 2 and "val acc epoch 2" in lines[0]
    assert f"{b['mean']:.4f} ± {b['sd']:.4f}" in lines[2]
    stat = lambda mean, sd: {"mean": mean, "sd": sd, "values": [mean]}  # noqa: E731
    assert module.compare(stat(0.9, 0.01), stat(0.7, 0.05)) == "higher"
    assert module.compare(stat(0.72, 0.01), stat(0.7, 0.05)) == "within noise"
    assert module.compare(stat(0.5, 0.0), {"mean": None, "sd": None, "values": [None]}) == "diverged"


def test_rejects_bad_arguments(tmp_path, monkeypatch, load_script):
    module = load_script("keras_example", monkeypatch)
    for bad in (["--variants", "tanh_mse"], ["--seeds", "0"]):
        with pytest.raises(SystemExit):
            module.main(["--quick", *bad, "--out", str(tmp_path)])
    assert not (tmp_path / "metrics.json").exists()
