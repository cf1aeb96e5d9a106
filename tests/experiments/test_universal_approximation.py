"""experiments/universal_approximation.py in --quick mode: every target, initialization and
width ran, the learning rate is the one with the lowest training error, the spread
initialization places the units' transitions inside the interval, the errors are relative MSEs,
and the files are written."""
import jax
import numpy as np


def test_every_target_init_and_width(tmp_path, monkeypatch, load_script, strict_json):
    script = load_script("universal_approximation", monkeypatch)
    result = script.main(["--quick", "--out", str(tmp_path)])
    saved = strict_json(tmp_path / "metrics.json")
    settings = saved["settings"]
    assert saved["results"].keys() == result["results"].keys() == script.TARGETS.keys()
    widths, seeds, lrs = settings["widths"], settings["seeds"], settings["lrs"]
    for name, by_init in saved["results"].items():
        assert sorted(by_init) == sorted(script.INITS), name
        for init, r in by_init.items():
            assert [int(w) for w in r["widths"]] == widths, (name, init)
            for w, row in r["widths"].items():
                assert len(row["relative_mse"]) == seeds == len(row["train_mse"]), (name, init, w)
                assert all(0.0 <= v < 10.0 for v in row["relative_mse"]), (name, init, w, row)
                np.testing.assert_allclose(row["median_relative_mse"],
                                           np.median(row["relative_mse"]), rtol=1e-6)
                by_lr = row["median_train_mse_by_lr"]
                assert [float(k) for k in by_lr] == lrs
                assert by_lr[str(row["lr"])] == min(by_lr.values()), (name, init, w)
                np.testing.assert_allclose(np.median(row["train_mse"]), by_lr[str(row["lr"])],
                                           rtol=1e-6)
                away = row.get("median_relative_mse_away_from_jump")
                assert (away is not None) == (name == "sharp") and (away is None or away >= 0)
            needed = r["units_needed"]
            assert needed is None or (needed in widths and r["widths"][str(needed)][
                "median_relative_mse"] < settings["target"])
    assert (tmp_path / "universal_approximation.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "table.md").read_text().count("\n") == 2 * len(script.TARGETS) + 2


def test_spread_initialization_switches_inside_the_interval(monkeypatch, load_script):
    script = load_script("universal_approximation", monkeypatch)
    params = {"dense_0": {"w": np.zeros((1, 4000), np.float32), "b": np.zeros(4000, np.float32)}}
    got = script.spread_hidden_layer(params, jax.random.key(0), 10.0)["dense_0"]
    w, b = np.asarray(got["w"][0]), np.asarray(got["b"])
    switch = -b / w                                   # tanh(w x + b) crosses 0 at x = -b / w
    assert switch.min() >= -1.0 and switch.max() <= 1.0
    np.testing.assert_allclose([switch.mean(), switch.std()], [0.0, 1 / np.sqrt(3)], atol=0.03)
    np.testing.assert_allclose(w.std(), 10.0, rtol=0.05)
