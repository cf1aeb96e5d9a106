"""experiments/autoencoder_pca.py: the --quick run's JSON (2 seeds: mean ± sd and the verdicts by
the spread rule), table and pictures, and the helpers (principal angles of a known pair of
subspaces, the MSE)."""
import math

import numpy as np
import pytest
from sklearn.decomposition import PCA

PLOTS = ("autoencoder_pca_reconstructions.png", "autoencoder_pca_latent.png")
MODELS = ("pca", "linear_ae", "deep_ae")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("autoencoder_pca")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("autoencoder_pca", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, module, returned, strict_json(out / "metrics.json")


def test_json_layout_and_values(outputs):
    _, _, returned, m = outputs
    assert m["settings"]["quick"] is True and m["code"] == 32 and m["n_train"] == 600
    assert m["n_test"] == 300 and m["data"] == "fashion_mnist"
    assert {"pca", "linear_ae", "deep_ae", "principal_angles_deg", "verdicts", "run"} <= set(m)
    pca, lin, deep = m["pca"], m["linear_ae"], m["deep_ae"]   # the first seed's record
    assert 0 < pca["test_mse"] < 0.2 and 0 < pca["explained_variance"] < 1
    assert 0 < pca["eigenvalue_next"] <= pca["eigenvalue_last"]   # the 33rd below the 32nd
    for r in (lin, deep):
        assert 0 < r["test_mse"] < 1 and r["epochs"] == 1 and len(r["train_loss_per_epoch"]) == 1
        assert math.isclose(r["mse_ratio_to_pca"], r["test_mse"] / pca["test_mse"], rel_tol=1e-9)
        assert r["diverged"] is False
    angles = m["principal_angles_deg"]
    assert len(angles["all"]) == 32 and angles["all"] == sorted(angles["all"])
    assert 0 <= angles["median"] <= angles["max"] <= 90 and 0 <= angles["mean_cos2"] <= 1
    assert returned["code"] == 32 and returned["verdicts"] == m["verdicts"]


def test_mean_and_sd_over_the_seeds(outputs):
    module, m = outputs[1], outputs[3]
    stats = m["over_seeds"]
    assert stats["seeds"] == [0, 1] and m["settings"]["seeds"] == 2
    for key in module.SEED_KEYS:
        stat, (part, field) = stats[key], key.split(".")
        values = stat["values"]
        assert len(values) == 2 and values[0] == m[part][field], key   # seed 0 is stored
        assert stat["mean"] == pytest.approx(sum(values) / 2)
        assert stat["sd"] == pytest.approx(abs(values[0] - values[1]) / np.sqrt(2)) and stat["sd"] >= 0
    for model in ("linear_ae", "deep_ae"):
        mses, pcas = stats[f"{model}.test_mse"]["values"], stats["pca.test_mse"]["values"]
        assert stats[f"{model}.mse_ratio_to_pca"]["values"] == pytest.approx(
            [a / b for a, b in zip(mses, pcas)])
        assert mses[0] != mses[1]
    # PCA has no seed of its own: its second value comes from the second seed's split, redone here
    (x_tr, _), _, (x_te, _), _ = module.load_images(True, seed=1, flatten=True)
    mean = x_tr.mean(axis=0)
    x_tr, x_te = (x_tr - mean).astype(np.float32), (x_te - mean).astype(np.float32)
    pca = PCA(n_components=32, svd_solver="full").fit(x_tr)
    expected = np.mean(np.square(x_te.astype(np.float64) - pca.inverse_transform(pca.transform(x_te))))
    assert stats["pca.test_mse"]["values"][1] == pytest.approx(expected, rel=1e-6)
    assert stats["pca.test_mse"]["values"][0] != stats["pca.test_mse"]["values"][1]
    assert stats["pca.eigenvalue_last"]["values"][1] == pytest.approx(pca.explained_variance_[-1],
                                                                      rel=1e-4)


def test_verdicts_follow_the_spread_rule(outputs, spread_rule):
    m = outputs[3]
    stats, v = m["over_seeds"], m["verdicts"]
    rule = spread_rule

    assert v["linear_ae_vs_pca"] == rule(stats["linear_ae.test_mse"], stats["pca.test_mse"])
    assert v["deep_ae_vs_pca"] == rule(stats["deep_ae.test_mse"], stats["pca.test_mse"])
    assert v["deep_ae_vs_linear_ae"] == rule(stats["deep_ae.test_mse"], stats["linear_ae.test_mse"])
    ratio = stats["linear_ae.mse_ratio_to_pca"]
    assert v["linear_ae_within_2_percent"] == (ratio["mean"] + ratio["sd"] <= 1.02)


def test_principal_angles_of_a_known_pair(outputs):
    module = outputs[1]
    t = math.radians(30)
    a = np.eye(4)[:, :2]                                          # span(e1, e2)
    b = np.stack([[1, 0, 0, 0], [0, math.cos(t), math.sin(t), 0]], axis=1)
    np.testing.assert_allclose(module.principal_angles_deg(a, b), [0, 30], atol=1e-9)
    # any basis of the same subspace: all angles 0 (the linear AE need not find the PCA axes)
    mixed = a @ np.array([[2.0, 1.0], [-1.0, 3.0]])
    np.testing.assert_allclose(module.principal_angles_deg(a, mixed), [0, 0], atol=1e-6)
    np.testing.assert_allclose(module.principal_angles_deg(a, np.eye(4)[:, 2:]), [90, 90])


def test_mse(outputs):
    module = outputs[1]
    x = np.array([[0.0, 1.0], [1.0, 1.0]])
    assert module.mse(x, np.array([[0.0, 0.0], [1.0, 3.0]])) == pytest.approx((1 + 4) / 4)


def test_table_and_plots(outputs):
    out, _, _, m = outputs
    text = (out / "table.md").read_text()
    stat = m["over_seeds"]["pca.test_mse"]
    assert f"| {stat['mean']:.6f} ± {stat['sd']:.6f} | 1 | - |" in text
    assert "linear autoencoder" in text and "principal angles" in text
    assert f"| {m['verdicts']['deep_ae_vs_pca']} |" in text
    for name in PLOTS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
