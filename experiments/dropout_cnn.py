"""Dropout in a CNN: how much it slows convergence and how much overfitting it removes.

    python experiments/dropout_cnn.py            # full: 10k training images, 30 epochs, 3 seeds
    python experiments/dropout_cnn.py --quick    # seconds (the test)

Claims (Senk, "Dropout", after Krizhevsky, Sutskever & Hinton 2012, section 4.2): "Without
dropout, CNNs exhibits substantial overfitting." and "Dropout roughly doubles the number of
iterations required to converge."

Method: the same CNN with and without dropout (p = 0.5 on the outputs of its two hidden fully
connected layers, where AlexNet puts it): conv3x3(32)-ReLU-maxpool2, conv3x3(64)-ReLU-maxpool2,
Dense(256)-ReLU-[Dropout], Dense(256)-ReLU-[Dropout], Dense(10); He-normal weights; no batch norm
and no weight decay, so dropout is the only regularizer. SGD with momentum 0.9 at one learning
rate for both (AlexNet trained both ways with the same schedule), batch 128, on a
`--train-size` subset of the Fashion-MNIST training split (small enough that the network can
memorize it within the run), with a separate 5,000-image validation split; the test set is read
once per run, at the end. Seeds train one after another (a vmapped population of conv nets runs
about 2.6x slower per member on XLA:CPU than one net at a time); each seed gives both variants
the same initial weights and the same batches.

After every epoch, in evaluation mode (no dropout): the loss and accuracy on the whole training
subset and on the validation split. Per run:
  steps_to_loss[t]   the first step count (an epoch end) at which the training loss falls below
                     each target t of `--targets`: the iterations needed to fit the data;
  best_val_step      the epoch end of the lowest validation loss (where early stopping would stop),
                     and best_val_accuracy_step that of the highest validation accuracy;
  gap                final training accuracy minus final validation accuracy (overfitting);
  val_loss_rise      final validation loss minus its minimum (overfitting: the loss climbs back).
Reported as mean +- sd over the seeds, and the per-seed ratio dropout / no dropout of
steps_to_loss (the claim's "roughly doubles").

Writes `<out>/metrics.json`, `<out>/table.md` and `<out>/dropout_cnn.png`.
"""
from __future__ import annotations

import time

import jax
import numpy as np
import optax
from _common import (finish_figure, format_mean_sd as fmt, load_images, mean_sd, parser, save_results,
                     settings as _settings, write_table)

from jdl import losses, metrics, nn, train, viz

VARIANTS = {"no dropout": 0.0, "dropout 0.5": 0.5}


def parse_args(argv=None):
    p = parser("dropout_cnn", __doc__.splitlines()[0])
    p.add_argument("--train-size", type=int, default=10000)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--targets", type=float, nargs="+", default=[0.3, 0.2, 0.1],
                   help="training losses (evaluation mode) whose first crossing is 'converged'")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.seeds, args.batch_size, args.targets = 3, 2, 50, [2.0, 1.0]
    return args


def cnn(rate: float, widths=(32, 64), dense: int = 256) -> nn.Layer:
    """The CNN of the docstring. The Dropout layers stay at `rate = 0` (the identity), so both
    variants have the same layer list and draw the same initial weights from one seed."""
    layers = []
    for i, width in enumerate(widths, start=1):
        layers += [(f"conv{i}", nn.Conv(width, 3, w_init="he")), (f"relu{i}", nn.Relu()),
                   (f"pool{i}", nn.MaxPool(2))]
    layers.append(("flatten", nn.Flatten()))
    for i in (1, 2):
        layers += [(f"fc{i}", nn.Dense(dense, w_init="he")), (f"fc{i}_relu", nn.Relu()),
                   (f"dropout{i}", nn.Dropout(rate))]
    layers.append(("logits", nn.Dense(10)))
    return nn.serial(*layers)


class TrainingSetProbe(train.Callback):
    """After each epoch: loss and accuracy on the training data in evaluation mode (the epoch's
    own `loss` log is measured with dropout on, which would favour the plain network)."""

    def __init__(self, eval_step, data, batch_size: int):
        self.eval_step, self.data, self.batch_size, self.logs = eval_step, data, batch_size, []

    def on_epoch_end(self, epoch, logs, ts):
        self.logs.append(train.evaluate(ts, self.eval_step, self.data, batch_size=self.batch_size))


def first_below(values, threshold: float, steps_per_epoch: int) -> int | None:
    hits = np.flatnonzero(np.asarray(values) < threshold)
    return int((hits[0] + 1) * steps_per_epoch) if len(hits) else None


def run(rate: float, seed: int, splits, args) -> dict:
    """Train one network; its per-epoch curves and the summary figures of the docstring."""
    (x, y), val, test = splits
    model = cnn(rate, *(((8, 16), 32) if args.quick else ()))
    optimizer = optax.sgd(args.lr, momentum=0.9)
    train_step, eval_step = train.make_steps(model, optimizer, losses.softmax_cross_entropy,
                                             metrics={"accuracy": metrics.accuracy})
    ts = train.init_train_state(model, optimizer, jax.random.key(seed), (1, *x.shape[1:]))
    probe = TrainingSetProbe(eval_step, (x, y), batch_size=1000)
    started = time.perf_counter()
    ts, history = train.fit(ts, train_step, (x, y), epochs=args.epochs, batch_size=args.batch_size,
                            val_data=val, eval_step=eval_step, callbacks=[probe], verbose=0)
    seconds = time.perf_counter() - started
    test_logs = train.evaluate(ts, eval_step, test)
    steps_per_epoch = len(x) // args.batch_size
    train_loss = [p["loss"] for p in probe.logs]
    train_acc = [p["accuracy"] for p in probe.logs]
    val_loss, val_acc = history["val_loss"], history["val_accuracy"]
    return {
        "train_loss": train_loss, "train_accuracy": train_acc, "val_loss": val_loss,
        "val_accuracy": val_acc, "seconds": round(seconds, 1),
        "steps_to_loss": {str(t): first_below(train_loss, t, steps_per_epoch) for t in args.targets},
        "best_val_step": int((np.argmin(val_loss) + 1) * steps_per_epoch),
        "best_val_accuracy_step": int((np.argmax(val_acc) + 1) * steps_per_epoch),
        "best_val_accuracy": float(np.max(val_acc)),
        "gap": float(train_acc[-1] - val_acc[-1]),
        "val_loss_rise": float(val_loss[-1] - np.min(val_loss)),
        "test_accuracy": test_logs["accuracy"], "test_loss": test_logs["loss"],
    }


