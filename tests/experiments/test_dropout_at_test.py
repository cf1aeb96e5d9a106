"""experiments/dropout_at_test.py in --quick mode over 2 seeds (layout, mean ± sd against the
per-seed values, verdicts, table), and its Monte-Carlo averages against a hand loop over masks."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jdl import models


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("dropout_at_test")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("dropout_at_test", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, module, returned, strict_json(out / "metrics.json")


def test_layout_and_values(outputs):
    out, _, returned, m = outputs
    assert set(m["results"]) == {"inverted", "scaled"}
    for r in m["results"].values():   # the first seed's runs, with their histories
        assert set(r["test"]) == {"deterministic", "mc_1", "mc_4"}
        for s in r["test"].values():
            assert 0.0 <= s["accuracy"] <= 1.0 and s["nll"] > 0
        assert len(r["history"]["val_accuracy"]) == 2 and r["diverged"] is False
        assert r["last_val_accuracy"] == r["history"]["val_accuracy"][-1]
    assert returned["summary"] == m["summary"]
    assert (out / "dropout_at_test.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mean_sd_over_seeds(outputs):
    m = outputs[3]
    assert m["settings"]["seeds"] == 2 and m["over_seeds"]["seeds"] == [0, 1]
    assert [r["seed"] for r in m["per_seed"]] == [0, 1]
    assert m["per_seed"][0]["inverted"]["test"] == m["results"]["inverted"]["test"]
    for variant in ("inverted", "scaled"):
        for rule in ("deterministic", "mc_1", "mc_4"):
            for metric in ("accuracy", "nll"):
                vals = [r[variant]["test"][rule][metric] for r in m["per_seed"]]
                stat = m["over_seeds"][f"results.{variant}.test.{rule}.{metric}"]
                assert stat["mean"] == pytest.approx(np.mean(vals))
                assert stat["sd"] == pytest.approx(np.std(vals, ddof=1)) and stat["sd"] >= 0
        nlls = [r[variant]["test"]["deterministic"]["nll"] for r in m["per_seed"]]
        assert nlls[0] != nlls[1]   # the seeds differ (weights, split, masks)


def test_verdicts_follow_the_spread_rule(outputs):
    out, module, _, m = outputs
    s, o = m["summary"], m["over_seeds"]
    for variant in ("inverted", "scaled"):
        det, mc = (o[f"results.{variant}.test.{r}.accuracy"] for r in ("deterministic", "mc_4"))
        v = s[variant]["deterministic_vs_mc_4"]
        assert v["accuracy_gap"] == pytest.approx(det["mean"] - mc["mean"])
        wide = abs(det["mean"] - mc["mean"]) > det["sd"] + mc["sd"]
        assert (v["accuracy"] == "within noise") == (not wide)
        single = s[variant]["single_mask_vs_deterministic"]
        assert single["single_mask_worse"] == (single["accuracy"] == "lower")
    assert s["inverted_vs_scaled_deterministic"]["accuracy"] in ("higher", "lower", "within noise")
    stat = lambda mean, sd: {"mean": mean, "sd": sd, "values": [mean]}  # noqa: E731
    assert module.compare(stat(0.80, 0.01), stat(0.85, 0.01)) == "lower"
    assert module.compare(stat(0.85, 0.01), stat(0.86, 0.01)) == "within noise"
    lines = (out / "table.md").read_text().strip().splitlines()
    assert len(lines) == 2 + 3 and lines[3].startswith("| T = 1 |")
    det = o["results.scaled.test.deterministic.nll"]
    assert f"{det['mean']:.3f} ± {det['sd']:.3f}" in lines[2]


def test_mc_probabilities_is_the_mean_over_masks(outputs):
    module = outputs[1]
    model = models.mlp([16, 3], dropout=0.5)
    params = jax.jit(lambda k: model.init(k, (1, 5))[1])(jax.random.key(0))  # jitted: one compile
    x = jax.random.normal(jax.random.key(1), (4, 5))
    key = jax.random.key(2)
    one_mask = jax.jit(lambda k: jax.nn.softmax(model.apply(params, {}, x, key=k, train=True)[0]))
    masks = [one_mask(jax.random.fold_in(key, t)) for t in range(3)]
    got = module.mc_probabilities(model, params, x, key, (1, 3))
    np.testing.assert_allclose(got[0], masks[0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got[1], np.mean(masks, axis=0), rtol=1e-5, atol=1e-7)
    probs = jnp.array([[0.9, 0.1], [0.2, 0.8]])
    s = module.scores(probs, np.array([0, 0]))
    assert s["accuracy"] == 0.5 and s["nll"] == pytest.approx(-(np.log(0.9) + np.log(0.2)) / 2, rel=1e-5)


def test_rejects_bad_arguments(tmp_path, monkeypatch, load_script):
    module = load_script("dropout_at_test", monkeypatch)
    for bad in (["--seeds", "0"], ["--samples", "0", "4"]):
        with pytest.raises(SystemExit):
            module.parse_args([*bad, "--out", str(tmp_path)])
