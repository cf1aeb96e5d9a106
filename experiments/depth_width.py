"""Depth against width at equal parameter counts: MLPs of 1 to 16 hidden layers on Fashion-MNIST.

    python experiments/depth_width.py            # full: 2 budgets x 5 depths x 3 seeds
    python experiments/depth_width.py --quick    # seconds (the test)

Claims (*Engineering Deep Learning*, "Architecture Design": "A *large* single—layered MLP will
be able to represent any function, but learning the function can fail: Optimization algorithm
is unable to find the required parameters. Algorithm can choose a wrong function that
overfits.", "Deeper networks with fewer parameters usually generalize well."; COMP9321: "The
capacity of the network increases with more hidden units and more hidden layers").

Method: a parameter budget is named by the width W of the one-hidden-layer network 784-W-10
that spends it (`--budgets`, default 64 and 1024: 50,890 and 814,090 parameters). For each
depth d in `--depths`, the hidden width w is the one whose 784-w-...-w-10 network (d hidden
layers of w ReLU units, He initialization) comes closest to the budget. Each (budget, depth)
trains `--seeds` seeds as one population (Adam `--lr`, batch `--batch-size`, up to `--epochs`
epochs on 55,000 training images, validation on 5,000; per-member early stopping on the
validation accuracy with patience `--patience`, best epoch restored). Reported per member: the
training accuracy (on 10,000 training images, evaluation mode), validation and test accuracy
of the restored epoch, the gap train - test, and the epoch of the best validation accuracy.

Writes `<out>/metrics.json`, `<out>/table.md` and `<out>/depth_width.png`.
"""
from __future__ import annotations

import time

import jax
import numpy as np
import optax
from _common import finish_figure, load_images, parser, save_results, settings as _settings, write_table

from jdl import losses, metrics, models, summary, train, viz

INPUTS, CLASSES = 784, 10


def parse_args(argv=None):
    p = parser("depth_width", __doc__.splitlines()[0])
    p.add_argument("--budgets", type=int, nargs="+", default=[64, 1024],
                   help="budgets, as the width of the one-hidden-layer net that spends them")
    p.add_argument("--depths", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=128)
    args = p.parse_args(argv)
    if args.quick:
        args.budgets, args.depths, args.seeds, args.epochs, args.patience = [16], [1, 3], 2, 2, 1
    return args


def mlp_params(depth: int, width: int, inputs: int = INPUTS, classes: int = CLASSES) -> int:
    """Weights and biases of inputs-width-...-width-classes with `depth` hidden layers."""
    return inputs * width + width + (depth - 1) * (width * width + width) + width * classes + classes


def width_for(budget: int, depth: int) -> int:
    """The hidden width whose depth-layer MLP has the parameter count closest to `budget`."""
    widths = np.arange(1, 4 * int(np.sqrt(budget)) + INPUTS)
    counts = np.array([mlp_params(depth, int(w)) for w in widths])
    return int(widths[np.argmin(np.abs(counts - budget))])


def run(depth: int, width: int, splits, args) -> dict:
    """Train `args.seeds` seeds of one architecture as a population; per-member results."""
    (x, y), val, test = splits
    model = models.mlp([width] * depth + [CLASSES], "relu", w_init="he")
    optimizer = optax.adam(args.lr)
    train_step, eval_step = train.make_steps(model, optimizer, losses.softmax_cross_entropy,
                                             metrics={"accuracy": metrics.accuracy})
    keys = jax.random.split(jax.random.key(args.seed), args.seeds)
    pop = train.init_population(model, optimizer, keys, (1, x.shape[1]))
    started = time.perf_counter()
    eval_batch = 100 if args.quick else 1000
    pop, history = train.fit_population(pop, train_step, (x, y), epochs=args.epochs,
                                        batch_size=args.batch_size, val_data=val,
                                        eval_step=eval_step, patience=args.patience,
                                        monitor="val_accuracy", eval_batch_size=eval_batch,
                                        steps_per_call=1 if args.quick else 4, verbose=0)
    seconds = time.perf_counter() - started
    n_train_eval = min(len(x), 10000)
    scores = {name: train.evaluate_population(pop, eval_step, data, batch_size=eval_batch)["accuracy"]
              for name, data in (("train", (x[:n_train_eval], y[:n_train_eval])), ("val", val),
                                 ("test", test))}
    params = summary.summary(model, (1, x.shape[1])).total_params
    return {"depth": depth, "width": width, "params": int(params),
            "train_accuracy": scores["train"].tolist(), "val_accuracy": scores["val"].tolist(),
            "test_accuracy": scores["test"].tolist(),
            "gap": (scores["train"] - scores["test"]).tolist(),
            "best_epoch": (np.asarray(history["best_epoch"]) + 1).tolist(),
            "val_accuracy_curve": np.median(history["val_accuracy"], axis=1).tolist(),
            "seconds": round(seconds, 1)}


