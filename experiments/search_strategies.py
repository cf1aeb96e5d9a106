"""Search strategies on one budget: grid, random and batched Bayesian optimization, and k-fold
cross-validation against a single validation split.

    python experiments/search_strategies.py            # full: 36 members per strategy, 3 seeds
    python experiments/search_strategies.py --quick    # seconds (the test)

Claims (Salakhutdinov, *Deep Learning Essentials*, "Choosing Architecture": "Many
hyper-parameters", "Cross Validation", "Grid Search (need lots of GPUs)", "Smarter Strategies",
"Bayesian Optimization"). Our reading: on the same number of trained models, Bayesian
optimization finds better settings than grid or random search; and cross-validation estimates a
setting's accuracy more reliably than one validation split.

Method: an MLP 784-`--hidden`-10 (ReLU) on `--train-size` Fashion-MNIST training images, AdamW
through `optax.inject_hyperparams` with two hyper-parameters, the learning rate (log-uniform
in [1e-4, 1e-1]) and the weight decay (log-uniform in [1e-4, 1]). Every strategy trains
`--budget` members (`--epochs` epochs, batch `--batch-size`), each scored by its best
validation accuracy on 5,000 held-out images:
- grid: a sqrt(budget) x sqrt(budget) grid, log-spaced over both ranges, one population;
- random: `budget` settings drawn by `train.random_search`, one population;
- bayes: `train.BayesianSearch` in batches of `--batch` settings, each batch one population.
Each strategy's winner (best validation accuracy) is then read once on the 10,000 test images.
The whole comparison runs for `--seeds` seeds (the random draws, the BO candidates and the
initial weights change; the grid's settings do not).

Cross-validation: the best grid setting and the grid's median setting, each by `--folds`-fold
cross-validation on the training images (`train.cross_validate`, all folds of both settings in
one population). A single validation split is one fold: its estimate's spread is the
standard deviation over the folds, the k-fold mean's is that divided by sqrt(k).

Writes `<out>/metrics.json`, `<out>/table.md` and `<out>/search_strategies.png`.
"""
from __future__ import annotations

import time

import jax
import numpy as np
import optax
from _common import finish_figure, load_images, parser, save_results, settings as _settings, write_table

from jdl import losses, metrics, models, train, viz

SPACES = {"learning_rate": ("log_uniform", 1e-4, 1e-1), "weight_decay": ("log_uniform", 1e-4, 1.0)}
STRATEGIES = ("grid", "random", "bayes")


def parse_args(argv=None):
    p = parser("search_strategies", __doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--train-size", type=int, default=10000)
    p.add_argument("--budget", type=int, default=36, help="members per strategy (a square)")
    p.add_argument("--batch", type=int, default=4, help="settings per Bayesian batch")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=128)
    args = p.parse_args(argv)
    if args.quick:
        args.hidden, args.budget, args.batch, args.seeds, args.folds, args.epochs = 16, 4, 2, 1, 2, 1
    if int(round(np.sqrt(args.budget))) ** 2 != args.budget:
        p.error(f"--budget: expected a square (the grid is sqrt x sqrt), got {args.budget}")
    if args.budget % args.batch:
        p.error(f"--batch: expected a divisor of --budget {args.budget}, got {args.batch}")
    return args


def setup(args):
    """(model, optimizer, (train step, eval step)): built once, every population reuses them."""
    model = models.mlp([args.hidden, 10], "relu")
    optimizer = optax.inject_hyperparams(optax.adamw)(learning_rate=1e-3, weight_decay=1e-4)
    steps = train.make_steps(model, optimizer, losses.softmax_cross_entropy,
                             metrics={"accuracy": metrics.accuracy})
    return model, optimizer, steps


def grid_settings(n: int) -> dict[str, np.ndarray]:
    """An n x n log-spaced grid over both ranges of SPACES."""
    axes = {name: np.geomspace(lo, hi, n) for name, (_, lo, hi) in SPACES.items()}
    return {k: np.asarray(v, np.float32) for k, v in train.grid(**axes).items()}


