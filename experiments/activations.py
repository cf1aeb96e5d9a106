"""Activations in a deep MLP (Loo, COMP9321, Senk, *Engineering Deep Learning*): sigmoid, tanh,
ReLU, leaky ReLU and ELU; per-layer gradient norms (vanishing gradients), accuracy, and dead ReLUs.

    python experiments/activations.py            # full run: 3 seeds (see the page for the time)
    python experiments/activations.py --quick    # seconds: 3 Dense layers of 32, tiny data, 2 seeds

The claims: sigmoid'(z) <= 1/4, so backpropagation multiplies the error by a factor below 1/4 per
sigmoid layer and the gradient of the first layers of a deep sigmoid net vanishes (*Engineering Deep
Learning*, "Vanishing Gradients"; Senk's saturation quiz); tanh saturates too, ReLU does not
saturate for z > 0 (Loo, Senk) but a unit whose input is negative on every example has a zero
gradient: it "dies" (Senk; "Good that we have many data points, so it can come back “alive”");
leaky ReLU (slope 0.01) and ELU keep a gradient for z < 0 (Loo, Senk, *Engineering Deep Learning*).

Method: the same MLP (`--depth` Dense layers, `--width` units, Glorot-uniform weights, zero
biases) with each activation, trained by SGD with momentum on Fashion-MNIST (softmax cross-
entropy) for each of `--seeds` seeds (a seed draws the weights, shared by the activations, the
data order and the validation split). On `--probe-size` training examples, at init and trained:
  grad_norms[l]      ||dL/dW_l||_F per Dense layer l (0 = input side); ratio = [0] / [-1];
  never_positive[l]  the fraction of units of hidden layer l with z <= 0 on every probe example:
                     dead for ReLU (gradient exactly 0 on the batch); leaky ReLU and ELU still
                     pass a gradient; for sigmoid and tanh the number means little.
Recorded: the first seed's history and per-layer figures; per seed the test accuracy, both
ratios and never-positive fractions, as mean ± sd. Verdicts: vanishing gradients hold when
sigmoid's ratio is >= 2 orders of magnitude below every rectifier's on every seed (and beyond
the spread in log10); a difference counts only when it exceeds the sum of the two sds.
Writes <out>/metrics.json, <out>/table.md, <out>/grad_norms.png and <out>/training.png.
"""
from __future__ import annotations

import itertools
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import (add_seeds_argument, exceeds_spread, finish_figure, format_mean_sd,
                     load_images, mean_sd, over_seeds, parser, save_results, seeds_of, settings,
                     with_seed, write_table)

from jdl import activations, losses, metrics, models, train, viz

ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "elu"]
RECTIFIERS = ("relu", "leaky_relu", "elu")
COMPARED = ("tanh", "relu", "leaky_relu", "elu")  # the accuracy comparison (sigmoid: apart)
SEED_KEYS = ("test_accuracy", "init.ratio", "trained.ratio", "init.never_positive_total",
             "trained.never_positive_total")


def pre_activations(params, x, activation, depth):
    """The hidden pre-activations z_l (one per hidden layer) and the logits, by hand."""
    g, a, zs = activations.get(activation), x.reshape(len(x), -1), []
    for i in range(depth):
        z = a @ params[f"dense_{i}"]["w"] + params[f"dense_{i}"]["b"][None]
        if i < depth - 1:
            zs.append(z)
            a = g(z)
    return zs, z


def make_probe(model, activation, depth):
    """A jitted `probe(ts, x, y)`: per-layer weight-gradient norms and never-positive fractions."""
    @jax.jit
    def measure(params, state, x, y):
        def loss(params):
            logits, _ = model.apply(params, state, x, train=False)
            return jnp.mean(losses.softmax_cross_entropy(logits, y)), logits

        grads, reference = jax.grad(loss, has_aux=True)(params)
        zs, logits = pre_activations(params, x, activation, depth)
        norms = jnp.stack([jnp.linalg.norm(grads[f"dense_{i}"]["w"]) for i in range(depth)])
        never_positive = jnp.stack([jnp.mean(jnp.all(z <= 0, axis=0)) for z in zs])
        return norms, never_positive, logits, reference

    def probe(ts, x, y):
        norms, never_positive, logits, reference = measure(ts.params, ts.state, x, y)
        np.testing.assert_allclose(logits, reference, rtol=1e-4, atol=1e-4)  # by hand == model
        g = np.asarray(norms, np.float64)
        ratio = g[0] / g[-1] if g[-1] > 0 else np.nan  # None below: zero or not finite
        return {"grad_norms": g.tolist(), "ratio": float(ratio) if 0 < ratio < np.inf else None,
                "never_positive": np.asarray(never_positive).tolist(),
                "never_positive_total": float(np.mean(never_positive))}

    return probe


