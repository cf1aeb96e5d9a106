"""experiments/model_selection.py in --quick mode: both searches, their tables, the winner read
once on the test set."""
import pytest


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("model_selection")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("model_selection", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, returned, strict_json(out / "metrics.json")


def test_searches_and_winner(outputs):
    out, returned, m = outputs
    assert set(m["searches"]) == {"grid", "random"} and m["test_set_reads"] == 2
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
    for r in m["searches"]["random"]["table"]:
        assert 1e-3 <= r["learning_rate"] <= 1e-2 and 0.0 <= r["weight_decay"] <= 0.1
    assert returned["summary"] == m["summary"]
    assert "grid search" in (out / "table.md").read_text()
    assert (out / "model_selection.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
