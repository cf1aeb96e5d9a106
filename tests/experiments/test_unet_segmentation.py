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
    for name, r in m["results"].items():
        assert 0.0 <= r["test_iou"] <= 1.0 and 0.5 <= r["pixel_accuracy"] <= 1.0, name
    for name in ("unet", "no_skip"):
        assert len(m["results"][name]["val_iou"]) == 1 and m["results"][name]["parameters"] > 0
        assert set(m["test_iou_by_kind"][name]) == {"disc", "square"}
    assert m["results"]["unet"]["parameters"] > m["results"]["no_skip"]["parameters"]
    assert 0.05 < m["mask_fraction"] < 0.4
    assert "| unet |" in (out / "table.md").read_text()
    for name in ("unet_examples.png", "unet_iou.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert returned["results"]["threshold"] == m["results"]["threshold"]
