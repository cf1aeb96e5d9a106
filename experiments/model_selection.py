"""Model selection: train / validation / test, a small grid search and a random search, the
test set touched once.

    python experiments/model_selection.py            # full: 20k train / 5k val / 10k test, 3 seeds
    python experiments/model_selection.py --quick    # seconds (the test): 2 seeds, 4 members
    python experiments/model_selection.py --lrs 1e-3 3e-3 --weight-decays 0 0.05 --seeds 5

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
The member with the best validation accuracy of each search is evaluated on the test set: the
one read of the test set that the protocol allows. Each of `--seeds` seeds draws its own
validation split, initial weights, data order and random-search settings; the seeds run one
after another as populations of the same shapes, so every compiled program is reused.

Diagnostic (not part of the protocol): after the choice, every member is also read once on the
test set, to measure the val - test gap of a member chosen by nothing (the mean member). The
winner's extra gap over it is the selection bias. Each member's own best epoch was still
chosen on validation by early stopping, so the mean member's gap includes that smaller choice.
Verdicts use the spread rule (`_common.exceeds_spread`: |mean_a - mean_b| > sd_a + sd_b).

Writes `<out>/metrics.json`, `<out>/table.md` and `<out>/model_selection.png`. Full mode (3 seeds)
on the 2-core CPU: about 4 minutes (measured: see docs/experiments/model_selection.md).
"""
from __future__ import annotations

import time
from pathlib import Path

import jax
import numpy as np
import optax
from _common import (add_seeds_argument, exceeds_spread, finish_figure, format_mean_sd, load_images,
                     over_seeds, parser, save_results, seeds_of, settings as _settings, with_seed,
                     write_table)

from jdl import losses, metrics, models, train, viz

SEARCHES = ("grid", "random")
SUMMARY = ("val_accuracy", "test_accuracy", "val_minus_test", "winner_val_above_mean_member",
           "mean_member_val_minus_test", "winner_gap_above_mean_member_gap")


