"""experiments/autoencoder_uses.py: the --quick run's JSON (2 seeds: the first seed's record, mean
± sd of every compared number, the spread-rule verdicts), table and pictures, and the helpers
(PSNR by hand, the random-level corruption)."""
import math

import jax
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

PLOTS = ("autoencoder_uses.png", "autoencoder_uses_triplets.png")
LEVELS = ("0.1", "0.2", "0.3", "0.5")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("autoencoder_uses")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("autoencoder_uses", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, module, returned, strict_json(out / "metrics.json")


def test_json_layout_and_values(outputs):
    """The first seed's record: features, denoising PSNRs, anomaly AUCs."""
    _, _, returned, m = outputs
    assert m["settings"]["quick"] is True and m["settings"]["seeds"] == 2 and m["code"] == 32
    assert m["n_train"] == 600 and m["n_test"] == 300 and 0 < m["autoencoder_test_mse"] < 1
    assert m["autoencoder_diverged"] is False
    assert set(m["features"]) == {"20", "100"}
    for r in m["features"].values():
        assert set(r) == {"pixels", "pca", "autoencoder", "draws"}
        for k in ("pixels", "pca", "autoencoder"):
            assert 0 <= r[k] <= 1 and r["draws"][k] == [r[k]]     # one draw per seed in --quick
    assert set(m["denoising_psnr_db"]) == set(LEVELS)
    noisy = [m["denoising_psnr_db"][k]["noisy"] for k in LEVELS]
    assert noisy == sorted(noisy, reverse=True)            # more noise, lower PSNR
    for r in m["denoising_psnr_db"].values():
        assert r["noisy"] >= r["noisy_unclipped"]           # clipping to [0, 1] only helps
        assert all(0 < v < 60 for v in r.values())
    a = m["anomaly"]
    assert set(a["held_out"]) == {"0", "1"}
    assert [a["held_out"][c]["class"] for c in ("0", "1")] == ["T-shirt/top", "Trouser"]
    aucs = [r["auc"] for r in a["held_out"].values()]
    assert all(0 <= v <= 1 for v in aucs) and a["mean_auc"] == pytest.approx(np.mean(aucs))
    assert returned["verdicts"] == m["verdicts"]


def first_seed_value(m: dict, key: str):
    """The stored record's value at `key`: dotted, but "denoising_psnr_db.<std>.<model>" keeps
    the std's own dot."""
    if key.startswith("denoising_psnr_db."):
        lvl, model = key.removeprefix("denoising_psnr_db.").rsplit(".", 1)
        return m["denoising_psnr_db"][lvl][model]
    for part in key.split("."):
        m = m[part]
    return m


def test_mean_and_sd_over_the_seeds(outputs):
    """Every compared number is in over_seeds, with seed 0's value the stored record's."""
    m = outputs[3]
    stats = m["over_seeds"]
    assert stats["seeds"] == [0, 1]
    keys = (["autoencoder_test_mse", "anomaly.mean_auc"]
            + [f"features.{n}.{k}" for n in ("20", "100") for k in ("pixels", "pca", "autoencoder")]
            + [f"anomaly.held_out.{c}.{k}" for c in ("0", "1")
               for k in ("auc", "mean_score_held_out", "mean_score_others")]
            + [f"denoising_psnr_db.{lvl}.{k}" for lvl in LEVELS
               for k in ("noisy", "noisy_unclipped", "plain_autoencoder", "denoising_autoencoder")])
    assert set(keys) <= set(stats)
    for key in keys:
        stat = stats[key]
        assert len(stat["values"]) == 2 and stat["values"][0] == first_seed_value(m, key), key
        assert stat["mean"] == pytest.approx(sum(stat["values"]) / 2), key
        assert stat["sd"] >= 0 and stat["sd"] == pytest.approx(
            abs(stat["values"][0] - stat["values"][1]) / math.sqrt(2)), key
    for key in ("autoencoder_test_mse", "anomaly.held_out.0.auc",
                "denoising_psnr_db.0.3.denoising_autoencoder"):
        assert stats[key]["values"][0] != stats[key]["values"][1], key   # each seed trains anew


def test_second_seed_redone_by_hand(outputs):
    """Seed 1's pixel accuracy (its split, its labelled draw) and noisy-input PSNRs (its noise),
    recomputed here, enter the means."""
    _, module, _, m = outputs
    stats = m["over_seeds"]
    (x_tr, y_tr), _, (x_te, y_te), _ = module.load_images(True, seed=1, flatten=True)
    idx = np.random.default_rng(1 + 20).choice(len(x_tr), 20, False)       # seed 1, draw 0, 20
    scaler = StandardScaler().fit(x_tr[idx])
    acc = LogisticRegression(max_iter=2000).fit(scaler.transform(x_tr[idx]), y_tr[idx]).score(
        scaler.transform(x_te), y_te)
    pixels = stats["features.20.pixels"]
    assert pixels["values"][1] == pytest.approx(acc)
    assert pixels["mean"] == pytest.approx((m["features"]["20"]["pixels"] + acc) / 2)
    rng = np.random.default_rng(1007)                      # seed 1's test noise
    for lvl in LEVELS:
        noisy = (x_te + float(lvl) * rng.standard_normal(x_te.shape)).astype(np.float32)
        clean = np.asarray(x_te, np.float64)
        mse = np.mean(np.square(clean - np.clip(noisy, 0, 1)), axis=1)
        expected = np.mean(10 * np.log10(1 / mse))
        assert stats[f"denoising_psnr_db.{lvl}.noisy"]["values"][1] == pytest.approx(expected)


def test_verdicts_follow_the_spread_rule(outputs, spread_rule):
    s, v = outputs[3]["over_seeds"], outputs[3]["verdicts"]
    assert set(v["features"]) == {"20", "100"} and set(v["denoising"]) == set(LEVELS)
    for n, r in v["features"].items():
        ae = s[f"features.{n}.autoencoder"]
        assert r["autoencoder_vs_pixels"] == spread_rule(ae, s[f"features.{n}.pixels"])
        assert r["autoencoder_vs_pca"] == spread_rule(ae, s[f"features.{n}.pca"])
    for lvl, r in v["denoising"].items():
        dae = s[f"denoising_psnr_db.{lvl}.denoising_autoencoder"]
        assert r["vs_noisy_input"] == spread_rule(dae, s[f"denoising_psnr_db.{lvl}.noisy"])
        assert r["vs_plain_autoencoder"] == spread_rule(
            dae, s[f"denoising_psnr_db.{lvl}.plain_autoencoder"])
    chance = {"mean": 0.5, "sd": 0.0}
    assert set(v["anomaly_auc_vs_chance"]) == {"0", "1"}
    for c, verdict in v["anomaly_auc_vs_chance"].items():
        assert verdict == spread_rule(s[f"anomaly.held_out.{c}.auc"], chance,
                                      "above chance", "below chance")


def test_no_seeds_is_refused(outputs, tmp_path):
    with pytest.raises(ValueError, match="--seeds"):
        outputs[1].main(["--seeds", "0", "--out", str(tmp_path)])


def test_psnr_by_hand(outputs):
    module = outputs[1]
    clean = np.zeros((2, 2, 2))
    other = clean.copy()
    other[0, 0, 0] = 0.5                                    # MSE 0.25 / 4 = 1/16
    other[1] = 0.1                                          # MSE 0.01
    np.testing.assert_allclose(module.psnr(clean, other),
                               [10 * math.log10(16), 10 * math.log10(100)])
    assert module.psnr(clean * 255, other * 255, peak=255.0) == pytest.approx(
        module.psnr(clean, other))


def test_random_level_noise(outputs):
    module = outputs[1]
    corrupt = module.random_level_noise(0.5)
    x = np.zeros((400, 16), np.float32)
    noisy = np.asarray(jax.jit(corrupt)(jax.random.key(0), x))    # one compile, not one per op
    stds = noisy.std(axis=1)
    assert noisy.shape == x.shape and stds.max() < 0.5 * 1.6 and stds.min() < 0.1
    assert 0.2 < stds.mean() < 0.3                          # U(0, 0.5) has mean 0.25


def test_table_and_plots(outputs):
    out, _, _, m = outputs
    text = (out / "table.md").read_text()
    s, v = m["over_seeds"], m["verdicts"]
    auc = s["anomaly.held_out.1.auc"]
    assert f"| Trouser | {auc['mean']:.3f} ± {auc['sd']:.3f} | {v['anomaly_auc_vs_chance']['1']} |" \
        in text
    psnr = s["denoising_psnr_db.0.5.noisy"]
    assert f"| 0.5 | {psnr['mean']:.2f} ± {psnr['sd']:.2f} |" in text
    assert "autoencoder codes" in text and "denoising AE" in text and "over 2 seeds" in text
    for name in PLOTS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
