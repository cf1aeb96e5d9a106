"""Batch normalization: with vs without, steps to a target accuracy and tolerance to a large lr.

    python experiments/batchnorm.py            # full: 20k train / 5k val, 8 epochs, 6 lrs x 3 seeds x 2
    python experiments/batchnorm.py --quick    # 600 / 200 examples, 1 hidden layer (the test)
    python experiments/batchnorm.py --lrs 0.1 1.0 --epochs 4

Claim (Salakhutdinov, "Batch Normalization"; Senk: "to improve the training speed and
performance"; Ioffe & Szegedy 2015, the paper's words: it "allows us to use much higher learning
rates and be less careful about initialization"), read here as: normalizing each hidden unit over
the mini-batch (then scaling by gamma and shifting by beta) makes a deep network reach a given
accuracy in fewer steps and keeps it trainable at learning rates where the plain network diverges.

Method: a deep MLP (default 784-256-256-256-256-256-10, ReLU, LeCun-normal init), plain SGD
(no momentum: the learning rate alone sets the step), batch 100, with and without `BatchNorm`
after each hidden Dense. Every (learning rate, seed) of `--lrs` x `--seeds` is one member of a
population (`jdl.train.fit_population`): the members of one seed share their initial weights
and batches, so within a seed the only differences are lr and the BN layers. After each epoch:
validation accuracy (BN in eval mode: running statistics). Figures per run: the first step
count at which validation accuracy reached `--target` (checked at epoch ends), the best
validation accuracy, and whether the run diverged (non-finite loss or validation accuracy at
chance, <= 0.2); per lr, their mean +- sd over the seeds. A claim holds only when the
difference exceeds the seeds' spread (`_common.exceeds_spread`).

Writes `<out>/metrics.json`, `<out>/table.md` and `<out>/batchnorm.png`. Full mode on the 2-core CPU: about 4
minutes (measured: see docs/experiments/batchnorm.md).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import jax
import numpy as np
import optax
from _common import (exceeds_spread, finish_figure, format_mean_sd, load_images, mean_sd, parser,
                     save_results, settings as _settings, write_table)

from jdl import losses, metrics, models, train, viz


def parse_args(argv=None):
    p = parser("batchnorm", __doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, nargs="+", default=[256] * 5, help="hidden widths")
    p.add_argument("--lrs", type=float, nargs="+", default=[0.01, 0.03, 0.1, 0.3, 1.0, 3.0])
    p.add_argument("--train-size", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--target", type=float, default=0.85, help="validation accuracy to reach")
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args(argv)
    if args.quick:
        args.hidden, args.epochs, args.lrs, args.target, args.seeds = [32], 2, [0.1, 3.0], 0.5, 2
    return args


def finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def members(args) -> list[tuple[float, int]]:
    """(learning rate, seed) of every member: each lr trains from each seed's weights."""
    return [(lr, seed) for lr in args.lrs for seed in range(args.seed, args.seed + args.seeds)]


def run_population(batch_norm: bool, args, train_data, val) -> tuple[dict, float]:
    """Train one population (lrs x seeds); return per-lr records over the seeds and the seconds."""
    model = models.mlp([*args.hidden, 10], "relu", batch_norm=batch_norm)
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    table = members(args)
    # a seed's members share their initial weights and batches whatever their lr
    keys = jax.numpy.stack([jax.random.key(seed) for _, seed in table])
    pop = train.init_population(model, optimizer, keys, (1, train_data[0].shape[1]),
                                hyperparams={"learning_rate": np.asarray([lr for lr, _ in table],
                                                                         np.float32)})
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
    for lr in args.lrs:
        runs = [i for i, (member_lr, _) in enumerate(table) if member_lr == lr]
        acc, loss = history["val_accuracy"][:, runs].T, history["loss"][:, runs].T
        best = [float(np.nanmax(a)) if np.any(np.isfinite(a)) else None for a in acc]
        reached = [np.flatnonzero(a >= args.target) for a in acc]
        records[f"{lr:g}"] = {
            "lr": lr, "val_accuracy": [[finite(v) for v in a] for a in acc],
            "train_loss": [[finite(v) for v in l] for l in loss],
            "best_val_accuracy": mean_sd(best),
            "final_val_accuracy": mean_sd([finite(a[-1]) for a in acc]),
            "steps_to_target": mean_sd([int((r[0] + 1) * steps_per_epoch) if len(r) else None
                                        for r in reached]),
            "diverged": [bool(not np.all(np.isfinite(l)) or a[-1] <= 0.2) for a, l in zip(acc, loss)],
        }
    return records, seconds


