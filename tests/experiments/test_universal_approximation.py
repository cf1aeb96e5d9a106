"""experiments/universal_approximation.py in --quick mode: every target and width ran, the
errors are relative MSEs of the real targets, and the files are written."""
import numpy as np


def test_every_target_and_width(tmp_path, monkeypatch, load_script, strict_json):
    script = load_script("universal_approximation", monkeypatch)
    result = script.main(["--quick", "--out", str(tmp_path)])
    saved = strict_json(tmp_path / "metrics.json")
    assert saved["results"].keys() == result["results"].keys() == script.TARGETS.keys()
    widths, seeds = saved["settings"]["widths"], saved["settings"]["seeds"]
    for name, r in saved["results"].items():
        assert [int(w) for w in r["widths"]] == widths, name
        for w, row in r["widths"].items():
            assert len(row["relative_mse"]) == seeds == len(row["train_mse"]), (name, w)
            assert all(0.0 <= v < 10.0 for v in row["relative_mse"]), (name, w, row)
            np.testing.assert_allclose(row["median_relative_mse"], np.median(row["relative_mse"]),
                                       rtol=1e-6)
        needed = r["units_needed"]
        assert needed is None or (needed in widths and r["widths"][str(needed)][
            "median_relative_mse"] < saved["settings"]["target"])
    # the smooth target is the easiest: the wider net fits it better than the narrow one
    smooth = saved["results"]["smooth"]["widths"]
    assert smooth[str(widths[-1])]["median_relative_mse"] < smooth[str(widths[0])]["median_relative_mse"]
    assert (tmp_path / "universal_approximation.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "table.md").read_text().count("\n") == len(script.TARGETS) + 2
