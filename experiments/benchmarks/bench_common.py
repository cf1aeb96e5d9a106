"""Shared pieces of the benchmark rows: settings, data, the timed loop, peak RSS.

Timing, as defined for the tables of docs/benchmarks.md:
- steps/s: the loop syncs every 10 steps; each 10-step window gives a rate; the figure is the
  median over the windows that start after the warm-up (step 50 in the full run).
- epoch steps/s: steps_per_epoch / epoch_time, median over epochs 2..E (jdl's `fit` rows can only
  be timed this way: their figure in both columns is the epoch rate).
- compile s: the first train-step call, synced (trace + compile + one step). For `fit` rows:
  the first epoch's time minus a steady epoch's (what the compile costs the user).
- peak RSS: `ru_maxrss` of the row's own process (each row runs in its own subprocess).
"""
from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SYNC_EVERY = 10


def settings(case: str, quick: bool) -> dict:
    """Step counts per case. `steps_per_epoch=None` means the whole training set (468 at batch 128)."""
    if case == "mlp":
        if quick:
            return dict(batch=128, steps_per_epoch=10, epochs=3, scan_steps_per_epoch=10,
                        scan_epochs=3, warmup=10, n_test=500)
        return dict(batch=128, steps_per_epoch=None, epochs=3, scan_steps_per_epoch=None,
                    scan_epochs=3, warmup=50, n_test=None)
    if case == "cnn":
        if quick:
            return dict(batch=32, steps_per_epoch=4, epochs=3, scan_steps_per_epoch=4,
                        scan_epochs=2, warmup=4, n_test=200)
        # ~160 steps per row (5 passes over the first 4,096 training images); the rolled-scan
        # row runs 36 steps only: it is ~10x slower on XLA:CPU (jax-ml/jax#12868).
        return dict(batch=128, steps_per_epoch=32, epochs=5, scan_steps_per_epoch=12,
                    scan_epochs=3, warmup=50, n_test=None)
    if case == "small":
        return dict(batch=32, sizes=(64, 64, 10), steps=50 if quick else 1000,
                    repeats=1 if quick else 3, warmup=5 if quick else 50, n_batches=8)
    if case == "population":
        # inputs: 64 features (digits-sized, 8x8: the per-step overhead dominates) and 784
        # (Fashion-MNIST-sized: the first layer's matmul dominates, so batching members gains less)
        # devices: extra rows with the population spread over that many simulated CPU devices
        return dict(batch=32, sizes=(64, 64, 10), members=(1, 8, 32), inputs=(64, 784), devices=(2, 4),
                    steps=10 if quick else 200, repeats=1 if quick else 5, n_batches=8)
    raise ValueError(f"unknown case {case!r}")


