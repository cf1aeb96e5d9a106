"""experiments/benchmarks/run.py in --quick mode: the rows are there and the numbers positive.

No timing assertions: the figures of a quick run on a shared machine mean nothing.
"""
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "experiments" / "benchmarks" / "run.py"


def run_benchmarks(out: pathlib.Path, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # not the suite's 8 fake devices
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(out), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=540)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((out / "benchmarks.json").read_text())
    assert results["quick"] is True
    assert results["versions"]["jax"] and results["versions"]["jdl"]
    assert results["device"] and "run.py" in results["command"]
    assert results["data"]["source"] == "random"
    assert (out / "benchmarks.md").read_text().startswith("# jdl benchmarks")
    return results


def positive(row: dict, *keys: str) -> None:
    assert row["status"] == "ok", row
    for key in keys:
        assert row[key] > 0, (key, row)


@pytest.mark.slow  # 60-130 s of subprocesses: in `make test-all`, kept out of the 10-minute suite
@pytest.mark.timeout(600)
def test_quick_small_and_population(tmp_path):
    results = run_benchmarks(tmp_path, "--only", "small,population", "--skip", "flax-nnx,pytorch")
    assert set(results["cases"]) == {"small", "population"}
    small = results["cases"]["small"]["rows"]
    assert set(small) == {"pure-jax", "pure-jax-donated", "jdl-step", "flax-nnx", "pytorch"}
    for name in ("pure-jax", "pure-jax-donated", "jdl-step"):
        positive(small[name], "steps_per_s", "median_steps_per_s", "compile_s", "peak_rss_mb",
                 "ratio_to_pure_jax")
    assert small["flax-nnx"]["status"] == small["pytorch"]["status"] == "skipped"
    population = results["cases"]["population"]["rows"]
    assert set(population) == ({f"in={d} N={n}" for d in (64, 784) for n in (1, 8, 32)}
                               | {f"in={d} N=32 devices={k}" for d in (64, 784) for k in (2, 4)})
    for name, row in population.items():
        positive(row, "population_member_steps_per_s", "sequential_member_steps_per_s", "ratio",
                 "compile_population_s", "compile_single_s", "peak_rss_mb")
        fields = dict(field.split("=") for field in name.split())
        assert (row["inputs"], row["members"], row["devices"]) == (
            int(fields["in"]), int(fields["N"]), int(fields.get("devices", 1)))
    md = (tmp_path / "benchmarks.md").read_text()
    assert "| jdl-step |" in md and "| 32 |" in md


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_quick_peer_rows(tmp_path):
    """The Flax NNX and PyTorch rows (PyTorch may be absent: then its row says so)."""
    results = run_benchmarks(tmp_path, "--only", "small", "--skip", "pure-jax,pure-jax-donated,jdl-step")
    rows = results["cases"]["small"]["rows"]
    positive(rows["flax-nnx"], "steps_per_s", "compile_s", "peak_rss_mb")
    if rows["pytorch"]["status"] == "not installed":
        assert results["versions"]["torch"] == "not installed"
    else:
        positive(rows["pytorch"], "steps_per_s", "peak_rss_mb")


@pytest.mark.slow  # a subprocess training a tiny CNN for 2 epochs: in `make test-all`
@pytest.mark.timeout(300)
@pytest.mark.parametrize("recipe", [["--tta", "--eval-from", "2"], ["--model", "resnet", "--optimizer", "sgd", "--lr", "0.1",
                                         "--weight-decay", "5e-4", "--bf16", "--steps-per-call", "2"]])
def test_quick_time_to_accuracy(tmp_path, recipe):
    """Both recipes; the resnet one is gpu_checks.sh's (bfloat16, SGD with weight decay); the
    fashion_cnn one with test-time flips, evaluated from epoch 2."""
    script = ROOT / "experiments" / "benchmarks" / "time_to_accuracy.py"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    proc = subprocess.run([sys.executable, str(script), "--quick", "--out", str(tmp_path),
                           "--targets", "0.0", "1.01", *recipe], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "time_to_accuracy.json").read_text())
    evaluated = [2] if "--eval-from" in recipe else [1, 2]  # --eval-from 2: epoch 1 not evaluated
    assert [c["epoch"] for c in result["curve"]] == evaluated   # 1.01 is never reached: all epochs run
    assert result["seconds_to_target"]["0"] == result["curve"][0]["seconds"] > 0   # the first evaluated epoch
    assert result["seconds_to_target"]["1.01"] is None
    assert result["data"].startswith("random") and result["finished"] is True
    assert result["settings"]["model"] == ("resnet" if "resnet" in recipe else "fashion_cnn")


