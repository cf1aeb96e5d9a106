"""experiments/autoencoder_pca.py: the --quick run's JSON, table and pictures, and the helpers
(principal angles of a known pair of subspaces, the MSE)."""
import math

import numpy as np
import pytest

PLOTS = ("autoencoder_pca_reconstructions.png", "autoencoder_pca_latent.png")


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
    assert {"pca", "linear_ae", "deep_ae", "principal_angles_deg", "run"} <= set(m)
    pca, lin, deep = m["pca"], m["linear_ae"], m["deep_ae"]
    assert 0 < pca["test_mse"] < 0.2 and 0 < pca["explained_variance"] < 1
    for r in (lin, deep):
        assert 0 < r["test_mse"] < 1 and r["epochs"] == 1 and len(r["train_loss_per_epoch"]) == 1
        assert math.isclose(r["mse_ratio_to_pca"], r["test_mse"] / pca["test_mse"], rel_tol=1e-9)
    assert lin["within_2_percent"] == (lin["mse_ratio_to_pca"] <= 1.02)
    assert deep["lower_than_pca"] == (deep["test_mse"] < pca["test_mse"])
    angles = m["principal_angles_deg"]
    assert len(angles["all"]) == 32 and angles["all"] == sorted(angles["all"])
    assert 0 <= angles["median"] <= angles["max"] <= 90 and 0 <= angles["mean_cos2"] <= 1
    assert returned["code"] == 32


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
    out = outputs[0]
    text = (out / "table.md").read_text()
    assert "| PCA |" in text and "linear autoencoder" in text and "principal angles" in text
    for name in PLOTS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
