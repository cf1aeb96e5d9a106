"""Shared plumbing for the experiment scripts: command line, data, results.

Every experiment is `python experiments/<name>.py [--quick] [--out DIR] [--seed N]`:
full mode writes `results/<name>/metrics.json` and PNG plots; `--quick` runs in seconds on a
few hundred examples (the test suite runs it) and writes to the same layout.
"""
from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

import jax
import numpy as np
import optax

import jdl
from benchmarks.bench_common import machine
from jdl import data, viz
from jdl.io import atomic_write, write_json


def parser(name: str, description: str) -> argparse.ArgumentParser:
    """An ArgumentParser with --quick, --out (default results/<name>), --seed."""
    p = argparse.ArgumentParser(prog=f"{name}.py", description=description)
    p.add_argument("--quick", action="store_true", help="a tiny run for smoke tests (seconds)")
    p.add_argument("--out", type=Path, default=Path("results") / name)
    p.add_argument("--seed", type=int, default=0)
    return p


def load_images(quick: bool, *, train_size: int | None = None, val_size: int = 5000,
                seed: int = 0, flatten: bool = False):
    """Fashion-MNIST (or digits when absent) as float32 in [0, 1]: ((x,y) train, val, test), name.

    `train_size` keeps the first examples of the shuffled training split (e.g. 1,000 for the
    overfitting experiment); quick mode keeps 600 / 200 / 300.
    """
    name = "fashion_mnist" if data.available("fashion_mnist") else "digits"
    if name == "digits":
        print("Fashion-MNIST not found: using scikit-learn's digits instead.")
        val_size = min(val_size, 200)
    splits = data.load(name)
    (x, y), (x_test, y_test) = splits["train"], splits["test"]
    if quick:
        x, y, x_test, y_test, val_size = x[:800], y[:800], x_test[:300], y_test[:300], 200
    (x_tr, y_tr), (x_val, y_val) = data.train_val_split(x, y, val_size, seed=seed)
    if train_size is not None:
        x_tr, y_tr = x_tr[:train_size], y_tr[:train_size]
    prep = (lambda a: data.scale(a).reshape(len(a), -1)) if flatten else data.scale
    splits = (prep(x_tr), y_tr), (prep(x_val), y_val), (prep(x_test), y_test)
    print(f"data: {name}, train {splits[0][0].shape}, val {splits[1][0].shape}, "
          f"test {splits[2][0].shape}")
    return (*splits, name)


def settings(args: argparse.Namespace) -> dict:
    """The parsed command line as JSON-ready values (paths as strings), for metrics.json."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}


def write_table(out: Path, text: str) -> Path:
    """Print a Markdown table and write it atomically to `out/table.md`."""
    print(text)
    path = Path(out) / "table.md"
    with atomic_write(path) as f:
        f.write(text.encode())
    return path


def finish_figure(fig, path: Path, title: str | None = None, *, grid=(), legend=(),
                  title_y: float | None = None) -> Path:
    """The plots' common ending: light grid lines on the `grid` axes, small legends on the
    `legend` axes that have labelled artists, the title, then the PNG written and announced."""
    for ax in grid:
        ax.grid(alpha=0.3)
    for ax in legend:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, **({} if title_y is None else {"y": title_y}))
    path = viz.save_figure(fig, path)
    print(f"wrote {path}")
    return path


def save_results(out: Path, metrics: dict, *, started: float) -> Path:
    """Write `out/metrics.json` with the metrics plus run information (command, date, machine,
    versions, seconds)."""
    metrics = dict(metrics)
    metrics["run"] = {
        "seconds": round(time.perf_counter() - started, 1), "command": " ".join(sys.argv),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "device": str(jax.devices()[0]), "python": platform.python_version(),
        "versions": {"jdl": jdl.__version__, "jax": jax.__version__, "optax": optax.__version__,
                     "numpy": np.__version__},
    }
    path = write_json(Path(out) / "metrics.json", metrics)
    print(f"wrote {path}")
    return path


def with_seed(args: argparse.Namespace, seed: int) -> argparse.Namespace:
    """A copy of the parsed command line with `seed` replaced: one run of a multi-seed loop."""
    return argparse.Namespace(**{**vars(args), "seed": seed})


def add_seeds_argument(p: argparse.ArgumentParser, default: int = 3) -> None:
    """`--seeds N`: run seeds `--seed`, `--seed`+1, ..., `--seed`+N-1 and report mean ± sd."""
    p.add_argument("--seeds", type=int, default=default,
                   help=f"number of seeds, from --seed on; figures are mean ± sd (default {default})")


def seeds_of(args: argparse.Namespace) -> list[int]:
    """The seeds a run covers: `[args.seed, ..., args.seed + args.seeds - 1]`."""
    if args.seeds < 1:
        raise ValueError(f"--seeds: expected at least 1, got {args.seeds}")
    return list(range(args.seed, args.seed + args.seeds))


def lookup(record: dict, key: str):
    """`record["a"]["b"]` for the key "a.b"."""
    for part in key.split("."):
        record = record[part]
    return record


def over_seeds(records: list[dict], keys, seeds=None) -> dict:
    """The first seed's record (its curves and pictures) with `over_seeds` added: the seeds and,
    for each key of `keys` (dotted for nested values: "test.accuracy"), `mean_sd` over the
    records, one per seed, in the order of `seeds`."""
    first = dict(records[0])
    first["over_seeds"] = {"seeds": list(seeds) if seeds is not None else None,
                           **{k: mean_sd([lookup(r, k) for r in records]) for k in keys}}
    return first


def mean_sd(values) -> dict:
    """Mean and sample sd (ddof 1) over seeds: `{"mean", "sd", "values"}`.

    A missing value (None or NaN: a target a seed never reached, a diverged run) stays None in
    `values`, and then `mean` and `sd` are None too, since a mean of the others would hide it.
    """
    vals = [None if v is None or not np.isfinite(v) else float(v) for v in values]
    if not vals or None in vals:
        return {"mean": None, "sd": None, "values": vals}
    return {"mean": float(np.mean(vals)), "sd": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
            "values": vals}


def format_mean_sd(stat: dict, digits: int = 3, scientific: bool = False, *,
                   none: str = "not reached", some: str = "reached") -> str:
    """'0.861 ± 0.004'; with missing values `none` ('not reached') when every seed misses,
    else 'k of n <some>' ('2 of 3 reached'; for accuracies of runs that diverged: none=
    'diverged', some='finite')."""
    if stat["mean"] is None:
        present = sum(v is not None for v in stat["values"])
        return none if present == 0 else f"{present} of {len(stat['values'])} {some}"
    f = "e" if scientific else "f"
    return f"{stat['mean']:.{digits}{f}} ± {stat['sd']:.{digits}{f}}"


def exceeds_spread(a: dict, b: dict) -> bool | None:
    """The rule for a verdict: two means differ only when the gap exceeds the sum of their sds
    (None when either has missing values)."""
    if a["mean"] is None or b["mean"] is None:
        return None
    return abs(a["mean"] - b["mean"]) > a["sd"] + b["sd"]
