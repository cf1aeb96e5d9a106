"""experiments/sequential_fashion.py: the --quick run on the session's synthetic Fashion-MNIST
(an LSTM over the 28 rows against a narrow CNN), its JSON and plot, and the row-by-row model."""
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
    assert (m["n_train"], m["n_val"], m["n_test"]) == (600, 200, 300)
    assert set(m["models"]) == {"lstm", "cnn"}
    for name, r in m["models"].items():
        assert 0.1 < r["test_accuracy"] <= 1.0, name            # above chance on 10 classes
        assert len(r["history"]["val_accuracy"]) == 1 and r["seconds_per_epoch"] > 0, name
    # LSTM(16) on 28 inputs: 4 gate blocks of (28 + 16) x 16 weights and 16 biases; Dense(16 -> 10)
    assert m["models"]["lstm"]["parameters"] == 4 * ((28 + 16) * 16 + 16) + 16 * 10 + 10
    lstm, cnn = m["models"]["lstm"], m["models"]["cnn"]
    # reading the last 28 of 28 rows through scan_cell is the model itself
    assert lstm["accuracy_last_rows"] == {"28": pytest.approx(lstm["test_accuracy"], abs=1e-6)}
    assert m["verdicts"]["lstm_minus_cnn_accuracy"] == pytest.approx(
        lstm["test_accuracy"] - cnn["test_accuracy"], abs=1e-4)
    assert returned["verdicts"] == m["verdicts"]


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
    assert "| lstm |" in table and "| cnn |" in table
    assert np.isfinite(outputs[3]["models"]["cnn"]["test_loss"])
