"""experiments/x_vs_o.py: the lecture's X through the diagonal kernel against a numpy convolution,
the deck's printed maps, the classifier at 100% on the --quick data, the JSON and the plots."""
import numpy as np
import pytest

PLOTS = ("x_vs_o_images.png", "x_vs_o_kernels.png", "x_vs_o_feature_maps.png",
         "x_vs_o_pooled_maps.png", "x_vs_o_maps.png", "x_vs_o_learned_kernels.png",
         "x_vs_o_accuracy.png")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("x_vs_o")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("x_vs_o", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, module, returned, strict_json(out / "metrics.json")


def _numpy_convolve_valid(image, kernel):
    """True 2-D convolution (flip rows and columns, multiply, slide), 'valid' part."""
    k = kernel[::-1, ::-1]
    h, w = image.shape[0] - 2, image.shape[1] - 2
    return np.array([[np.sum(image[i:i + 3, j:j + 3] * k) for j in range(w)] for i in range(h)])


def test_x_with_diagonal_kernel_against_numpy(outputs):
    _, module, _, m = outputs
    diagonal = np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1]])
    assert np.array_equal(module.KERNELS["diagonal"], diagonal)       # as printed in the deck
    hand = _numpy_convolve_valid(module.X_IMAGE.astype(float), diagonal) / 9
    np.testing.assert_allclose(m["x_maps"]["diagonal"]["conv"], hand, atol=1e-4)
    np.testing.assert_allclose(np.diag(hand), np.array([7, 9, 9, 5, 9, 9, 7]) / 9)  # 0.77 1.00 ...
    np.testing.assert_allclose(m["x_maps"]["diagonal"]["relu"], np.maximum(hand, 0), atol=1e-4)
    # 2x2 max pooling, stride 2, the 7th row / column pooled alone ("SAME": 7 -> 4)
    padded = np.full((8, 8), -np.inf)
    padded[:7, :7] = np.maximum(hand, 0)
    pooled = padded.reshape(4, 2, 4, 2).max(axis=(1, 3))
    np.testing.assert_allclose(m["x_maps"]["diagonal"]["pooled"], pooled, atol=1e-4)


def test_every_map_matches_the_deck(outputs):
    _, module, _, m = outputs
    check = m["deck_check"]
    assert check["all_match"] is True
    for name in module.KERNELS:
        assert check[name]["map_matches_deck"] and check[name]["pooled_matches_deck"], name
        # the deck cuts to two decimals (7/9 = 0.777 -> 0.77): within 0.01 of the exact values
        assert check[name]["max_abs_diff_map"] < 0.01
        np.testing.assert_allclose(m["x_maps"][name]["pooled"], module.DECK_POOLED[name],
                                   atol=0.01)


def test_deck_check_detects_a_wrong_map(outputs):
    _, module, _, _ = outputs
    maps = {"conv": np.zeros((2, 7, 7, 3)), "pool": np.zeros((2, 4, 4, 3))}
    check = module.deck_check(maps)
    assert check["all_match"] is False and not check["diagonal"]["map_matches_deck"]


def test_classifier_reaches_100_percent_on_quick_data(outputs):
    _, _, returned, m = outputs
    assert m["n_train"] == 200 and m["n_test"] == 200 and m["settings"]["quick"] is True
    fixed = m["variants"]["fixed"]
    assert fixed["train_accuracy"] == 1.0 and fixed["test_accuracy"] == 1.0
    assert fixed["accuracy_by_flip"]["0"] == 1.0             # clean shifted X's and O's
    # frozen: the deck's kernels are unchanged by training
    deck = np.stack([[[1, -1, -1], [-1, 1, -1], [-1, -1, 1]], [[1, -1, 1], [-1, 1, -1], [1, -1, 1]],
                     [[-1, -1, 1], [-1, 1, -1], [1, -1, -1]]])
    np.testing.assert_allclose(fixed["kernels_times_9"], deck, atol=1e-4)
    learned = m["variants"]["learned"]
    assert learned["train_accuracy"] >= 0.95 and learned["test_accuracy"] >= 0.95
    assert not np.allclose(learned["kernels_times_9"], deck, atol=0.1)
    for r in (fixed, learned):
        assert len(r["history"]["val_accuracy"]) == 15
        assert set(r["accuracy_by_flip"]) == {"0", "0.05", "0.1", "0.15", "0.2"}
    assert returned["variants"]["fixed"]["test_accuracy"] == 1.0


def test_seeds_and_a_separate_validation_set(outputs):
    out, _, _, m = outputs
    assert m["n_val"] == 200 and m["settings"]["seeds"] == 2
    for r in m["variants"].values():
        seeds = r["over_seeds"]
        # the first seed is the run whose curves are stored
        assert seeds["test_accuracy"]["values"][0] == r["test_accuracy"]
        assert len(seeds["test_accuracy"]["values"]) == 2
        assert seeds["accuracy_by_flip"]["0.2"]["values"][0] == r["accuracy_by_flip"]["0.2"]
    assert (out / "table.md").read_text().count("\n") == 2 + 2


def test_dataset(outputs):
    _, module, _, _ = outputs
    x, y = module.make_dataset(100, max_shift=1, flip=0.0, seed=3)
    assert x.shape == (100, 9, 9, 1) and x.dtype == np.float32 and y.sum() == 50
    assert set(np.unique(x)) == {-1.0, 1.0}
    # without flips every image is the X or the O moved by at most one pixel
    for img, label in zip(x[..., 0], y):
        base = (module.X_IMAGE, module.O_IMAGE)[label]
        assert any(np.array_equal(img, module.shift(base, dy, dx))
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    assert np.array_equal(module.shift(module.X_IMAGE, 1, 0)[1:], module.X_IMAGE[:-1])
    assert np.all(module.shift(module.X_IMAGE, 1, 0)[0] == -1)
    flipped, _ = module.make_dataset(400, max_shift=0, flip=0.1, seed=3)
    clean, _ = module.make_dataset(400, max_shift=0, flip=0.0, seed=3)
    assert 0.07 < np.mean(flipped != clean) < 0.13


def test_plots_written(outputs):
    out = outputs[0]
    for name in PLOTS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
