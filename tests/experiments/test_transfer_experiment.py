"""experiments/transfer.py in --quick mode: the JSON layout, sane values, the plot, and the
helpers (few-label draws, the cached init, the transplant, the summary). No claims: a
one-block CNN pretrained for 16 steps on 50 images says nothing about transfer learning.
(Quick mode runs one label count; the summary over a sweep is tested on a hand-made one.)"""
import jax
import numpy as np
import optax
import pytest

from jdl import data, losses, metrics, models, nn, train, transfer

METHODS = ["scratch", "features_fc", "features_conv", "fine_tune", "fine_tune_frozen"]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("transfer")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("transfer", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, module, returned, strict_json(out / "metrics.json")


def test_every_method_and_label_count_ran(outputs):
    _, _, returned, m = outputs
    assert m["settings"]["quick"] is True and m["settings"]["labels_per_class"] == [10]
    assert sorted(m["methods"]) == sorted(METHODS)
    assert returned["summary"] == m["summary"]
    assert m["pretrain"]["n_train"] == 50 and m["pretrain"]["classes"] == [0, 1, 2, 3, 4]
    assert 0.0 <= m["pretrain"]["test_accuracy"] <= 1.0
    y_train = data.load("fashion_mnist")["train"][1]  # conftest's synthetic files
    pool = int(np.isin(y_train, [5, 6, 7, 8, 9]).sum())
    assert m["target"] == {"classes": [5, 6, 7, 8, 9], "pool": pool, "n_test": 300}
    for name, by_k in m["methods"].items():
        assert sorted(by_k) == ["10"], name
        for k, r in by_k.items():
            assert r["seeds"] == [0] and len(r["runs"]) == 1
            run = r["runs"][0]
            assert r["mean"] == run["test_accuracy"] and r["sd"] == 0.0
            assert 0.0 <= run["test_accuracy"] <= 1.0 and 0.0 <= run["train_accuracy"] <= 1.0
            assert run["test_loss"] > 0
            assert run["steps"] >= 12  # --steps 12, whole epochs
    assert m["methods"]["features_fc"]["10"]["runs"][0]["feature_dim"] == 32  # quick: fc 32
    assert m["methods"]["features_conv"]["10"]["runs"][0]["feature_dim"] == 14 * 14 * 8
    frozen_run = m["methods"]["fine_tune_frozen"]["10"]["runs"][0]
    assert frozen_run["frozen_unchanged"] is True
    # block1 is wholly frozen, so it ran in nn.eval_mode: its batch norm kept its statistics
    assert m["fine_tune_frozen_eval_mode_blocks"] == ["features/block1"]
    assert frozen_run["frozen_statistics_unchanged"] is True
    # quick: one conv block (conv w, bn scale, offset) frozen; fc w, b scaled; logits full
    assert m["fine_tune_frozen_groups"] == {"frozen": 3, "scaled": 2, "full": 2}  # block1: conv w, BN scale and bias
    assert m["run"]["versions"]["jax"]


def test_summary(outputs):
    _, _, _, m = outputs
    s = m["summary"]
    assert set(s["by_labels"]) == {"10"}
    for k, row in s["by_labels"].items():
        mean = {name: m["methods"][name][k]["mean"] for name in METHODS}
        assert row["best"] == max(mean, key=mean.get)
        for name, gain in row["gain_over_scratch"].items():
            assert gain == pytest.approx(mean[name] - mean["scratch"])
    for key in ("transfer_beats_scratch_at_fewest_labels", "features_beat_scratch_at_fewest_labels",
                "fine_tune_beats_features_at_most_labels", "fine_tune_advantage_grows_with_labels"):
        assert isinstance(s[key], bool), key


def test_summary_by_hand(outputs):
    module = outputs[1]

    def r(mean, sd=0.01):
        return {"mean": mean, "sd": sd}

    results = {"scratch": {"2": r(0.5), "200": r(0.9)},
               "features_conv": {"2": r(0.6), "200": r(0.88)},
               "fine_tune": {"2": r(0.55), "200": r(0.93)}}
    s = module.summarize(results, [2, 200])
    assert s["by_labels"]["2"]["best"] == "features_conv"
    assert s["by_labels"]["200"]["fine_tune_minus_features"] == pytest.approx(0.05)
    assert s["by_labels"]["2"]["verdict"] == "transfer ahead"      # 0.1 > 0.01 + 0.01
    assert s["by_labels"]["200"]["verdict"] == "transfer ahead"    # fine_tune 0.93 vs 0.9
    assert s["transfer_beats_scratch_at_fewest_labels"] is True
    assert s["features_beat_scratch_at_fewest_labels"] is True
    assert s["fine_tune_beats_features_at_most_labels"] is True
    assert s["fine_tune_advantage_grows_with_labels"] is True
    noisy = {m: {k: r(v["mean"], 0.06) for k, v in by_k.items()} for m, by_k in results.items()}
    s = module.summarize(noisy, [2, 200])  # the same means with sds of 0.06: nothing is ahead
    assert [s["by_labels"][k]["verdict"] for k in ("2", "200")] == ["within noise"] * 2
    assert s["transfer_beats_scratch_at_fewest_labels"] is False
    assert s["features_beat_scratch_at_fewest_labels"] is False
    assert s["fine_tune_beats_features_at_most_labels"] is False
    only = module.summarize({"scratch": results["scratch"]}, [2, 200])
    assert set(only) == {"by_labels"}


def test_few_labels(outputs):
    module = outputs[1]
    y = np.repeat(np.arange(3), 20)[np.random.default_rng(5).permutation(60)]
    small, big = module.few_labels(y, 2, seed=1), module.few_labels(y, 5, seed=1)
    assert np.bincount(y[big]).tolist() == [5, 5, 5]
    assert set(small) <= set(big)  # nested draws
    assert np.array_equal(small, module.few_labels(y, 2, seed=1))
    assert not np.array_equal(big, module.few_labels(y, 5, seed=2))
    with pytest.raises(ValueError, match="at least 21 examples of class 0"):
        module.few_labels(y, 21, seed=0)


def test_standardize(outputs):
    module = outputs[1]
    f = np.array([[1.0, 0.0, 2.0], [3.0, 0.0, 6.0]], np.float32)
    z, scale = module.standardize(f)
    assert np.allclose(z.mean(0), 0) and np.allclose(z[:, [0, 2]].std(0), 1)
    assert np.array_equal(z[:, 1], [0.0, 0.0])  # a constant feature is centred, not divided by 0
    assert np.allclose(scale(np.array([[2.0, 1.0, 4.0]], np.float32)), [[0.0, 1.0, 0.0]])


def test_transplant_matches_the_library(outputs):
    module = outputs[1]
    args = module.parse_args(["--quick"])
    # the paths transfer.py relies on (features/block1/*, classifier/logits/*), tiny and fast
    cnn = nn.serial(("features", nn.serial(("block1", nn.serial(("conv", nn.Conv(2, 3)))))),
                    ("classifier", nn.serial(("flatten", nn.Flatten()), ("logits", nn.Dense(5)))))
    shape = (1, 4, 4, 1)
    pre = train.init_train_state(cnn, optax.adam(1e-3), jax.random.key(7), shape)

    runner = module.Runner(cnn, args, (np.zeros((2, 4, 4, 1), np.float32), np.zeros(2, np.int32)),
                           losses.softmax_cross_entropy, {"accuracy": metrics.accuracy})
    runner.set_pretrained(pre.params, pre.state)
    opt = runner.opts["fine_tune"]
    ts = runner.transplanted(train.init_train_state(cnn, opt, jax.random.key(3), shape), opt)
    ref, _ = transfer.init_transfer_state(cnn, opt, jax.random.key(3), shape, pre.params,
                                          pre.state, exclude=module.HEAD)
    assert jax.tree.all(jax.tree.map(np.array_equal, ts.params, ref.params))
    assert jax.tree.all(jax.tree.map(np.array_equal, ts.state, ref.state))
    assert not np.array_equal(ts.params["classifier"]["logits"]["w"],
                              pre.params["classifier"]["logits"]["w"])  # a new head


def test_bad_arguments(outputs):
    module = outputs[1]
    with pytest.raises(SystemExit):
        module.parse_args(["--source-classes", "0", "1", "--target-classes", "1", "2"])
    with pytest.raises(SystemExit):
        module.parse_args(["--target-classes", "5", "6"])


def test_plot_written(outputs):
    assert (outputs[0] / "transfer.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_frozen_blocks_in_eval_mode(outputs):
    """Only wholly frozen blocks are wrapped; the trees and the eval-mode outputs are the
    unwrapped model's."""
    module = outputs[1]
    cnn = models.fashion_cnn(5, widths=(4, 8), dense=8)
    shape = (2, 28, 28, 1)
    model, wrapped = module.frozen_blocks_in_eval_mode(cnn, shape, ["features/block1/*"])
    assert wrapped == ["features/block1"]
    assert module.frozen_blocks_in_eval_mode(cnn, shape, ["features/block1/conv/*"])[1] == []
    # jitted, not eager: an eager init and apply compile every operation on its own (~3 s)
    params, state = jax.jit(lambda k: cnn.init(k, shape)[1:])(jax.random.key(0))
    wrapped_trees = jax.eval_shape(lambda k: model.init(k, shape)[1:], jax.random.key(0))
    assert jax.tree.structure((params, state)) == jax.tree.structure(wrapped_trees)
    x = np.random.default_rng(1).random(shape, np.float32)
    outputs = [jax.jit(lambda p, s, x, m=m: m.apply(p, s, x)[0])(params, state, x)
               for m in (model, cnn)]
    np.testing.assert_array_equal(*outputs)
    _, new_state = jax.jit(lambda p, s, x, k: model.apply(p, s, x, key=k, train=True))(
        params, state, x, jax.random.key(2))
    old, new = state["features"], new_state["features"]
    for stat in ("mean", "var"):  # block1 keeps its running statistics, block2 updates them
        np.testing.assert_array_equal(new["block1"]["bn"][stat], old["block1"]["bn"][stat])
        assert not np.array_equal(new["block2"]["bn"][stat], old["block2"]["bn"][stat])
