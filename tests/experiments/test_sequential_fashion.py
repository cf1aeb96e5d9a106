"""experiments/sequential_fashion.py: the --quick run on the session's synthetic Fashion-MNIST
(an LSTM over the 28 rows against a narrow CNN, 2 seeds), its JSON, mean ± sd and verdicts, plot,
and the row-by-row model."""
import jax
import numpy as np
import pytest


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("sequential_fashion")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("sequential_fashion", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, module, returned, strict_json(out / "metrics.json")


def test_json_layout_and_values(outputs):
    _, _, returned, m = outputs
    assert m["settings"]["quick"] is True and m["dataset"] == "fashion_mnist"
    assert m["settings"]["seeds"] == 2
    assert (m["n_train"], m["n_val"], m["n_test"]) == (600, 200, 300)
    assert set(m["models"]) == {"lstm", "cnn"}
    for name, r in m["models"].items():
        assert 0.1 < r["test_accuracy"] <= 1.0, name            # above chance on 10 classes
        assert len(r["history"]["val_accuracy"]) == 1 and r["seconds_per_epoch"] > 0, name
    # LSTM(16) on 28 inputs: 4 gate blocks of (28 + 16) x 16 weights and 16 biases; Dense(16 -> 10)
    assert m["models"]["lstm"]["parameters"] == 4 * ((28 + 16) * 16 + 16) + 16 * 10 + 10
    lstm = m["models"]["lstm"]
    # reading the last 28 of 28 rows through scan_cell is the model itself
    assert lstm["accuracy_last_rows"] == {"28": pytest.approx(lstm["test_accuracy"], abs=1e-6)}
    assert returned["verdicts"] == m["verdicts"]


def test_mean_and_sd_over_two_seeds(outputs, spread_rule):
    m = outputs[3]
    for name, r in m["models"].items():
        s = r["over_seeds"]
        assert s["seeds"] == [0, 1], name
        for key, stat in s.items():
            if key == "seeds":
                continue
            assert len(stat["values"]) == 2 and np.all(np.isfinite(stat["values"])), (name, key)
            assert stat["mean"] == pytest.approx(np.mean(stat["values"])), (name, key)
            assert stat["sd"] == pytest.approx(np.std(stat["values"], ddof=1)), (name, key)
            assert stat["sd"] >= 0, (name, key)
        acc = s["test_accuracy"]["values"]
        assert acc[0] == r["test_accuracy"] and all(0.1 < a <= 1.0 for a in acc), name
        assert r["val_accuracy_by_epoch"][0]["values"][0] == r["history"]["val_accuracy"][0], name
    lstm, cnn = (m["models"][k]["over_seeds"] for k in ("lstm", "cnn"))
    assert lstm["test_accuracy"]["values"] != pytest.approx(cnn["test_accuracy"]["values"])
    assert lstm["accuracy_last_rows.28"]["values"] == pytest.approx(
        lstm["test_accuracy"]["values"], abs=1e-6)
    v = m["verdicts"]
    gaps = np.subtract(lstm["test_accuracy"]["values"], cnn["test_accuracy"]["values"])
    assert v["lstm_minus_cnn_accuracy"]["values"] == pytest.approx(gaps.tolist())
    assert v["lstm_minus_cnn_accuracy"]["mean"] == pytest.approx(gaps.mean())
    assert v["lstm_vs_cnn"] == spread_rule(lstm["test_accuracy"], cnn["test_accuracy"])
    assert v["last_rows"]["28"]["verdict"] == "within noise"   # all 28 rows: the model itself
    assert v["lstm_learns"] == (lstm["test_accuracy"]["mean"] - lstm["test_accuracy"]["sd"] > 0.5)


def test_seeds_must_be_positive(outputs):
    with pytest.raises(ValueError, match="--seeds: expected at least 1, got 0"):
        outputs[1].parse_args(["--seeds", "0"])


def test_the_lstm_reads_one_row_per_step(outputs):
    module = outputs[1]
    args = module.parse_args(["--quick"])
    m = module.model("lstm", args, (28, 28, 1))
    inits = []
    jax.eval_shape(lambda k: inits.append(m.init(k, (2, 28, 28, 1))), jax.random.key(0))
    shape, params, _ = inits[0]
    assert tuple(shape) == (2, 10)
    assert params["lstm"]["wx"].shape == (28, 4 * 16)            # 28 pixels per step


def test_plot_and_table_written(outputs):
    out = outputs[0]
    assert (out / "sequential_fashion_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (out / "table.md").read_text()
    assert "| lstm |" in table and "| cnn |" in table and "mean ± sd, 2 seeds" in table
    assert "| LSTM vs CNN |" in table
    assert np.isfinite(outputs[3]["models"]["cnn"]["test_loss"])
