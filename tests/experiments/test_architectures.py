"""experiments/architectures.py: a --quick run of LeNet-5 with and without augmentation (the JSON
layout, the table, the plot); every architecture the script builds, counted by hand from shapes
alone (compiling the other three would triple this file's time: compilation dominates); the
augmentation, checked against every allowed shift and flip. No claims: 8 steps say nothing."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jdl.summary import summary


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("architectures")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("architectures", mp)
        returned = module.main(["--quick", "--archs", "lenet5", "--out", str(out)])
    return out, module, returned, strict_json(out / "metrics.json")


def test_runs_with_sane_numbers(outputs):
    _, _, returned, m = outputs
    assert list(m["archs"]) == ["lenet5"]
    s = m["settings"]
    assert s["quick"] is True and s["epochs"] == 2 and s["steps_per_call"] == 1
    assert (m["n_train"], m["n_test"]) == (256, 300)
    assert m["archs"]["lenet5"]["params"] == 61_706          # LeNet-5's published count
    for arch, r in m["archs"].items():
        assert sorted(r["runs"]) == ["crop_flip", "none"] and r["macs"] > 0
        for aug, run in r["runs"].items():
            for key in ("test_accuracy", "train_accuracy"):
                assert 0.0 <= run[key] <= 1.0, (arch, aug, key)
            assert math.isfinite(run["test_loss"]) and run["test_loss"] > 0
            gap = run["train_accuracy"] - run["test_accuracy"]
            assert run["gap_accuracy"] == pytest.approx(gap)
            assert len(run["history"]["loss"]) == len(run["history"]["accuracy"]) == 2
            assert 0 < run["seconds_per_epoch"] and run["first_epoch_seconds"] > 0
            seeds = run["over_seeds"]  # the first seed is the run whose history is stored
            assert len(seeds["test_accuracy"]["values"]) == s["seeds"] == 2
            assert seeds["test_accuracy"]["values"][0] == run["test_accuracy"]
        means = {aug: r["runs"][aug]["over_seeds"]["test_accuracy"]["mean"] for aug in r["runs"]}
        verdict = m["augmentation"][arch]
        assert verdict["test_accuracy_change"] == pytest.approx(means["crop_flip"] - means["none"])
        assert verdict["test_accuracy"] in ("higher", "lower", "within noise")
    assert returned["augmentation"] == m["augmentation"]
    assert m["run"]["command"] and m["run"]["versions"]["jax"]


def test_table_written(outputs):
    out, _, _, m = outputs
    lines = (out / "table.md").read_text().strip().splitlines()
    assert lines[0].startswith("| model | augmentation | parameters")
    assert len(lines) == 2 + 2                               # header, rule, 2 runs
    assert "| LeNet-5 (tanh, average pooling) | crop_flip | 61,706 |" in lines[3]
    acc = m["archs"]["lenet5"]["runs"]["none"]["over_seeds"]["test_accuracy"]
    assert f"| {acc['mean']:.4f} ± {acc['sd']:.4f} |" in lines[2]


def test_augmentation_judged_by_the_spread_rule(outputs):
    module = outputs[1]
    stat = lambda mean, sd: {"mean": mean, "sd": sd, "values": [mean]}  # noqa: E731
    plain = {"test_accuracy": stat(0.80, 0.01), "gap_accuracy": stat(0.10, 0.01)}
    # lower by 3 points against a spread of 2; gap 0.09 lower, spread 0.02: both count
    v = module.judge_augmentation(plain, {"test_accuracy": stat(0.77, 0.01),
                                          "gap_accuracy": stat(0.01, 0.01)})
    assert v["test_accuracy"] == "lower" and v["gap_reduced"] is True
    v = module.judge_augmentation(plain, {"test_accuracy": stat(0.81, 0.01),
                                          "gap_accuracy": stat(0.09, 0.01)})
    assert v["test_accuracy"] == "within noise" and v["gap_reduced"] is False


def test_plot_written(outputs):
    assert (outputs[0] / "architectures.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def summaries(outputs):
    """{(arch, quick): (summary on (1, 28, 28, 1), description)} of every architecture the script
    builds, quick and full: traced once for the tests below (the full GoogLeNet and ResNet-20
    take about a second each)."""
    module = outputs[1]
    out = {}
    for quick in (True, False):
        args = module.parse_args(["--quick"] if quick else [])
        for arch in module.ARCHS:
            model, description = module.build(arch, args)
            out[arch, quick] = summary(model, (1, 28, 28, 1)), description
    return out


def test_small_vgg_by_hand(summaries):
    s, _ = summaries["vgg", False]                           # small_vgg((16, 32, 64), 256)
    conv = lambda cin, c: 9 * cin * c + c + 2 * c  # noqa: E731  conv with bias + BN scale, bias
    convs = conv(1, 16) + conv(16, 16) + conv(16, 32) + conv(32, 32) + conv(32, 64) + conv(64, 64)
    assert s.output_shape == (1, 10)
    assert s.total_params == convs + (3 * 3 * 64 * 256 + 256) + (256 * 10 + 10) == 222_522
    shapes = {r.path: r.output_shape for r in s.rows}
    assert shapes["features/pool1"] == (1, 14, 14, 16) and shapes["features/pool3"] == (1, 3, 3, 64)


def test_small_googlenet_by_hand(outputs, summaries):
    module = outputs[1]
    s, _ = summaries["googlenet", False]                     # small_googlenet(INCEPTIONS)

    def inception(cin, c1, r3, c3, r5, c5, pp):  # bias-free convs, BN scale + bias per channel
        return (cin * (c1 + r3 + r5 + pp) + 9 * r3 * c3 + 25 * r5 * c5
                + 2 * (c1 + r3 + c3 + r5 + c5 + pp)), c1 + c3 + c5 + pp

    total, cin = 9 * 32 + 2 * 32, 32                         # stem conv 3x3 32 + BN
    for widths in module.INCEPTIONS.values():
        n, cin = inception(cin, *widths)
        total += n
    assert cin == 128 and s.output_shape == (1, 10)
    assert s.total_params == total + 128 * 10 + 10 == 67_570
    shapes = {r.path: r.output_shape for r in s.rows}
    assert shapes["inception3b"] == (1, 14, 14, 80) and shapes["inception4b"] == (1, 7, 7, 128)


def test_augmentation_is_a_shift_and_maybe_a_flip(outputs):
    module = outputs[1]
    images = jnp.asarray(np.random.default_rng(0).random((6, 8, 8, 1)), jnp.float32)
    out = np.asarray(jax.jit(module.augmentation(2))(jax.random.key(3), images))
    assert out.shape == images.shape
    for img, got in zip(np.asarray(images), out):
        # out[i, j] = v[i - dy, j - dx] (zero outside), v = the image or its mirror, |dy|, |dx| <= 2
        candidates = [np.pad(v, ((2, 2), (2, 2), (0, 0)))[2 - dy:10 - dy, 2 - dx:10 - dx]
                      for v in (img, img[:, ::-1]) for dy in range(-2, 3) for dx in range(-2, 3)]
        assert any(np.array_equal(got, c) for c in candidates)
    assert not np.array_equal(out, np.asarray(images))      # something moved


def test_arguments(outputs):
    module = outputs[1]
    full = module.parse_args([])
    assert full.archs == list(module.ARCHS) and full.augment == ["none", "crop_flip"]
    assert (full.train_size, full.epochs, full.batch_size) == (4096, 6, 128)
    assert full.steps_per_call is None and module.STEPS_PER_CALL["googlenet"] == 1
    with pytest.raises(SystemExit):
        module.parse_args(["--archs", "alexnet"])


def test_every_architecture_builds(outputs, summaries):
    module = outputs[1]
    expected = {  # parameters on (1, 28, 28, 1); the full ones are checked by hand above
        "lenet5": (61_706, 61_706), "vgg": (7_574, 222_522), "googlenet": (1_146, 67_570),
        "resnet": (4_934, 67_906)}
    assert set(expected) == set(module.ARCHS) and len(summaries) == 2 * len(expected)
    for arch, counts in expected.items():
        for quick, n in zip((True, False), counts):
            s, _ = summaries[arch, quick]
            assert s.output_shape == (1, 10) and s.total_params == n, (arch, quick)
    assert summaries["resnet", False][1] == "ResNet-20 (CIFAR, widths 8-16-32)"
