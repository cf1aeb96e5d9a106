"""experiments/batchnorm.py in --quick mode: layout, per-lr records and the summary logic (no
claims: 2 epochs of an MLP with one hidden layer of 32 units on 600 images)."""
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
    assert set(m["runs"]) == {"plain", "batch_norm"}
    assert m["steps_per_epoch"] == 600 // 100 and m["n_val"] == 200
    for variant, runs in m["runs"].items():
        assert set(runs) == {"0.1", "3"}
        for r in runs.values():
            assert len(r["val_accuracy"]) == 2
            steps = r["steps_to_target"]
            assert steps is None or steps in (6, 12)
            if steps is not None:  # reached at that epoch, not before
                epoch = steps // 6 - 1
                assert r["val_accuracy"][epoch] >= 0.5
                assert all(v is None or v < 0.5 for v in r["val_accuracy"][:epoch])
    assert returned["summary"] == m["summary"]
    assert set(m["summary"]["claims"]) == {"fewer_steps_with_bn", "larger_lr_tolerated_with_bn",
                                           "more_lrs_reach_target_with_bn"}
    assert (out / "batchnorm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summary_by_hand(outputs):
    module = outputs[1]
    runs = {"plain": {"0.1": {"lr": 0.1, "steps_to_target": 400, "diverged": False, "best_val_accuracy": 0.86},
                      "1": {"lr": 1.0, "steps_to_target": None, "diverged": True, "best_val_accuracy": 0.1}},
            "batch_norm": {"0.1": {"lr": 0.1, "steps_to_target": 200, "diverged": False, "best_val_accuracy": 0.87},
                           "1": {"lr": 1.0, "steps_to_target": 200, "diverged": False, "best_val_accuracy": 0.88}}}
    s = module.summarize(runs, [0.1, 1.0])
    assert s["plain"]["fewest_steps_to_target"] == 400 and s["plain"]["largest_lr_trained"] == 0.1
    assert s["batch_norm"]["lrs_reaching_target"] == [0.1, 1.0]
    assert s["claims"] == {"fewer_steps_with_bn": True, "larger_lr_tolerated_with_bn": True,
                           "more_lrs_reach_target_with_bn": True}
