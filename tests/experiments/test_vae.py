"""experiments/vae.py: one --quick run (1 epoch per VAE on the synthetic Fashion-MNIST), the
JSON layout, the ELBO's parts adding up, the pictures, and the mosaic helper."""
import numpy as np
import pytest

PLOTS = ("vae_elbo.png", "vae_samples.png", "vae_reconstructions.png", "vae_latent_map.png")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("vae")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("vae", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, module, returned, strict_json(out / "metrics.json")


def test_json_layout_and_sane_values(outputs):
    _, _, returned, m = outputs
    assert m["settings"]["quick"] is True and m["n_train"] == 600 and m["n_test"] == 300
    assert set(m["runs"]) == {"latent_20", "latent_2"}
    for name, run in m["runs"].items():
        for key in ("neg_elbo", "reconstruction", "kl", "train_loss"):
            assert len(run[key]) == 1, (name, key)
        # the negative ELBO is its reconstruction plus its KL part, all positive nats per image,
        # and below the 784 * log 2 = 543 nats of a model that says p = 1/2 for every pixel
        assert run["neg_elbo"][0] == pytest.approx(run["reconstruction"][0] + run["kl"][0])
        assert 0 < run["kl"][0] < run["neg_elbo"][0] < 784 * np.log(2)
        assert m["final"][name]["neg_elbo"] == run["neg_elbo"][-1]
    assert len(m["latent_2_code_std"]) == 2
    assert 0 <= m["sample_mean_intensity"] <= 1
    assert returned["final"] == m["final"]


def test_plots_written(outputs):
    out = outputs[0]
    for name in PLOTS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_mosaic_tiles_row_by_row(outputs):
    module = outputs[1]
    images = np.arange(5 * 2 * 3, dtype=float).reshape(5, 2, 3, 1)
    tiled = module.mosaic(images, 2)
    assert tiled.shape == (3 * 2, 2 * 3)
    np.testing.assert_array_equal(tiled[:2, :3], images[0, ..., 0])
    np.testing.assert_array_equal(tiled[:2, 3:], images[1, ..., 0])
    np.testing.assert_array_equal(tiled[4:, :3], images[4, ..., 0])
    assert np.all(tiled[4:, 3:] == 0)                       # the missing sixth tile
