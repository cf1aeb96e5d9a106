"""ReLU against tanh: training steps to a target training error, each at its best learning rate.

    python experiments/relu_vs_tanh.py            # full: 4 learning rates x 3 seeds per activation
    python experiments/relu_vs_tanh.py --quick    # seconds (the test)

Claim (Senk, "Recap: ReLU": "Rectified linear unit (ReLU):" max(0, x), "makes learning faster (in
practice x6)"; the factor is from Krizhevsky, Sutskever & Hinton 2012, Figure 1: a four-layer
CNN reached 25% training error on CIFAR-10 six times faster with ReLUs than with tanh units;
in the paper's words, "The learning rates for each network were chosen independently to make
training as fast as possible").

Method: an MLP 784-256-256-256-10 with ReLU or tanh hidden units (LeCun normal weights for
both, zero biases) on the 55,000 Fashion-MNIST training images, SGD with momentum 0.9, batch
128. Per activation, every learning rate of `--lrs` x `--seeds` seeds is one member of a
population (per-member learning rates through `optax.inject_hyperparams`); all members see the
same batches. Every `--eval-every` steps, the training error of each member on a fixed
5,000-image subset of the training set (evaluation mode) is measured, until every member is
below `--target` or `--max-steps` have run. Per activation, the learning rate with the fewest
median steps to the target over the seeds is kept; reported: its steps per seed and their
mean ± sd, the ratio tanh / ReLU of the means (and of the medians), and the wall time per step
(the two activations cost about the same per step, so steps compare the learning, not the
arithmetic). Verdict (`verdict`): "ReLU faster" or "tanh faster" only when the gap of the mean
steps exceeds the sum of their sds over the seeds, else "within noise".

Writes `<out>/metrics.json`, `<out>/table.md` and `<out>/relu_vs_tanh.png`.
"""
from __future__ import annotations

import time

import jax
import numpy as np
import optax
from _common import (exceeds_spread, finish_figure, format_mean_sd, load_images, mean_sd, parser,
                     save_results, settings as _settings, write_table)

from jdl import losses, metrics, models, train, viz

ACTIVATIONS = ("relu", "tanh")


def parse_args(argv=None):
    p = parser("relu_vs_tanh", __doc__.splitlines()[0])
    p.add_argument("--lrs", type=float, nargs="+", default=[0.003, 0.01, 0.03, 0.1])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--target", type=float, default=0.12, help="training error to reach")
    p.add_argument("--eval-every", type=int, default=25)
    p.add_argument("--max-steps", type=int, default=4000)
    p.add_argument("--batch-size", type=int, default=128)
    args = p.parse_args(argv)
    if args.quick:
        args.lrs, args.seeds, args.eval_every, args.max_steps, args.target = [0.01, 0.1], 2, 5, 10, 0.5
    return args


def members(args) -> list[tuple[float, int]]:
    return [(lr, seed) for lr in args.lrs for seed in range(args.seeds)]


def race(activation: str, train_data, probe, args) -> dict:
    """Train one population; the training error curve of every member and its steps to target."""
    hidden = [16] if args.quick else [256, 256, 256]
    model = models.mlp([*hidden, 10], activation)
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=0.01, momentum=0.9)
    train_step, eval_step = train.make_steps(model, optimizer, losses.softmax_cross_entropy,
                                             metrics={"accuracy": metrics.accuracy})
    table = members(args)
    keys = jax.numpy.stack([jax.random.key(args.seed + s) for _, s in table])
    pop = train.init_population(model, optimizer, keys, (1, train_data[0].shape[1]),
                                hyperparams={"learning_rate": np.array([lr for lr, _ in table],
                                                                       np.float32)})
    # step by step rather than fit_population: the race needs the error every
    # `eval_every` steps, finer than fit_population's epochs
    step = train.make_population_step(train_step)
    x, y = jax.numpy.asarray(train_data[0]), jax.numpy.asarray(train_data[1])  # on the device once
    order = np.random.default_rng(args.seed).permutation(len(x))
    errors, steps_to = [], np.full(len(table), -1)
    done, started, eval_batch = 0, time.perf_counter(), 100 if args.quick else 1000
    while done < args.max_steps:
        for _ in range(args.eval_every):
            start = (done * args.batch_size) % (len(x) - args.batch_size + 1)
            idx = order[start:start + args.batch_size]
            pop, _ = step(pop, (x[idx], y[idx]))
            done += 1
        error = 1.0 - train.evaluate_population(pop, eval_step, probe, batch_size=eval_batch)["accuracy"]
        errors.append(np.asarray(error, np.float64))
        steps_to[(steps_to < 0) & (errors[-1] < args.target)] = done
        if (steps_to >= 0).all():
            break
    seconds = time.perf_counter() - started
    return {"errors": np.stack(errors).T.tolist(), "steps_to_target": steps_to.tolist(),
            "steps_run": done, "ms_per_step": round(1000 * seconds / done, 2),
            "learning_rates": [lr for lr, _ in table], "seeds": [s for _, s in table]}


