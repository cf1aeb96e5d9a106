"""experiments/autoencoder_uses.py: the --quick run's JSON (features, denoising, anomaly
detection), table and pictures, and the helpers (PSNR by hand, the random-level corruption)."""
import math

import jax
import numpy as np
import pytest

PLOTS = ("autoencoder_uses.png", "autoencoder_uses_triplets.png")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("autoencoder_uses")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("autoencoder_uses", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, module, returned, strict_json(out / "metrics.json")


def test_json_layout_and_values(outputs):
    _, _, returned, m = outputs
    assert m["settings"]["quick"] is True and m["code"] == 32
    assert m["n_train"] == 600 and m["n_test"] == 300 and 0 < m["autoencoder_test_mse"] < 1
    assert set(m["features"]) == {"20", "100"}
    for r in m["features"].values():
        assert set(r) == {"pixels", "pca", "autoencoder"}
        for v in r.values():
            assert 0 <= v["mean"] <= 1 and len(v["all"]) == 1 and v["std"] >= 0
    assert set(m["denoising_psnr_db"]) == {"0.1", "0.2", "0.3", "0.5"}
    noisy = [m["denoising_psnr_db"][k]["noisy"] for k in ("0.1", "0.2", "0.3", "0.5")]
    assert noisy == sorted(noisy, reverse=True)            # more noise, lower PSNR
    for r in m["denoising_psnr_db"].values():
        assert r["noisy"] >= r["noisy_unclipped"]           # clipping to [0, 1] only helps
        assert all(0 < v < 60 for v in r.values())
    a = m["anomaly"]
    assert set(a["auc"]) == {"0", "1"} and set(a["held_out"]) == {"T-shirt/top", "Trouser"}
    assert all(0 <= v <= 1 for v in a["auc"].values())
    assert a["mean_auc"] == pytest.approx(np.mean(list(a["auc"].values())))
    assert returned["anomaly"]["auc"] == a["auc"]


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
    out = outputs[0]
    text = (out / "table.md").read_text()
    assert "autoencoder codes" in text and "denoising AE" in text and "T-shirt/top" in text
    for name in PLOTS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
