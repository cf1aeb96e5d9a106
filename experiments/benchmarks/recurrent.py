"""Recurrent benchmark: an LSTM training step in jdl, Flax Linen, pure JAX and PyTorch on the
CPU, side by side in one run (rows in `recurrent_rows.py`).

    python experiments/benchmarks/recurrent.py                  # T = 28 and 100, hidden 128
    python experiments/benchmarks/recurrent.py --quick          # tiny, seconds
    python experiments/benchmarks/recurrent.py --unrolls 1,4,8  # jdl's unroll= choice

Each row runs in its own subprocess, one after another, so its peak RSS is its own. Figures:
- compile s: the first step, synced (trace, compile and one step);
- steps/s: after `--warmup` steps, the median over windows of 10 steps (synced per window);
- peak RSS: `ru_maxrss` of the row's process.
PyTorch runs in `--torch-python` (default: `.venv-torch/bin/python` when it exists, else this
interpreter), since its CPU wheel may exist only for another Python than JAX's newest.
Writes `<out>/recurrent.json` and `<out>/recurrent.md`.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_TORCH = HERE.parents[1] / ".venv-torch" / "bin" / "python"


def measure(row: str, T: int, H: int, unroll: int, warmup: int, windows: int) -> dict:
    """Time one row in this process (see the module docstring)."""
    sys.path.insert(0, str(HERE))
    from recurrent_rows import batches, make_stepper

    data = batches(T)
    step, sync = make_stepper(row, T, H, unroll)
    t0 = time.perf_counter()
    sync(step(data[0]))
    compile_s = time.perf_counter() - t0
    for i in range(warmup):
        out = step(data[i % len(data)])
    sync(out)
    rates = []
    for w in range(windows):
        t0 = time.perf_counter()
        for i in range(10):
            out = step(data[(w * 10 + i) % len(data)])
        sync(out)
        rates.append(10 / (time.perf_counter() - t0))
    return {"compile_s": compile_s, "steps_per_s": statistics.median(rates),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}


def run_row(python: str, row: str, T: int, args, unroll: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "row.json"
        cmd = [python, __file__, "--child", row, str(T), str(unroll), str(out),
               "--hidden", str(args.hidden), "--warmup", str(args.warmup),
               "--windows", str(args.windows)]
        env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
            return {"status": "error", "note": tail[0] if tail else f"exit {proc.returncode}"}
        return {"status": "ok", **json.loads(out.read_text())}


def rows_of(args) -> list[tuple[str, int]]:
    """(row, unroll) pairs: jdl once per unroll, the others with unroll 1."""
    unrolls = [int(u) for u in args.unrolls.split(",")]
    return ([("jdl", u) for u in unrolls] + [("jdl-ahead", 1), ("flax-linen", 1), ("pure-jax", 1)]
            + ([("pytorch", 1)] if args.torch_python else []))


def table(results: dict) -> str:
    lines = []
    for T, rows in results.items():
        base = rows.get("jdl unroll=1", {}).get("steps_per_s")
        lines += [f"\nT = {T}\n", "| row | steps/s | vs jdl (unroll 1) | compile s | peak RSS MB |",
                  "|---|---|---|---|---|"]
        for name, r in rows.items():
            if r["status"] != "ok":
                lines.append(f"| {name} | {r['status']}: {r['note']} | | | |")
                continue
            ratio = f"{r['steps_per_s'] / base:.2f}x" if base else "-"
            lines.append(f"| {name} | {r['steps_per_s']:.1f} | {ratio} | {r['compile_s']:.2f} | "
                         f"{r['peak_rss_mb']:.0f} |")
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="recurrent.py", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--lengths", default="28,100")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--unrolls", default="1,8")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--windows", type=int, default=15)
    p.add_argument("--torch-python", default=str(DEFAULT_TORCH) if DEFAULT_TORCH.exists()
                   else sys.executable)
    p.add_argument("--out", type=Path, default=Path("results") / "benchmarks")
    p.add_argument("--child", nargs=4, metavar=("ROW", "T", "UNROLL", "OUT"))
    args = p.parse_args(argv)
    if args.quick:
        args.lengths, args.hidden, args.unrolls, args.warmup, args.windows = "6", 8, "1,2", 2, 2
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.child:
        row, T, unroll, out = args.child
        result = measure(row, int(T), args.hidden, int(unroll), args.warmup, args.windows)
        Path(out).write_text(json.dumps(result))
        return result
    results = {}
    for T in [int(t) for t in args.lengths.split(",")]:
        results[T] = {}
        for row, unroll in rows_of(args):
            python = args.torch_python if row == "pytorch" else sys.executable
            name = f"jdl unroll={unroll}" if row == "jdl" else row
            results[T][name] = run_row(python, row, T, args, unroll)
            print(f"T={T} {name}: {results[T][name]}", flush=True)
    text = table(results)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "recurrent.json").write_text(json.dumps(
        {"settings": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=2))
    (args.out / "recurrent.md").write_text(text)
    return results


if __name__ == "__main__":
    main()
