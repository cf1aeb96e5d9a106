"""Batch normalization: with vs without, steps to a target accuracy and tolerance to a large lr.

    python experiments/batchnorm.py            # full: 20k train / 5k val, 8 epochs, 5 lrs x 2
    python experiments/batchnorm.py --quick    # 600 / 200 examples, 1 hidden layer (the test)
    python experiments/batchnorm.py --lrs 0.1 1.0 --epochs 4

Claim (Salakhutdinov, "Batch Normalization"; Senk: "to improve the training speed and
performance"; Ioffe & Szegedy 2015, the paper's words: it "allows us to use much higher learning
rates and be less careful about initialization"), read here as: normalizing each hidden unit over
the mini-batch (then scaling by gamma and shifting by beta) makes a deep network reach a given
accuracy in fewer steps and keeps it trainable at learning rates where the plain network diverges.

Method: a deep MLP (default 784-256-256-256-256-256-10, ReLU, LeCun-normal init), plain SGD
(no momentum: the learning rate alone sets the step), batch 100, with and without `BatchNorm`
after each hidden Dense. Every learning rate of `--lrs` is one member of a population
(`jdl.train.fit_population`): the members share the seed, so every lr starts from the same
weights and sees the same batches; the only differences are lr and the BN layers. After each
epoch: validation accuracy (BN in eval mode: running statistics). Figures per run: the first
step count at which validation accuracy reached `--target` (checked at epoch ends), the best
validation accuracy, and whether the run diverged (non-finite loss or validation accuracy at
chance, <= 0.2).

Writes `<out>/metrics.json` and `<out>/batchnorm.png`. Full mode on the 2-core CPU: about 4
minutes (measured: see docs/experiments/batchnorm.md).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import jax
import numpy as np
import optax
from _common import finish_figure, load_images, parser, save_results, settings as _settings

from jdl import losses, metrics, models, train, viz


def parse_args(argv=None):
    p = parser("batchnorm", __doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, nargs="+", default=[256] * 5, help="hidden widths")
    p.add_argument("--lrs", type=float, nargs="+", default=[0.01, 0.03, 0.1, 0.3, 1.0, 3.0])
    p.add_argument("--train-size", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--target", type=float, default=0.85, help="validation accuracy to reach")
    args = p.parse_args(argv)
    if args.quick:
        args.hidden, args.epochs, args.lrs, args.target = [32], 2, [0.1, 3.0], 0.5
    return args


def finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def run_population(batch_norm: bool, args, train_data, val) -> tuple[dict, float]:
    """Train one population (one member per lr); return per-lr records and the seconds taken."""
    model = models.mlp([*args.hidden, 10], "relu", batch_norm=batch_norm)
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    n = len(args.lrs)
    keys = jax.numpy.stack([jax.random.key(args.seed)] * n)  # same init and shuffles for every lr
    pop = train.init_population(model, optimizer, keys, (1, train_data[0].shape[1]),
                                hyperparams={"learning_rate": np.asarray(args.lrs, np.float32)})
    train_step, eval_step = train.make_steps(model, optimizer, losses.softmax_cross_entropy,
                                             metrics={"accuracy": metrics.accuracy})
    started = time.perf_counter()
    pop, history = train.fit_population(pop, train_step, train_data, epochs=args.epochs,
                                        batch_size=args.batch_size, val_data=val,
                                        eval_step=eval_step, verbose=0,
                                        eval_batch_size=min(1000, len(val[0])),
                                        # --quick: one step per compiled call compiles fastest
                                        **({"steps_per_call": 1} if args.quick else {}))
    seconds = time.perf_counter() - started
    steps_per_epoch = len(train_data[0]) // args.batch_size
    records = {}
    for i, lr in enumerate(args.lrs):
        acc = history["val_accuracy"][:, i]
        loss = history["loss"][:, i]
        reached = np.flatnonzero(acc >= args.target)
        diverged = (not np.all(np.isfinite(loss))) or acc[-1] <= 0.2
        records[f"{lr:g}"] = {
            "lr": lr, "val_accuracy": [finite(v) for v in acc],
            "train_loss": [finite(v) for v in loss],
            "best_val_accuracy": finite(float(np.nanmax(acc))) if np.any(np.isfinite(acc)) else None,
            "final_val_accuracy": finite(float(acc[-1])),
            "steps_to_target": int((reached[0] + 1) * steps_per_epoch) if len(reached) else None,
            "diverged": bool(diverged),
        }
    return records, seconds


def summarize(results: dict, lrs) -> dict:
    """Headline figures: fewest steps to the target and the trainable lr range of each variant."""
    out = {}
    for variant, runs in results.items():
        steps = [r["steps_to_target"] for r in runs.values() if r["steps_to_target"] is not None]
        ok = [r["lr"] for r in runs.values() if not r["diverged"]]
        reached = [r["lr"] for r in runs.values() if r["steps_to_target"] is not None]
        out[variant] = {"fewest_steps_to_target": min(steps) if steps else None,
                        "largest_lr_trained": max(ok) if ok else None,
                        "lrs_reaching_target": reached,
                        "best_val_accuracy": max((r["best_val_accuracy"] or 0.0) for r in runs.values())}
    if {"batch_norm", "plain"} <= set(out):
        bn, plain = out["batch_norm"], out["plain"]
        out["claims"] = {
            "fewer_steps_with_bn": (bn["fewest_steps_to_target"] is not None and (
                plain["fewest_steps_to_target"] is None
                or bn["fewest_steps_to_target"] < plain["fewest_steps_to_target"])),
            "larger_lr_tolerated_with_bn": (bn["largest_lr_trained"] or 0) > (plain["largest_lr_trained"] or 0),
            "more_lrs_reach_target_with_bn": len(bn["lrs_reaching_target"]) > len(plain["lrs_reaching_target"]),
        }
    return out


def plot(results: dict, args, steps_per_epoch: int, path: Path, title: str) -> Path:
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(17, 4.5))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(args.lrs)))
    for a, variant in zip(ax[:2], ("plain", "batch_norm")):
        for color, (name, r) in zip(colors, results[variant].items()):
            acc = [np.nan if v is None else v for v in r["val_accuracy"]]
            a.plot(steps_per_epoch * np.arange(1, len(acc) + 1), acc, marker="o", ms=3,
                   color=color, label=f"lr {name}")
        a.axhline(args.target, color="gray", ls="--", lw=1)
        a.set(xlabel="SGD steps", ylabel="validation accuracy", ylim=(0, 1),
              title="without batch norm" if variant == "plain" else "with batch norm")
        a.legend(fontsize=8)
    for variant, marker in (("plain", "o"), ("batch_norm", "s")):
        best = [r["best_val_accuracy"] or 0.0 for r in results[variant].values()]
        ax[2].plot(args.lrs, best, marker=marker, label=variant.replace("_", " "))
    ax[2].set(xscale="log", xlabel="learning rate", ylabel="best validation accuracy",
              title="tolerance to the learning rate", ylim=(0, 1))
    ax[2].legend()
    return finish_figure(fig, path, title, grid=ax)


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    train_data, val, _, name = load_images(args.quick, train_size=args.train_size, seed=args.seed,
                                           flatten=True)
    print(f"data: {name}, train {train_data[0].shape}, val {val[0].shape} (test set unused)")
    results, seconds = {}, {}
    for variant in ("plain", "batch_norm"):
        results[variant], seconds[variant] = run_population(variant == "batch_norm", args,
                                                            train_data, val)
        for lr, r in results[variant].items():
            print(f"{variant:10s} lr {lr:>5s}  best val {r['best_val_accuracy'] or float('nan'):.4f}"
                  f"  steps to {args.target:g}: {r['steps_to_target']}  diverged {r['diverged']}")
    summary = summarize(results, args.lrs)
    print(summary)
    settings = _settings(args)
    steps_per_epoch = len(train_data[0]) // args.batch_size
    out = {"dataset": name, "n_train": len(train_data[0]), "n_val": len(val[0]),
           "steps_per_epoch": steps_per_epoch, "settings": settings, "runs": results,
           "seconds": seconds, "summary": summary}
    save_results(args.out, out, started=started)
    plot(results, args, steps_per_epoch, args.out / "batchnorm.png",
         f"MLP {[*args.hidden, 10]}, SGD batch {args.batch_size}, {name}")
    return out


if __name__ == "__main__":
    main()
