"""Regularization: a big MLP overfits 1,000 Fashion-MNIST images; which regularizer closes the gap?

    python experiments/regularization.py            # full: 1,000 train / 2,000 val / 10,000 test
    python experiments/regularization.py --quick    # seconds: a small MLP, 3 epochs (the tests);
                                                    # methods that train the same network share
                                                    # its compiled programs
    python experiments/regularization.py --methods none l1 --l1 3.0

Claim (Loo, "Too many parameters" implies "Overfitting", "Regularize Weights", L2 eq. 4-6, L1 eq.
7-9, early stopping; *Engineering Deep Learning*, "Regularization Strategies": norm penalties, data
augmentation, noise robustness, early stopping, dropout; Salakhutdinov and Senk, dropout "with
probability 0.5"): with far more parameters than examples the network fits the training set
perfectly and validates much worse; each regularizer shrinks that train/validation gap and should
not hurt (ideally improve) test accuracy; L1 "encourages zero coefficients", i.e. sparse weights.

Method: one MLP (default 784-1024-1024-10, ReLU, 1.86M weights for 1,000 examples); for each of
`--seeds` seeds, the same initialization, data and optimizer (SGD, momentum 0.9, lr 0.01 with cosine decay, batch 50,
150 epochs) for every method; only the regularizer changes:

    none            nothing
    l2              penalty l2(30, n=1000): lambda / (2n) sum w^2 (Loo, eq. 4)
    l1              penalty l1(0.3, n=1000): lambda / n sum |w| (Loo, eq. 7)
    dropout         Dropout(0.5) after each hidden layer (Salakhutdinov, Senk, *Engineering
                    Deep Learning*)
    early_stopping  stop when the validation loss has not improved for 20 epochs; restore
                    the best epoch's parameters (Loo, *Engineering Deep Learning*)
    augmentation    random horizontal flip, translation by <= 1 pixel, rotation by <= 5
                    degrees, drawn per example inside the jitted step (Senk, *Engineering
                    Deep Learning*)
    weight_noise    N(0, 0.05^2) noise on the weights at every training step (*Engineering
                    Deep Learning*)

Biases are never penalized or perturbed (*Engineering Deep Learning*: "Only weights are
penalized"). After training every model is evaluated in eval mode on the whole training set,
the validation and the test set: gap = train accuracy - validation accuracy; L1 sparsity =
fraction of weights with |w| < 1e-5 (--sparsity-tol; reported for every method, so the
baseline's fraction is the reference). Every figure is reported as mean +- sd over the seeds; a
method "shrinks the gap" or "changes the test accuracy" only when the difference from "none"
exceeds the sum of the two sds. The defaults were chosen by validation accuracy:
docs/experiments/regularization.md.

Writes `<out>/metrics.json`, `<out>/table.md` and `<out>/regularization.png` (seed 0's curves
and weights). Full mode: 7 methods x 3 seeds; the measured time is on the page.
"""
from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import jax
import numpy as np
import optax
from _common import (exceeds_spread, finish_figure, format_mean_sd, load_images, mean_sd, parser,
                     save_results, settings as _settings, write_table)

from jdl import data, losses, metrics, models, nn, paths, regularizers, train, viz

METHODS = ("none", "l2", "l1", "dropout", "early_stopping", "augmentation", "weight_noise")


def parse_args(argv=None):
    p = parser("regularization", __doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--hidden", type=int, nargs="+", default=[1024, 1024], help="hidden widths")
    p.add_argument("--train-size", type=int, default=1000)
    p.add_argument("--val-size", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=150)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--lr", type=float, default=0.01, help="peak SGD learning rate")
    p.add_argument("--schedule", choices=("cosine", "constant"), default="cosine",
                   help="learning rate: cosine decay to 0 over the run, or constant")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--l2", type=float, default=30.0, help="lambda of l2(lambda, n=train size)")
    p.add_argument("--l1", type=float, default=0.3, help="lambda of l1(lambda, n=train size)")
    p.add_argument("--dropout", type=float, default=0.5, help="probability of dropping a unit")
    p.add_argument("--patience", type=int, default=20, help="early-stopping patience (epochs)")
    p.add_argument("--monitor", default="val_loss", help="early-stopping metric")
    p.add_argument("--shift", type=int, default=1, help="augmentation: max translation (pixels)")
    p.add_argument("--degrees", type=float, default=5.0, help="augmentation: max rotation")
    p.add_argument("--noise-std", type=float, default=0.05, help="weight-noise standard deviation")
    p.add_argument("--sparsity-tol", type=float, default=1e-5, help="|w| below this counts as zero")
    p.add_argument("--seeds", type=int, default=3, help="seeds per method (mean +- sd)")
    args = p.parse_args(argv)
    if args.quick:
        args.hidden, args.epochs, args.patience, args.batch_size, args.seeds = [64], 3, 1, 50, 2
    return args


TOLERANCES = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)


