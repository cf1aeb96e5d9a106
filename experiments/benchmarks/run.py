"""Side-by-side benchmarks: jdl vs hand-written JAX + Optax, Flax NNX and PyTorch, in one run.

    python experiments/benchmarks/run.py                     # full run: ~5 min on 2 idle CPU cores
    python experiments/benchmarks/run.py --quick             # tiny step counts, random data (smoke test)
    python experiments/benchmarks/run.py --only mlp,small    # some cases only
    python experiments/benchmarks/run.py --skip pytorch      # leave rows out (cnn:ROW: one case's)
    python experiments/benchmarks/run.py --repeats 3         # every row 3 times, interleaved; medians
    python experiments/benchmarks/run.py --out results/benchmarks

Cases: `mlp` and `cnn` on Fashion-MNIST (random data of the same shapes if the files are absent,
and always in --quick), `small` (per-step overhead) and `population` (vmapped members vs one
after another). Every row runs in its own subprocess, one at a time, so its peak RSS is its own.
Full-mode step counts: MLP 3 epochs of 468 steps; CNN 5 passes of 32 steps over the first
4,096 training images (160 steps: the CNN's accuracy is after a short run), and 3 x 12 = 36 steps
for the CNN's rolled-scan row (~10x slower on XLA:CPU); small 3 x 1000 steps; population 200
steps per member. Timing definitions: bench_common.py and docs/benchmarks.md.
Writes <out>/benchmarks.json and <out>/benchmarks.md (atomically) and prints the tables.
PyTorch is optional (`pip install torch==2.13.0`); without it its rows say "not installed".
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import bench_common as bc  # noqa: E402
import report  # noqa: E402

CASES = ("mlp", "cnn", "small", "population")
MODULES = {"mlp": "rows_mlp_cnn", "cnn": "rows_mlp_cnn", "small": "small", "population": "population"}
PACKAGES = ("jax", "jaxlib", "optax", "flax", "numpy", "torch", "jdl")


def rows_for(case: str, quick: bool) -> tuple[str, ...]:
    if case == "population":
        cfg = bc.settings(case, quick)
        rows = [f"in={d} N={n}" for d in cfg["inputs"] for n in cfg["members"]]
        rows += [f"in={d} N={max(cfg['members'])} devices={k}" for d in cfg["inputs"] for k in cfg["devices"]]
        return tuple(rows)
    return importlib.import_module(MODULES[case]).ROWS


def child_main(case: str, row: str, quick: bool, data_dir: str, out: str) -> None:
    """Run one row in this process and write its result (with this process's peak RSS)."""
    t0 = time.perf_counter()
    module = importlib.import_module(MODULES[case])
    result = module.run_row(case, row, quick, data_dir)
    result.setdefault("status", "ok")   # a row may say "skipped" (with a note) instead
    result.update(case=case, row=row, peak_rss_mb=bc.peak_rss_mb(),
                  wall_s=time.perf_counter() - t0,
                  device="cpu (torch eager)" if row == "pytorch" else bc.jax_device())
    Path(out).write_text(json.dumps(result))


def run_child(case: str, row: str, args, data_dir: str, tmp: str) -> dict:
    out = os.path.join(tmp, f"{case}-{row}.json")
    python = args.torch_python if row == "pytorch" else sys.executable
    cmd = [str(python), str(Path(__file__).resolve()), "--child", case, row,
           "--data-dir", data_dir, "--child-out", out] + (["--quick"] if args.quick else [])
    env = dict(os.environ)
    if "devices=" in row:   # simulated CPU devices must be set before JAX starts in the child
        count = row.split("devices=")[1].split()[0]
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={count}").strip()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "note": f"killed after {args.timeout} s"}
    if proc.returncode != 0 or not os.path.exists(out):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        print("\n".join("    " + line for line in tail), file=sys.stderr)
        return {"status": "error", "note": tail[-1] if tail else f"exit code {proc.returncode}",
                "process_s": time.perf_counter() - t0}
    result = json.loads(Path(out).read_text())
    result["process_s"] = time.perf_counter() - t0  # imports included
    return result


def versions() -> dict:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def choose_data(args) -> tuple[str, str]:
    if args.quick:
        return "random", "random images and labels (--quick)"
    from jdl import data

    if args.random_data:
        return "random", "random images and labels of Fashion-MNIST's shapes (--random-data)"
    if data.available("fashion_mnist"):
        return "fashion_mnist", f"Fashion-MNIST from {data.find('fashion_mnist')}"
    note = ("Fashion-MNIST not found (apt-get install dataset-fashion-mnist, or $JDL_DATA_DIR/"
            "fashion-mnist): random data of the same shapes instead; accuracies mean nothing")
    print(note)
    return "random", note


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny step counts, random data")
    parser.add_argument("--only", default=",".join(CASES), help=f"comma-separated subset of {','.join(CASES)}")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks"))
    parser.add_argument("--random-data", action="store_true", help="random data even if Fashion-MNIST is there")
    parser.add_argument("--skip", default="", help="comma-separated rows to leave out (e.g. flax-nnx,pytorch)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs of every row, interleaved (row after row, then again); "
                             "each row reports its median run")
    parser.add_argument("--torch-python", type=Path, default=None,
                        help="Python with torch for the PyTorch rows (default: this one, else .venv-torch)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per row")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "ROW"), help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(*args.child, args.quick, args.data_dir, args.child_out)
        return {}
    if args.repeats < 1:
        parser.error(f"--repeats: expected a positive number of runs per row, got {args.repeats}")
    cases = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"--only: unknown case(s) {unknown}; expected some of {list(CASES)}")

    t_start = time.perf_counter()
    source, note = choose_data(args)
    results = {"command": shlex.join(["python", "experiments/benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])]),
               "started": datetime.datetime.now().isoformat(timespec="seconds"), "quick": args.quick,
               "versions": versions(), "machine": bc.machine(), "device": None,
               "xla_flags": os.environ.get("XLA_FLAGS", ""), "data": {"source": source, "note": note},
               "cases": {}, "total_s": 0.0}
    args.torch_python = bc.torch_python(args.torch_python)
    has_torch = args.torch_python is not None
    if has_torch:
        probe = "import platform, torch; print(platform.python_version(), torch.__version__)"
        py, version = subprocess.run([str(args.torch_python), "-c", probe], capture_output=True,
                                     text=True).stdout.split()
        results["versions"].update(torch=version, torch_python=py)
    skip = {r.strip() for r in args.skip.split(",") if r.strip()}
    with tempfile.TemporaryDirectory(prefix="jdl-bench-") as tmp:
        if {"mlp", "cnn"} & set(cases):
            bc.prepare_data(source, tmp, **({"n_train": 1280, "n_test": 500} if args.quick else {}))
        for case in cases:
            rows, runs = {}, {}
            for repeat in range(args.repeats):
                for row in rows_for(case, args.quick):
                    if row in skip or f"{case}:{row}" in skip:
                        rows[row] = {"status": "skipped", "note": "--skip"}
                        continue
                    if row == "pytorch" and not has_torch:
                        rows[row] = {"status": "not installed", "note": "pip install torch==2.13.0 to add this row"}
                        continue
                    print(f"[{case}] {row} ({repeat + 1}/{args.repeats}) ...", end=" ", flush=True)
                    runs.setdefault(row, []).append(run_child(case, row, args, tmp, tmp))
                    r = runs[row][-1]
                    rate = rate_of(r)
                    print(f"{r['status']}" + (f", {rate:,.1f} steps/s, {r['process_s']:.1f} s" if rate else ""))
                    rows[row] = median_run(runs[row])
                    results["device"] = results["device"] or (r.get("device") if row != "pytorch" else None)
                    # the rows so far, so a run stopped from outside keeps what it measured
                    results["cases"][case] = {"settings": bc.settings(case, args.quick), "rows": rows,
                                              "partial": True}
                    results["total_s"] = time.perf_counter() - t_start
                    write(results, args.out)
            report.add_ratios(case, rows)
            results["cases"][case] = {"settings": bc.settings(case, args.quick), "rows": rows}
            results["total_s"] = time.perf_counter() - t_start
            write(results, args.out)
            print("\n" + report.table(case, results["cases"][case]))
    results["total_s"] = time.perf_counter() - t_start
    write(results, args.out)
    print(f"wrote {args.out / 'benchmarks.json'} and {args.out / 'benchmarks.md'} "
          f"({results['total_s']:.0f} s in all)")
    return results


def rate_of(result: dict) -> float | None:
    return (result.get("steps_per_s") or result.get("epoch_steps_per_s")
            or result.get("population_member_steps_per_s"))


def median_run(runs: list[dict]) -> dict:
    """The run with the median rate among a row's finished runs (the lower middle one for an
    even count), with every run's rate listed in `repeats_steps_per_s`."""
    timed = sorted((r for r in runs if r.get("status") == "ok" and rate_of(r)), key=rate_of)
    if not timed:
        return runs[-1]
    return {**timed[(len(timed) - 1) // 2], "repeats_steps_per_s": [rate_of(r) for r in runs]}


def write(results: dict, out: Path) -> None:
    from jdl.io import atomic_write, write_json

    write_json(out / "benchmarks.json", results)
    with atomic_write(out / "benchmarks.md") as f:
        f.write(report.markdown(results).encode())


if __name__ == "__main__":
    main()
