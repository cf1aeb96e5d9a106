"""experiments/visualization.py in --quick mode: every picture written, the metrics' layout and
sane values, the mean ± sd over 2 seeds with its verdicts, and the helpers (textures, saliency
on the object). No claims: a tiny CNN trained for 12 steps, 10 class-model and 10 style-transfer
steps."""
import numpy as np
import pytest

PNGS = ["class_models.png", "confusion_matrix.png", "feature_maps_features_block1_relu.png",
        "feature_maps_features_block2_relu.png", "filters.png", "saliency.png",
        "style_transfer.png"]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("visualization")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("visualization", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, module, returned, strict_json(out / "metrics.json")


def test_pictures_written(outputs):
    out, _, _, m = outputs
    assert m["files"] == PNGS
    for name in PNGS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    table = (out / "table.md").read_text()  # mean ± sd and every verdict
    assert "± " in table and all(f"| {k} | {v} |" in table for k, v in m["verdicts"].items())


def test_training_and_confusion_matrix(outputs):
    _, _, returned, m = outputs
    assert returned["test_accuracy"] == m["test_accuracy"]
    assert m["settings"]["quick"] is True and (m["n_train"], m["n_test"]) == (600, 300)
    assert len(m["class_names"]) == 10 and m["class_names"][9] == "Ankle boot"
    cm = np.array(m["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 300
    assert np.trace(cm) / 300 == pytest.approx(m["test_accuracy"], abs=1e-6)
    assert len(m["train"]["history"]["val_accuracy"]) == 1  # one epoch
    assert all(0.0 <= r <= 1.0 for r in m["per_class_recall"])


def test_feature_maps_saliency_class_models(outputs):
    _, _, _, m = outputs
    layers = m["feature_maps"]["layers"]
    assert layers["features/block1/relu"]["shape"] == [28, 28, 8]  # quick: widths 8, 16
    assert layers["features/block2/relu"]["shape"] == [14, 14, 16]
    for layer in layers.values():
        assert 0.0 <= layer["fraction_active"] <= 1.0 and layer["mean"] >= 0.0  # after a ReLU
    s = m["saliency"]
    assert len(s["indices"]) == 6 and s["labels"] == sorted(set(s["labels"]))  # 6 classes
    for mass, area in zip(s["saliency_mass_on_object"], s["object_pixel_fraction"]):
        assert 0.0 <= mass <= 1.0 and 0.0 < area < 1.0
    assert s["mean_concentration"] > 0
    c = m["class_models"]
    assert len(c["score_start"]) == len(c["score_end"]) == 10
    assert len(c["objective_end"]) == 10 and len(c["predicted_class"]) == 10
    assert sum(e > b for b, e in zip(c["score_start"], c["score_end"])) >= 8  # ascent works
    assert c["classified_as_their_class"] == sum(
        p == i for i, p in enumerate(c["predicted_class"]))
    # the baselines: the same network untrained, for the saliency and the class models
    assert s["probe"]["images"] == 50 and s["probe"]["trained"] > 0 and s["probe"]["untrained"] > 0
    assert 0 <= c["untrained"]["classified_as_their_class"] <= 10
    assert len(c["untrained"]["score_end"]) == 10


def test_over_seeds_and_verdicts(outputs):
    _, module, _, m = outputs
    s = m["over_seeds"]
    assert s["seeds"] == [0, 1] and m["settings"]["seeds"] == 2  # quick: 2 seeds
    first = {"test_accuracy": m["test_accuracy"], "saliency.probe.trained": m["saliency"]["probe"]["trained"],
             "saliency.probe.untrained": m["saliency"]["probe"]["untrained"],
             "class_models.classified_as_their_class": m["class_models"]["classified_as_their_class"],
             "class_models.untrained.mean_score_end": np.mean(m["class_models"]["untrained"]["score_end"]),
             "style_transfer.by_run.stripes_b50000.style_reduction":
                 m["style_transfer"]["runs"][0]["style_reduction"]}
    for key, value in first.items():  # the first seed's record is the one stored
        assert s[key]["values"][0] == pytest.approx(value, rel=1e-6), key
    for key, stat in s.items():
        if key == "seeds":
            continue
        assert len(stat["values"]) == 2, key
        assert stat["mean"] == pytest.approx(np.mean(stat["values"]), rel=1e-9), key
        assert stat["sd"] >= 0 and stat["sd"] == pytest.approx(np.std(stat["values"], ddof=1),
                                                               rel=1e-9, abs=1e-12), key
    # a new seed is a new network: new initial weights and data order
    assert s["test_accuracy"]["values"][0] != s["test_accuracy"]["values"][1]
    # the verdicts follow |mean_a - mean_b| > sd_a + sd_b
    a, b = s["saliency.probe.trained"], s["saliency.probe.untrained"]
    gap = abs(a["mean"] - b["mean"]) > a["sd"] + b["sd"]
    v = m["verdicts"]["saliency_trained_vs_untrained"]
    assert v == ("within noise" if not gap else "trained more concentrated"
                 if a["mean"] > b["mean"] else "untrained more concentrated")
    assert set(m["verdicts"].values()) <= {"within noise", "above 1", "below 1", "trained more",
                                           "untrained more", "trained higher", "untrained higher",
                                           "trained more concentrated",
                                           "untrained more concentrated", "larger", "smaller"}
    assert module.compare({"mean": 2.0, "sd": 0.4}, {"mean": 1.0, "sd": 0.5}, "up", "down") == "up"
    assert module.compare({"mean": 1.0, "sd": 0.6}, {"mean": 2.0, "sd": 0.5}, "up", "down") \
        == "within noise"
    with pytest.raises(ValueError, match="--seeds"):
        module.parse_args(["--seeds", "0"])


def test_style_transfer_metrics(outputs):
    _, _, _, m = outputs
    st = m["style_transfer"]
    assert st["content_label"] == "Dress" and "ImageNet" in st["note"]
    assert [(r["style"], r["style_weight"]) for r in st["runs"]] == [
        ("stripes", 5e4), ("checkerboard", 5e4)]
    for r in st["runs"]:
        assert r["content_start"] == pytest.approx(0.0, abs=1e-6)  # starts at the content image
        assert r["style_end"] < r["style_start"]  # 10 Adam steps already lower the style loss
        assert r["loss_end"] == pytest.approx(r["content_end"] + 5e4 * r["style_end"], rel=1e-4)
        assert r["style_reduction"] == pytest.approx(r["style_start"] / r["style_end"])


def test_textures(outputs):
    module = outputs[1]
    s, c = module.stripes(16, period=8), module.checkerboard(16, square=4)
    assert s.shape == c.shape == (16, 16, 1) and s.dtype == np.float32
    assert set(np.unique(s)) == {0.0, 1.0} and s.mean() == 0.5 and c.mean() == 0.5
    assert s[0, 0, 0] == 1 and s[0, 4, 0] == 0 and s[1, 3, 0] == 0  # (i + j) mod 8 < 4
    assert c[0, 3, 0] == 0 and c[0, 4, 0] == 1 and c[4, 4, 0] == 0


def test_saliency_on_object_by_hand(outputs):
    module = outputs[1]
    images = np.zeros((1, 4, 4, 1), np.float32)
    images[0, :2, :, 0] = 1.0  # the top half is the object
    maps = np.ones((1, 4, 4))
    maps[0, :2] = 3.0
    r = module.saliency_on_object(images, maps)
    assert r["object_pixel_fraction"] == [0.5]
    assert r["saliency_mass_on_object"] == [pytest.approx(0.75)]
    assert r["mean_concentration"] == pytest.approx(1.5)
    assert module.first_of_each_class(np.array([2, 0, 2, 1, 0]), 2).tolist() == [1, 3]
