"""experiments/param_arithmetic.py: deck 001's counts (200x200 image, 40K hidden units, 10x10
filters; Ranzato's 100 conv filters) from jdl layers against hand formulas, the JSON, the plot."""
import pytest

# The deck's numbers, by hand: H = W = 200, C = 1, N = 40,000 units, k = 10, F = 100.
FC_WEIGHTS = 200 * 200 * 40_000          # 1,600,000,000: the deck's "~2B parameters"
LC_WEIGHTS = 40_000 * 10 * 10            # 4,000,000: "4M parameters!"
CONV_WEIGHTS = 100 * 10 * 10             # 10,000: "10K parameters" (Ranzato's slide)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("param_arithmetic")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("param_arithmetic", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, module, returned, strict_json(out / "metrics.json")


def test_deck_counts(outputs):
    _, _, returned, m = outputs
    layers = m["layers"]
    assert layers["fully_connected"]["weights"] == FC_WEIGHTS == 1_600_000_000
    assert layers["fully_connected"]["biases"] == 40_000
    assert layers["fully_connected"]["hidden_units"] == 40_000
    assert layers["locally_connected"]["weights"] == LC_WEIGHTS == 4_000_000
    assert layers["locally_connected"]["biases"] == 40_000
    assert layers["locally_connected"]["hidden_units"] == 40_000      # one 200x200 map
    assert layers["convolutional"]["weights"] == CONV_WEIGHTS == 10_000
    assert layers["convolutional"]["biases"] == 100
    assert layers["convolutional"]["hidden_units"] == 100 * 40_000
    assert layers["convolutional_1_map"]["weights"] == 100
    assert m["all_match"] is True and all(r["matches"] for r in layers.values())
    assert returned["layers"] == layers
    # "~2B": 1.6e9 rounds to 2e9 (one significant digit); 4M and 10K are exact
    assert round(FC_WEIGHTS, -9) == 2_000_000_000
    assert m["deck"]["locally_connected"]["ratio_to_deck"] == 1.0
    assert m["deck"]["convolutional"]["ratio_to_deck"] == 1.0
    assert m["ratios"]["fully_over_local"] == 400.0 and m["ratios"]["local_over_conv"] == 400.0


def test_formulas_by_hand(outputs):
    _, module, _, _ = outputs
    f = module.formulas(size=6, channels=3, hidden=7, kernel=3, filters=5)
    assert f["fully_connected"] == {"hidden_units": 7, "weights": 6 * 6 * 3 * 7, "biases": 7}
    assert f["locally_connected"] == {"hidden_units": 36, "weights": 36 * 27, "biases": 36}
    assert f["convolutional"] == {"hidden_units": 36 * 5, "weights": 5 * 27, "biases": 5}
    # a non-deck setting, counted by the jdl layers, still matches
    args = module.parse_args(["--size", "12", "--channels", "3", "--hidden", "50",
                              "--kernel", "5", "--filters", "4"])
    rows = module.compare(args)
    assert all(r["matches"] for r in rows.values())
    assert rows["locally_connected"]["output_shape"] == [1, 12, 12, 1]
    assert rows["locally_connected"]["weights"] == 12 * 12 * 5 * 5 * 3


def test_sweep_scaling(outputs):
    _, _, _, m = outputs
    sweep = m["sweep_weights"]
    assert [row["size"] for row in sweep] == [25, 50, 100, 200]       # quick: 4 sizes
    for row in sweep:
        n = row["size"] ** 2
        assert row == {"size": row["size"], "fully_connected": n * n,
                       "locally_connected": n * 100, "convolutional_1_map": 100}


def test_settings_and_plot(outputs):
    out, _, _, m = outputs
    assert m["settings"]["quick"] is True and m["settings"]["size"] == 200
    assert m["run"]["versions"]["jax"]
    assert (out / "param_arithmetic.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_flags(outputs):
    _, module, _, _ = outputs
    with pytest.raises(SystemExit):
        module.parse_args(["--kernel", "0"])
    with pytest.raises(SystemExit):
        module.parse_args(["--size", "5", "--kernel", "10"])