def mean_sd(values) -> str:
    return f"{np.mean(values):.4f} ± {np.std(values, ddof=1) if len(values) > 1 else 0.0:.4f}"


def table(results: dict) -> str:
    lines = ["| budget | depth x width | params | train acc | test acc | train - test | best epoch |",
             "|---|---|---|---|---|---|---|"]
    for budget, rows in results.items():
        for r in rows:
            lines.append(f"| {budget} | {r['depth']} x {r['width']} | {r['params']:,} | "
                         f"{mean_sd(r['train_accuracy'])} | {mean_sd(r['test_accuracy'])} | "
                         f"{mean_sd(r['gap'])} | {np.median(r['best_epoch']):.0f} |")
    return "\n".join(lines) + "\n"


def plot(results: dict, args):
    plt = viz.pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.5))
    for (budget, rows), color in zip(results.items(), ("C0", "C1", "C2", "C3")):
        depths = [r["depth"] for r in rows]
        label = f"{rows[0]['params']:,} params"
        for ax, key in ((axes[0], "test_accuracy"), (axes[1], "gap")):
            values = [np.mean(r[key]) for r in rows]
            spread = [np.std(r[key]) for r in rows]
            ax.errorbar(depths, values, yerr=spread, marker="o", color=color, capsize=3, label=label)
        axes[0].plot(depths, [np.mean(r["train_accuracy"]) for r in rows], ls=":", color=color,
                     label=f"{label} (train)")
        for r, alpha in zip(rows, np.linspace(0.3, 1.0, len(rows))):
            axes[2].plot(np.arange(1, len(r["val_accuracy_curve"]) + 1), r["val_accuracy_curve"],
                         color=color, alpha=alpha, label=f"{label}, depth {r['depth']}")
    axes[0].set(xscale="log", xlabel="hidden layers (equal parameters per budget)",
                ylabel="accuracy (mean of seeds; dotted: train)", title="accuracy")
    axes[1].set(xscale="log", xlabel="hidden layers", ylabel="train - test accuracy",
                title="generalization gap")
    axes[2].set(xlabel="epoch", ylabel="validation accuracy (median of seeds)",
                title="learning curves")
    for ax in axes[:2]:
        ax.set_xticks(args.depths, [str(d) for d in args.depths])
    return finish_figure(fig, args.out / "depth_width.png",
                         "Depth against width at equal parameter counts (Fashion-MNIST MLPs)",
                         grid=axes, legend=axes)


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    *splits, dataset = load_images(args.quick, seed=args.seed, flatten=True)
    results = {}
    for budget in args.budgets:
        total = mlp_params(1, budget)
        rows = []
        for depth in args.depths:
            width = width_for(total, depth)
            row = run(depth, width, splits, args)
            rows.append(row)
            print(f"budget {total:,}: {depth:2d} x {width:4d} ({row['params']:,} params)  "
                  f"train {np.mean(row['train_accuracy']):.4f}  test {np.mean(row['test_accuracy']):.4f}"
                  f"  ({row['seconds']} s)")
        results[f"{total:,}"] = rows
    write_table(args.out, table(results))
    out = {"settings": _settings(args), "dataset": dataset, "n_train": len(splits[0][0]),
           "results": results}
    save_results(args.out, out, started=started)
    plot(results, args)
    return out


if __name__ == "__main__":
    main()
