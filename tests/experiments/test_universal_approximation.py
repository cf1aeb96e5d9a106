"""experiments/universal_approximation.py in --quick mode (2 seeds): every target,
initialization and width ran on every seed, each cell is mean ± sd over the seeds of log10
relative MSE, the learning rate is the one with the lowest mean log10 training error, the units
needed and the verdicts follow the spread rule, the spread initialization places the units'
transitions inside the interval, and the files are written."""
import jax
import numpy as np
import pytest

VERDICTS = {"held", "did not hold", "within noise", "not judged", "missing"}


@pytest.fixture(scope="module")
def run(tmp_path_factory, load_script):
    """One quick run; --target 0.5 so that some widths reach it and the verdicts are judged."""
    monkeypatch = pytest.MonkeyPatch()
    script = load_script("universal_approximation", monkeypatch)
    out = tmp_path_factory.mktemp("universal_approximation")
    result = script.main(["--quick", "--target", "0.5", "--out", str(out)])
    yield script, result, out
    monkeypatch.undo()


def test_every_cell_is_mean_and_sd_over_the_seeds(run, strict_json):
    script, result, out = run
    saved = strict_json(out / "metrics.json")
    settings = saved["settings"]
    assert saved["results"].keys() == result["results"].keys() == script.TARGETS.keys()
    widths, lrs = settings["widths"], settings["lrs"]
    assert saved["seeds"] == [settings["seed"], settings["seed"] + 1] and settings["seeds"] == 2
    for name, by_init in saved["results"].items():
        assert sorted(by_init) == sorted(script.INITS), name
        for init, r in by_init.items():
            assert [int(w) for w in r["widths"]] == widths, (name, init)
            for w, row in r["widths"].items():
                rel, stats = np.array(row["relative_mse"]), row["over_seeds"]
                assert len(rel) == 2 == len(row["train_mse"]) and stats["seeds"] == saved["seeds"]
                assert np.all((0.0 < rel) & (rel < 10.0)), (name, init, w, row)
                e = stats["log10_relative_mse"]
                np.testing.assert_allclose(e["values"], np.log10(rel), rtol=1e-5)
                np.testing.assert_allclose(e["mean"], np.log10(rel).mean(), rtol=1e-5)
                np.testing.assert_allclose(e["sd"], abs(np.log10(rel[0] / rel[1])) / np.sqrt(2),
                                           rtol=1e-4, atol=1e-7)
                assert e["sd"] >= 0
                assert ("log10_relative_mse_away_from_jump" in stats) == (name == "sharp")
                by_lr = row["mean_log10_train_mse_by_lr"]
                assert [float(k) for k in by_lr] == lrs
                assert by_lr[str(row["lr"])] == min(by_lr.values()), (name, init, w)
                np.testing.assert_allclose(np.log10(row["train_mse"]).mean(), by_lr[str(row["lr"])],
                                           rtol=1e-5)
    assert (out / "universal_approximation.png").read_bytes()[:4] == b"\x89PNG"
    table = (out / "table.md").read_text()
    assert table.count("\n| ") == 2 * len(script.TARGETS) + 2 + 1      # header + rows
    assert "-0.30" in table.splitlines()[0]                            # log10 of the target


def test_units_needed_and_verdicts_follow_the_spread_rule(run, strict_json, spread_rule):
    script, _, out = run
    saved = strict_json(out / "metrics.json")
    results, verdicts, widths = saved["results"], saved["verdicts"], saved["settings"]["widths"]
    goal = {"mean": np.log10(0.5), "sd": 0.0}

    def stat(name, init, w, key="log10_relative_mse"):
        return results[name][init]["widths"][str(w)]["over_seeds"][key]
    for name, by_init in results.items():
        for init, r in by_init.items():
            beyond = [w for w in widths if spread_rule(stat(name, init, w), goal) == "lower"]
            assert r["units_needed"] == (min(beyond) if beyond else None), (name, init)
            assert r["units_needed_status"] in {"reached", "within noise", "not reached"}
            assert (r["units_needed_status"] == "reached") == bool(beyond)
        for w in widths:
            assert verdicts["default_vs_spread"][name][str(w)] == spread_rule(
                stat(name, "default", w), stat(name, "spread", w))
    assert results["smooth"]["spread"]["units_needed"] is not None   # the quick run judges it
    for init in script.INITS:
        grow = verdicts["units_grow_with_difficulty"][init]
        ws = results["smooth"][init]["units_needed"]
        assert grow["smooth"] == ws and grow["verdict"] in VERDICTS
        if ws is not None:
            side = spread_rule(stat("high_frequency", init, ws), stat("smooth", init, ws))
            assert grow["high_frequency_vs_smooth_at_smooth_units"] == side
            assert (grow["verdict"] == "held") == (side == "higher" and (
                grow["high_frequency"] is None or grow["high_frequency"] > ws))
        jump = verdicts["jump_not_fixed_by_width"][init]
        for w in jump["widths"]:
            assert jump["sharp_vs_smooth"][str(w)] == spread_rule(stat("sharp", init, w),
                                                                  stat("smooth", init, w))
            assert jump["away_from_jump_vs_all"][str(w)] == spread_rule(
                stat("sharp", init, w, "log10_relative_mse_away_from_jump"), stat("sharp", init, w))
        assert jump["widest_vs_narrowest"] == spread_rule(stat("sharp", init, jump["widths"][-1]),
                                                          stat("sharp", init, jump["widths"][0]))
        sides = list(jump["sharp_vs_smooth"].values())
        assert (jump["verdict"] == "held") == (all(s == "higher" for s in sides)
                                               and jump["widest_vs_narrowest"] != "lower")
    assert verdicts["default_fails_high_frequency"]["verdict"] in VERDICTS
    assert f"default init fails on high_frequency: {verdicts['default_fails_high_frequency']['verdict']}" \
        in (out / "table.md").read_text()


