"""experiments/batchnorm.py in --quick mode: layout, per-lr records over the seeds and the summary
logic (no claims: 2 epochs of an MLP with one hidden layer of 32 units on 600 images)."""
import numpy as np
import pytest


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("batchnorm")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("batchnorm", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, module, returned, strict_json(out / "metrics.json")


def test_runs_and_records(outputs):
    out, _, returned, m = outputs
    seeds = m["settings"]["seeds"]
    assert set(m["runs"]) == {"plain", "batch_norm"}
    assert m["steps_per_epoch"] == 600 // 100 and m["n_val"] == 200
    for variant, runs in m["runs"].items():
        assert set(runs) == {"0.1", "3"}
        for r in runs.values():
            assert np.array(r["val_accuracy"], dtype=float).shape == (seeds, 2)
            assert len(r["diverged"]) == seeds
            for acc, steps in zip(r["val_accuracy"], r["steps_to_target"]["values"]):
                assert steps is None or steps in (6, 12)
                if steps is not None:  # reached at that epoch, not before
                    epoch = int(steps) // 6 - 1
                    assert acc[epoch] >= 0.5
                    assert all(v is None or v < 0.5 for v in acc[:epoch])
            best = [max(v for v in acc if v is not None) for acc in r["val_accuracy"]]
            np.testing.assert_allclose(r["best_val_accuracy"]["values"], best)
            np.testing.assert_allclose(r["best_val_accuracy"]["mean"], np.mean(best))
    assert returned["summary"] == m["summary"]
    assert set(m["summary"]["claims"]) == {"fewer_steps_with_bn", "larger_lr_tolerated_with_bn",
                                           "more_lrs_reach_target_with_bn",
                                           "higher_best_accuracy_with_bn"}
    assert (out / "table.md").read_text().count("\n") == 2 + 2
    assert (out / "batchnorm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def stat(values):
    v = [x for x in values if x is not None]
    missing = len(v) < len(values)
    return {"mean": None if missing else float(np.mean(v)),
            "sd": None if missing else float(np.std(v, ddof=1)), "values": values}


def test_summary_by_hand(outputs):
    module = outputs[1]
    run = lambda lr, steps, diverged, best: {"lr": lr, "steps_to_target": stat(steps),
                                             "diverged": diverged, "best_val_accuracy": stat(best)}
    runs = {"plain": {"0.1": run(0.1, [400, 600], [False, False], [0.86, 0.85]),
                      "1": run(1.0, [None, None], [True, False], [0.1, 0.5])},
            "batch_norm": {"0.1": run(0.1, [200, 200], [False, False], [0.87, 0.88]),
                           "1": run(1.0, [200, 400], [False, False], [0.88, 0.87])}}
    s = module.summarize(runs, [0.1, 1.0])
    assert s["plain"]["fastest_lr"] == 0.1 and s["plain"]["largest_lr_trained"] == 0.1
    assert s["batch_norm"]["lrs_reaching_target"] == [0.1, 1.0]
    assert s["batch_norm"]["fastest_lr"] == 0.1  # 200 against 300 mean steps
    # BN's 200 +- 0 against plain's 500 +- 141: the gap (300) exceeds the spread (141)
    # BN's best 0.875 +- 0.007 against 0.855 +- 0.007: the gap (0.02) exceeds 0.014
    assert s["claims"] == {"fewer_steps_with_bn": True, "larger_lr_tolerated_with_bn": True,
                           "more_lrs_reach_target_with_bn": True, "higher_best_accuracy_with_bn": True}
    runs["batch_norm"]["0.1"]["best_val_accuracy"] = stat([0.86, 0.87])
    runs["batch_norm"]["1"]["best_val_accuracy"] = stat([0.86, 0.85])
    assert module.summarize(runs, [0.1, 1.0])["claims"]["higher_best_accuracy_with_bn"] is False