def abs_weights(params) -> dict[str, np.ndarray]:
    """|w| of every weight tensor ("w" leaves; biases are never counted), by path."""
    flat = dict(zip(paths.paths(params), jax.tree.leaves(params)))
    return {p: np.abs(np.asarray(w)) for p, w in flat.items() if paths.is_weight(p)}


def sparsity(params, tol: float) -> dict:
    """Fraction of weights with |w| < tol: overall ("all"), per layer, and overall for each of
    TOLERANCES ("by_tol"), which separates L1's zeros (|w| at the optimizer's jitter, far below
    1e-4) from L2's merely small weights (shrunk geometrically, around 1e-4 to 1e-2)."""
    weights = abs_weights(params)
    every = np.concatenate([w.ravel() for w in weights.values()])
    out: dict = {p: float(np.mean(w < tol)) for p, w in weights.items()}
    out["all"] = float(np.mean(every < tol))
    out["by_tol"] = {f"{t:g}": float(np.mean(every < t)) for t in TOLERANCES}
    return out


def reuse(shared: dict | None, key, make):
    """`make()`, or with --quick (`shared` a dict) the object made earlier under `key`: the
    methods that train the same network then share one model, so jdl's compile cache reuses
    its init program and eval step (and the train step of "none" and "early_stopping"). The
    numbers are those of separate objects; only the compiling is saved."""
    if shared is None:
        return make()
    if key not in shared:
        shared[key] = make()
    return shared[key]


def build(method: str, args, n_train: int, shared: dict | None = None):
    """(model, penalty, callbacks) of one method; everything else is shared."""
    rate = args.dropout if method == "dropout" else 0.0
    model = reuse(shared, ("mlp", rate),
                  lambda: models.mlp([*args.hidden, 10], "relu", dropout=rate))
    penalty, callbacks = None, []
    if method == "l2":
        penalty = regularizers.l2(args.l2, n=n_train)
    elif method == "l1":
        penalty = regularizers.l1(args.l1, n=n_train)
    elif method == "early_stopping":
        callbacks = [train.EarlyStopping(args.monitor, args.patience, restore_best=True)]
    elif method == "augmentation":
        model = nn.augmenting(model, data.make_augmentation(
            partial(data.random_flip, horizontal=True),
            partial(data.random_translate, max_shift=args.shift),
            partial(data.random_rotation, max_degrees=args.degrees)))
    elif method == "weight_noise":
        model = regularizers.noisy_apply(model, args.noise_std)
    return model, penalty, callbacks


