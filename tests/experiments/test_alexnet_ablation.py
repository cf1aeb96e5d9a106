"""experiments/alexnet_ablation.py in --quick mode: deck 001's parameter drops at ImageNet size
(by hand), the small nets' counts, the accuracy fields, the upsampling, the JSON and the plot
(no claim about accuracy: one epoch on 256 images says nothing about depth)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

# AlexNet (two towers, 227x227x3): the removed layers' parameters, by hand
FC7 = 4096 * 4096 + 4096                                        # 16,781,312: "~16 million"
CONV3, CONV4 = 3 * 3 * 256 * 384 + 384, 3 * 3 * 192 * 384 + 384
CONV5, CONV5_ON_CONV2 = 3 * 3 * 192 * 256 + 256, 3 * 3 * 128 * 256 + 256
FC6, FC8, FC8_ON_POOL5 = 9216 * 4096 + 4096, 4096 * 1000 + 1000, 9216 * 1000 + 1000
DROP_3467 = CONV3 + CONV4 + (CONV5 - CONV5_ON_CONV2) + FC6 + FC7 + (FC8 - FC8_ON_POOL5)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("alexnet_ablation")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("alexnet_ablation", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, module, returned, strict_json(out / "metrics.json")


def test_imagenet_parameter_drops(outputs):
    _, _, _, m = outputs
    c = m["imagenet"]
    assert c["full"]["params"] == 60_965_224
    assert c["no_fc7"]["params_dropped"] == FC7 == 16_781_312
    assert c["no_3_4_6_7"]["params_dropped"] == DROP_3467 == 51_110_656
    assert c["no_fc6_fc7"]["params_dropped"] == FC6 + FC7 + FC8 - FC8_ON_POOL5
    assert c["no_conv3_conv4"]["params_dropped"] == CONV3 + CONV4 + CONV5 - CONV5_ON_CONV2
    # the deck's rounded numbers: "~16 million", "~50 million"
    assert abs(c["no_fc7"]["deck"]["ratio_to_deck"] - 1) < 0.05
    assert abs(c["no_3_4_6_7"]["deck"]["ratio_to_deck"] - 1) < 0.03
    assert c["no_fc7"]["per_layer"]["fc8"] == FC8 and "fc7" not in c["no_fc7"]["per_layer"]
    assert c["no_3_4_6_7"]["per_layer"]["conv5"] == CONV5_ON_CONV2
    assert c["full"]["macs"] > c["no_3_4_6_7"]["macs"] > 0


def test_small_nets(outputs):
    _, module, returned, m = outputs
    assert m["dataset"] == "fashion_mnist" and m["settings"]["quick"] is True
    assert (m["n_train"], m["n_val"], m["n_test"]) == (256, 200, 300)
    small = m["small"]
    assert list(small) == ["no_3_4_6_7"]       # quick: the cheapest variant to compile, alone
    # widths / 8 = (12, 32, 48, 48, 32), fc 512, one tower, 1 input channel, 67 -> pool5 1x1;
    # without 3, 4, 6, 7 conv5 reads conv2's 32 maps and fc8 the 32 pool5 features
    ablated = (11 * 11 * 12 + 12) + (5 * 5 * 12 * 32 + 32) + (3 * 3 * 32 * 32 + 32) + (32 * 10 + 10)
    assert small["no_3_4_6_7"]["params"] == ablated == 20_674
    full = (11 * 11 * 1 * 12 + 12) + (5 * 5 * 12 * 32 + 32) + (3 * 3 * 32 * 48 + 48) \
        + (3 * 3 * 48 * 48 + 48) + (3 * 3 * 48 * 32 + 32) + (32 * 512 + 512) \
        + (512 * 512 + 512) + (512 * 10 + 10)
    params, _ = module.numpy_init(module.small_alexnet((), module.parse_args(["--quick"])),
                                  (1, 67, 67, 1), seed=0)
    assert sum(p.size for p in jax.tree.leaves(params)) == full == 344_290
    r = small["no_3_4_6_7"]
    assert 0.0 <= r["test_accuracy"] <= 1.0 and math.isfinite(r["test_loss"])
    assert len(r["history"]["val_accuracy"]) == 1 and r["drop_layers"] == [3, 4, 6, 7]
    assert returned["small"] == small
    # the learning rate is the one with the best validation accuracy; the first seed's run
    # at that rate is the stored record, and every seed is counted in the mean
    lrs = m["lr"]["val_accuracy_by_lr"]
    assert len(lrs) == 2 and m["lr"]["on"] == "no_3_4_6_7"
    assert lrs[f"{m['lr']['chosen']:g}"] == max(lrs.values()) == r["val_accuracy"]
    seeds = r["over_seeds"]
    assert seeds["seeds"] == [0, 1] and seeds["test_accuracy"]["values"][0] == r["test_accuracy"]
    assert (m["settings"]["dropout"], r["lr"]) == (0.0, m["lr"]["chosen"])


def record(params, accuracies):
    stat = {"values": accuracies, "mean": float(np.mean(accuracies)),
            "sd": float(np.std(accuracies, ddof=1)) if len(accuracies) > 1 else 0.0}
    return {"params": params, "test_accuracy": accuracies[0], "over_seeds": {"test_accuracy": stat}}


def test_add_drops_by_hand(outputs):
    _, module, _, _ = outputs
    trained = {"full": record(100, [0.9, 0.8]), "no_fc7": record(60, [0.89, 0.82]),
               "no_3_4_6_7": record(10, [0.6, 0.6])}
    module.add_drops(trained)
    # paired by seed: (1, -2) points and (30, 20) points
    drop = trained["no_fc7"]["over_seeds"]["accuracy_drop_points"]
    assert drop["values"] == pytest.approx([1.0, -2.0]) and drop["mean"] == pytest.approx(-0.5)
    assert trained["no_3_4_6_7"]["over_seeds"]["accuracy_drop_points"]["sd"] == pytest.approx(50 ** 0.5)
    assert "| no_fc7 | 60 | 0.8550 ± 0.0495 | -0.50 ± 2.12 |" in module.table(trained)
    assert trained["full"]["accuracy_drop_points"] == 0.0 and trained["full"]["params_dropped"] == 0
    assert trained["no_fc7"]["accuracy_drop_points"] == pytest.approx(1.0)
    assert trained["no_3_4_6_7"]["accuracy_drop_points"] == pytest.approx(30.0)
    assert trained["no_3_4_6_7"]["params_dropped"] == 90
    alone = {"no_fc7": record(60, [0.89])}
    assert module.add_drops(alone) == {"no_fc7": record(60, [0.89])}


def test_upsample_matches_jax_resize(outputs):
    _, module, _, _ = outputs
    a = module.upsample_matrix(28, 67)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, atol=1e-6)       # constants stay constant
    x = np.random.default_rng(0).random((2, 28, 28, 1)).astype(np.float32)
    ref = jax.image.resize(jnp.asarray(x), (2, 67, 67, 1), "linear")
    np.testing.assert_allclose(module.upsample(x, 67), ref, atol=1e-5)


def test_numpy_init_shapes_and_scale(outputs):
    _, module, _, _ = outputs
    args = module.parse_args(["--quick"])
    model = module.small_alexnet((), args)
    params, state = module.numpy_init(model, (1, 67, 67, 1), seed=0)
    ref = jax.eval_shape(lambda k: model.init(k, (1, 67, 67, 1))[1], jax.random.key(0))
    assert jax.tree.map(lambda p: p.shape, params) == jax.tree.map(lambda p: p.shape, ref)
    assert state == {} and float(jnp.abs(params["conv1"]["b"]).max()) == 0.0
    w = np.asarray(params["fc7"]["w"])
    assert np.std(w) == pytest.approx(math.sqrt(2 / 512), rel=0.02)   # He
    assert np.std(np.asarray(params["fc8"]["w"])) == pytest.approx(math.sqrt(1 / 512), rel=0.05)


def test_bad_flags_and_plot(outputs):
    out, module, _, m = outputs
    with pytest.raises(SystemExit):
        module.parse_args(["--input-size", "64"])
    assert module.parse_args([]).train_variants == ["full", "no_fc7", "no_3_4_6_7"]
    assert m["run"]["versions"]["jax"]
    assert (out / "alexnet_ablation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
