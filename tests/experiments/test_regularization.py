"""experiments/regularization.py in --quick mode: the JSON layout, sane values, the plot (no claims:
3 epochs of a 64-unit MLP on 600 images say nothing about regularization)."""
import json
import math

import jax.numpy as jnp
import pytest

METHODS = ["none", "l2", "l1", "dropout", "early_stopping", "augmentation", "weight_noise"]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script):
    out = tmp_path_factory.mktemp("regularization")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("regularization", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, module, returned, json.loads((out / "metrics.json").read_text())


def test_every_method_ran_with_sane_numbers(outputs):
    _, _, returned, m = outputs
    assert sorted(m["methods"]) == sorted(METHODS)
    assert m["settings"]["quick"] is True and m["settings"]["hidden"] == [64]
    assert (m["n_train"], m["n_val"], m["n_test"]) == (600, 200, 300)
    assert returned["summary"] == m["summary"]
    for name, r in m["methods"].items():
        for split in ("train", "val", "test"):
            assert 0.0 <= r[f"{split}_accuracy"] <= 1.0, (name, split)
            assert math.isfinite(r[f"{split}_loss"]) and r[f"{split}_loss"] > 0
        assert r["gap_accuracy"] == pytest.approx(r["train_accuracy"] - r["val_accuracy"])
        assert r["gap_loss"] == pytest.approx(r["val_loss"] - r["train_loss"])
        assert 1 <= r["epochs_run"] <= 3
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert len(r["history"][key]) == r["epochs_run"]
        assert r["weight_l2_norm"] > 0
    assert m["methods"]["none"]["epochs_run"] == 3
    assert 1 <= m["methods"]["early_stopping"]["best_epoch"] <= 3
    assert m["run"]["command"] and m["run"]["versions"]["jax"]


def test_sparsity_fields(outputs):
    _, _, _, m = outputs
    for r in m["methods"].values():
        s = r["sparsity"]
        assert set(s) == {"dense_0/w", "dense_1/w", "all", "by_tol"}  # weights only, no biases
        fractions = [s["by_tol"][t] for t in ("0.01", "0.001", "0.0001", "1e-05", "1e-06")]
        assert all(0.0 <= f <= 1.0 for f in fractions)
        assert fractions == sorted(fractions, reverse=True)  # fewer weights below a smaller tol
        assert s["all"] == s["by_tol"]["1e-05"]  # the default --sparsity-tol
    summary = m["summary"]
    assert set(summary) == set(METHODS[1:]) | {"l1_sparser_than_none"}
    for name in METHODS[1:]:
        assert isinstance(summary[name]["gap_reduced"], bool)
        assert summary[name]["test_accuracy"] in ("higher", "lower", "within noise")


def test_seeds_and_the_spread_rule(outputs):
    _, module, _, m = outputs
    for r in m["methods"].values():
        s = r["over_seeds"]
        assert len(s["test_accuracy"]["values"]) == m["settings"]["seeds"] == 2
        # the first seed is the run whose curves and weights are stored
        assert s["test_accuracy"]["values"][0] == r["test_accuracy"]
        assert s["gap_accuracy"]["values"][0] == pytest.approx(r["gap_accuracy"])
    stat = lambda mean, sd: {"mean": mean, "sd": sd, "values": [mean]}  # noqa: E731
    seeds = lambda test, gap: {"over_seeds": {  # noqa: E731
        "test_accuracy": stat(*test), "gap_accuracy": stat(*gap), "sparsity": stat(0.0, 0.0)}}
    results = {"none": seeds((0.80, 0.01), (0.20, 0.01)),
               "a": seeds((0.83, 0.01), (0.10, 0.01)),    # higher by 3 points, spread 2: higher
               "b": seeds((0.81, 0.01), (0.19, 0.01))}    # within the spread on both
    summary = module.summarize(results)
    assert summary["a"]["gap_reduced"] is True and summary["a"]["test_accuracy"] == "higher"
    assert summary["b"]["gap_reduced"] is False and summary["b"]["test_accuracy"] == "within noise"


def test_sparsity_by_hand(outputs):
    _, module, _, _ = outputs
    params = {"dense_0": {"w": jnp.array([[0.0, 1e-4], [0.5, -2e-3]]), "b": jnp.zeros(2)},
              "dense_1": {"w": jnp.array([[1e-7], [3.0]]), "b": jnp.zeros(1)}}
    s = module.sparsity(params, 1e-3)
    assert s["dense_0/w"] == 0.5 and s["dense_1/w"] == 0.5 and s["all"] == 0.5
    assert s["by_tol"]["1e-06"] == pytest.approx(2 / 6)  # 0 and 1e-7; biases never count


def test_plot_written(outputs):
    out = outputs[0]
    assert (out / "regularization.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