def summarize(results: dict, lrs) -> dict:
    """Headline figures per variant, and each claim judged by the spread rule (`exceeds_spread`).

    An lr "reaches the target" or "trains" only when every seed does; the variant's best lr is
    the one with the fewest mean steps to the target.
    """
    out = {}
    for variant, runs in results.items():
        reaching = {r["lr"]: r["steps_to_target"] for r in runs.values()
                    if r["steps_to_target"]["mean"] is not None}
        fastest = min(reaching, key=lambda lr: reaching[lr]["mean"]) if reaching else None
        best = max(runs.values(), key=lambda r: r["best_val_accuracy"]["mean"] or 0.0)
        out[variant] = {"fastest_lr": fastest,
                        "steps_to_target": reaching[fastest] if reaching else mean_sd([None]),
                        "largest_lr_trained": max((r["lr"] for r in runs.values()
                                                   if not any(r["diverged"])), default=None),
                        "lrs_reaching_target": sorted(reaching),
                        "best_lr": best["lr"], "best_val_accuracy": best["best_val_accuracy"]}
    if {"batch_norm", "plain"} <= set(out):
        bn, plain = out["batch_norm"], out["plain"]
        faster = plain["steps_to_target"]["mean"] is None or (
            bn["steps_to_target"]["mean"] is not None
            and bn["steps_to_target"]["mean"] < plain["steps_to_target"]["mean"]
            and exceeds_spread(bn["steps_to_target"], plain["steps_to_target"]))
        out["claims"] = {
            "fewer_steps_with_bn": bool(bn["steps_to_target"]["mean"] is not None and faster),
            "larger_lr_tolerated_with_bn": (bn["largest_lr_trained"] or 0) > (plain["largest_lr_trained"] or 0),
            "more_lrs_reach_target_with_bn": len(bn["lrs_reaching_target"]) > len(plain["lrs_reaching_target"]),
            "higher_best_accuracy_with_bn": bool(
                bn["best_val_accuracy"]["mean"] > plain["best_val_accuracy"]["mean"]
                and exceeds_spread(bn["best_val_accuracy"], plain["best_val_accuracy"])),
        }
    return out


def table(results: dict) -> str:
    rows = ["| learning rate | plain: best val acc | plain: steps to target | BN: best val acc "
            "| BN: steps to target |", "|---|---|---|---|---|"]
    for lr in results["plain"]:
        cells = []
        for variant in ("plain", "batch_norm"):
            r = results[variant][lr]
            diverged = sum(r["diverged"])
            note = f" ({diverged} of {len(r['diverged'])} diverged)" if diverged else ""
            cells += [format_mean_sd(r["best_val_accuracy"], 4) + note,
                      format_mean_sd(r["steps_to_target"], 0)]
        rows.append(f"| {lr} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def plot(results: dict, args, steps_per_epoch: int, path: Path, title: str) -> Path:
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(17, 4.5))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(args.lrs)))
    for a, variant in zip(ax[:2], ("plain", "batch_norm")):
        for color, (name, r) in zip(colors, results[variant].items()):
            for i, seed_acc in enumerate(r["val_accuracy"]):  # one line per seed
                acc = [np.nan if v is None else v for v in seed_acc]
                a.plot(steps_per_epoch * np.arange(1, len(acc) + 1), acc, marker="o", ms=2,
                       color=color, alpha=0.8, label=f"lr {name}" if i == 0 else None)
        a.axhline(args.target, color="gray", ls="--", lw=1)
        a.set(xlabel="SGD steps", ylabel="validation accuracy", ylim=(0, 1),
              title="without batch norm" if variant == "plain" else "with batch norm")
        a.legend(fontsize=8)
    for variant, marker in (("plain", "o"), ("batch_norm", "s")):
        best = [r["best_val_accuracy"] for r in results[variant].values()]
        ax[2].errorbar(args.lrs, [b["mean"] or 0.0 for b in best], yerr=[b["sd"] or 0.0 for b in best],
                       marker=marker, capsize=3, label=variant.replace("_", " "))
    ax[2].set(xscale="log", xlabel="learning rate", ylabel="best validation accuracy",
              title="tolerance to the learning rate (mean ± sd over seeds)", ylim=(0, 1))
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
    summary = summarize(results, args.lrs)
    write_table(args.out, table(results))
    print(summary["claims"])
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
