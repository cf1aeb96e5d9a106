"""GPU benchmarks: ResNet-50 throughput and MFU, and Loo's CPU-vs-GPU table.

    python experiments/benchmarks/gpu.py [--quick] [--out results/benchmarks_gpu]

1. ResNet-50 (jdl.models.resnet50, V1.5) at 224x224x3 on synthetic data, SGD with momentum,
   float32 and bfloat16 compute (`compute_dtype`), batch 128: images/s over 20 timed steps after
   warm-up, and MFU = 3 x forward FLOPs x images/s / peak bf16 dense FLOP/s (the 3 counts the
   forward and the two backward matmuls; forward FLOPs = 2 x multiply-adds from jdl.summary).
2. The demo CNN (fashion_cnn) train step at batch 64, 128, 256 (Loo's CPU vs GPU table):
   ms per step and examples/s on whatever device JAX has (run it on the CPU machine too).
Runs on any backend; on the CPU use --quick (tiny ResNet input) unless you have time.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jdl import losses, models, summary, train
from jdl.io import write_json

PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12}  # dense bf16 FLOP/s (SXM)


def time_steps(step, ts, batch, steps: int):
    ts, logs = step(ts, batch)  # compile + warm-up
    jax.block_until_ready(logs)
    ts, logs = step(ts, batch)
    jax.block_until_ready(logs)
    start = time.perf_counter()
    for _ in range(steps):
        ts, logs = step(ts, batch)
    jax.block_until_ready(logs)
    return (time.perf_counter() - start) / steps, float(logs["loss"])


def resnet50_rows(size: int, batch: int, steps: int) -> list[dict]:
    model = models.resnet50(num_classes=1000, input_size=None)
    macs = summary.summary(model, (1, size, size, 3)).total_macs
    x = jax.random.normal(jax.random.key(1), (batch, size, size, 3))
    y = jax.random.randint(jax.random.key(2), (batch,), 0, 1000)
    device = jax.devices()[0].device_kind
    peak = next((v for k, v in PEAK_BF16.items() if k in device), None)
    rows = []
    for dtype in (None, jnp.bfloat16):
        optimizer = optax.sgd(0.01, momentum=0.9)
        ts = train.init_train_state(model, optimizer, jax.random.key(0), (1, size, size, 3))
        step = train.make_train_step(model, optimizer, losses.softmax_cross_entropy,
                                     compute_dtype=dtype)
        seconds, loss = time_steps(step, ts, (x, y), steps)
        images = batch / seconds
        flops = 3 * 2 * macs * images
        rows.append({"model": "resnet50", "input": size, "batch": batch,
                     "compute": "bfloat16" if dtype else "float32", "ms_per_step": seconds * 1e3,
                     "images_per_s": images, "tflops": flops / 1e12,
                     "mfu_vs_bf16_peak": flops / peak if peak else None, "loss": loss})
        print(rows[-1], flush=True)
    return rows


def cnn_rows(batches, steps: int) -> list[dict]:
    model = models.fashion_cnn()
    rows = []
    for batch in batches:
        optimizer = optax.adam(1e-3)
        ts = train.init_train_state(model, optimizer, jax.random.key(0), (1, 28, 28, 1))
        step = train.make_train_step(model, optimizer, losses.softmax_cross_entropy)
        x = jax.random.uniform(jax.random.key(1), (batch, 28, 28, 1))
        y = jax.random.randint(jax.random.key(2), (batch,), 0, 10)
        seconds, _ = time_steps(step, ts, (x, y), steps)
        rows.append({"model": "fashion_cnn", "batch": batch, "ms_per_step": seconds * 1e3,
                     "examples_per_s": batch / seconds,
                     "epoch_seconds_60k": 60000 / batch * seconds})
        print(rows[-1], flush=True)
    return rows


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", type=Path, default=Path("results/benchmarks_gpu"))
    p.add_argument("--skip-resnet", action="store_true")
    args = p.parse_args(argv)
    device = jax.devices()[0]
    result = {"device": f"{device.platform}: {device.device_kind}", "jax": jax.__version__,
              "numpy": np.__version__}
    print(result, flush=True)
    if not args.skip_resnet:
        size, batch, steps = (64, 8, 2) if args.quick else (224, 128, 20)
        result["resnet50"] = resnet50_rows(size, batch, steps)
        write_json(args.out / "gpu.json", result)   # kept if the run is stopped from outside
    result["fashion_cnn"] = cnn_rows((64, 128, 256), 3 if args.quick else 30)
    write_json(args.out / "gpu.json", result)
    return result


if __name__ == "__main__":
    main()
