"""experiments/dropout_cnn.py in --quick mode: both variants start from the same weights, the
convergence and overfitting figures follow from the stored curves, the summaries are the
seeds' mean and sd, and the files are written."""
import jax
import numpy as np


def test_both_variants_start_from_the_same_weights_and_rate_0_is_the_identity(monkeypatch, load_script):
    script = load_script("dropout_cnn", monkeypatch)
    plain, dropped = script.cnn(0.0, (4, 8), 16), script.cnn(0.5, (4, 8), 16)
    x = jax.random.normal(jax.random.key(1), (3, 28, 28, 1))
    p0, s0 = plain.init(jax.random.key(7), x.shape)[1:]
    p1, _ = dropped.init(jax.random.key(7), x.shape)[1:]
    jax.tree.map(np.testing.assert_array_equal, p0, p1)
    key = jax.random.key(3)
    # rate 0 in training mode equals evaluation mode; rate 0.5 in evaluation mode is the same net
    # scaled inside (inverted dropout: nothing to scale at test time)
    np.testing.assert_allclose(plain.apply(p0, s0, x, key=key, train=True)[0],
                               plain.apply(p0, s0, x, train=False)[0], rtol=1e-6)
    np.testing.assert_allclose(dropped.apply(p0, s0, x, train=False)[0],
                               plain.apply(p0, s0, x, train=False)[0], rtol=1e-6)
    assert not np.allclose(dropped.apply(p0, s0, x, key=key, train=True)[0],
                           plain.apply(p0, s0, x, train=False)[0])


def test_first_below_counts_epoch_ends(monkeypatch, load_script):
    script = load_script("dropout_cnn", monkeypatch)
    assert script.first_below([0.9, 0.5, 0.2, 0.1], 0.3, steps_per_epoch=10) == 30
    assert script.first_below([0.9, 0.5], 0.3, steps_per_epoch=10) is None


def test_quick_run(tmp_path, monkeypatch, load_script, strict_json):
    script = load_script("dropout_cnn", monkeypatch)
    script.main(["--quick", "--out", str(tmp_path)])
    saved = strict_json(tmp_path / "metrics.json")
    s, spe = saved["settings"], saved["steps_per_epoch"]
    assert sorted(saved["runs"]) == sorted(script.VARIANTS)
    for name, seeds in saved["runs"].items():
        assert len(seeds) == s["seeds"]
        for r in seeds:
            assert len(r["train_loss"]) == len(r["val_loss"]) == s["epochs"]
            for t in s["targets"]:
                below = np.flatnonzero(np.array(r["train_loss"]) < t)
                assert r["steps_to_loss"][str(t)] == ((below[0] + 1) * spe if len(below) else None)
            assert r["gap"] == r["train_accuracy"][-1] - r["val_accuracy"][-1]
            assert r["val_loss_rise"] == r["val_loss"][-1] - min(r["val_loss"]) >= 0
            assert r["best_val_step"] == (int(np.argmin(r["val_loss"])) + 1) * spe
        gaps = [r["gap"] for r in seeds]
        summary = saved["summary"][name]["gap"]
        np.testing.assert_allclose([summary["mean"], summary["sd"]],
                                   [np.mean(gaps), np.std(gaps, ddof=1)], rtol=1e-12)
    assert (tmp_path / "dropout_cnn.png").read_bytes()[:4] == b"\x89PNG"
    assert "steps with dropout / without" in (tmp_path / "table.md").read_text()


def test_ratios_pair_the_seeds_and_a_missed_target_is_not_a_number(monkeypatch, load_script):
    script = load_script("dropout_cnn", monkeypatch)
    args = script.parse_args(["--targets", "0.5", "--seeds", "2"])
    run = lambda steps, gap: {"steps_to_loss": {"0.5": steps}, "gap": gap, "val_loss_rise": 0.0,
                              "best_val_step": 1, "best_val_accuracy_step": 1, "best_val_accuracy": 0.5, "test_accuracy": 0.5,
                              "test_loss": 1.0, "train_accuracy": [0.5], "val_accuracy": [0.5]}
    runs = {"no dropout": [run(100, 0.1), run(200, 0.2)],
            "dropout 0.5": [run(300, 0.0), run(None, 0.1)]}
    summary = script.summarize(runs, args)
    assert summary["ratio_steps_to_loss"]["0.5"]["values"] == [3.0, None]
    assert script.fmt(summary["ratio_steps_to_loss"]["0.5"], 2) == "1 of 2 reached"
    assert script.fmt(summary["no dropout"]["steps_to_loss"]["0.5"], 0) == "150 ± 71"
