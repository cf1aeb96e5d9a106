"""experiments/saturation.py in --quick mode: the JSON layout, sane values, the plots (no claims)."""
import json
import math

import pytest


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script):
    out = tmp_path_factory.mktemp("saturation")
    with pytest.MonkeyPatch.context() as mp:
        returned = load_script("saturation", mp).main(["--quick", "--out", str(out)])
    return out, returned, json.loads((out / "metrics.json").read_text())


def test_neuron_part(outputs):
    _, _, m = outputs
    neuron = m["neuron"]
    assert set(neuron["runs"]) == {"w0.6_b0.9", "w2_b2"}
    for start, a0 in (("w0.6_b0.9", 1 / (1 + math.exp(-1.5))), ("w2_b2", 1 / (1 + math.exp(-4)))):
        for cost in ("quadratic", "cross_entropy"):
            run = neuron["runs"][start][cost]
            assert len(run["output"]) == len(run["cost"]) == 100  # --quick: 100 epochs
            assert run["output"][0] == pytest.approx(a0, rel=1e-5)  # sigmoid(w * 1 + b)
            assert all(0 < a < 1 for a in run["output"])
            assert all(c >= 0 and math.isfinite(c) for c in run["cost"])
            hit = run["epochs_to_target"]
            assert hit is None or (0 <= hit < 100 and run["output"][hit] < neuron["target_output"])


def test_mlp_part(outputs):
    _, returned, m = outputs
    mlp = m["mlp"]
    assert m["dataset"] in ("fashion_mnist", "digits")
    assert set(mlp["runs"]) == {"sigmoid_quadratic", "sigmoid_cross_entropy", "softmax_log_likelihood"}
    assert all(0 <= v <= 1 for v in mlp["saturated_fraction_at_start"].values())
    for run in mlp["runs"].values():
        curve = run["curve"]
        n = len(curve["step"])
        assert n >= 2 and curve["step"] == sorted(curve["step"])
        assert len(curve["train_loss"]) == len(curve["val_loss"]) == len(curve["val_accuracy"]) == n
        assert all(0 <= a <= 1 for a in curve["val_accuracy"])
        assert all(math.isfinite(v) for v in curve["train_loss"] + curve["val_loss"])
        assert 0 <= run["test_accuracy"] <= 1
        assert run["steps_to_target"] is None or run["steps_to_target"] in curve["step"]
        seeds = run["over_seeds"]  # the first seed is the run whose curve is stored
        assert m["settings"]["seeds"] == 2 and len(seeds["test_accuracy"]["values"]) == 2
        assert seeds["test_accuracy"]["values"][0] == run["test_accuracy"]
        assert seeds["final_val_accuracy"]["values"][0] == curve["val_accuracy"][-1]
    assert returned["mlp"]["runs"].keys() == mlp["runs"].keys()
    assert {"seconds", "versions", "command"} <= set(m["run"])


def test_plots(outputs):
    out, _, _ = outputs
    for name in ("neuron.png", "mlp.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