def test_gpu_checks_script_parses():
    """experiments/benchmarks/gpu_checks.sh (run on a GPU through the device tool) is valid bash
    and names only flags the scripts accept."""
    script = ROOT / "experiments" / "benchmarks" / "gpu_checks.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text().replace("\\\n", " ")
    sys.path.insert(0, str(script.parent))
    try:
        import time_to_accuracy
    finally:
        sys.path.remove(str(script.parent))
    line = next(l for l in text.splitlines() if "time_to_accuracy.py" in l and "part " in l)
    args = line.split("time_to_accuracy.py", 1)[1].replace('"$OUT/tta"', "/tmp/unused").split()
    parsed = time_to_accuracy.parse_args(args)
    assert parsed.model == "resnet" and parsed.bf16 and len(parsed.widths) == 3


def test_repeated_rows_report_the_median_run(monkeypatch):
    """--repeats: a row reports its median run whole (not a mix of runs), all rates listed."""
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    import run
    runs = [{"status": "ok", "steps_per_s": v, "compile_s": c} for v, c in ((30.0, 1), (10.0, 2), (20.0, 3))]
    median = run.median_run(runs + [{"status": "error", "note": "killed"}])
    assert (median["steps_per_s"], median["compile_s"]) == (20.0, 3)
    assert median["repeats_steps_per_s"] == [30.0, 10.0, 20.0, None]
    assert run.median_run(runs[:2])["steps_per_s"] == 10.0       # even count: the lower middle
    assert run.median_run([{"status": "error"}]) == {"status": "error"}
    with pytest.raises(SystemExit):
        run.main(["--repeats", "0"])


def test_with_torch_refuses_recipes_its_twin_does_not_cover(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    import time_to_accuracy
    for recipe in (["--with-torch"], ["--with-torch", "--no-augment", "--model", "resnet"],
                   ["--with-torch", "--no-augment", "--tta"]):
        with pytest.raises(SystemExit):
            time_to_accuracy.parse_args(recipe)
        assert "--with-torch: the PyTorch twin covers fashion_cnn" in capsys.readouterr().err
    assert time_to_accuracy.parse_args(["--with-torch", "--no-augment"]).with_torch
    fast = time_to_accuracy.parse_args(["--preset", "fast-92", "--with-torch", "--epochs", "6"])
    assert (fast.widths, fast.batch_size, fast.smoothing, fast.augment) == ([16, 48, 96], 32, 0.1, False)
    assert (fast.eval_from, fast.steps_per_call, fast.targets) == (5, 4, [0.91, 0.92])
    assert fast.epochs == 6   # a flag given overrides the preset
    fast = time_to_accuracy.parse_args(["--preset", "fast-91"])
    assert (fast.widths, fast.dropout, fast.epochs, fast.eval_from, fast.batch_size) == (
        [16, 32, 64], 0.1, 3, 3, 32)
    assert time_to_accuracy.parse_args([]).widths == [32, 64]   # no preset: the old defaults


def test_seeds_rerun_the_command_without_seed_and_out(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    from time_to_accuracy import without_option
    argv = ["--preset", "fast-91", "--seeds", "0", "1", "2", "--with-torch", "--out", "x", "--seed=4"]
    argv = without_option(without_option(without_option(argv, "--seeds", -1), "--seed", 1), "--out", 1)
    assert argv == ["--preset", "fast-91", "--with-torch"]


@pytest.mark.timeout(300)
def test_quick_time_to_accuracy_over_seeds(tmp_path):
    """--seeds: one fresh process per seed (its own out folder), then the per-target summary."""
    script = ROOT / "experiments" / "benchmarks" / "time_to_accuracy.py"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    proc = subprocess.run([sys.executable, str(script), "--quick", "--no-augment", "--seeds", "0", "1",
                           "--targets", "0.0", "1.01", "--out", str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "time_to_accuracy_seeds.json").read_text())
    for seed in (0, 1):
        run = json.loads((tmp_path / f"seed_{seed}" / "time_to_accuracy.json").read_text())
        assert run["settings"]["seed"] == seed and run["finished"]
        assert summary["per_target"]["0"]["jdl"]["seconds"][str(seed)] == run["seconds_to_target"]["0"]
    assert summary["per_target"]["0"]["jdl"]["reached_on_every_seed"]
    assert not summary["per_target"]["1.01"]["jdl"]["reached_on_every_seed"]
    assert summary["per_target"]["1.01"]["jdl"]["worst_seconds"] is None


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_time_to_accuracy_with_its_pytorch_twin(tmp_path):
    """jdl's recipe, then PyTorch's twin in its own process (or a row saying it is absent)."""
    script = ROOT / "experiments" / "benchmarks" / "time_to_accuracy.py"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    proc = subprocess.run([sys.executable, str(script), "--quick", "--no-augment", "--with-torch",
                           "--out", str(tmp_path), "--targets", "0.0"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    twin = json.loads((tmp_path / "time_to_accuracy.json").read_text())["pytorch"]
    if twin.get("status") == "not installed":
        return
    assert twin["finished"] and twin["seconds_to_target"]["0"] == twin["curve"][0]["seconds"] > 0
    assert twin["settings"]["widths"] == [4, 8] and twin["versions"]["torch"]
