"""Every optimizer of the lectures on one Fashion-MNIST MLP: loss curves on one plot, accuracy table.

    python experiments/optimizers.py            # full: 55k train / 5k val / 10k test, 10 epochs
    python experiments/optimizers.py --quick    # 600 / 200 / 300 examples, 2 epochs, mlp 784-32-10
    python experiments/optimizers.py --only sgd,adam --lr adam=0.002 --epochs 5

Model: `mlp([256, 128, 10], "relu")` (LeCun-normal init), softmax cross-entropy, batch 128; each
of `--seeds` seeds gives every optimizer the same initial weights and shuffles, and the table
reports the final figures as mean +- sd over the seeds (the curves are the first seed's). Optimizers are
`jdl.optimizers.get(name, ...)` with the lectures' defaults and the learning rates in `RUNS`; full-
batch GD takes one step per epoch on all 55k examples, so every run does the same gradient work per
epoch. The two momentum conventions (Salakhutdinov; *Engineering Deep Learning*) coincide for a
constant learning rate; they are also run under a step-decay schedule, where they differ.

Writes `<out>/metrics.json`, `<out>/loss_curves.png`, `<out>/table.md`.
Full mode: 10 optimizers x 3 seeds of 10 epochs, plus the two momentum conventions under step
decay (see the page for the measured time); --quick: about 20 s, mostly compiling one small
program per optimizer (12).
"""
from __future__ import annotations

import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import _common
from jdl import losses, metrics, models, optimizers, schedules, train, viz

# name -> (label, jdl.optimizers.get keyword arguments); lr values are the usual textbook ones
RUNS = {
    "gd": ("GD (full batch)", {"lr": 0.1}),
    "sgd": ("SGD", {"lr": 0.1}),
    "momentum": ("momentum (v <- g + mu v)", {"lr": 0.01, "mu": 0.9}),
    "momentum_deck": ("momentum (v <- mu v - lr g)", {"lr": 0.01, "mu": 0.9, "convention": "deck"}),
    "nesterov": ("Nesterov", {"lr": 0.01, "mu": 0.9}),
    "adagrad": ("Adagrad", {"lr": 0.01}),
    "rmsprop": ("RMSProp", {"lr": 0.001}),
    "rmsprop_momentum": ("RMSProp + momentum", {"lr": 0.0001, "mu": 0.9}),
    "adadelta": ("Adadelta (no lr)", {}),
    "adam": ("Adam", {"lr": 0.001}),
}


def finite(v: float) -> float | None:
    """JSON-friendly: a float, or None for NaN/inf (a diverged run)."""
    return float(v) if math.isfinite(v) else None


def make_optimizer(name: str, kwargs: dict):
    factory = "momentum" if name == "momentum_deck" else name
    return optimizers.get(factory, **kwargs)


def run(model, opt, start, data, eval_step, *, epochs, batch_size, steps_per_call,
        eval_batch_size=1000, eager_init=False):
    """Train a copy of the TrainState `start` (same weights and run key for every optimizer).
    `eager_init` (--quick): the optimizer state is built eagerly, from a few tiny programs that
    every optimizer shares, instead of one compiled init per optimizer."""
    train_data, val_data, test_data = data
    ts = jax.tree.map(jnp.copy, start)  # fit donates its TrainState
    ts = ts._replace(opt_state=(opt.init if eager_init else jax.jit(opt.init))(ts.params))
    train_step = train.make_train_step(model, opt, losses.softmax_cross_entropy,
                                       metrics={"accuracy": metrics.accuracy})
    init = train.evaluate(ts, eval_step, val_data, batch_size=eval_batch_size)
    t0 = time.perf_counter()
    ts, hist = train.fit(ts, train_step, train_data, epochs=epochs, batch_size=batch_size,
                         val_data=val_data, eval_step=eval_step, verbose=0,
                         steps_per_call=steps_per_call, eval_batch_size=eval_batch_size)
    seconds = time.perf_counter() - t0
    test = train.evaluate(ts, eval_step, test_data, batch_size=eval_batch_size)
    record = {
        "train_loss": [finite(v) for v in hist["loss"]],
        "val_loss": [finite(v) for v in [init["loss"], *hist["val_loss"]]],  # epoch 0 = init
        "val_accuracy": [finite(v) for v in [init["accuracy"], *hist["val_accuracy"]]],
        "test_accuracy": finite(test["accuracy"]), "test_loss": finite(test["loss"]),
        "updates": int(ts.step), "seconds": round(seconds, 2),
    }
    return ts, record


def max_param_diff(a, b) -> float:
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def plot(results: dict, path, title: str):
    """Training loss (epoch means), validation loss and accuracy (epoch 0 = at init), one line each."""
    plt = viz.pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5), layout="constrained")
    panels = (("train_loss", 1, "training loss (epoch mean, log)"),
              ("val_loss", 0, "validation loss (log)"), ("val_accuracy", 0, "validation accuracy"))
    for i, (name, r) in enumerate(results.items()):
        style = dict(ls="--" if name in ("momentum_deck", "gd") else "-",
                     color=plt.get_cmap("tab10")(i), marker="o", ms=3, label=r["label"])
        for ax, (key, first, _) in zip(axes, panels):
            values = [np.nan if v is None else v for v in r[key]]
            ax.plot(range(first, first + len(values)), values, **style)
    for ax, (key, _, ylabel) in zip(axes, panels):
        ax.set(xlabel="epoch", ylabel=ylabel, yscale="linear" if key == "val_accuracy" else "log")
        ax.grid(alpha=0.3)
    axes[2].legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    return viz.save_figure(fig, path)