def best_rate(r: dict, args) -> dict:
    """The learning rate with the fewest median steps to target (never reached counts as inf)."""
    steps = np.array(r["steps_to_target"], np.float64)
    steps[steps < 0] = np.inf
    lrs = np.array(r["learning_rates"])
    medians = {lr: float(np.median(steps[lrs == lr])) for lr in args.lrs}
    best = min(args.lrs, key=lambda lr: medians[lr])
    chosen = [int(s) if np.isfinite(s) else None for s in steps[lrs == best]]
    return {"lr": best, "steps": chosen, "steps_over_seeds": mean_sd(chosen),
            "median_steps": medians[best] if np.isfinite(medians[best]) else None,
            "median_steps_by_lr": {str(lr): (m if np.isfinite(m) else None) for lr, m in medians.items()}}


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    train_data, _, _, dataset = load_images(args.quick, seed=args.seed, flatten=True)
    n_probe = min(5000, len(train_data[0]))
    probe = (train_data[0][:n_probe], train_data[1][:n_probe])
    results = {}
    for activation in ACTIVATIONS:
        r = race(activation, train_data, probe, args)
        r["best"] = best_rate(r, args)
        results[activation] = r
        print(f"{activation}: best lr {r['best']['lr']}, steps to {args.target} training error "
              f"{r['best']['steps']} ({r['ms_per_step']} ms per population step)")
    relu, tanh = (results[a]["best"]["median_steps"] for a in ACTIVATIONS)
    ratio = tanh / relu if relu and tanh else None
    relu_stat, tanh_stat = (results[a]["best"]["steps_over_seeds"] for a in ACTIVATIONS)
    mean_ratio = tanh_stat["mean"] / relu_stat["mean"] if relu_stat["mean"] and tanh_stat["mean"] else None
    apart = exceeds_spread(relu_stat, tanh_stat)
    verdict = (None if apart is None else "within noise" if not apart else
               "ReLU faster" if relu_stat["mean"] < tanh_stat["mean"] else "tanh faster")
    lines = ["| activation | best lr | steps to target (per seed) | mean ± sd | median | ms per step |",
             "|---|---|---|---|---|---|"]
    for a, r in results.items():
        b = r["best"]
        steps = ", ".join(str(s) if s is not None else "not reached" for s in b["steps"])
        lines.append(f"| {a} | {b['lr']} | {steps} | {format_mean_sd(b['steps_over_seeds'], 1)} | "
                     f"{b['median_steps']} | {r['ms_per_step']} |")
    lines.append(f"\ntanh / ReLU mean steps: {mean_ratio:.2f}; verdict: {verdict}" if mean_ratio
                 else "\ntanh / ReLU: not measured")
    write_table(args.out, "\n".join(lines) + "\n")
    out = {"settings": _settings(args), "dataset": dataset, "results": results,
           "tanh_over_relu_steps": ratio, "tanh_over_relu_mean_steps": mean_ratio,
           "verdict": verdict}
    save_results(args.out, out, started=started)
    plot(results, args)
    return out


def plot(results: dict, args):
    plt = viz.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for (a, r), color in zip(results.items(), ("C0", "C3")):
        errors, lrs = np.array(r["errors"]), np.array(r["learning_rates"])
        steps = args.eval_every * np.arange(1, errors.shape[1] + 1)
        chosen = lrs == r["best"]["lr"]
        for curve in errors[chosen]:
            axes[0].plot(steps, curve, color=color, alpha=0.7)
        axes[0].plot([], [], color=color, label=f"{a} (lr {r['best']['lr']})")
        medians = [r["best"]["median_steps_by_lr"][str(lr)] for lr in args.lrs]
        axes[1].plot(args.lrs, [m if m is not None else np.nan for m in medians], marker="o",
                     color=color, label=a)
    axes[0].axhline(args.target, color="k", ls=":", label=f"target {args.target}")
    axes[0].set(xlabel="training steps", ylabel="training error (5,000 training images)",
                yscale="log", title="each activation at its best learning rate")
    axes[1].set(xscale="log", xlabel="learning rate", ylabel="median steps to target",
                title="steps to target per learning rate")
    return finish_figure(fig, args.out / "relu_vs_tanh.png", "ReLU against tanh (Fashion-MNIST MLP)",
                         grid=axes, legend=axes)


if __name__ == "__main__":
    main()