def machine() -> str:
    """The CPU model, core count and OS, e.g. "Intel(R) Xeon(R) Processor, 2 cores, Linux 6.1"."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


NAMES = ("x_train", "y_train", "x_test", "y_test")


def prepare_data(source: str, directory, *, n_train=None, n_test=None, seed: int = 0) -> str:
    """Write the four arrays once as .npy files in `directory` (every row loads the same ones).

    `source` "fashion_mnist": `jdl.data.load("fashion_mnist")` scaled to float32 [0, 1], NHWC
    (N, 28, 28, 1), int32 labels. "random": uniform images and labels of the same shapes
    (60,000 / 10,000 unless `n_train` / `n_test` say otherwise).
    """
    if source == "fashion_mnist":
        from jdl import data

        splits = data.load("fashion_mnist")
        (x, y), (xt, yt) = splits["train"], splits["test"]
        arrays = (data.scale(x[:n_train]), y[:n_train], data.scale(xt[:n_test]), yt[:n_test])
    else:
        rng = np.random.default_rng(seed)
        n_train = 60000 if n_train is None else n_train
        n_test = 10000 if n_test is None else n_test
        arrays = (rng.random((n_train, 28, 28, 1), dtype=np.float32),
                  rng.integers(0, 10, n_train), rng.random((n_test, 28, 28, 1), dtype=np.float32),
                  rng.integers(0, 10, n_test))
    for name, a in zip(NAMES, arrays):
        a = a.astype(np.int32) if name.startswith("y") else a.astype(np.float32)
        np.save(Path(directory) / f"{name}.npy", a)
    return source


def load_data(directory, n_train: int | None = None, n_test: int | None = None):
    """`(x_train, y_train, x_test, y_test)` from `prepare_data`'s files, the first n of each split.

    Plain NumPy: a row that does not use JAX (PyTorch) does not import it.
    """
    import os.path

    x, y, xt, yt = (np.load(os.path.join(directory, f"{n}.npy")) for n in NAMES)
    if n_train is not None and n_train > len(x):
        raise ValueError(f"need {n_train} training examples, the data has {len(x)}")
    return (np.ascontiguousarray(x[:n_train]), y[:n_train],
            np.ascontiguousarray(xt[:n_test]), yt[:n_test])


def n_train_for(cfg: dict, scan: bool = False) -> int | None:
    spe = cfg["scan_steps_per_epoch"] if scan else cfg["steps_per_epoch"]
    return None if spe is None else spe * cfg["batch"]


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def epoch_rate(steps_per_epoch: int, epoch_times: list[float]) -> float:
    """Median of steps_per_epoch / epoch_time over epochs 2..E (epoch 1 holds the compile)."""
    times = epoch_times[1:] or epoch_times
    return statistics.median(steps_per_epoch / t for t in times)


def run_loop(step, sync, x, y, *, batch: int, epochs: int, warmup: int, seed: int = 0,
             to_batch=None) -> dict:
    """Train `epochs` shuffled epochs (last partial batch dropped) with `loss = step(xb, yb)`.

    `sync(loss)` blocks until the loss is computed. Returns window and epoch rates, compile time.
    """
    to_batch = to_batch or (lambda xb, yb: (xb, yb))
    n = len(x)
    nb = n // batch
    rng = np.random.default_rng(seed)
    marks, epoch_times, compile_s, g = [], [], None, 0
    start = time.perf_counter()
    marks.append((0, start))
    for _ in range(epochs):
        t_epoch = time.perf_counter()
        perm = rng.permutation(n)
        for b in range(nb):
            idx = perm[b * batch:(b + 1) * batch]
            loss = step(*to_batch(x[idx], y[idx]))
            g += 1
            if g == 1:
                sync(loss)
                compile_s = time.perf_counter() - start
            if g % SYNC_EVERY == 0:
                sync(loss)
                marks.append((g, time.perf_counter()))
        sync(loss)
        epoch_times.append(time.perf_counter() - t_epoch)
    rates = [(s1 - s0) / (t1 - t0) for (s0, t0), (s1, t1) in zip(marks, marks[1:]) if s0 >= warmup]
    return dict(steps=g, steps_per_epoch=nb, epochs=epochs, windows=len(rates),
                steps_per_s=median_or_none(rates), epoch_steps_per_s=epoch_rate(nb, epoch_times),
                compile_s=compile_s, epoch_times=epoch_times, train_s=time.perf_counter() - start)


def time_fixed_steps(step, sync, batches, *, steps: int, repeats: int, warmup: int) -> dict:
    """The small-model timing: `warmup` steps (the first one synced = compile), then `repeats`
    runs of `steps` steps with one sync at the end each; the best and the median rate."""
    t0 = time.perf_counter()
    out = step(*batches[0])
    sync(out)
    compile_s = time.perf_counter() - t0
    for i in range(1, warmup):
        out = step(*batches[i % len(batches)])
    sync(out)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(steps):
            out = step(*batches[i % len(batches)])
        sync(out)
        rates.append(steps / (time.perf_counter() - t0))
    return dict(steps=steps, repeats=repeats, steps_per_s=max(rates),
                median_steps_per_s=statistics.median(rates), rates=rates, compile_s=compile_s)


def jax_device() -> str:
    import jax

    d = jax.devices()[0]
    return f"{d.platform}: {d.device_kind} x{jax.device_count()} ({os.cpu_count()} CPU cores)"


def torch_python(choice: Path | None = None) -> Path | None:
    """The interpreter for PyTorch rows and twins: `choice` (--torch-python), else this one if it
    has torch, else the repository's .venv-torch if present (PyTorch's CPU wheels need not exist
    for the Python that runs jdl). None: no PyTorch anywhere."""
    candidates = [choice] if choice else [Path(sys.executable),
                                          Path(__file__).resolve().parents[2] / ".venv-torch" / "bin" / "python"]
    for python in candidates:
        if python.exists() and subprocess.run([str(python), "-c", "import torch, numpy"],
                                              capture_output=True).returncode == 0:
            return python
    return None
