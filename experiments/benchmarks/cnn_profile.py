"""Where one CNN training step spends its time, per operation: jdl (XLA:CPU) against PyTorch.

    python experiments/benchmarks/cnn_profile.py            # about 2 minutes on 2 cores
    python experiments/benchmarks/cnn_profile.py --quick    # seconds (the test): batch 8

The step: `models.fashion_cnn(dropout=0.5)` (conv3x3(32)-BN-ReLU-pool, conv3x3(64)-BN-ReLU-pool,
Dense 128, ReLU, dropout, Dense 10), softmax cross-entropy, Adam 1e-3, batch 128, 28x28x1.
- jdl: the jitted `make_train_step`, one step per call, traced with `jax.profiler.trace`
  (perfetto JSON). Each timed event is one XLA:CPU thunk (a fusion, a YNNPACK convolution or
  matrix product, a copy) of the compiled step; `compiled.as_text()` names what each thunk
  computes: `op_name` in its metadata says forward (`jvp`) or backward (`transpose`) and the
  primitive, and its stack frame names the jdl or Optax function that emitted it (Conv, BatchNorm,
  pool, Dense, Dropout, the loss, Adam). A fusion that spans two layers (batch norm's scale,
  ReLU and the pool's reshape fuse into one loop) counts for the layer of its root operation.
- PyTorch: the same network eager on 2 threads (`torch_rows.cnn`), `torch.profiler` self CPU
  time per aten operator, mapped onto the same categories. PyTorch computes a convolution's input
  and filter gradients in one operator (`convolution_backward`), so its rows join them.
Per step: milliseconds per category (the sum over the timed steps / steps), and the wall time
per step measured without the profiler. Writes `<out>/cnn_profile.json` and `cnn_profile.md`.
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_TORCH = HERE.parents[1] / ".venv-torch" / "bin" / "python"
INSTRUCTION = re.compile(r"^\s*(?:ROOT )?%?(?P<name>[\w.-]+) = (?P<shape>[^ ]+) [^(]*\("
                         r"(?:.*?calls=%(?P<calls>[\w.-]+))?(?:.*?op_name=\"(?P<op>[^\"]*)\")?"
                         r"(?: stack_frame_id=(?P<frame>\d+))?")
CONVOLUTION = re.compile(r"= (?P<shape>f32\[[\d,]+\])\S* convolution\(.*?window=\{size=(?P<window>\w+)")
OPTIMIZER_FUNCTIONS = ("scale_by_adam", "tree_update_moment", "tree_bias_correction", "apply_updates",
                       "safe_increment", "chain.", "scale.", "with_extra_args")


def innermost_functions(hlo: str) -> dict[int, tuple[str, str]]:
    """stack_frame_id -> (function name, file name) of the frame's innermost source location."""
    def section(name):
        part = hlo.split(f"\n{name}\n", 1)
        return part[1].split("\n\n", 1)[0].splitlines() if len(part) == 2 else []
    files = {int(l.split()[0]): l.split(None, 1)[1].strip('"') for l in section("FileNames")}
    funcs = {int(l.split()[0]): l.split(None, 1)[1].strip('"') for l in section("FunctionNames")}
    locations = {int(l.split()[0]): dict(re.findall(r"(\w+)=(\d+)", l)) for l in section("FileLocations")}
    out = {}
    for line in section("StackFrames"):
        loc = locations[int(dict(re.findall(r"(\w+)=(\d+)", line))["file_location_id"])]
        out[int(line.split()[0])] = (funcs[int(loc["function_name_id"])],
                                     files[int(loc["file_name_id"])].rsplit("/", 1)[-1])
    return out


def fused_convolutions(hlo: str) -> dict[str, tuple[str, str]]:
    """computation name -> (output shape, window) of the convolution inside it, for the fused
    computations that hold one (a convolution fused under another root, e.g. an input
    gradient fused with the pool's backward, has no metadata of its own)."""
    out, name = {}, None
    for line in hlo.splitlines():
        header = re.match(r"^%?(?P<name>[\w.-]+) \(", line)
        if header:
            name = header["name"]
        conv = CONVOLUTION.search(line)
        if conv and name:
            out[name] = (conv["shape"], conv["window"])
    return out