def summarize(runs: dict, args) -> dict:
    """Mean +- sd over seeds of each figure, and the per-seed ratios dropout / no dropout."""
    out = {}
    for name, seeds in runs.items():
        out[name] = {key: mean_sd([r[key] for r in seeds]) for key in
                     ("gap", "val_loss_rise", "best_val_step", "best_val_accuracy_step", "best_val_accuracy",
                      "test_accuracy", "test_loss")}
        out[name]["final_train_accuracy"] = mean_sd([r["train_accuracy"][-1] for r in seeds])
        out[name]["final_val_accuracy"] = mean_sd([r["val_accuracy"][-1] for r in seeds])
        out[name]["steps_to_loss"] = {str(t): mean_sd([r["steps_to_loss"][str(t)] for r in seeds])
                                      for t in args.targets}
    plain, dropped = runs["no dropout"], runs["dropout 0.5"]
    out["ratio_steps_to_loss"] = {}
    for t in map(str, args.targets):
        pairs = [(d["steps_to_loss"][t], p["steps_to_loss"][t]) for d, p in zip(dropped, plain)]
        out["ratio_steps_to_loss"][t] = mean_sd([d / p if d and p else None for d, p in pairs])
    return out


def table(summary: dict, args) -> str:
    names = list(VARIANTS)
    rows = ["| figure (mean ± sd over seeds) | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names)]

    def row(label, get, digits):
        rows.append(f"| {label} | " + " | ".join(fmt(get(summary[n]), digits) for n in names) + " |")
    for t in map(str, args.targets):
        row(f"steps to training loss < {t}", lambda s: s["steps_to_loss"][t], 0)
    row("step of lowest validation loss", lambda s: s["best_val_step"], 0)
    row("step of best validation accuracy", lambda s: s["best_val_accuracy_step"], 0)
    row("final training accuracy", lambda s: s["final_train_accuracy"], 4)
    row("final validation accuracy", lambda s: s["final_val_accuracy"], 4)
    row("gap (training - validation accuracy)", lambda s: s["gap"], 4)
    row("validation loss rise (final - lowest)", lambda s: s["val_loss_rise"], 3)
    row("best validation accuracy", lambda s: s["best_val_accuracy"], 4)
    row("test accuracy (final weights)", lambda s: s["test_accuracy"], 4)
    rows.append("\n| training loss target | steps with dropout / without (per seed, mean ± sd) |")
    rows.append("|---|---|")
    for t, ratio in summary["ratio_steps_to_loss"].items():
        rows.append(f"| {t} | {fmt(ratio, 2)} |")
    return "\n".join(rows) + "\n"


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    train_data, val, test, dataset = load_images(args.quick, train_size=args.train_size, seed=args.seed)
    runs = {name: [] for name in VARIANTS}
    for seed in range(args.seed, args.seed + args.seeds):
        for name, rate in VARIANTS.items():
            r = run(rate, seed, (train_data, val, test), args)
            runs[name].append(r)
            print(f"seed {seed}, {name}: steps to loss {r['steps_to_loss']}, gap {r['gap']:.4f}, "
                  f"test {r['test_accuracy']:.4f} ({r['seconds']} s)")
    summary = summarize(runs, args)
    write_table(args.out, table(summary, args))
    out = {"settings": _settings(args), "dataset": dataset, "runs": runs, "summary": summary,
           "steps_per_epoch": len(train_data[0]) // args.batch_size}
    save_results(args.out, out, started=started)
    plot(runs, out["steps_per_epoch"], args)
    return out


def plot(runs: dict, steps_per_epoch: int, args):
    plt = viz.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for (name, seeds), color in zip(runs.items(), ("C3", "C0")):
        for i, r in enumerate(seeds):
            steps = steps_per_epoch * np.arange(1, len(r["train_loss"]) + 1)
            label = (lambda what: f"{name}, {what}") if i == 0 else (lambda what: None)
            axes[0].plot(steps, r["train_loss"], color=color, label=label("training"))
            axes[0].plot(steps, r["val_loss"], color=color, ls="--", label=label("validation"))
            axes[1].plot(steps, r["train_accuracy"], color=color, label=label("training"))
            axes[1].plot(steps, r["val_accuracy"], color=color, ls="--", label=label("validation"))
    for t in args.targets:
        axes[0].axhline(t, color="gray", ls=":", lw=0.8)
    axes[0].set(xlabel="SGD steps", ylabel="loss (evaluation mode)", yscale="log",
                title="loss: training (solid) and validation (dashed)")
    axes[1].set(xlabel="SGD steps", ylabel="accuracy (evaluation mode)",
                title="accuracy: the gap is the overfitting")
    return finish_figure(fig, args.out / "dropout_cnn.png",
                         f"A CNN with and without dropout ({args.train_size:,} training images, "
                         f"{args.seeds} seeds)", grid=axes, legend=axes)


if __name__ == "__main__":
    main()