def mlp_for(activation, args):
    return models.mlp([args.width] * (args.depth - 1) + [10], activation, w_init=args.init)


def make_net(activation, args) -> dict:
    """One activation's model, optimizer, jitted steps and probe: built once, reused by every
    seed (the seeds change only the arrays, so each program compiles once)."""
    model = mlp_for(activation, args)
    optimizer = optax.sgd(args.lr, momentum=args.momentum)
    train_step, eval_step = train.make_steps(model, optimizer, losses.softmax_cross_entropy,
                                             metrics={"accuracy": metrics.accuracy})
    return {"name": activation, "optimizer": optimizer, "train_step": train_step,
            "eval_step": eval_step, "probe": make_probe(model, activation, args.depth)}


def run(net, args, splits, init_model) -> dict:
    """Train and probe one activation for the seed `args.seed`. `init_model` draws the weights
    for every activation: they are the same weights (an activation has no parameters), and the
    init compiles once. A run stopped by the non-finite guard is reported as diverged."""
    train_data, val_data, test_data = splits
    ts = train.init_train_state(init_model, net["optimizer"], jax.random.key(args.seed),
                                train_data[0][:1].shape)
    x_probe, y_probe = train_data[0][:args.probe_size], train_data[1][:args.probe_size]
    at_init = net["probe"](ts, x_probe, y_probe)
    eval_batch = 100 if args.quick else 1000  # quick: one eval shape for val (200) and test (300)
    t0 = time.perf_counter()
    ts, history = train.fit(ts, net["train_step"], train_data, epochs=args.epochs,
                            batch_size=args.batch_size, val_data=val_data,
                            eval_step=net["eval_step"], verbose=args.verbose,
                            eval_batch_size=eval_batch,
                            steps_per_call=1 if args.quick else 4)  # quick: a smaller compile
    seconds = time.perf_counter() - t0
    diverged = len(history.get("val_accuracy", [])) < args.epochs
    trained = dict.fromkeys(at_init) if diverged else net["probe"](ts, x_probe, y_probe)
    test = ({"accuracy": None, "loss": None} if diverged else
            train.evaluate(ts, net["eval_step"], test_data, batch_size=eval_batch))
    r = dict(init=at_init, trained=trained, history=history, diverged=diverged,
             test_accuracy=test["accuracy"], test_loss=test["loss"], train_seconds=seconds)
    print(f"seed {args.seed} {net['name']:10s} " + ("DIVERGED" if diverged else
          f"test acc {r['test_accuracy']:.4f}  |dW_0|/|dW_last| init, trained "
          f"{at_init['ratio'] or math.nan:.2e}, {trained['ratio'] or math.nan:.2e}  never "
          f"positive {at_init['never_positive_total']:.3f}, {trained['never_positive_total']:.3f}")
          + f"  ({seconds:.1f} s)")
    return r


def log10_stat(values) -> dict:  # mean ± sd of log10(v) over the seeds (each v > 0)
    return mean_sd([math.log10(v) for v in values])


def vanishing_verdict(per_seed: dict, when: str) -> dict:
    """Sigmoid's ratio against the rectifiers' at `when` (init / trained), over every seed:
    the smallest gap in orders of magnitude, log10(min rectifier ratio) - log10(max sigmoid
    ratio); held when it is >= 2 and each rectifier's log10 ratio differs beyond the spread."""
    sig = [r[when]["ratio"] for r in per_seed.get("sigmoid", [])]
    rect = [[r[when]["ratio"] for r in per_seed[a]] for a in RECTIFIERS if a in per_seed]
    flat = [v for values in rect for v in values]
    if not sig or not flat or None in sig + flat:
        return {"orders_of_magnitude": None, "held": None}
    gap = math.log10(min(flat)) - math.log10(max(sig))
    spread = all(exceeds_spread(log10_stat(sig), log10_stat(values)) for values in rect)
    return {"orders_of_magnitude": round(gap, 2), "held": bool(gap >= 2 and spread)}


