"""Which steps-per-call K and rolled/unrolled chunk is fastest for `fit`, per workload.

    python experiments/benchmarks/fit_rule.py                   # about 6 minutes on 2 cores
    python experiments/benchmarks/fit_rule.py --quick           # seconds (the test)
    python experiments/benchmarks/fit_rule.py --workloads mlp --repeats 5

Each workload trains with `train.fit` on synthetic arrays of the real shapes (speed does not
depend on the values), each configuration `repeats` times, interleaved (config 1, 2, ..., then
again), after one untimed call that compiles it:
- mlp:  `models.mlp([500, 500, 10])`, SGD momentum 0.9, batch 128, 784 inputs;
- cnn:  `models.fashion_cnn(dropout=0.5)`, Adam, batch 128, 28x28x1 inputs;
- lstm: `serial(RNN(LSTMCell(128)), Dense(10))` over 28 steps of 28 features, Adam, batch 64.
A configuration is (K, unroll); "epoch" means K = the batches per epoch (one call per epoch).
The figure is steps/s = steps per epoch / epoch time, median over the timed epochs of all
repeats; `auto` is `fit`'s default rule, timed like the rest. Writes `<out>/fit_rule.json`.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

WORKLOADS = {  # steps per epoch, epochs per timed call, configurations (K, unroll)
    "mlp": dict(batch=128, steps=256, epochs=3,
                configs=[(1, True), (4, True), (16, False), (64, False), ("epoch", False), "auto"]),
    "cnn": dict(batch=128, steps=32, epochs=3,
                configs=[(1, True), (4, True), (8, True), (16, False), "auto"]),
    "lstm": dict(batch=64, steps=128, epochs=3,
                 configs=[(1, True), (4, True), (16, False), (64, False), ("epoch", False), "auto"]),
}


def build(workload: str):
    """(model, optimizer, input shape without the batch)."""
    import optax

    from jdl import models, nn
    if workload == "mlp":
        return models.mlp([500, 500, 10]), optax.sgd(0.05, momentum=0.9), (784,)
    if workload == "cnn":
        return models.fashion_cnn(dropout=0.5), optax.adam(1e-3), (28, 28, 1)
    return nn.serial(nn.RNN(nn.LSTMCell(128)), nn.Dense(10)), optax.adam(1e-3), (28, 28)


def label(config) -> str:
    if config == "auto":
        return "auto (fit's default)"
    k, unroll = config
    return f"K={k} {'unrolled' if unroll else 'rolled'}"


def time_workload(workload: str, repeats: int, quick: bool) -> dict:
    """steps/s per configuration (median over repeats x timed epochs) and what `auto` chose."""
    import jax

    from jdl import losses, train
    spec = dict(WORKLOADS[workload])
    if quick:
        spec.update(steps=4, epochs=2, batch=8)
    model, optimizer, shape = build(workload)
    rng = np.random.default_rng(0)
    n = spec["steps"] * spec["batch"]
    data = (rng.normal(size=(n, *shape)).astype(np.float32), rng.integers(0, 10, n).astype(np.int32))
    step = train.make_train_step(model, optimizer, losses.softmax_cross_entropy)
    ts0 = train.init_train_state(model, optimizer, jax.random.key(0), (1, *shape))

    def run(config) -> list[float]:
        kwargs = {} if config == "auto" else dict(
            steps_per_call=spec["steps"] if config[0] == "epoch" else config[0], unroll=config[1])
        ts = jax.tree.map(lambda a: a.copy() if hasattr(a, "copy") else a, ts0)
        _, history = train.fit(ts, step, data, epochs=spec["epochs"], batch_size=spec["batch"],
                               verbose=0, **kwargs)
        return [spec["steps"] / t for t in history["epoch_time"][1:]]

    rates = {label(c): [] for c in spec["configs"]}
    for config in spec["configs"]:
        run(config)  # compile (kept in jdl.compile_cache for the timed calls)
    for _ in range(repeats):
        for config in spec["configs"]:
            rates[label(config)] += run(config)
    chosen = train.chunking_rule(step, ts0, (data[0][:spec["batch"]], data[1][:spec["batch"]]),
                                 spec["steps"])
    return {"steps_per_epoch": spec["steps"], "batch": spec["batch"], "auto_chose": chosen,
            "steps_per_s": {name: statistics.median(r) for name, r in rates.items()},
            "all_rates": rates}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", type=Path, default=Path("results") / "benchmarks")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error(f"--repeats: expected at least 1, got {args.repeats}")
    import bench_common as bc
    started = time.perf_counter()
    result = {"machine": bc.machine(), "repeats": args.repeats, "quick": args.quick,
              "workloads": {}}
    for workload in args.workloads:
        r = time_workload(workload, 1 if args.quick else args.repeats, args.quick)
        result["workloads"][workload] = r
        best = max(r["steps_per_s"], key=r["steps_per_s"].get)
        print(f"{workload}: auto chose {r['auto_chose']}; fastest {best}")
        for name, rate in r["steps_per_s"].items():
            print(f"  {name:22s} {rate:8.1f} steps/s  ({rate / r['steps_per_s'][best]:.2f}x best)")
    result["seconds"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fit_rule.json").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
