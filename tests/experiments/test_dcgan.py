"""experiments/dcgan.py: the class-spread metric on hand cases, one --quick run's JSON (losses,
samples, the quality proxy on generated and real images) and pictures."""
import numpy as np
import pytest


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("dcgan")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("dcgan", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, module, returned, strict_json(out / "metrics.json")


def test_class_spread_hand_cases(outputs):
    module = outputs[1]
    collapsed = module.class_spread([3] * 50)
    assert collapsed["entropy"] == 0.0 and collapsed["counts"][3] == 50
    assert sum(collapsed["counts"]) == 50 and len(collapsed["counts"]) == 10
    uniform = module.class_spread(np.arange(100) % 10)
    assert uniform["entropy"] == pytest.approx(np.log(10))
    assert uniform["normalized_entropy"] == pytest.approx(1.0)
    two = module.class_spread([0, 1, 0, 1], num_classes=4)
    assert two["entropy"] == pytest.approx(np.log(2)) and two["counts"] == [2, 2, 0, 0]


def test_quality_on_hand_probabilities(outputs):
    module = outputs[1]
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    q = module.quality(probs)
    assert q["mean_confidence"] == pytest.approx((0.9 + 0.8 + 0.6 + 0.5) / 4)
    assert q["counts"] == [3, 1]                             # ties go to the first class


def test_json_layout_and_sane_values(outputs):
    _, _, returned, m = outputs
    assert m["settings"]["quick"] is True and m["n_train"] == 600
    h = m["history"]
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert len(h[key]) == 1 and np.isfinite(h[key][0]), key
    assert 0 < h["d_loss"][0] < 5 and 0 < h["g_loss"][0] < 10
    assert 0 <= h["d_fake"][0] <= 1 and 0 <= h["d_real"][0] <= 1
    assert len(m["quality_per_epoch"]) == 1 and m["quality_generated"] == m["quality_per_epoch"][-1]
    for q in (m["quality_generated"], m["quality_real"]):
        assert 0.1 <= q["mean_confidence"] <= 1 and sum(q["counts"]) == 128
        assert 0 <= q["entropy"] <= np.log(10) + 1e-9
    assert m["quality_real"]["entropy"] > 1.0               # real test images span the classes
    assert m["classifier"]["kind"] == "mlp" and m["classifier"]["test_accuracy"] > 0.3
    lo, hi = m["generated_range"]
    assert -1 <= lo <= hi <= 1                               # tanh output
    assert returned["quality_real"] == m["quality_real"]
    assert m["classifier"]["seed"] == 0 and m["diverged_seeds"] == []


def test_over_seeds_and_verdicts(outputs):
    out, module, _, m = outputs
    stats = m["over_seeds"]
    assert stats["seeds"] == [0, 1] and [r["seed"] for r in m["per_seed"]] == [0, 1]
    assert m["per_seed"][0]["last"]["d_loss"] == m["history"]["d_loss"][-1]   # first seed's curves
    assert m["per_seed"][0]["last"]["entropy"] == m["quality_generated"]["entropy"]
    assert m["per_seed"][0]["last"] != m["per_seed"][1]["last"]               # seeds differ
    for key in module.KEYS:
        part, name = key.split(".")
        values = [r[part][name] for r in m["per_seed"]]
        assert stats[key]["values"] == values, key
        assert stats[key]["mean"] == pytest.approx(np.mean(values)), key
        assert stats[key]["sd"] == pytest.approx(np.std(values, ddof=1)) and stats[key]["sd"] >= 0
    v = m["verdicts"]
    real_conf = {"mean": m["quality_real"]["mean_confidence"], "sd": 0.0}
    gap = abs(stats["last.mean_confidence"]["mean"] - real_conf["mean"])
    want = ("within noise" if gap <= stats["last.mean_confidence"]["sd"] else
            "higher" if stats["last.mean_confidence"]["mean"] > real_conf["mean"] else "lower")
    assert v["mean_confidence generated vs real"] == want
    assert v["d_loss last vs first"] == "within noise"       # one epoch: last is first
    assert v["claim"] in ("held", "held in part (narrower spread than real)", "not shown")
    assert v["claim"] == "not shown"                           # confidence cannot rise in 1 epoch
    table = (out / "table.md").read_text()
    assert "over 2 seeds" in table and f"Claim: {v['claim']}." in table


def test_bad_seeds_argument(outputs):
    with pytest.raises(SystemExit):
        outputs[1].parse_args(["--seeds", "0"])


def test_plots_written(outputs):
    out = outputs[0]
    for name in ("dcgan_samples.png", "dcgan_losses.png", "dcgan_quality.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
