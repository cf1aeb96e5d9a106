"""Model selection: train / validation / test, a small grid search and a random search, the
test set touched once.

    python experiments/model_selection.py            # full: 20k train / 5k val / 10k test
    python experiments/model_selection.py --quick    # seconds (the test): both searches share
                                                     # one model and its compiled programs
    python experiments/model_selection.py --lrs 1e-3 3e-3 --weight-decays 0 0.05

Claim (Salakhutdinov, "Model Selection": "For model selection, use Validation Set", "Estimate
generalization performance using the Test Set"; "Grid Search (need lots of GPUs)"; Loo's
training / validation / test split; random search from Bergstra & Bengio 2012), read here as:
choose hyper-parameters on the validation set and read the test set once, at the end.
Choosing among many settings by validation accuracy makes the winner's validation score
optimistic (it is the maximum of noisy estimates), so the only honest estimate of the chosen model
is its score on a test set used once, after the choice.

Method: MLP 784-256-10 (ReLU), AdamW through `optax.inject_hyperparams` so the learning rate and
the weight decay are per-member values; each search is one population trained by
`jdl.train.fit_population` with per-member early stopping (patience `--patience` on the
validation accuracy, best epoch restored):
  grid    every (lr, weight decay) of `--lrs` x `--weight-decays`;
  random  the same number of members, lr log-uniform in [min lrs, max lrs] and weight decay
          uniform in [0, max weight decays] (Bergstra & Bengio 2012).
The member with the best validation accuracy of each search is evaluated on the test set: that
is the only time the test set is read. Reported: the results table of each search, the winner's
validation and test accuracy, and the gap between them.

Writes `<out>/metrics.json`, `<out>/table.md` and `<out>/model_selection.png`. Full mode on the
2-core CPU: about 3 minutes (measured: see docs/experiments/model_selection.md).
"""
from __future__ import annotations

import time
from pathlib import Path

import jax
import numpy as np
import optax
from _common import finish_figure, load_images, parser, save_results, settings as _settings

from jdl import losses, metrics, models, train, viz
from jdl.io import atomic_write


