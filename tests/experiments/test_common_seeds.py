"""The multi-seed helpers of experiments/_common.py against hand-computed means and sds."""
import argparse
import math

import pytest


@pytest.fixture
def common(load_script, monkeypatch):
    return load_script("_common", monkeypatch)


def test_seeds_of_counts_on_from_seed(common):
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=0)
    common.add_seeds_argument(p)
    assert common.seeds_of(p.parse_args([])) == [0, 1, 2]
    assert common.seeds_of(p.parse_args(["--seed", "5", "--seeds", "2"])) == [5, 6]
    with pytest.raises(ValueError, match="--seeds: expected at least 1, got 0"):
        common.seeds_of(p.parse_args(["--seeds", "0"]))


def test_over_seeds_keeps_the_first_record_and_adds_mean_and_sd(common):
    records = [{"curve": [1, 2], "test": {"accuracy": a}, "loss": l}
               for a, l in [(0.80, 1.0), (0.82, 2.0), (0.84, None)]]
    out = common.over_seeds(records, ["test.accuracy", "loss"], seeds=[0, 1, 2])
    assert out["curve"] == [1, 2] and out["test"] == {"accuracy": 0.80}
    stat = out["over_seeds"]["test.accuracy"]
    assert math.isclose(stat["mean"], 0.82) and math.isclose(stat["sd"], 0.02)  # by hand
    assert out["over_seeds"]["loss"] == {"mean": None, "sd": None, "values": [1.0, 2.0, None]}
    assert out["over_seeds"]["seeds"] == [0, 1, 2] and "over_seeds" not in records[0]