def run_method(method: str, args, splits, shared: dict | None = None,
               seed: int | None = None) -> tuple[dict, np.ndarray]:
    """Train one method from `seed`'s weights and shuffles (default `--seed`); return its metrics
    and its absolute weights (for the histogram)."""
    seed = args.seed if seed is None else seed
    (x_tr, y_tr), val, test = splits
    model, penalty, callbacks = build(method, args, len(x_tr), shared)
    steps = args.epochs * (len(x_tr) // args.batch_size)
    lr = optax.cosine_decay_schedule(args.lr, steps) if args.schedule == "cosine" else args.lr
    optimizer = optax.sgd(lr, momentum=args.momentum)
    # a wrapper (augmentation, weight noise) keeps its network's init: with --quick, the first
    # model with that init function initializes it, through one compiled init program
    init_model = reuse(shared, ("init", model.init), lambda: model)
    ts = train.init_train_state(init_model, optimizer, jax.random.key(seed),
                                (1, *x_tr.shape[1:]))
    acc = {"accuracy": metrics.accuracy}
    train_step = reuse(shared, ("train", model, None if penalty is None else method),
                       lambda: train.make_train_step(model, optimizer, losses.softmax_cross_entropy,
                                                     metrics=acc, penalty=penalty))
    eval_step = reuse(shared, ("eval", model), lambda: train.make_eval_step(
        model, losses.softmax_cross_entropy, metrics=acc))
    # One evaluation batch shape for all three sets: the eval step compiles once.
    eval_bs = min(1000, len(x_tr), len(val[0]), len(test[0]))
    started = time.perf_counter()
    ts, history = train.fit(ts, train_step, (x_tr, y_tr), epochs=args.epochs,
                            batch_size=args.batch_size, val_data=val, eval_step=eval_step,
                            callbacks=callbacks, verbose=0, eval_batch_size=eval_bs,
                            steps_per_call=len(x_tr) // args.batch_size, unroll=False)
    final = {name: train.evaluate(ts, eval_step, pair, batch_size=eval_bs)
             for name, pair in (("train", (x_tr, y_tr)), ("val", val), ("test", test))}
    result = {
        "train_accuracy": final["train"]["accuracy"], "val_accuracy": final["val"]["accuracy"],
        "test_accuracy": final["test"]["accuracy"], "train_loss": final["train"]["loss"],
        "val_loss": final["val"]["loss"], "test_loss": final["test"]["loss"],
        "gap_accuracy": final["train"]["accuracy"] - final["val"]["accuracy"],
        "gap_loss": final["val"]["loss"] - final["train"]["loss"],
        "sparsity": sparsity(ts.params, args.sparsity_tol),
        "weight_l2_norm": float(np.sqrt(sum(np.sum(np.square(w, dtype=np.float64))
                                            for w in abs_weights(ts.params).values()))),
        "epochs_run": len(history["loss"]), "seconds": round(time.perf_counter() - started, 2),
        "history": {k: history[k] for k in ("loss", "accuracy", "val_loss", "val_accuracy")},
    }
    if callbacks:
        result["best_epoch"] = callbacks[0].best_epoch + 1
    return result, np.concatenate([w.ravel() for w in abs_weights(ts.params).values()])


def plot(results: dict, weights: dict, path: Path, title: str) -> Path:
    """Validation loss per epoch, train/val/test accuracy bars, sparsity, |w| histograms."""
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 4, figsize=(22, 4.5))
    names = list(results)
    for m in names:
        ax[0].plot(range(1, len(results[m]["history"]["val_loss"]) + 1),
                   results[m]["history"]["val_loss"], label=m)
    ax[0].set(xlabel="epoch", ylabel="validation loss", title="overfitting: validation loss")
    ax[0].legend(fontsize=8)
    pos = np.arange(len(names))
    for i, split in enumerate(("train", "val", "test")):
        ax[1].bar(pos + (i - 1) * 0.27, [results[m][f"{split}_accuracy"] for m in names], 0.27,
                  label=split)
    low = min(results[m]["test_accuracy"] for m in names)
    ax[1].set(xticks=pos, ylim=(max(0.0, low - 0.1), 1.0), ylabel="accuracy",
              title="train / validation / test accuracy")
    ax[1].set_xticklabels(names, rotation=30, ha="right")
    ax[1].legend(fontsize=8)
    ax[2].bar(pos, [results[m]["sparsity"]["all"] for m in names], color="gray")
    ax[2].set(xticks=pos, ylabel="fraction of |w| < tol", title="sparsity of the weights")
    ax[2].set_xticklabels(names, rotation=30, ha="right")
    bins = np.logspace(-10, 0, 61)
    shown = [m for m in ("none", "l2", "l1") if m in weights] or names[:1]
    for m in shown:
        ax[3].hist(np.clip(weights[m], 1e-10, None), bins=bins, histtype="step", label=m)
    ax[3].set(xscale="log", yscale="log", xlabel="|w| (below 1e-10: first bin)", ylabel="count",
              title="weight magnitudes")
    ax[3].legend(fontsize=8)
    return finish_figure(fig, path, title, grid=ax)


SEED_KEYS = ("train_accuracy", "val_accuracy", "test_accuracy", "gap_accuracy", "epochs_run")


def summarize(results: dict) -> dict:
    """Each method against "none", by the spread rule (a difference counts only when it exceeds
    the sum of the two sds over seeds): did the gap shrink, did the test accuracy rise or fall."""
    if "none" not in results:
        return {}
    base = results["none"]["over_seeds"]
    summary = {}
    for m, r in results.items():
        if m == "none":
            continue
        s = r["over_seeds"]
        beyond = {k: bool(exceeds_spread(s[k], base[k])) for k in ("gap_accuracy", "test_accuracy")}
        change = s["test_accuracy"]["mean"] - base["test_accuracy"]["mean"]
        summary[m] = {"gap_reduced": bool(s["gap_accuracy"]["mean"] < base["gap_accuracy"]["mean"]
                                          and beyond["gap_accuracy"]),
                      "test_accuracy_change": change,
                      "test_accuracy": ("higher" if change > 0 else "lower")
                      if beyond["test_accuracy"] else "within noise"}
    if "l1" in results:
        summary["l1_sparser_than_none"] = bool(
            results["l1"]["over_seeds"]["sparsity"]["mean"] > base["sparsity"]["mean"]
            and exceeds_spread(results["l1"]["over_seeds"]["sparsity"], base["sparsity"]))
    return summary


def table(results: dict) -> str:
    """Mean ± sd over the seeds of the final figures of every method."""
    f = format_mean_sd
    rows = ["| method | train acc | val acc | test acc | gap (train - val) | weights with |w| < tol "
            "| epochs |", "|---|---|---|---|---|---|---|"]
    for m, r in results.items():
        s = r["over_seeds"]
        epochs = f(s["epochs_run"], 0) if s["epochs_run"]["sd"] else f"{s['epochs_run']['mean']:.0f}"
        rows.append(f"| {m} | {f(s['train_accuracy'], 4)} | {f(s['val_accuracy'], 4)} | "
                    f"{f(s['test_accuracy'], 4)} | {f(s['gap_accuracy'], 4)} | "
                    f"{100 * s['sparsity']['mean']:.2f}% ± {100 * s['sparsity']['sd']:.2f}% | {epochs} |")
    return "\n".join(rows) + "\n"


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    train_data, val, test, name = load_images(args.quick, train_size=args.train_size,
                                              val_size=args.val_size, seed=args.seed)
    results, weights = {}, {}
    shared = {} if args.quick else None
    seeds = range(args.seed, args.seed + args.seeds)
    for method in args.methods:
        runs = [run_method(method, args, (train_data, val, test), shared, seed) for seed in seeds]
        (results[method], weights[method]), records = runs[0], [r for r, _ in runs]
        results[method]["over_seeds"] = {key: mean_sd([r[key] for r in records]) for key in SEED_KEYS}
        results[method]["over_seeds"]["sparsity"] = mean_sd([r["sparsity"]["all"] for r in records])
        s = results[method]["over_seeds"]
        print(f"{method:15s} train {s['train_accuracy']['mean']:.4f}  val {s['val_accuracy']['mean']:.4f}  "
              f"test {s['test_accuracy']['mean']:.4f} ± {s['test_accuracy']['sd']:.4f}  "
              f"gap {s['gap_accuracy']['mean']:+.4f}  |w|<tol {s['sparsity']['mean']:.3f}  "
              f"({results[method]['seconds']:.1f} s per run)")
    summary = summarize(results)
    write_table(args.out, table(results))
    settings = _settings(args)
    out = {"dataset": name, "n_train": len(train_data[0]), "n_val": len(val[0]),
           "n_test": len(test[0]), "settings": settings, "methods": results, "summary": summary}
    save_results(args.out, out, started=started)
    plot(results, weights, args.out / "regularization.png",
         f"MLP {[*args.hidden, 10]} on {len(train_data[0])} {name} examples")
    return out


if __name__ == "__main__":
    main()
