"""experiments/shift_robustness.py in --quick mode: the shift moves pixels as stated, every model
and shift is measured per seed, a shift of 0 changes nothing, and the files are written."""
import numpy as np


def test_shifted_moves_content_and_fills_black(monkeypatch, load_script):
    script = load_script("shift_robustness", monkeypatch)
    x = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4, 1) + 1
    right = np.asarray(script.shifted(x, 0, 1))
    np.testing.assert_array_equal(right[:, :, 1:], x[:, :, :-1])
    np.testing.assert_array_equal(right[:, :, 0], 0.0)
    up = np.asarray(script.shifted(x, -2, 0))
    np.testing.assert_array_equal(up[:, :2], x[:, 2:])
    np.testing.assert_array_equal(up[:, 2:], 0.0)


def test_quick_run(tmp_path, monkeypatch, load_script, strict_json):
    script = load_script("shift_robustness", monkeypatch)
    script.main(["--quick", "--out", str(tmp_path)])
    saved = strict_json(tmp_path / "metrics.json")
    s = saved["settings"]
    assert sorted(saved["results"]) == ["cnn", "mlp"]
    for name, r in saved["results"].items():
        shifts = r["shifts"]
        assert list(shifts) == [str(i) for i in range(s["max_shift"] + 1)]
        assert shifts["0"]["changed"] == [0.0] * s["seeds"]
        for k, v in shifts.items():
            assert len(v["accuracy"]) == len(v["changed"]) == s["seeds"]
            assert all(0.0 <= a <= 1.0 for a in v["accuracy"] + v["changed"])
            if k != "0":
                by_direction = np.array(list(v["accuracy_by_direction"].values()))
                assert by_direction.shape == (4, s["seeds"])
                np.testing.assert_allclose(v["accuracy"], by_direction.mean(0), rtol=1e-6)
    assert (tmp_path / "shift_robustness.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "table.md").read_text().count("\n") == 2 + 2 * 2