def train_settings(settings: dict, key, shared, data, args) -> tuple[np.ndarray, train.TrainState]:
    """Best validation accuracy (n,) of one population, one member per setting; the population."""
    model, optimizer, (train_step, eval_step) = shared
    (x, y), val = data
    n = len(next(iter(settings.values())))
    pop = train.init_population(model, optimizer, jax.random.split(key, n), (1, x.shape[1]),
                                hyperparams=settings)
    pop, history = train.fit_population(pop, train_step, (x, y), epochs=args.epochs,
                                        batch_size=args.batch_size, val_data=val,
                                        # patience = epochs never stops a member early but
                                        # restores each one's best epoch (the one scored)
                                        eval_step=eval_step, patience=args.epochs,
                                        monitor="val_accuracy", verbose=0,
                                        eval_batch_size=100 if args.quick else 1000,
                                        steps_per_call=1 if args.quick else 4)
    scores = np.nanmax(np.asarray(history["val_accuracy"], np.float64), axis=0)
    return scores, pop


def run_strategy(name: str, seed: int, shared, data, args) -> dict:
    """Settings tried in order, their scores, which batch proposed them, and the winner."""
    key = jax.random.key(seed)
    if name == "bayes":
        search = train.BayesianSearch(jax.random.fold_in(key, 2), batch_size=args.batch, **SPACES)
        tried, scores, batches, pops = {k: [] for k in SPACES}, [], [], []
        for b in range(args.budget // args.batch):
            settings = search.ask()
            s, pop = train_settings(settings, jax.random.fold_in(key, 10 + b), shared, data, args)
            search.tell(settings, s)
            for k in SPACES:
                tried[k] += np.asarray(settings[k], np.float64).tolist()
            scores += s.tolist()
            batches += [b] * len(s)
            pops.append(pop)
        win = int(np.argmax(scores))
        chosen = train.member(pops[win // args.batch], win % args.batch)
    else:
        settings = (grid_settings(int(round(np.sqrt(args.budget)))) if name == "grid" else
                    train.random_search(jax.random.fold_in(key, 1), args.budget, **SPACES))
        s, pop = train_settings(settings, jax.random.fold_in(key, 10), shared, data, args)
        tried = {k: np.asarray(v, np.float64).tolist() for k, v in settings.items()}
        scores, batches = s.tolist(), [0] * len(s)
        win = int(np.argmax(scores))
        chosen = train.member(pop, win)
    return {"settings": tried, "scores": scores, "batch": batches, "winner": win,
            "best_so_far": np.maximum.accumulate(scores).tolist(), "chosen": chosen}


def cross_validation(settings: dict, shared, data, args) -> dict:
    model, optimizer, steps = shared
    cv = train.cross_validate(model, optimizer, steps, data, k=args.folds,
                              key=jax.random.key(args.seed + 100), input_shape=(1, data[0].shape[1]),
                              epochs=args.epochs, batch_size=args.batch_size, hyperparams=settings,
                              monitor="val_accuracy", refit=False, verbose=0,
                              steps_per_call=1 if args.quick else 4,
                              eval_batch_size=100 if args.quick else 500)
    scores = np.asarray(cv.scores, np.float64)
    return {"settings": {k: np.asarray(v, np.float64).tolist() for k, v in settings.items()},
            "fold_scores": scores.tolist(), "mean": scores.mean(1).tolist(),
            "single_split_sd": scores.std(1, ddof=1).tolist(),
            "kfold_mean_se": (scores.std(1, ddof=1) / np.sqrt(args.folds)).tolist(),
            "single_split_ranks_agree": [bool((scores[0, i] > scores[1, i]) ==
                                              (scores[0].mean() > scores[1].mean()))
                                         for i in range(args.folds)]}


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    train_data, val, test, dataset = load_images(args.quick, train_size=args.train_size,
                                                 seed=args.seed, flatten=True)
    shared = setup(args)
    eval_step, eval_batch = shared[2][1], 100 if args.quick else 1000
    runs = {name: [] for name in STRATEGIES}
    for seed in range(args.seed, args.seed + args.seeds):
        for name in STRATEGIES:
            t0 = time.perf_counter()
            r = run_strategy(name, seed, shared, (train_data, val), args)
            chosen = r.pop("chosen")
            r["test_accuracy"] = train.evaluate(chosen, eval_step, test, batch_size=eval_batch)["accuracy"]
            r["best_val_accuracy"], r["seconds"] = max(r["scores"]), round(time.perf_counter() - t0, 1)
            runs[name].append(r)
            print(f"seed {seed} {name:6s} best val {r['best_val_accuracy']:.4f}  test "
                  f"{r['test_accuracy']:.4f}  ({r['seconds']} s)")
    grid_run = runs["grid"][0]
    order = np.argsort(grid_run["scores"])
    picks = [int(order[-1]), int(order[len(order) // 2])]     # the grid's best and median settings
    cv_settings = {k: np.asarray(grid_run["settings"][k], np.float32)[picks] for k in SPACES}
    cv = cross_validation(cv_settings, shared, train_data, args)
    write_table(args.out, table(runs, cv))
    out = {"settings": _settings(args), "dataset": dataset, "n_train": len(train_data[0]),
           "spaces": {k: list(v) for k, v in SPACES.items()}, "runs": runs, "cross_validation": cv}
    save_results(args.out, out, started=started)
    plot(runs, cv, args)
    return out


def table(runs: dict, cv: dict) -> str:
    def ms(v):
        return f"{np.mean(v):.4f} ± {np.std(v, ddof=1):.4f}" if len(v) > 1 else f"{v[0]:.4f}"
    lines = ["| strategy | best validation accuracy | winner's test accuracy | validation - test |",
             "|---|---|---|---|"]
    for name, rs in runs.items():
        val, test = [r["best_val_accuracy"] for r in rs], [r["test_accuracy"] for r in rs]
        lines.append(f"| {name} | {ms(val)} | {ms(test)} | {ms(np.subtract(val, test))} |")
    lines += ["", "| setting (lr, weight decay) | k-fold mean | one split's sd | k-fold mean's se | folds |",
              "|---|---|---|---|---|"]
    for i in range(len(cv["mean"])):
        lr, wd = cv["settings"]["learning_rate"][i], cv["settings"]["weight_decay"][i]
        folds = ", ".join(f"{s:.4f}" for s in cv["fold_scores"][i])
        lines.append(f"| {lr:.2g}, {wd:.2g} | {cv['mean'][i]:.4f} | {cv['single_split_sd'][i]:.4f} "
                     f"| {cv['kfold_mean_se'][i]:.4f} | {folds} |")
    return "\n".join(lines) + "\n"


def plot(runs: dict, cv: dict, args):
    plt = viz.pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.5))
    for (name, rs), color in zip(runs.items(), ("C0", "C1", "C2")):
        curves = np.array([r["best_so_far"] for r in rs])
        members = np.arange(1, curves.shape[1] + 1)
        axes[0].plot(members, curves.mean(0), color=color, marker="o", ms=3, label=name)
        axes[0].fill_between(members, curves.min(0), curves.max(0), color=color, alpha=0.15)
        for r in rs:
            axes[1].scatter(r["settings"]["learning_rate"], r["settings"]["weight_decay"],
                            c=r["scores"], cmap="viridis", marker={"grid": "s", "random": "^",
                                                                  "bayes": "o"}[name],
                            s=30, vmin=0.75, vmax=0.87, edgecolors=color)
    axes[0].set(xlabel="members trained", ylabel="best validation accuracy so far",
                title="mean over seeds (band: min to max)")
    axes[1].set(xscale="log", yscale="log", xlabel="learning rate", ylabel="weight decay",
                title="settings tried (colour: validation accuracy, 0.75 to 0.87)")
    for i, scores in enumerate(cv["fold_scores"]):
        axes[2].scatter(np.full(len(scores), i), scores, color="C3", label="one split (a fold)" if i == 0 else None)
        axes[2].errorbar(i + 0.15, cv["mean"][i], yerr=cv["kfold_mean_se"][i], color="k", marker="D",
                         capsize=4, label=f"{args.folds}-fold mean ± se" if i == 0 else None)
    axes[2].set(xticks=range(len(cv["mean"])), xticklabels=["grid's best", "grid's median"][:len(cv["mean"])],
                ylabel="validation accuracy", title="cross-validation vs one split")
    return finish_figure(fig, args.out / "search_strategies.png",
                         "Hyper-parameter search on one budget (Fashion-MNIST MLP)",
                         grid=axes, legend=[axes[0], axes[2]])


if __name__ == "__main__":
    main()