def parse_args(argv=None):
    p = parser("model_selection", __doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, nargs="+", default=[256])
    p.add_argument("--lrs", type=float, nargs="+", default=[3e-4, 1e-3, 3e-3, 1e-2])
    p.add_argument("--weight-decays", type=float, nargs="+", default=[0.0, 0.03, 0.3])
    p.add_argument("--train-size", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    add_seeds_argument(p)
    args = p.parse_args(argv)
    if args.quick:
        args.hidden, args.epochs, args.lrs, args.weight_decays, args.patience = [32], 2, [1e-3, 1e-2], [0.0, 0.1], 1
        args.seeds = min(args.seeds, 2)
    try:
        seeds_of(args)
    except ValueError as e:
        p.error(str(e))
    return args


def setup(args):
    """(model, optimizer, train step, eval step), built once: every search of every seed has the
    same shapes, so each compiled program is reused."""
    model = models.mlp([*args.hidden, 10], "relu")
    optimizer = optax.inject_hyperparams(optax.adamw)(learning_rate=1e-3, weight_decay=0.0)
    return (model, optimizer, *train.make_steps(model, optimizer, losses.softmax_cross_entropy,
                                                metrics={"accuracy": metrics.accuracy}))


def finite_or_none(v) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def search(settings: dict, args, train_data, val, test, shared) -> dict:
    """Train one population (one member per setting), choose the member with the best
    validation accuracy, read it once on the test set; then, for the diagnostic only, read every
    member on the test set. Returns the search's report."""
    model, optimizer, train_step, eval_step = shared
    n = len(settings["learning_rate"])
    keys = jax.random.split(jax.random.key(args.seed), n)
    pop = train.init_population(model, optimizer, keys, (1, train_data[0].shape[1]),
                                hyperparams=settings)
    eval_batch = 100 if args.quick else 1000  # quick: one shape for val (200) and test (300)
    started = time.perf_counter()
    pop, history = train.fit_population(pop, train_step, train_data, epochs=args.epochs,
                                        batch_size=args.batch_size, val_data=val,
                                        eval_step=eval_step, patience=args.patience,
                                        monitor="val_accuracy", verbose=0, eval_batch_size=eval_batch,
                                        steps_per_call=1 if args.quick else 4)
    seconds = time.perf_counter() - started
    table = train.results_table(history, settings, monitor="val_accuracy")
    winner = train.best_member(history, "val_accuracy")   # chosen on validation only
    chosen = train.member(pop, winner)   # its best-validation epoch, restored
    val_score = train.evaluate(chosen, eval_step, val, batch_size=eval_batch)["accuracy"]
    test_score = train.evaluate(chosen, eval_step, test, batch_size=eval_batch)["accuracy"]
    # diagnostic, after the choice: every member's val and test accuracy (restored epochs)
    member_val = train.evaluate_population(pop, eval_step, val, batch_size=eval_batch)["accuracy"]
    member_test = train.evaluate_population(pop, eval_step, test, batch_size=eval_batch)["accuracy"]
    best_vals = np.array([r["best_val_accuracy"] for r in table], np.float64)
    return {
        "members": n, "seconds": round(seconds, 1), "table": table,
        "epochs_run": int(history["loss"].shape[0]),
        "stopped_early": int(sum(r["stopped_epoch"] is not None for r in table)),
        "winner": {"member": winner, "learning_rate": float(settings["learning_rate"][winner]),
                   "weight_decay": float(settings["weight_decay"][winner]),
                   "best_val_accuracy_during_training": table[winner]["best_val_accuracy"],
                   "val_accuracy": val_score, "test_accuracy": test_score,
                   "val_minus_test": val_score - test_score},
        "mean_best_val_accuracy": finite_or_none(np.nanmean(best_vals)),
        "diagnostic_member_val_accuracy": [finite_or_none(v) for v in member_val],
        "diagnostic_member_test_accuracy": [finite_or_none(v) for v in member_test],
        "mean_member_val_minus_test": finite_or_none(np.nanmean(member_val - member_test)),
    }


def one_seed(args, shared) -> dict:
    """Both searches for the seed `args.seed`: its validation split, initial weights, data order
    and random-search draw."""
    train_data, val, test, name = load_images(args.quick, train_size=args.train_size,
                                              seed=args.seed, flatten=True)
    grid = train.grid(learning_rate=args.lrs, weight_decay=args.weight_decays)
    n = len(grid["learning_rate"])
    spaces = {"learning_rate": ("log_uniform", min(args.lrs), max(args.lrs))}
    spaces["weight_decay"] = ("uniform", 0.0, max(args.weight_decays)) if max(args.weight_decays) > 0 \
        else ("choice", [0.0])
    random = train.random_search(jax.random.key(args.seed + 1), n, **spaces)
    reports = {}
    for label, settings in zip(SEARCHES, (grid, random)):
        r = reports[label] = search(settings, args, train_data, val, test, shared)
        w = r["winner"]
        print(f"seed {args.seed} {label}: {r['seconds']} s, winner lr {w['learning_rate']:.2g} "
              f"wd {w['weight_decay']:.2g}, val {w['val_accuracy']:.4f}, test {w['test_accuracy']:.4f}")
    summary = {label: {"val_accuracy": r["winner"]["val_accuracy"],
                       "test_accuracy": r["winner"]["test_accuracy"],
                       "val_minus_test": r["winner"]["val_minus_test"],
                       "winner_val_above_mean_member": r["winner"]["best_val_accuracy_during_training"]
                       - r["mean_best_val_accuracy"],
                       "mean_member_val_minus_test": r["mean_member_val_minus_test"],
                       "winner_gap_above_mean_member_gap": r["winner"]["val_minus_test"]
                       - r["mean_member_val_minus_test"]}
               for label, r in reports.items()}
    return {"dataset": name, "seed": args.seed, "n_train": len(train_data[0]), "n_val": len(val[0]),
            "n_test": len(test[0]), "searches": reports, "summary": summary,
            "test_set_reads": len(reports), "diagnostic_test_reads": len(reports)}


def positive(stat: dict) -> bool:
    """Above zero beyond its spread: mean > 0 and mean > sd."""
    return bool(stat["mean"] is not None and stat["mean"] > 0
                and exceeds_spread(stat, {"mean": 0.0, "sd": 0.0}))


def verdicts(s: dict) -> dict:
    """The page's claims, judged by the spread rule on the `over_seeds` statistics `s`."""
    out = {}
    for label in SEARCHES:
        gap, nothing = s[f"summary.{label}.val_minus_test"], s[f"summary.{label}.mean_member_val_minus_test"]
        out[f"{label}_winner_gap_above_zero"] = positive(gap)
        out[f"{label}_winner_gap_above_mean_member_gap"] = bool(
            exceeds_spread(gap, nothing) and gap["mean"] > nothing["mean"])
        out[f"{label}_mean_member_gap_above_zero"] = positive(nothing)
        out[f"{label}_winner_val_above_mean_member"] = positive(s[f"summary.{label}.winner_val_above_mean_member"])
    for key in ("val_accuracy", "test_accuracy"):
        a, b = s[f"summary.random.{key}"], s[f"summary.grid.{key}"]
        differ = exceeds_spread(a, b)
        out[f"random_vs_grid_winner_{key}"] = ("within noise" if not differ else
                                               "random higher" if a["mean"] > b["mean"] else "grid higher")
    return out


def tables(result: dict) -> str:
    """The over-seeds table, the verdicts, each seed's winners, and the first seed's searches."""
    s, points = result["over_seeds"], lambda stat: format_mean_sd(stat, 4)
    rows = ["| search | winner's val acc | winner's test acc | val - test (winner) "
            "| val - test (mean member) | winner's gap - mean member's gap (paired) "
            "| winner's val above the mean member |", "|---" * 7 + "|"]
    for label in SEARCHES:
        k = f"summary.{label}."
        rows.append(f"| {label} ({result['searches'][label]['members']}) | {points(s[k + 'val_accuracy'])} "
                    f"| {points(s[k + 'test_accuracy'])} | {points(s[k + 'val_minus_test'])} "
                    f"| {points(s[k + 'mean_member_val_minus_test'])} "
                    f"| {points(s[k + 'winner_gap_above_mean_member_gap'])} "
                    f"| {points(s[k + 'winner_val_above_mean_member'])} |")
    rows += ["", "| verdict | value |", "|---|---|",
             *[f"| {k} | {v} |" for k, v in result["verdicts"].items()],
             "", "| seed | search | winner lr | winner wd | val acc | test acc | stopped early |",
             "|---" * 7 + "|"]
    for w in result["winners"]:
        rows.append(f"| {w['seed']} | {w['search']} | {w['learning_rate']:.2g} | "
                    f"{w['weight_decay']:.2g} | {w['val_accuracy']:.4f} | {w['test_accuracy']:.4f} "
                    f"| {w['stopped_early']} of {w['members']} |")
    for label in SEARCHES:
        r = result["searches"][label]
        rows += ["", f"## seed {result['seed']}: {label} search ({r['members']} members)", "", "```",
                 train.format_table(r["table"]), "```"]
    return "\n".join(rows) + "\n"


def plot(result: dict, path: Path, title: str) -> Path:
    """Left: the first seed's settings coloured by best validation accuracy; right: the val - test
    gap of the winner and of the mean member, mean ± sd over seeds (dots: the seeds)."""
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(13, 4.5), layout="constrained")
    s = result["over_seeds"]
    accs = [r["best_val_accuracy"] for n in SEARCHES for r in result["searches"][n]["table"]]
    scale = {"vmin": np.nanmin(accs), "vmax": np.nanmax(accs), "cmap": "viridis"}  # one colour scale
    for name, marker in (("grid", "o"), ("random", "^")):
        rows = result["searches"][name]["table"]
        dots = ax[0].scatter([r["learning_rate"] for r in rows], [r["weight_decay"] for r in rows],
                             c=[r["best_val_accuracy"] for r in rows], marker=marker, s=80,
                             label=name, edgecolors="k", **scale)
    bars = [(f"{n}\n{who}", s[f"summary.{n}.{key}"]) for n in SEARCHES for who, key in
            (("winner", "val_minus_test"), ("mean member", "mean_member_val_minus_test"))]
    for i, (label, stat) in enumerate(bars):
        vals = [100 * v for v in stat["values"] if v is not None]
        ax[1].bar(i, np.mean(vals) if vals else 0.0, yerr=100 * (stat["sd"] or 0.0), capsize=4,
                  color=("tab:red", "tab:gray")[i % 2], alpha=0.7)
        ax[1].plot([i] * len(vals), vals, "k.", ms=6)
    ax[1].set_xticks(range(len(bars)), [b[0] for b in bars])
    ax[1].axhline(0, color="k", lw=0.8)
    ax[0].set(xscale="log", xlabel="learning rate", ylabel="weight decay",
              title=f"seed {result['seed']}: settings tried (colour: best validation accuracy)")
    ax[0].legend()
    fig.colorbar(dots, ax=ax[0], label="best validation accuracy")
    ax[1].set(ylabel="validation - test accuracy (points)",
              title=f"val - test gap over {len(s['seeds'])} seeds (mean ± sd; dots: seeds)")
    return finish_figure(fig, path, title, grid=ax)


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    seeds, shared = seeds_of(args), setup(args)
    records = [one_seed(with_seed(args, seed), shared) for seed in seeds]
    keys = [f"summary.{label}.{k}" for label in SEARCHES for k in SUMMARY]
    result = over_seeds(records, keys, seeds)
    result["verdicts"] = verdicts(result["over_seeds"])
    result["winners"] = [{"seed": r["seed"], "search": label, "stopped_early": r["searches"][label]["stopped_early"],
                          "members": r["searches"][label]["members"],
                          **{k: r["searches"][label]["winner"][k] for k in
                             ("learning_rate", "weight_decay", "val_accuracy", "test_accuracy")}}
                         for r in records for label in SEARCHES]
    result["per_seed_seconds"] = {str(r["seed"]): {label: r["searches"][label]["seconds"]
                                                   for label in SEARCHES} for r in records}
    result["settings"] = _settings(args)
    args.out.mkdir(parents=True, exist_ok=True)
    write_table(args.out, tables(result))
    save_results(args.out, result, started=started)
    plot(result, args.out / "model_selection.png",
         f"MLP {[*args.hidden, 10]}, AdamW, {result['dataset']}: grid vs random search")
    return result


if __name__ == "__main__":
    main()
