"""experiments/model_selection.py in --quick mode: both searches for 2 seeds, their tables, each
winner read once on the test set, the mean ± sd over seeds and the verdicts."""
import numpy as np
import pytest

SEARCHES = ("grid", "random")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("model_selection")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("model_selection", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, returned, strict_json(out / "metrics.json"), module


def test_searches_and_winner(outputs):
    out, returned, m, _ = outputs
    assert set(m["searches"]) == set(SEARCHES) and m["test_set_reads"] == 2
    grid = m["searches"]["grid"]
    assert [r["learning_rate"] for r in grid["table"]] == pytest.approx([1e-3, 1e-3, 1e-2, 1e-2])
    assert [r["weight_decay"] for r in grid["table"]] == pytest.approx([0.0, 0.1, 0.0, 0.1])
    for search in m["searches"].values():
        table, winner = search["table"], search["winner"]
        assert len(table) == search["members"] == 4
        best = max(r["best_val_accuracy"] for r in table)
        assert table[winner["member"]]["best_val_accuracy"] == best
        assert winner["val_minus_test"] == pytest.approx(winner["val_accuracy"] - winner["test_accuracy"])
        assert 0.0 <= winner["test_accuracy"] <= 1.0
        # the diagnostic read of every member agrees with the winner's one read
        assert search["diagnostic_member_test_accuracy"][winner["member"]] == pytest.approx(
            winner["test_accuracy"], abs=1e-6)
        assert search["diagnostic_member_val_accuracy"][winner["member"]] == pytest.approx(
            winner["val_accuracy"], abs=1e-6)
        gaps = np.subtract(search["diagnostic_member_val_accuracy"],
                           search["diagnostic_member_test_accuracy"])
        assert search["mean_member_val_minus_test"] == pytest.approx(gaps.mean())
    for r in m["searches"]["random"]["table"]:
        assert 1e-3 <= r["learning_rate"] <= 1e-2 and 0.0 <= r["weight_decay"] <= 0.1
    assert returned["summary"] == m["summary"]
    assert "grid search" in (out / "table.md").read_text()
    assert (out / "model_selection.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_over_seeds(outputs):
    out, _, m, module = outputs
    s = m["over_seeds"]
    assert s["seeds"] == [0, 1] and m["settings"]["seeds"] == 2
    winners = m["winners"]
    assert [(w["seed"], w["search"]) for w in winners] == [(0, "grid"), (0, "random"),
                                                           (1, "grid"), (1, "random")]
    for label in SEARCHES:
        per_seed = [w for w in winners if w["search"] == label]
        for key in ("val_accuracy", "test_accuracy"):
            stat = s[f"summary.{label}.{key}"]
            values = [w[key] for w in per_seed]
            assert stat["values"] == pytest.approx(values)
            assert stat["mean"] == pytest.approx(np.mean(values)) and stat["sd"] >= 0.0
            assert stat["sd"] == pytest.approx(np.std(values, ddof=1))
        gap = s[f"summary.{label}.val_minus_test"]
        assert gap["mean"] == pytest.approx(np.mean([w["val_accuracy"] - w["test_accuracy"]
                                                     for w in per_seed]))
        assert m["searches"][label]["winner"]["test_accuracy"] == per_seed[0]["test_accuracy"]
        for key in module.SUMMARY:
            assert s[f"summary.{label}.{key}"]["values"][0] == pytest.approx(m["summary"][label][key])
    # each seed draws its own random-search settings (continuous draws: never the same twice)
    random_winners = [(w["learning_rate"], w["weight_decay"]) for w in winners if w["search"] == "random"]
    assert random_winners[0] != random_winners[1]


def test_verdicts(outputs):
    out, _, m, module = outputs
    v, s = m["verdicts"], m["over_seeds"]
    for label in SEARCHES:
        gap, nothing = s[f"summary.{label}.val_minus_test"], s[f"summary.{label}.mean_member_val_minus_test"]
        assert v[f"{label}_winner_gap_above_zero"] == (gap["mean"] > gap["sd"])
        assert v[f"{label}_winner_gap_above_mean_member_gap"] == (
            gap["mean"] - nothing["mean"] > gap["sd"] + nothing["sd"])
    for key in ("val_accuracy", "test_accuracy"):
        a, b = s[f"summary.random.{key}"], s[f"summary.grid.{key}"]
        expected = ("within noise" if abs(a["mean"] - b["mean"]) <= a["sd"] + b["sd"]
                    else "random higher" if a["mean"] > b["mean"] else "grid higher")
        assert v[f"random_vs_grid_winner_{key}"] == expected
    table = (out / "table.md").read_text()
    assert "random_vs_grid_winner_test_accuracy" in table and " ± " in table


def test_seeds_zero_is_refused(load_script):
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("model_selection", mp)
        with pytest.raises(SystemExit):
            module.parse_args(["--seeds", "0"])
