"""experiments/activations.py in --quick mode (2 seeds): the JSON layout, sane values, the
mean ± sd over the seeds recomputed here, the verdicts by the spread rule, and the plots."""
import itertools
import math

import numpy as np
import pytest

ACTIVATIONS = {"sigmoid", "tanh", "relu", "leaky_relu", "elu"}
SEED_KEYS = {"test_accuracy", "init.ratio", "trained.ratio", "init.never_positive_total",
             "trained.never_positive_total"}


def check_first_seed_record(run, depth):
    """The per-layer figures of the first seed, and the ratio recomputed from its norms."""
    for when in ("init", "trained"):
        probe = run[when]
        assert len(probe["grad_norms"]) == depth  # one per Dense layer
        assert all(g > 0 and math.isfinite(g) for g in probe["grad_norms"])
        assert len(probe["never_positive"]) == depth - 1  # one per hidden layer
        assert all(0 <= f <= 1 for f in probe["never_positive"])
        assert probe["never_positive_total"] == pytest.approx(np.mean(probe["never_positive"]))
        assert probe["ratio"] == pytest.approx(probe["grad_norms"][0] / probe["grad_norms"][-1])
    assert len(run["history"]["val_accuracy"]) == 1 and not run["diverged"]  # --quick: 1 epoch
    assert 0 <= run["test_accuracy"] <= 1


def check_over_seeds(run, seeds):
    """mean and sd (ddof 1) of each key recomputed from the per-seed values; the first value is
    the stored (first) seed's own record."""
    s = run["over_seeds"]
    assert s["seeds"] == seeds and set(s) == SEED_KEYS | {"seeds"}
    for key in SEED_KEYS:
        values = s[key]["values"]
        assert len(values) == len(seeds) and all(math.isfinite(v) for v in values)
        assert s[key]["mean"] == pytest.approx(sum(values) / len(values))
        assert s[key]["sd"] == pytest.approx(np.std(values, ddof=1)) and s[key]["sd"] >= 0
        first = run
        for part in key.split("."):
            first = first[part]
        assert values[0] == first
    assert len(set(s["init.ratio"]["values"])) == len(seeds)  # each seed draws its own weights


def check_verdicts(m):
    """The verdicts recomputed from the per-seed values by the rules the page states."""
    runs, v = m["runs"], m["verdicts"]
    acc = {a: r["over_seeds"]["test_accuracy"] for a, r in runs.items()}
    assert acc == m["test_accuracy"]
    for when in ("init", "trained"):
        sig = runs["sigmoid"]["over_seeds"][f"{when}.ratio"]["values"]
        rect = [x for a in ("relu", "leaky_relu", "elu")
                for x in runs[a]["over_seeds"][f"{when}.ratio"]["values"]]
        gap = math.log10(min(rect)) - math.log10(max(sig))
        verdict = v["vanishing_gradients"][when]
        assert verdict["orders_of_magnitude"] == pytest.approx(round(gap, 2))
        assert isinstance(verdict["held"], bool) and (gap >= 2 or not verdict["held"])

    def apart(a, b):
        return abs(acc[a]["mean"] - acc[b]["mean"]) > acc[a]["sd"] + acc[b]["sd"]

    compared = ("tanh", "relu", "leaky_relu", "elu")
    pairs = {f"{a} vs {b}": apart(a, b) for a, b in itertools.combinations(compared, 2)}
    assert v["accuracy"]["pairs"] == pairs
    best = max(compared, key=lambda a: acc[a]["mean"])
    assert v["accuracy"]["best"] == best
    assert v["accuracy"]["best_beats_all"] == all(apart(best, a) for a in compared if a != best)
    assert v["sigmoid_accuracy_lags"] == all(apart("sigmoid", a) and acc["sigmoid"]["mean"] <
                                             acc[a]["mean"] for a in compared)
    dead = m["dead_relu_fraction"]
    assert dead["init"] == runs["relu"]["over_seeds"]["init.never_positive_total"]
    assert isinstance(dead["fewer_after_training"], bool)


def test_activations_quick(tmp_path, monkeypatch, load_script, strict_json):
    script = load_script("activations", monkeypatch)
    returned = script.main(["--quick", "--out", str(tmp_path)])
    m = strict_json(tmp_path / "metrics.json")
    depth, seeds = m["depth"], list(range(m["seed"], m["seed"] + m["seeds"]))
    assert depth == 3 and seeds == [0, 1] and set(m["runs"]) == ACTIVATIONS  # --quick: 3, 2 seeds
    for run in m["runs"].values():
        check_first_seed_record(run, depth)
        check_over_seeds(run, seeds)
    check_verdicts(m)
    assert returned["verdicts"] == m["verdicts"]
    assert {"seconds", "versions", "command"} <= set(m["run"])
    table = (tmp_path / "table.md").read_text()
    assert "vanishing gradients (init)" in table and m["verdicts"]["accuracy"]["text"] in table
    for name in ("grad_norms.png", "training.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="--seeds"):
        script.main(["--quick", "--seeds", "0", "--out", str(tmp_path / "none")])