def table(results: dict) -> str:
    """Final figures as mean ± sd over the seeds ('k of n reached': some seeds diverged)."""
    fmt = _common.format_mean_sd
    rows = ["| optimizer | settings | updates | final val loss | val acc | test acc | seconds per run |",
            "|---|---|---|---|---|---|---|"]
    for r in results.values():
        s = r["over_seeds"]
        rows.append(f"| {r['label']} | {r['settings']} | {r['updates']} | {fmt(s['val_loss'], 4)} "
                    f"| {fmt(s['val_accuracy'], 4)} | {fmt(s['test_accuracy'], 4)} | {r['seconds']} |")
    return "\n".join(rows) + "\n"


def main(argv=None) -> dict:
    p = _common.parser("optimizers", __doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--hidden", default=None,
                   help="hidden widths, comma-separated (default 256,128; --quick: 32)")
    p.add_argument("--only", default="", help=f"comma-separated subset of {','.join(RUNS)}")
    p.add_argument("--lr", default="", help="overrides, e.g. adam=0.002,sgd=0.05")
    p.add_argument("--seeds", type=int, default=3, help="seeds per optimizer (mean +- sd)")
    p.add_argument("--no-schedule-check", action="store_true",
                   help="skip the two momentum conventions under step decay")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.batch_size, args.seeds = min(args.epochs, 2), min(args.batch_size, 32), 2
    args.hidden = args.hidden or ("32" if args.quick else "256,128")
    started = time.perf_counter()
    *splits, dataset = _common.load_images(args.quick, seed=args.seed, flatten=True)
    n_train = len(splits[0][0])
    names = [n for n in args.only.split(",") if n] or list(RUNS)
    unknown = sorted(set(names) - set(RUNS))
    if unknown:
        p.error(f"--only: unknown optimizers {unknown}; choose from {list(RUNS)}")
    overrides = {k: float(v) for k, v in (kv.split("=") for kv in args.lr.split(",") if kv)}
    model = models.mlp([int(h) for h in args.hidden.split(",")] + [10], "relu")
    starts = [train.init_train_state(model, optax.identity(), jax.random.key(seed),
                                     (1, splits[0][0].shape[1]))
              for seed in range(args.seed, args.seed + args.seeds)]
    start = starts[0]
    eval_step = train.make_eval_step(model, losses.softmax_cross_entropy,
                                     metrics={"accuracy": metrics.accuracy})
    # quick: smaller programs to compile, one eval batch shape (100 divides 200 and 300)
    common = dict(epochs=args.epochs, batch_size=args.batch_size,
                  steps_per_call=1 if args.quick else 4,
                  eval_batch_size=100 if args.quick else 1000, eager_init=args.quick)

    results, final = {}, {}
    for name in names:
        label, kwargs = RUNS[name]
        kwargs = dict(kwargs, **({"lr": overrides[name]} if name in overrides else {}))
        batch = n_train if name == "gd" else args.batch_size
        # the first seed's run keeps its curves; every seed gives the final figures
        seeds = [run(model, make_optimizer(name, kwargs), s, splits, eval_step,
                     **dict(common, batch_size=batch)) for s in starts]
        final[name], r = seeds[0]
        r.update(label=label, batch_size=batch,
                 settings=", ".join(f"{k}={v}" for k, v in kwargs.items()) or "rho=0.95, eps=1e-6",
                 over_seeds={key: _common.mean_sd([rs[key] if key != "val_loss" and key != "val_accuracy"
                                                   else rs[key][-1] for _, rs in seeds])
                             for key in ("val_loss", "val_accuracy", "test_accuracy")})
        results[name] = r
        print(f"{label:30s} test acc over seeds {r['over_seeds']['test_accuracy']['values']}  "
              f"({r['seconds']} s per run)")

    widths = "-".join([str(splits[0][0].shape[1]), *args.hidden.split(","), "10"])
    out = {"settings": _common.settings(args), "dataset": dataset, "model": f"mlp {widths} relu",
           "epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
           "seeds": args.seeds,
           "n_train": n_train, "optimizers": results}
    if {"momentum", "momentum_deck"} <= set(final):
        out["momentum_conventions_max_param_diff"] = max_param_diff(
            final["momentum"].params, final["momentum_deck"].params)
    if not args.no_schedule_check:  # the conventions differ once the learning rate changes
        steps_per_epoch = n_train // args.batch_size
        lr = schedules.step_decay(0.01, 0.1, every_steps=max(1, args.epochs // 2) * steps_per_epoch)
        check = {}
        for conv in ("optax", "deck"):
            final[conv], r = run(model, optimizers.momentum(lr, 0.9, convention=conv), start,
                                 splits, eval_step, **common)
            check[conv] = {"val_accuracy": r["val_accuracy"][-1], "test_accuracy": r["test_accuracy"]}
        check["max_param_diff"] = max_param_diff(final["optax"].params, final["deck"].params)
        check["schedule"] = "step decay: lr 0.01, x0.1 after half the epochs"
        out["momentum_conventions_under_step_decay"] = check

    args.out.mkdir(parents=True, exist_ok=True)
    plot(results, args.out / "loss_curves.png",
         f"optimizers on {dataset}: {out['model']}, batch {args.batch_size}")
    _common.write_table(args.out, table(results))
    _common.save_results(args.out, out, started=started)
    return out


if __name__ == "__main__":
    main()