def classify_convolution(shape: str, window: str) -> str:
    """Forward (window 3x3, output channels 32/64), filter gradient (output (.., 3, 3, ..):
    the window is the image) or conv2's input gradient (window 3x3, 32 output channels, in the
    backward pass)."""
    dims = [int(d) for d in re.findall(r"\d+", shape.split("[", 1)[-1])]
    layer = 1 if dims[-1] == 32 else 2
    if window != "3x3":
        return f"conv{layer} filter gradient"
    return "conv2 input gradient" if dims[1:3] == [14, 14] and dims[-1] == 32 else f"conv{layer} forward"


def classify(op_name: str, shape: str, function: str, filename: str) -> str:
    """The category of one compiled instruction of the step (see the module docstring)."""
    direction = "backward" if "transpose(" in op_name else "forward"
    primitive = op_name.rsplit("/", 1)[-1]
    if function.startswith(OPTIMIZER_FUNCTIONS) or (filename in ("base.py", "transform.py", "update.py",
                                                                 "_tree_math.py", "_combining.py",
                                                                 "numerics.py")):
        return "optimizer (Adam update)"
    if function.startswith(("_filter_tangent", "taps")):   # Conv's filter gradient as products
        dims = [int(d) for d in re.findall(r"\d+", shape.split("[", 1)[-1].split("]")[0])]
        conv2 = dims[-1] == 64 or (len(dims) == 4 and dims[1] in (14, 16))
        return f"conv{2 if conv2 else 1} filter gradient"
    for key, name in (("Conv.", "conv bias"), ("BatchNorm", "batch norm"), ("_moments", "batch norm"),
                      ("_pool", "max-pool"), ("Dense.", "dense"), ("Dropout", "dropout"),
                      ("dropout_key", "dropout"), ("elementwise", "ReLU"), ("per_channel", "batch norm")):
        if function.startswith(key) or key in function:
            return f"{name} {direction}"
    if "softmax_cross_entropy" in function or "log_likelihood" in function or filename in (
            "_classification.py", "_multiclass.py"):
        return f"loss {direction}"
    return "other (copies, layout, RNG keys)"


