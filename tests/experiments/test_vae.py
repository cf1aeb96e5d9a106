"""experiments/vae.py: one --quick run (1 epoch per VAE on the synthetic Fashion-MNIST, 2 seeds),
the JSON layout, the ELBO's parts adding up, mean ± sd over the seeds and the verdicts by the
spread rule, the table, the pictures, and the helpers (mosaic, compare, reference points)."""
import numpy as np
import pytest

PLOTS = ("vae_elbo.png", "vae_samples.png", "vae_reconstructions.png", "vae_latent_map.png")
PARTS = ("neg_elbo", "reconstruction", "kl")


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
    for name, run in m["runs"].items():   # the first seed's runs, with their curves
        for key in (*PARTS, "train_loss"):
            assert len(run[key]) == 1, (name, key)
        # the negative ELBO is its reconstruction plus its KL part, all positive nats per image,
        # and below the 784 * log 2 = 543 nats of a model that says p = 1/2 for every pixel
        assert run["neg_elbo"][0] == pytest.approx(run["reconstruction"][0] + run["kl"][0])
        assert 0 < run["kl"][0] < run["neg_elbo"][0] < 784 * np.log(2)
        assert run["diverged"] is False and m["final"][name]["neg_elbo"] == run["neg_elbo"][-1]
    assert set(m["latent_2_code_std"]) == {"z1", "z2"}
    assert 0 <= m["sample_mean_intensity"] <= 1
    ref = m["reference"]
    assert ref["uniform"] == pytest.approx(784 * np.log(2))
    assert 0 < ref["entropy_floor"] < ref["pixel_means"] < ref["uniform"]
    assert returned["final"] == m["final"] and returned["verdicts"] == m["verdicts"]


def test_mean_and_sd_over_the_seeds(outputs):
    m = outputs[3]
    stats = m["over_seeds"]
    assert stats["seeds"] == [0, 1] and m["settings"]["seeds"] == 2
    for name in ("latent_20", "latent_2"):
        for part in PARTS:
            stat = stats[f"final.{name}.{part}"]
            values = stat["values"]
            assert len(values) == 2 and values[0] == m["final"][name][part]  # seed 0 is stored
            assert values[0] != values[1], (name, part)     # the seeds differ
            assert stat["mean"] == pytest.approx(sum(values) / 2)
            assert stat["sd"] == pytest.approx(abs(values[0] - values[1]) / np.sqrt(2))
            assert stat["sd"] >= 0
            assert m["curves"][name][part][-1] == stat    # one epoch: the curve ends there
    for key in ("sample_mean_intensity", "latent_2_code_std.z1"):
        assert len(stats[key]["values"]) == 2 and stats[key]["sd"] >= 0


def test_verdicts_follow_the_spread_rule(outputs):
    m = outputs[3]
    stats, v = m["over_seeds"], m["verdicts"]
    for part in PARTS:
        a, b = stats[f"final.latent_20.{part}"], stats[f"final.latent_2.{part}"]
        if abs(a["mean"] - b["mean"]) <= a["sd"] + b["sd"]:
            assert v["latent_20_vs_latent_2"][part] == "within noise"
        else:
            assert v["latent_20_vs_latent_2"][part] == ("lower" if a["mean"] < b["mean"] else "higher")
        gaps = [y - x for x, y in zip(a["values"], b["values"])]
        assert v["gap_latent_2_minus_latent_20"][part]["mean"] == pytest.approx(np.mean(gaps))
    for name in ("latent_20", "latent_2"):   # one epoch: the last is the first
        assert v[f"{name}_last_vs_first_epoch"] == "within noise"


def test_compare_by_hand(outputs):
    compare = outputs[1].compare
    stat = lambda mean, sd: {"mean": mean, "sd": sd, "values": [mean]}  # noqa: E731
    assert compare(stat(240.0, 1.0), stat(260.0, 2.0)) == "lower"
    assert compare(stat(17.0, 0.5), stat(6.0, 0.5)) == "higher"
    assert compare(stat(243.0, 0.4), stat(243.5, 0.2)) == "within noise"
    assert compare({"mean": None, "sd": None, "values": [None]}, stat(1.0, 0.0)) == "missing"


def test_table_and_plots_written(outputs):
    out, _, _, m = outputs
    text = (out / "table.md").read_text()
    stat = m["over_seeds"]["final.latent_20.neg_elbo"]
    assert f"| latent_20 | {stat['mean']:.1f} ± {stat['sd']:.1f} |" in text
    assert "| latent_20 vs latent_2 |" in text and "| latent_2: KL |" in text
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


def test_bad_seed_count_named(outputs):
    with pytest.raises(ValueError, match="--seeds: expected at least 1, got 0"):
        outputs[1].main(["--quick", "--seeds", "0", "--out", str(outputs[0] / "none")])
