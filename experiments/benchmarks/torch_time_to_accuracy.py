"""The PyTorch twin of `time_to_accuracy.py`: the same recipe, timed the same way.

    .venv-torch/bin/python experiments/benchmarks/torch_time_to_accuracy.py --widths 32 64 128 \
        --smoothing 0.1 --epochs 6 --targets 0.91 0.92
    python experiments/benchmarks/time_to_accuracy.py ... --with-torch   # both, one after the other

Needs only numpy and torch (no JAX: it runs in PyTorch's own environment). The recipe:
`fashion_cnn`'s network (per width a 3x3 convolution without bias, batch norm (PyTorch momentum
0.1 = jdl's 0.9, eps 1e-5), ReLU, 2x2 max-pool; then dense `--dense`, ReLU, dropout, dense 10),
He-normal convolutions and hidden dense layer, LeCun-normal logits (truncated at 2 sd, as
`jax.nn.initializers`), zero biases; Adam (PyTorch's
defaults = optax's) with the learning rate cosine-decayed to 0 per step over all epochs
(`CosineAnnealingLR`, = `optax.cosine_decay_schedule`); label smoothing (`CrossEntropyLoss`'s
= `optax.smooth_labels`); shuffled batches of `--batch-size`, the last partial batch dropped, as
jdl's `fit`. No augmentation (`--augment` is refused: the twin of jdl's in-step flips and shifts
is not written). The clock starts before the model is built; every test evaluation after
`--eval-from` is counted. CPU eager, `torch.set_num_threads(2)`. Writes `<out>/time_to_accuracy_torch.json`.
"""
from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

DATA_DIR = Path(os.environ.get("JDL_DATA_DIR", "/usr/share/datasets")) / "fashion-mnist"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", type=float, nargs="+", default=[0.91, 0.92])
    p.add_argument("--widths", type=int, nargs="+", default=[32, 64])
    p.add_argument("--dense", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.25)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--smoothing", type=float, default=0.0)
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument("--eval-from", type=int, default=1)
    p.add_argument("--max-seconds", type=float, default=1200.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", type=Path, default=Path("results/benchmarks"))
    args = p.parse_args(argv)
    if args.augment:
        p.error("--augment: the PyTorch twin has no augmentation; expected --no-augment")
    if args.quick:
        args.epochs, args.dense, args.widths = 2, 16, [4, 8]
    return args


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip or plain): big-endian dims after a 4-byte magic whose last byte is the rank.

    Written again here (jdl.data reads IDX with full checks) because this script runs in
    PyTorch's environment, where jdl and JAX are not installed."""
    raw = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    rank = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * rank).reshape(dims)


def load(quick: bool):
    if quick or not DATA_DIR.exists():
        rng = np.random.default_rng(0)
        n, m = (512, 256) if quick else (60000, 10000)
        return (rng.random((n, 1, 28, 28), np.float32), rng.integers(0, 10, n),
                rng.random((m, 1, 28, 28), np.float32), rng.integers(0, 10, m), "random images")
    def part(kind):
        x = read_idx(next(DATA_DIR.glob(f"{kind}-images-idx3-ubyte*")))
        y = read_idx(next(DATA_DIR.glob(f"{kind}-labels-idx1-ubyte*")))
        return (x[:, None] / np.float32(255)).astype(np.float32), y.astype(np.int64)
    (x, y), (xt, yt) = part("train"), part("t10k")
    return x, y, xt, yt, f"Fashion-MNIST from {DATA_DIR}"


def network(widths, dense: int, dropout: float) -> nn.Sequential:
    layers, c_in, size = [], 1, 28
    for width in widths:
        layers += [nn.Conv2d(c_in, width, 3, padding=1, bias=False),
                   nn.BatchNorm2d(width, momentum=0.1, eps=1e-5), nn.ReLU(), nn.MaxPool2d(2)]
        c_in, size = width, size // 2
    hidden, logits = nn.Linear(c_in * size * size, dense), nn.Linear(dense, 10)
    layers += [nn.Flatten(), hidden, nn.ReLU(), nn.Dropout(dropout), logits]
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()   # jdl's: He = N(0, 2 / fan_in); LeCun for the logits
            if m is logits:                # = a normal of variance 1 / fan_in truncated at 2 sd
                sd = math.sqrt(1.0 / fan_in) / 0.87962566103423978
                nn.init.trunc_normal_(m.weight, 0.0, sd, -2 * sd, 2 * sd)
            else:
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_in))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


def accuracy(model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        hits = sum(int((model(torch.from_numpy(x[i:i + 1000])).argmax(1).numpy() == y[i:i + 1000]).sum())
                   for i in range(0, len(x), 1000))
    model.train()
    return hits / len(x)


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x, y, xt, yt, note = load(args.quick)
    started = time.perf_counter()
    model = network(args.widths, args.dense, args.dropout)
    steps_per_epoch = len(x) // args.batch_size
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=args.smoothing)
    rng, reached, curve = np.random.default_rng(args.seed), {f"{t:g}": None for t in args.targets}, []
    for epoch in range(args.epochs):
        order = rng.permutation(len(x))[:steps_per_epoch * args.batch_size].reshape(steps_per_epoch, -1)
        for rows in order:
            opt.zero_grad(set_to_none=True)
            loss_fn(model(torch.from_numpy(x[rows])), torch.from_numpy(y[rows])).backward()
            opt.step()
            schedule.step()
        if epoch + 1 < args.eval_from:
            continue
        acc, elapsed = accuracy(model, xt, yt), time.perf_counter() - started
        curve.append({"epoch": epoch + 1, "seconds": round(elapsed, 1), "test_accuracy": acc})
        print(f"pytorch epoch {epoch + 1}: test accuracy {acc:.4f} at {elapsed:.1f} s", flush=True)
        for t in args.targets:
            if reached[f"{t:g}"] is None and acc >= t:
                reached[f"{t:g}"] = round(elapsed, 1)
        if all(v is not None for v in reached.values()) or elapsed > args.max_seconds:
            break
    result = {"seconds_to_target": reached, "curve": curve, "data": note, "finished": True,
              "best_test_accuracy": max((c["test_accuracy"] for c in curve), default=None),
              "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "versions": {"torch": torch.__version__, "python": platform.python_version()},
              "command": " ".join(sys.argv)}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "time_to_accuracy_torch.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(path)                       # atomic: no half-written file
    print(json.dumps(reached), f"\nwrote {path}")
    return result


if __name__ == "__main__":
    main()