def jdl_profile(batch: int, steps: int) -> dict:
    """Per-category milliseconds per step of jdl's CNN step, from jax.profiler and the HLO."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from jdl import losses, models, train
    model, optimizer = models.fashion_cnn(dropout=0.5), optax.adam(1e-3)
    ts = train.init_train_state(model, optimizer, jax.random.key(0), (1, 28, 28, 1))
    step = train.make_train_step(model, optimizer, losses.softmax_cross_entropy)
    rng = np.random.default_rng(0)
    xy = (jnp.asarray(rng.random((batch, 28, 28, 1), np.float32)),
          jnp.asarray(rng.integers(0, 10, batch).astype(np.int32)))
    hlo = step.lower(ts, xy).compile().as_text()
    frames, convolutions = innermost_functions(hlo), fused_convolutions(hlo)
    category, what = {}, {}
    for line in hlo.split("ENTRY", 1)[1].splitlines():
        m = INSTRUCTION.match(line)
        if m:
            function, filename = frames.get(int(m["frame"] or -1), ("", ""))
            op = m["op"] or ""
            category[m["name"]] = (classify_convolution(*convolutions[m["calls"]])
                                   if m["calls"] in convolutions else
                                   classify(op, m["shape"], function, filename))
            what[m["name"]] = f"{m['shape'].split('{')[0]} {op.split('/', 1)[-1]} ({function})"
    for _ in range(5):
        ts, logs = step(ts, xy)
    jax.block_until_ready(ts)
    t0 = time.perf_counter()
    for _ in range(steps):
        ts, logs = step(ts, xy)
        jax.block_until_ready(logs)
    wall_ms = 1000 * (time.perf_counter() - t0) / steps
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
            for _ in range(steps):
                ts, logs = step(ts, xy)
                jax.block_until_ready(logs)
        trace = next(Path(trace_dir).rglob("perfetto_trace.json.gz"))
        events = json.load(gzip.open(trace))
    events = events["traceEvents"] if isinstance(events, dict) else events
    ms, per_thunk = defaultdict(float), defaultdict(float)
    for e in events:
        if e.get("ph") == "X" and e.get("name") in category:
            ms[category[e["name"]]] += e["dur"] / 1000 / steps
            per_thunk[e["name"]] += e["dur"] / 1000 / steps
    top = sorted(per_thunk, key=per_thunk.get, reverse=True)[:25]
    return {"wall_ms_per_step": wall_ms, "ms_per_step": dict(ms),
            "thunks_ms_per_step": sum(ms.values()), "instructions_classified": len(category),
            "top_thunks": [[n, category[n], round(per_thunk[n], 3), what[n]] for n in top]}


TORCH_CATEGORIES = (  # (aten operator prefix, category); first match wins
    ("aten::convolution_backward", "conv backward (input + filter)"),
    ("aten::mkldnn_convolution", "conv forward"), ("aten::_convolution", "conv forward"),
    ("aten::convolution", "conv forward"), ("aten::conv2d", "conv forward"),
    ("aten::native_batch_norm_backward", "batch norm backward"),
    ("aten::native_batch_norm", "batch norm forward"), ("aten::batch_norm", "batch norm forward"),
    ("aten::_batch_norm", "batch norm forward"),
    ("aten::threshold_backward", "ReLU backward"), ("aten::relu", "ReLU forward"),
    ("aten::clamp_min", "ReLU forward"),
    ("aten::max_pool2d_with_indices_backward", "max-pool backward"),
    ("aten::max_pool2d", "max-pool forward"),
    ("aten::addmm", "dense forward"), ("aten::mm", "dense backward"), ("aten::linear", "dense forward"),
    ("aten::bernoulli", "dropout forward"), ("aten::dropout", "dropout forward"),
    ("aten::_log_softmax", "loss forward"), ("aten::nll_loss", "loss"),
    ("Optimizer.step", "optimizer (Adam update)"), ("Optimizer.zero_grad", "optimizer (Adam update)"),
)


def torch_category(event) -> str:
    """The category of the nearest of `event` and its callers that TORCH_CATEGORIES names (an
    `aten::sqrt` inside `Optimizer.step` is the optimizer's, an `aten::fill_` inside the pool's
    backward is the pool's)."""
    while event is not None:
        for prefix, category in TORCH_CATEGORIES:
            if event.name.startswith(prefix):
                return category
        event = event.cpu_parent
    return "other (autograd engine, copies, allocation)"


def torch_profile(batch: int, steps: int) -> dict:
    """Per-category milliseconds per step of the same CNN step in PyTorch eager."""
    import numpy as np
    import torch
    from torch.profiler import ProfilerActivity, profile

    sys.path.insert(0, str(HERE))
    import torch_rows
    trainer = torch_rows.Trainer("cnn")
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((batch, 1, 28, 28), np.float32))
    y = torch.from_numpy(rng.integers(0, 10, batch).astype(np.int64))
    for _ in range(5):
        trainer.sync(trainer(x, y))
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.sync(trainer(x, y))
    wall_ms = 1000 * (time.perf_counter() - t0) / steps
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            trainer.sync(trainer(x, y))
    ms = defaultdict(float)
    for event in prof.events():
        ms[torch_category(event)] += event.self_cpu_time_total / 1000 / steps
    return {"wall_ms_per_step": wall_ms, "ms_per_step": dict(ms),
            "ops_ms_per_step": sum(ms.values()), "torch": torch.__version__}