def parse_args(argv=None):
    p = parser("model_selection", __doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, nargs="+", default=[256])
    p.add_argument("--lrs", type=float, nargs="+", default=[3e-4, 1e-3, 3e-3, 1e-2])
    p.add_argument("--weight-decays", type=float, nargs="+", default=[0.0, 0.03, 0.3])
    p.add_argument("--train-size", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    args = p.parse_args(argv)
    if args.quick:
        args.hidden, args.epochs, args.lrs, args.weight_decays, args.patience = [32], 2, [1e-3, 1e-2], [0.0, 0.1], 1
    return args


def setup(args):
    """(model, optimizer, train step, eval step) of a search."""
    model = models.mlp([*args.hidden, 10], "relu")
    optimizer = optax.inject_hyperparams(optax.adamw)(learning_rate=1e-3, weight_decay=0.0)
    return (model, optimizer, *train.make_steps(model, optimizer, losses.softmax_cross_entropy,
                                                metrics={"accuracy": metrics.accuracy}))


def search(settings: dict, args, train_data, val, shared=None
           ) -> tuple[train.TrainState, dict, float]:
    """Train one population, one member per setting; return it, its history and seconds.
    `shared` (--quick): the `setup` of the other search, so its compiled programs are reused."""
    model, optimizer, train_step, eval_step = shared or setup(args)
    n = len(next(iter(settings.values())))
    keys = jax.random.split(jax.random.key(args.seed), n)
    pop = train.init_population(model, optimizer, keys, (1, train_data[0].shape[1]),
                                hyperparams=settings)
    started = time.perf_counter()
    pop, history = train.fit_population(pop, train_step, train_data, epochs=args.epochs,
                                        batch_size=args.batch_size, val_data=val,
                                        eval_step=eval_step, patience=args.patience,
                                        monitor="val_accuracy", verbose=0,
                                        eval_batch_size=100 if args.quick else min(1000, len(val[0])),
                                        steps_per_call=1 if args.quick else 4)
    return pop, history, time.perf_counter() - started, model, eval_step


def plot(reports: dict, path: Path, title: str) -> Path:
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, marker in (("grid", "o"), ("random", "^")):
        rows = reports[name]["table"]
        ax[0].scatter([r["learning_rate"] for r in rows], [r["weight_decay"] for r in rows],
                      c=[r["best_val_accuracy"] for r in rows], marker=marker, s=80,
                      cmap="viridis", label=name, edgecolors="k")
        ax[1].bar([f"{name}\nvalidation", f"{name}\ntest"],
                  [reports[name]["winner"]["val_accuracy"], reports[name]["winner"]["test_accuracy"]])
    ax[0].set(xscale="log", xlabel="learning rate", ylabel="weight decay",
              title="settings tried (colour: best validation accuracy)")
    ax[0].legend()
    low = min(min(r["winner"]["val_accuracy"], r["winner"]["test_accuracy"]) for r in reports.values())
    ax[1].set(ylim=(max(0.0, low - 0.05), 1.0), ylabel="accuracy",
              title="the winner: validation (used to choose) vs test (read once)")
    return finish_figure(fig, path, title, grid=ax)


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    train_data, val, test, name = load_images(args.quick, train_size=args.train_size,
                                              seed=args.seed, flatten=True)
    grid = train.grid(learning_rate=args.lrs, weight_decay=args.weight_decays)
    n = len(grid["learning_rate"])
    spaces = {"learning_rate": ("log_uniform", min(args.lrs), max(args.lrs))}
    spaces["weight_decay"] = ("uniform", 0.0, max(args.weight_decays)) if max(args.weight_decays) > 0 \
        else ("choice", [0.0])
    random = train.random_search(jax.random.key(args.seed + 1), n, **spaces)
    reports, markdown = {}, []
    shared = setup(args) if args.quick else None
    for label, settings in (("grid", grid), ("random", random)):
        pop, history, seconds, model, eval_step = search(settings, args, train_data, val, shared)
        table = train.results_table(history, settings, monitor="val_accuracy")
        winner = train.best_member(history, "val_accuracy")
        chosen = train.member(pop, winner)   # its best-validation epoch, restored
        eval_batch = 100 if args.quick else 1000  # quick: one shape for val (200) and test (300)
        val_score = train.evaluate(chosen, eval_step, val, batch_size=eval_batch)["accuracy"]
        test_score = train.evaluate(chosen, eval_step, test,   # the one test read
                                    batch_size=eval_batch)["accuracy"]
        reports[label] = {
            "members": n, "seconds": round(seconds, 1), "table": table,
            "winner": {"member": winner, "learning_rate": float(settings["learning_rate"][winner]),
                       "weight_decay": float(settings["weight_decay"][winner]),
                       "best_val_accuracy_during_training": table[winner]["best_val_accuracy"],
                       "val_accuracy": val_score, "test_accuracy": test_score,
                       "val_minus_test": val_score - test_score},
            "epochs_run": int(history["loss"].shape[0]),
            "mean_best_val_accuracy": float(np.mean([r["best_val_accuracy"] for r in table])),
        }
        text = train.format_table(table)
        print(f"\n{label} search ({n} members, {seconds:.1f} s)\n{text}")
        print(f"winner: member {winner}, val {val_score:.4f}, test {test_score:.4f}")
        markdown += [f"## {label} search ({n} members)", "", "```", text, "```", ""]
    with atomic_write(args.out / "table.md") as f:
        f.write("\n".join(markdown).encode())
    summary = {label: {"val_accuracy": r["winner"]["val_accuracy"],
                       "test_accuracy": r["winner"]["test_accuracy"],
                       "val_minus_test": r["winner"]["val_minus_test"],
                       "winner_val_above_mean_member": r["winner"]["best_val_accuracy_during_training"]
                       - r["mean_best_val_accuracy"]}
               for label, r in reports.items()}
    settings = _settings(args)
    out = {"dataset": name, "n_train": len(train_data[0]), "n_val": len(val[0]),
           "n_test": len(test[0]), "settings": settings, "searches": reports, "summary": summary,
           "test_set_reads": len(reports)}
    save_results(args.out, out, started=started)
    plot(reports, args.out / "model_selection.png",
         f"MLP {[*args.hidden, 10]}, AdamW, {name}: grid vs random search")
    return out


if __name__ == "__main__":
    main()
