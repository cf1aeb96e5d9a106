"""Where an LSTM training step spends its time: forward, backward and optimizer, for jdl and
Flax Linen (same network as `recurrent.py`), and PyTorch's operator profile.

    python experiments/benchmarks/recurrent_breakdown.py              # T = 28 and 100, hidden 128
    python experiments/benchmarks/recurrent_breakdown.py --quick      # tiny, seconds

JAX rows: three jitted programs per model, each timed alone (median of `--windows` windows of
10 calls after `--warmup` calls): `forward` (the loss), `forward+backward` (`value_and_grad` of
the loss) and `step` (that plus Adam's update); the backward pass is the difference of the
first two and the optimizer the difference of the last two. The jdl rows are `project_ahead`
False (the CPU default) and True. PyTorch (run in `--torch-python`, default
`.venv-torch/bin/python` when it exists): the same three phases timed the same way, plus the
self-time of its most expensive operators over 20 steps from `torch.profiler`.
Writes `<out>/recurrent_breakdown.json` and `.md`.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_TORCH = HERE.parents[1] / ".venv-torch" / "bin" / "python"
PHASES = ("forward", "forward+backward", "step")


def median_ms(call, warmup: int, windows: int) -> float:
    """Median milliseconds per call of `call()` (which waits for its result)."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(windows):
        t0 = time.perf_counter()
        for _ in range(10):
            call()
        times.append((time.perf_counter() - t0) * 100.0)
    return statistics.median(times)


def jax_phases(forward, params, T: int, warmup: int, windows: int) -> dict:
    """ms per call of the loss, its gradient, and a whole Adam step of `forward(params, x)`."""
    import jax
    import optax
    from recurrent_rows import batches

    x, y = batches(T)[0]
    optimizer = optax.adam(1e-3)
    opt_state = optimizer.init(params)

    def loss(p):
        return optax.softmax_cross_entropy_with_integer_labels(forward(p, x), y).mean()

    def step(p, s):
        grads = jax.grad(loss)(p)
        updates, s = optimizer.update(grads, s, p)
        return optax.apply_updates(p, updates), s

    programs = {"forward": jax.jit(loss), "forward+backward": jax.jit(jax.value_and_grad(loss)),
                "step": jax.jit(step)}
    args = {"forward": (params,), "forward+backward": (params,), "step": (params, opt_state)}
    return {name: median_ms(lambda f=f, a=args[name]: jax.block_until_ready(f(*a)), warmup, windows)
            for name, f in programs.items()}


def jdl_forward(T: int, H: int, project_ahead: bool):
    import jax
    from jdl import nn
    from recurrent_rows import CLASSES, FEATURES

    model = nn.serial(nn.RNN(nn.LSTMCell(H), project_ahead=project_ahead), nn.Dense(CLASSES))
    _, params, state = model.init(jax.random.key(0), (1, T, FEATURES))
    return (lambda p, x: model.apply(p, state, x)[0]), params


def flax_forward(T: int, H: int):
    import jax
    import numpy as np
    from flax import linen
    from recurrent_rows import CLASSES, FEATURES

    class Model(linen.Module):
        @linen.compact
        def __call__(self, x):
            return linen.Dense(CLASSES)(linen.RNN(linen.OptimizedLSTMCell(H))(x)[:, -1])

    model = Model()
    params = model.init(jax.random.key(0), np.zeros((1, T, FEATURES), np.float32))
    return model.apply, params


def torch_phases(T: int, H: int, warmup: int, windows: int) -> dict:
    """The PyTorch row: ms per phase, and the top operators' self CPU time per step."""
    import torch
    from recurrent_rows import CLASSES, FEATURES, batches

    torch.set_num_threads(2)
    torch.manual_seed(0)
    lstm, head = torch.nn.LSTM(FEATURES, H, batch_first=True), torch.nn.Linear(H, CLASSES)
    optimizer = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=1e-3)
    x, y = (torch.from_numpy(a) for a in batches(T)[0])
    y = y.long()

    def loss():
        return torch.nn.functional.cross_entropy(head(lstm(x)[0][:, -1]), y)

    def forward():
        with torch.no_grad():
            return loss().item()

    def backward():
        optimizer.zero_grad(set_to_none=True)
        loss().backward()

    def step():
        backward()
        optimizer.step()

    out = {name: median_ms(f, warmup, windows)
           for name, f in zip(PHASES, (forward, backward, step))}
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(20):
            step()
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:8]
    out["top_ops_ms_per_step"] = {e.key: round(e.self_cpu_time_total / 1000 / 20, 3) for e in ops}
    return out


def child(row: str, T: int, args) -> dict:
    sys.path.insert(0, str(HERE))
    if row == "pytorch":
        return torch_phases(T, args.hidden, args.warmup, args.windows)
    forward, params = (flax_forward(T, args.hidden) if row == "flax-linen"
                       else jdl_forward(T, args.hidden, row == "jdl-ahead"))
    return jax_phases(forward, params, T, args.warmup, args.windows)


def run_row(python: str, row: str, T: int, args) -> dict:
    cmd = [python, __file__, "--child", row, str(T), "--hidden", str(args.hidden),
           "--warmup", str(args.warmup), "--windows", str(args.windows)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(results: dict) -> str:
    lines = []
    for T, rows in results.items():
        lines += [f"\nT = {T} (ms per call; backward = forward+backward - forward, optimizer = "
                  "step - forward+backward)\n",
                  "| row | forward | backward | optimizer | step |", "|---|---|---|---|---|"]
        for name, r in rows.items():
            if "error" in r:
                lines.append(f"| {name} | {r['error']} | | | |")
                continue
            f, fb, s = (r[p] for p in PHASES)
            lines.append(f"| {name} | {f:.2f} | {fb - f:.2f} | {s - fb:.2f} | {s:.2f} |")
        ops = rows.get("pytorch", {}).get("top_ops_ms_per_step")
        if ops:
            lines += ["", "PyTorch's top operators, self CPU ms per step: " + ", ".join(
                f"`{k}` {v:.2f}" for k, v in ops.items())]
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--lengths", default="28,100")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--windows", type=int, default=10)
    p.add_argument("--torch-python", default=str(DEFAULT_TORCH) if DEFAULT_TORCH.exists()
                   else sys.executable, help="interpreter with torch ('' skips the row)")
    p.add_argument("--out", type=Path, default=Path("results") / "benchmarks")
    p.add_argument("--child", nargs=2, metavar=("ROW", "T"))
    args = p.parse_args(argv)
    if args.quick:
        args.lengths, args.hidden, args.warmup, args.windows = "6", 8, 1, 1
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), args)))
        return {}
    results = {}
    for T in (int(t) for t in args.lengths.split(",")):
        results[T] = {row: run_row(sys.executable, row, T, args)
                      for row in ("jdl", "jdl-ahead", "flax-linen")}
        if args.torch_python:
            results[T]["pytorch"] = run_row(args.torch_python, "pytorch", T, args)
    from jdl.io import atomic_write, write_json

    write_json(args.out / "recurrent_breakdown.json", results)
    text = table(results)
    with atomic_write(args.out / "recurrent_breakdown.md") as f:
        f.write(text.encode())
    print(text)
    return results


if __name__ == "__main__":
    main()