SIDE_BY_SIDE = (  # (row, jdl categories summed into it, PyTorch categories)
    ("conv forward", ("conv1 forward", "conv2 forward", "conv bias forward"), ("conv forward",)),
    ("conv backward (input + filter gradients)", ("conv1 filter gradient", "conv2 filter gradient",
                                                  "conv2 input gradient", "conv bias backward"),
     ("conv backward (input + filter)",)),
    ("batch norm forward", ("batch norm forward",), ("batch norm forward",)),
    ("batch norm backward", ("batch norm backward",), ("batch norm backward",)),
    ("ReLU forward / backward", ("ReLU forward", "ReLU backward"), ("ReLU forward", "ReLU backward")),
    ("max-pool forward / backward", ("max-pool forward", "max-pool backward"),
     ("max-pool forward", "max-pool backward")),
    ("dense forward / backward", ("dense forward", "dense backward"),
     ("dense forward", "dense backward")),
    ("dropout, loss", ("dropout forward", "dropout backward", "loss forward", "loss backward"),
     ("dropout forward", "loss forward", "loss")),
    ("optimizer (Adam update)", ("optimizer (Adam update)",), ("optimizer (Adam update)",)),
    ("other (layout copies; PyTorch: autograd engine, allocation)",
     ("other (copies, layout, RNG keys)",), ("other (autograd engine, copies, allocation)",)),
)


def table(result: dict) -> str:
    """Markdown: ms per step per row for jdl and PyTorch, then jdl's own finer categories."""
    jdl, torch = result["jdl"].get("ms_per_step", {}), result["pytorch"].get("ms_per_step", {})
    lines = ["| operation | jdl ms/step | PyTorch ms/step |", "|---|---|---|"]
    for row, mine, theirs in SIDE_BY_SIDE:
        lines.append(f"| {row} | {sum(jdl.get(c, 0.0) for c in mine):.2f} | "
                     f"{sum(torch.get(c, 0.0) for c in theirs):.2f} |")
    lines.append(f"| sum of the operations | {result['jdl'].get('thunks_ms_per_step', 0):.2f} | "
                 f"{result['pytorch'].get('ops_ms_per_step', 0):.2f} |")
    lines.append(f"| wall time per step (no profiler) | {result['jdl'].get('wall_ms_per_step', 0):.2f} | "
                 f"{result['pytorch'].get('wall_ms_per_step', 0):.2f} |")
    lines += ["", "| jdl operation | ms/step |", "|---|---|"]
    lines += [f"| {c} | {v:.2f} |" for c, v in sorted(jdl.items(), key=lambda kv: -kv[1])]
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--torch-python", type=Path,
                   default=DEFAULT_TORCH if DEFAULT_TORCH.exists() else Path(sys.executable))
    p.add_argument("--side", choices=("jdl", "pytorch"), help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=Path("results") / "benchmarks")
    args = p.parse_args(argv)
    batch, steps = (8, 3) if args.quick else (128, args.steps)
    if args.side:  # one side, in its own process: print its JSON
        result = (jdl_profile if args.side == "jdl" else torch_profile)(batch, steps)
        print("RESULT " + json.dumps(result))
        return result
    result = {"batch": batch, "steps": steps, "quick": args.quick}
    for side, python in (("jdl", Path(sys.executable)), ("pytorch", args.torch_python)):
        cmd = [str(python), __file__, "--side", side, "--steps", str(steps)] + ["--quick"] * args.quick
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
        result[side] = (json.loads(line[-1][7:]) if proc.returncode == 0 and line else
                        {"status": "failed", "stderr": proc.stderr[-2000:]})
        if result[side].get("status") == "failed":
            print(f"{side}: failed\n{result[side]['stderr']}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cnn_profile.json").write_text(json.dumps(result, indent=1))
    (args.out / "cnn_profile.md").write_text(table(result))
    print(table(result))
    return result


if __name__ == "__main__":
    main()
