"""experiments/quickstart.py (what `make demo` runs) in --quick mode, with and without Fashion-MNIST
(the IDX files here are conftest's synthetic ones)."""
import importlib.util
import json
import pathlib

import jdl.data._datasets as datasets

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "experiments" / "quickstart.py"


def load_script():
    spec = importlib.util.spec_from_file_location("quickstart", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_outputs(out: pathlib.Path, dataset: str):
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == dataset
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert len(metrics["history"]["val_accuracy"]) == 1
    png = (out / "learning_curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_quickstart_quick_on_fashion_mnist(tmp_path):
    # the IDX files are conftest's synthetic Fashion-MNIST, found through $JDL_DATA_DIR
    load_script().main(["--quick", "--verbose", "0", "--out", str(tmp_path)])
    check_outputs(tmp_path, "fashion_mnist")


def test_quickstart_falls_back_to_digits(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIR", tmp_path / "nothing-here")
    monkeypatch.delenv("JDL_DATA_DIR", raising=False)
    load_script().main(["--quick", "--verbose", "0", "--out", str(tmp_path)])
    assert "training on scikit-learn's 8x8 digits instead" in capsys.readouterr().out
    check_outputs(tmp_path, "digits")
