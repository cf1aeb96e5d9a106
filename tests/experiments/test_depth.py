"""experiments/depth.py in --quick mode: the JSON layout, the records, the claim bookkeeping and the
plot (no claims: 8 steps of 8- and 14-layer nets with 4-8-16 filters say nothing about depth)."""
import math
import re

import numpy as np
import pytest

NAMES = ["plain8", "plain14", "resnet8", "resnet14"]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("depth")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("depth", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, module, returned, strict_json(out / "metrics.json")


def _params_by_hand(depth, widths, classes=10):
    """He et al. 2016 section 4.2, filters `widths`: bias-free conv + BN, option A shortcuts."""
    conv_bn = lambda cin, c: 9 * cin * c + 2 * c  # noqa: E731
    n = (depth - 2) // 6
    w1, w2, w3 = widths
    total = conv_bn(1, w1) + n * 2 * conv_bn(w1, w1)
    for cin, c in ((w1, w2), (w2, w3)):
        total += conv_bn(cin, c) + conv_bn(c, c) + (n - 1) * 2 * conv_bn(c, c)
    return total + w3 * classes + classes


def test_every_model_ran_with_sane_records(outputs):
    _, _, returned, m = outputs
    assert sorted(m["models"]) == sorted(NAMES) and list(returned["models"]) == NAMES
    s = m["settings"]
    assert s["quick"] is True and s["depths"] == [8, 14] and s["widths"] == [4, 8, 16]
    assert (m["n_train"], m["n_test"]) == (128, 300)
    assert returned["summary"] == m["summary"]
    # 128 images, batches of 32, 2 records per epoch: 2 steps per record, 2 epochs
    for name, r in m["models"].items():
        h = r["history"]
        assert h["step"] == [2, 4, 6, 8] and r["steps"] == 8
        assert h["epoch"] == [0.5, 1.0, 1.5, 2.0]
        assert all(len(h[k]) == 4 for k in ("loss", "error", "seconds"))
        assert all(0.0 <= e <= 1.0 for e in h["error"]) and all(math.isfinite(v) for v in h["loss"])
        for key in ("train_error", "test_error", "last_running_train_error"):
            assert 0.0 <= r[key] <= 1.0, (name, key)
        assert r["test_error"] == pytest.approx(1.0 - r["test_accuracy"])
        assert r["last_running_train_error"] == h["error"][-1]
        assert r["params"] == _params_by_hand(r["depth"], (4, 8, 16)), name
        assert r["plain"] == name.startswith("plain")
        assert r["depth"] == int(re.sub(r"\D", "", name))
        assert r["seconds_per_step"] > 0 and r["seconds"] >= r["train_seconds"] > 0
    # option A shortcuts have no parameters: residual and plain twins are the same size, and
    # the plain twin starts from the ResNet's initial weights
    for d in (8, 14):
        plain, res = m["models"][f"plain{d}"], m["models"][f"resnet{d}"]
        assert plain["params"] == res["params"]
        assert plain["initial_params_l2_norm"] == res["initial_params_l2_norm"] > 0
    assert (m["models"]["plain8"]["initial_params_l2_norm"]
            != m["models"]["plain14"]["initial_params_l2_norm"])
    assert m["run"]["command"] and m["run"]["versions"]["jax"]


def test_summary_is_the_gaps_of_the_final_train_errors(outputs):
    _, _, _, m = outputs
    r, s = m["models"], m["summary"]
    plain = r["plain14"]["train_error"] - r["plain8"]["train_error"]
    resnet = r["resnet14"]["train_error"] - r["resnet8"]["train_error"]
    assert s["train_error_gap_plain"]["values"] == pytest.approx([plain])  # quick: one seed
    assert s["train_error_gap_resnet"]["values"] == pytest.approx([resnet])
    assert s["running_train_error_gap_plain"]["mean"] == pytest.approx(
        r["plain14"]["last_running_train_error"] - r["plain8"]["last_running_train_error"])
    assert r["plain8"]["over_seeds"]["train_error"]["values"] == [r["plain8"]["train_error"]]


def fake_seed(errors: dict) -> dict:
    return {m: {"train_error": e, "last_running_train_error": e, "test_error": e}
            for m, e in errors.items()}


def test_seeds_pair_the_gaps_and_the_spread_rule_judges_them(outputs):
    module = outputs[1]
    seeds = [fake_seed({"plain20": 0.16, "plain56": 0.40, "resnet20": 0.14, "resnet56": 0.15}),
             fake_seed({"plain20": 0.18, "plain56": 0.44, "resnet20": 0.15, "resnet56": 0.14})]
    results, v = module.combine_seeds(seeds, (20, 56))
    assert v["train_error_gap_plain"]["values"] == pytest.approx([0.24, 0.26])
    assert v["train_error_gap_resnet"]["values"] == pytest.approx([0.01, -0.01])
    assert v["plain_deeper_has_higher_train_error"] is True       # 0.25 +- 0.014
    assert v["resnet_deeper_not_higher_train_error"] is True      # 0.00 +- 0.014: within noise
    assert v["resnet_gap_below_plain_gap"] is True
    assert v["deep_resnet_below_deep_plain"] is True
    assert results["plain56"]["over_seeds"]["train_error"]["mean"] == pytest.approx(0.42)
    text = module.table({m: {**r, "params": 1000} for m, r in results.items()}, v)
    assert "| plain56 | 1,000 | 0.420 ± 0.028 |" in text and "| final, eval mode | 0.250 ± 0.014 |" in text


def test_helpers(outputs):
    _, module, _, _ = outputs
    lr = module.schedule(0.1, 400)
    assert [float(lr(t)) for t in (0, 199, 200, 299, 300, 399)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert module.usable(6400, 64, 4) == 6400
    assert module.usable(1000, 64, 4) == 768            # 3 batches per record
    with pytest.raises(ValueError, match="too few"):
        module.usable(100, 64, 4)
    assert [n for n, _, _ in module.model_list((20, 56))] == ["plain20", "plain56", "resnet20",
                                                               "resnet56"]
    for bad in (["--depths", "20", "21"], ["--depths", "56", "20"]):
        with pytest.raises(SystemExit):
            module.parse_args(bad)
    full = module.parse_args([])
    assert (full.depths, full.widths, full.train_size, full.epochs, full.batch_size) == (
        [20, 56], [8, 16, 32], 6400, 8, 64)
    # the hand count against the paper's ResNet-56 (0.85M; 3 input channels: 2 * 9 * 16 more)
    assert _params_by_hand(56, (16, 32, 64)) + 2 * 9 * 16 == 853_018


def test_plot_written(outputs):
    out = outputs[0]
    assert (out / "depth.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.isfinite(outputs[3]["run"]["seconds"])


def test_plain_twin_maps_resnet_weights_onto_the_plain_net(outputs):
    module = outputs[1]
    block = {"residual": {"main": {"conv1": {"w": 1}, "conv2": {"w": 2}}}}
    tree = {"stem": {"conv": {"w": 0}}, "stage1": {"block1": block}, "head": {"fc": {"w": 3}}}
    assert module.plain_twin(tree) == {
        "stem": {"conv": {"w": 0}}, "head": {"fc": {"w": 3}},
        "stage1": {"block1": {"main": {"conv1": {"w": 1}, "conv2": {"w": 2}}}}}
    with pytest.raises(ValueError, match="parameter-free shortcut"):
        module.plain_twin({"residual": {"main": {}, "shortcut": {"conv": {}}}})