def accuracy_verdict(acc: dict) -> dict:
    """Every pair of COMPARED by the spread rule; the best mean and whether it beats the rest."""
    names = [a for a in COMPARED if a in acc and acc[a]["mean"] is not None]
    pairs = {f"{a} vs {b}": exceeds_spread(acc[a], acc[b])
             for a, b in itertools.combinations(names, 2)}
    best = max(names, key=lambda a: acc[a]["mean"], default=None)
    ties = [a for a in names if a != best and not exceeds_spread(acc[best], acc[a])]
    text = (f"{best} has the highest mean, within noise of {', '.join(ties)}" if ties
            else f"{best} ahead of every other beyond the spread")
    return {"pairs": pairs, "pairs_beyond_spread": [p for p, v in pairs.items() if v],
            "best": best, "best_beats_all": best is not None and not ties, "text": text}


def summarize(per_seed: dict, seeds) -> dict:
    """The first seed's record of each activation with `over_seeds` (mean ± sd of SEED_KEYS),
    and the verdicts computed from them."""
    runs = {a: over_seeds(records, SEED_KEYS, seeds) for a, records in per_seed.items()}
    acc = {a: r["over_seeds"]["test_accuracy"] for a, r in runs.items()}
    lags = (all(exceeds_spread(acc["sigmoid"], s) and acc["sigmoid"]["mean"] < s["mean"]
                for a, s in acc.items() if a != "sigmoid") if "sigmoid" in acc and len(acc) > 1
            else None)
    dead = None
    if "relu" in runs:
        s = runs["relu"]["over_seeds"]
        init, trained = s["init.never_positive_total"], s["trained.never_positive_total"]
        dead = {"init": init, "trained": trained, "fewer_after_training": bool(
            exceeds_spread(init, trained) and trained["mean"] < init["mean"])}
    verdicts = {"vanishing_gradients": {w: vanishing_verdict(per_seed, w)
                                        for w in ("init", "trained")},
                "sigmoid_accuracy_lags": lags, "accuracy": accuracy_verdict(acc)}
    return {"runs": runs, "test_accuracy": acc, "dead_relu_fraction": dead, "verdicts": verdicts}


def fmt_ratio(stat: dict) -> str:
    """'3.21 ± 0.40', or '6.9e-06 ± 1.2e-06' below 0.01."""
    small = stat["mean"] is not None and stat["mean"] < 0.01
    return format_mean_sd(stat, 1 if small else 2, small, none="not finite", some="finite")


def table(summary: dict) -> str:
    """The results table (mean ± sd over the seeds) and the verdicts, as Markdown."""
    rows = ["| activation | test accuracy | ‖dW_0‖ / ‖dW_last‖ at init | after training "
            "| never positive, init | never positive, trained |", "|---" * 6 + "|"]
    for a, r in summary["runs"].items():
        s = r["over_seeds"]
        cells = [format_mean_sd(s["test_accuracy"], 4, none="diverged", some="finite"),
                 fmt_ratio(s["init.ratio"]), fmt_ratio(s["trained.ratio"]),
                 format_mean_sd(s["init.never_positive_total"], 3),
                 format_mean_sd(s["trained.never_positive_total"], 3, none="diverged")]
        rows.append(f"| {a} | " + " | ".join(cells) + " |")
    v, seeds = summary["verdicts"], next(iter(summary["runs"].values()))["over_seeds"]["seeds"]
    rows += ["", f"mean ± sd over seeds {seeds}; verdicts:"]
    for when, g in v["vanishing_gradients"].items():
        rows.append(f"- vanishing gradients ({when}): held {g['held']}, sigmoid's ratio "
                    f"{g['orders_of_magnitude']} orders of magnitude below the closest rectifier's")
    rows.append(f"- sigmoid's accuracy below every other beyond the spread: "
                f"{v['sigmoid_accuracy_lags']}")
    acc = v["accuracy"]
    rows.append(f"- accuracy among {', '.join(COMPARED)}: {acc['text']}; pairs beyond the "
                f"spread: {', '.join(acc['pairs_beyond_spread']) or 'none'}")
    if summary["dead_relu_fraction"]:
        rows.append(f"- ReLU never-positive fraction lower after training beyond the spread: "
                    f"{summary['dead_relu_fraction']['fewer_after_training']}")
    return "\n".join(rows) + "\n"


