"""experiments/unet_segmentation.py: the shape generator's masks, IoU on hand cases, the best
threshold, the no-skip network's shapes, one --quick run's JSON, table and pictures."""
import jax
import numpy as np
import pytest


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("unet")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("unet_segmentation", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, module, returned, strict_json(out / "metrics.json")


def test_iou_hand_cases(outputs):
    module = outputs[1]
    a = np.zeros((1, 4, 4), bool)
    a[0, :2, :2] = True                                     # 4 pixels
    b = np.zeros((1, 4, 4), bool)
    b[0, :2, 1:3] = True                                    # 4 pixels, 2 shared
    assert module.iou(a, b)[0] == pytest.approx(2 / 6)
    assert module.iou(a, a)[0] == 1.0 and module.iou(a, ~a)[0] == 0.0
    empty = np.zeros((1, 4, 4), bool)
    assert module.iou(empty, empty)[0] == 1.0               # nothing to find, nothing found
    logits = np.where(np.concatenate([a, empty]), 3.0, -3.0)
    np.testing.assert_allclose(module.iou_metric(logits, np.concatenate([b, empty]) * 1.0),
                               [2 / 6, 1.0])


def test_shape_generator_masks(outputs):
    module = outputs[1]
    x, m, kinds = module.make_shapes(40, noise=0.0, seed=5)
    assert x.shape == m.shape == (40, 32, 32, 1) and x.dtype == np.float32
    assert set(np.unique(m)) == {0.0, 1.0} and set(kinds) == {0, 1}
    for img, mask, kind in zip(x[..., 0], m[..., 0], kinds):
        ys, xs = np.nonzero(mask)
        h, w = np.ptp(ys) + 1, np.ptp(xs) + 1
        assert 7 <= h <= 19 and 7 <= w <= 19 and abs(h - w) <= 1
        fill = mask.sum() / (h * w)
        assert (fill == 1.0) if kind == 1 else (0.6 < fill < 0.95)   # square vs disc (~pi/4)
        # without noise the shape is lit at one brightness, and lit pixels outside are lines
        level = img[mask > 0]
        assert np.allclose(level, level[0]) and 0.6 <= level[0] <= 1.0
        assert set(np.unique(img)) <= {0.0, np.float32(level[0])}
    noisy, _, _ = module.make_shapes(40, noise=0.25, seed=5)
    assert 0.2 < np.std(noisy - x) < 0.3


def test_best_threshold(outputs):
    module = outputs[1]
    x, m, _ = module.make_shapes(20, noise=0.0, seed=1)
    t, score = module.best_threshold(x, m)
    assert 0.0 <= t < 0.6 and 0 < score < 1                 # lines are lit too: not perfect
    t, score = module.best_threshold(m, m)
    assert score == 1.0


def test_no_skip_net_keeps_the_resolution(outputs):
    module = outputs[1]
    net = module.no_skip_net(1, 2, 4)
    shapes = {}

    def init(key):  # traced only (eval_shape): an eager init compiles every random draw
        shapes["out"], params, _ = net.init(key, (2, 32, 32, 1))
        return params

    params = jax.eval_shape(init, jax.random.key(0))
    assert tuple(shapes["out"]) == (2, 32, 32, 1)
    assert "skip" not in str(jax.tree_util.tree_structure(params))
    assert params["level0"]["level1"]["level2"]["conv1"]["w"].shape == (3, 3, 8, 16)


def test_json_table_and_plots(outputs):
    out, _, returned, m = outputs
    assert m["settings"]["quick"] is True and m["n_train"] == 200 and m["n_test"] == 100
    assert set(m["results"]) == {"threshold", "unet", "no_skip"}
    for name, r in m["results"].items():    # the first seed's record, with its curves
        assert 0.0 <= r["test_iou"] <= 1.0 and 0.5 <= r["pixel_accuracy"] <= 1.0, name
    for name in ("unet", "no_skip"):
        r = m["results"][name]
        assert len(r["val_iou"]) == 1 and r["parameters"] > 0 and r["diverged"] is False
        assert set(m["test_iou_by_kind"][name]) == {"disc", "square"}
    assert m["results"]["unet"]["parameters"] > m["results"]["no_skip"]["parameters"]
    assert 0.05 < m["mask_fraction"] < 0.4
    text = (out / "table.md").read_text()
    stat = m["over_seeds"]["results.unet.test_iou"]
    assert f"| unet | {m['results']['unet']['parameters']:,} | {stat['mean']:.3f} ± {stat['sd']:.3f} |" in text
    assert "| unet vs no_skip |" in text and "| epoch | 1 |" in text
    assert "| test IoU of seed | 0 | 1 |" in text
    assert f"| no_skip | {m['results']['no_skip']['test_iou']:.3f} | " in text
    for name in ("unet_examples.png", "unet_iou.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert returned["results"]["threshold"] == m["results"]["threshold"]
    assert returned["verdicts"] == m["verdicts"]


def test_mean_and_sd_over_the_seeds(outputs):
    module, m = outputs[1], outputs[3]
    stats = m["over_seeds"]
    assert stats["seeds"] == [0, 1] and m["settings"]["seeds"] == 2
    for method in ("threshold", "unet", "no_skip"):
        for key in ("test_iou", "pixel_accuracy"):
            stat = stats[f"results.{method}.{key}"]
            values = stat["values"]
            assert len(values) == 2 and values[0] == m["results"][method][key]  # seed 0 is stored
            assert stat["mean"] == pytest.approx(sum(values) / 2)
            assert stat["sd"] == pytest.approx(abs(values[0] - values[1]) / np.sqrt(2))
            assert stat["sd"] >= 0
    # the threshold needs no training: the second seed's value, recomputed here from its images
    x_tr, m_tr, _ = module.make_shapes(200, noise=0.25, seed=1)
    x_te, m_te, _ = module.make_shapes(100, noise=0.25, seed=1001)
    t, _ = module.best_threshold(x_tr, m_tr)
    assert stats["results.threshold.threshold"]["values"][1] == t
    assert stats["results.threshold.test_iou"]["values"][1] == pytest.approx(
        module.iou(x_te > t, m_te > 0.5).mean())
    for name in ("unet", "no_skip"):   # one epoch: the IoU curve's only point is its final value
        curve = m["curves"][name]
        assert len(curve) == 1
        values = stats[f"results.{name}.test_iou"]["values"]
        assert curve[0]["values"] == pytest.approx(values, rel=1e-4) and values[0] != values[1]


def test_verdicts_follow_the_spread_rule(outputs, spread_rule):
    m = outputs[3]
    stats, v = m["over_seeds"], m["verdicts"]
    rule = spread_rule

    for key in ("test_iou", "pixel_accuracy"):
        assert v["unet_vs_no_skip"][key] == rule(stats[f"results.unet.{key}"],
                                                 stats[f"results.no_skip.{key}"])
    for kind in ("disc", "square"):
        assert v["unet_vs_no_skip"][kind] == rule(stats[f"test_iou_by_kind.unet.{kind}"],
                                                  stats[f"test_iou_by_kind.no_skip.{kind}"])
    for name in ("unet", "no_skip"):
        assert v[f"{name}_vs_threshold"] == rule(stats[f"results.{name}.test_iou"],
                                                 stats["results.threshold.test_iou"])
    assert v["unet_vs_no_skip_per_epoch"] == [rule(*(m["curves"][n][0] for n in ("unet", "no_skip")))]
    assert v["unet_ahead_every_epoch"] == (v["unet_vs_no_skip_per_epoch"] == ["higher"])
    u, n = stats["results.unet.test_iou"]["values"], stats["results.no_skip.test_iou"]["values"]
    assert v["gap_unet_minus_no_skip"]["mean"] == pytest.approx(np.mean(np.subtract(u, n)))
    t = stats["results.threshold.test_iou"]["values"]
    for name, values in (("unet", u), ("no_skip", n)):   # a seed that failed to learn
        assert v["seeds_not_above_threshold"][name] == [
            seed for seed, a, b in zip(stats["seeds"], values, t) if not a > b]


def test_compare_by_hand(outputs):
    compare = outputs[1].compare
    stat = lambda mean, sd: {"mean": mean, "sd": sd, "values": [mean]}  # noqa: E731
    assert compare(stat(0.967, 0.002), stat(0.947, 0.003)) == "higher"
    assert compare(stat(0.95, 0.01), stat(0.96, 0.01)) == "within noise"
    assert compare({"mean": None, "sd": None, "values": [None]}, stat(0.5, 0.0)) == "missing"