def test_verdicts_on_made_up_cells(monkeypatch, load_script):
    """Made-up cells (mean, sd of log10 error) where the answer is known."""
    script = load_script("universal_approximation", monkeypatch)
    args = script.parse_args(["--widths", "4", "16", "64", "--target", "0.01"])
    cells = {"smooth": {"spread": [(-1.5, .1), (-2.5, .2), (-3.0, .1)], "default": [(-2.1, .2), (-2.05, .2), (-1.9, .2)]},
             "high_frequency": {"spread": [(0, .1), (-1.5, .1), (-3.0, .2)], "default": [(0, 0), (0, 0), (-0.1, 0)]},
             "sharp": {i: [(-1.0, .1), (-1.8, .1), (-1.7, .1)] for i in script.INITS}}
    results = {n: {i: {"widths": {w: {"over_seeds": {"log10_relative_mse": {"mean": m, "sd": s},
                                                     "log10_relative_mse_away_from_jump": {"mean": m - 1, "sd": s}}}
                                  for w, (m, s) in zip(args.widths, cells[n][i])}} for i in script.INITS}
               for n in cells}
    for by_init in results.values():
        for r in by_init.values():
            r.update(script.units_needed(r["widths"], args.widths, args.target))
    assert results["smooth"]["spread"]["units_needed"] == 16
    assert results["smooth"]["default"]["units_needed_status"] == "within noise"  # -2.1 ± 0.2 at 4
    assert results["smooth"]["default"]["units_needed"] is None
    assert results["high_frequency"]["spread"]["units_needed"] == 64
    assert results["high_frequency"]["default"]["units_needed_status"] == "not reached"
    v = script.verdicts(results, args)
    assert v["units_grow_with_difficulty"]["spread"]["verdict"] == "held"
    assert v["units_grow_with_difficulty"]["default"]["verdict"] == "not judged"
    jump = v["jump_not_fixed_by_width"]["spread"]          # widths 16 and 64
    assert jump["verdict"] == "held" and jump["away_from_jump_verdict"] == "held"
    assert jump["widest_vs_narrowest"] == "within noise"
    assert v["jump_not_fixed_by_width"]["default"]["verdict"] == "within noise"  # -1.8 vs -2.05
    assert v["default_fails_high_frequency"]["verdict"] == "held"
    assert v["default_fails_high_frequency"]["default_vs_spread"] == {"64": "higher"}
    results["high_frequency"]["default"]["widths"][64]["over_seeds"]["log10_relative_mse"]["sd"] = 3.0
    assert script.verdicts(results, args)["default_fails_high_frequency"]["verdict"] == "within noise"


def test_a_diverged_seed_is_reported_missing(monkeypatch, load_script):
    script = load_script("universal_approximation", monkeypatch)
    args = script.parse_args(["--quick"])               # 2 inits x 2 lrs x 2 seeds
    table = script.members(args)
    y_test = np.linspace(-1.0, 1.0, 50)
    predictions = np.zeros((len(table), 50)) + 0.1
    train_mse = np.full(len(table), 0.01)
    diverged = [i for i, (init, _, seed) in enumerate(table) if init == "spread" and seed == args.seed + 1]
    train_mse[diverged] = np.nan                        # every lr of the spread init's second seed
    rows = script.summarize(predictions, train_mse, y_test, args)
    spread, default = rows["spread"], rows["default"]
    assert spread["relative_mse"][1] is None and spread["over_seeds"]["log10_relative_mse"]["mean"] is None
    assert all(v is None for v in spread["mean_log10_train_mse_by_lr"].values())
    e = default["over_seeds"]["log10_relative_mse"]
    np.testing.assert_allclose(e["mean"], np.log10(np.mean((0.1 - y_test) ** 2) / y_test.var()), rtol=1e-6)
    assert e["sd"] == 0.0 and default["over_seeds"]["seeds"] == [args.seed, args.seed + 1]


def test_bad_seeds_and_target_are_refused(monkeypatch, load_script):
    script = load_script("universal_approximation", monkeypatch)
    with pytest.raises(ValueError, match="--seeds"):
        script.parse_args(["--seeds", "0"])
    with pytest.raises(ValueError, match="--target"):
        script.parse_args(["--target", "0"])


def test_spread_initialization_switches_inside_the_interval(monkeypatch, load_script):
    script = load_script("universal_approximation", monkeypatch)
    params = {"dense_0": {"w": np.zeros((1, 4000), np.float32), "b": np.zeros(4000, np.float32)}}
    got = script.spread_hidden_layer(params, jax.random.key(0), 10.0)["dense_0"]
    w, b = np.asarray(got["w"][0]), np.asarray(got["b"])
    switch = -b / w                                   # tanh(w x + b) crosses 0 at x = -b / w
    assert switch.min() >= -1.0 and switch.max() <= 1.0
    np.testing.assert_allclose([switch.mean(), switch.std()], [0.0, 1 / np.sqrt(3)], atol=0.03)
    np.testing.assert_allclose(w.std(), 10.0, rtol=0.05)