def plot_grad_norms(runs, path, title):
    plt = viz.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, when in zip(axes, ("init", "trained")):
        for name, r in runs.items():
            norms = r[when]["grad_norms"]
            if norms is not None:
                ax.plot(range(len(norms)), norms, marker="o", ms=3, label=name)
        ax.set(xlabel="Dense layer (0 = input side)", yscale="log",
               title="at initialization" if when == "init" else "after training")
    axes[0].set_ylabel("||dL/dW|| on the probe batch")
    return finish_figure(fig, path, title, grid=axes, legend=axes[:1], title_y=1.03)


def plot_training(runs, path, title):
    plt = viz.pyplot()
    fig, (ax_a, ax_d) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, r in runs.items():
        acc = r["history"].get("val_accuracy", [])
        ax_a.plot(range(1, len(acc) + 1), acc, marker="o", ms=3, label=name)
        frac = r["trained"]["never_positive"]
        if name in RECTIFIERS and frac is not None:
            ax_d.plot(range(len(frac)), frac, marker="o", ms=3, label=f"{name}, trained")
    if "relu" in runs:
        frac = runs["relu"]["init"]["never_positive"]
        ax_d.plot(range(len(frac)), frac, "k:", marker="x", ms=3, label="relu, init")
    ax_a.set(xlabel="epoch", ylabel="validation accuracy", ylim=(0, 1))
    ax_d.set(xlabel="hidden layer", ylabel="units with z <= 0 on every probe example")
    return finish_figure(fig, path, title, grid=(ax_a, ax_d), legend=(ax_a, ax_d), title_y=1.03)


def parse_args(argv=None) -> tuple:
    """The command line, checked (--quick shrinks it), and the activation names."""
    p = parser("activations", __doc__.splitlines()[0])
    add_seeds_argument(p)
    p.add_argument("--activations", default=",".join(ACTIVATIONS),
                   help=f"comma-separated, from {ACTIVATIONS}")
    p.add_argument("--depth", type=int, default=10, help="number of Dense layers")
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--init", default="glorot", help="weight initializer (jdl.initializers name)")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--probe-size", type=int, default=1000)
    p.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    args = p.parse_args(argv)
    names = args.activations.split(",")
    if not set(names) <= set(ACTIVATIONS) or args.depth < 2:
        p.error(f"--activations: expected names from {ACTIVATIONS}; --depth: at least 2")
    seeds_of(args)  # a clear error for --seeds 0, before --quick sets 2
    if args.quick:
        args.epochs, args.verbose, args.probe_size = min(args.epochs, 1), 0, 200
        args.depth, args.width, args.seeds = min(args.depth, 3), min(args.width, 32), 2
    return args, names


def main(argv=None) -> dict:
    args, names = parse_args(argv)
    started, seeds, per_seed = time.perf_counter(), seeds_of(args), {name: [] for name in names}
    nets = {name: make_net(name, args) for name in names}  # compiled once, for every seed
    init_model = mlp_for(names[0], args)  # the same weights for every activation: one init compile
    print(f"{args.depth} Dense layers of {args.width}, init {args.init}, SGD lr {args.lr} momentum "
          f"{args.momentum}, batch {args.batch_size}, {args.epochs} epochs, seeds {seeds}")
    for seed in seeds:  # the seed draws the weights, the data order and the validation split
        train_data, val_data, test_data, dataset = load_images(args.quick, seed=seed, flatten=True)
        for name, net in nets.items():
            per_seed[name].append(run(net, with_seed(args, seed), (train_data, val_data, test_data),
                                      init_model))
    summary = summarize(per_seed, seeds)
    result = {"dataset": dataset, "depth": args.depth, "width": args.width, "seed": args.seed,
              "seeds": args.seeds, **summary, "settings": settings(args)}
    title = (f"{args.depth}-layer MLP (width {args.width}, {args.init} init) on {dataset}, "
             f"seed {seeds[0]}")
    plot_grad_norms(summary["runs"], args.out / "grad_norms.png", title)
    plot_training(summary["runs"], args.out / "training.png", title)
    write_table(args.out, table(summary))
    save_results(args.out, result, started=started)
    return result


if __name__ == "__main__":
    main()
