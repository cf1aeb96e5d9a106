"""Saturation (Loo): from a saturated start, sigmoid + quadratic cost learns slowly;
sigmoid + cross-entropy and softmax + log-likelihood do not.

    python experiments/saturation.py            # full run: about 4 min on the 2-core CPU
    python experiments/saturation.py --quick    # seconds, tiny data, one model object for the
                                                # three costs (the test suite runs it)

The lecture's argument: with C = 1/2 ||y - a^L||^2 and a^L = sigmoid(z^L) the output error is
delta^L = (a^L - y) sigmoid'(z^L), which is ~0 when z^L is large, however wrong the output;
the cross-entropy cost cancels sigmoid'(z^L) (delta^L = a^L - y), and so does softmax with
the log-likelihood cost. Two parts:

1. One neuron, the worked example behind the lecture's "Slow Learning!" figure (Nielsen, ch. 3):
   a = sigmoid(w * 1 + b), target y = 0, gradient descent with eta = 0.15, started at
   (w, b) = (0.6, 0.9) (a = 0.82) and at (2, 2) (a = 0.98, saturated), quadratic vs
   cross-entropy cost. Recorded: the cost and output per epoch, epochs until a < 0.2.
2. An MLP 784-100-10 (sigmoid hidden units) on Fashion-MNIST, every weight and bias drawn from
   N(0, 1) (the "large" start: most pre-activations have |z| > 4), trained by mini-batch SGD
   with the same learning rate under three output/cost pairs: sigmoid outputs + quadratic
   cost on one-hot targets, sigmoid outputs + cross-entropy, softmax + log-likelihood.
   Recorded: train loss and validation accuracy every `--eval-every` steps, steps (and
   epochs) until the validation accuracy first reaches `--target`, test accuracy; for each of
   `--seeds` seeds (its own saturated start and data order; mean +- sd in `over_seeds`, the
   curves are the first seed's; the saturated fractions are measured on the first seed's
   start).

Writes <out>/metrics.json, <out>/table.md (the MLP part), <out>/neuron.png and <out>/mlp.png.
"""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import (finish_figure, format_mean_sd, load_images, mean_sd, parser, save_results,
                     with_seed, write_table)

from jdl import losses, metrics, models, train, viz

COSTS = {  # name -> (logits (B, 10), labels (B,)) -> per-example cost (B,)
    "sigmoid_quadratic": lambda z, y: losses.quadratic(jax.nn.sigmoid(z), jax.nn.one_hot(y, 10)),
    "sigmoid_cross_entropy": lambda z, y: losses.sigmoid_binary_cross_entropy(z, jax.nn.one_hot(y, 10)),
    "softmax_log_likelihood": losses.softmax_cross_entropy,
}
NEURON_STARTS = {"w0.6_b0.9": (0.6, 0.9), "w2_b2": (2.0, 2.0)}
NEURON_COSTS = {  # on z (1, 1), target (1, 1)
    "quadratic": lambda z, y: losses.quadratic(jax.nn.sigmoid(z), y),
    "cross_entropy": losses.sigmoid_binary_cross_entropy,
}


# ----------------------------------------------------------------------------- part 1: one neuron
def neuron_run(w, b, cost, eta: float, epochs: int):
    """Gradient descent on one example (x = 1, y = 0): the output a and the cost after each epoch."""
    x, y = jnp.ones((1, 1)), jnp.zeros((1, 1))

    def cost_of(p):
        return cost(p[0] * x + p[1], y)[0]

    def epoch(p, _):
        a, c = jax.nn.sigmoid(p[0] + p[1]), cost_of(p)
        return p - eta * jax.grad(cost_of)(p), (a, c)

    _, (a, c) = jax.lax.scan(epoch, jnp.array([w, b], jnp.float32), length=epochs)
    return np.asarray(a), np.asarray(c)


def first_below(values, threshold):
    hits = np.flatnonzero(np.asarray(values) < threshold)
    return int(hits[0]) if hits.size else None


# ----------------------------------------------------------------------------- part 2: an MLP
def saturated_params(params, key, w_std: float, b_std: float):
    """Every Dense weight and bias redrawn from N(0, w_std^2) and N(0, b_std^2)."""
    out = {}
    for i, (name, layer) in enumerate(sorted(params.items())):
        kw, kb = jax.random.split(jax.random.fold_in(key, i))
        out[name] = {"w": w_std * jax.random.normal(kw, layer["w"].shape),
                     "b": b_std * jax.random.normal(kb, layer["b"].shape)}
    return out


def saturated_fraction(params, x):
    """Fraction of pre-activations with sigmoid'(z) < 0.01 (|z| > 4.6), hidden and output layers."""
    z1 = x @ params["dense_0"]["w"] + params["dense_0"]["b"][None]
    z2 = jax.nn.sigmoid(z1) @ params["dense_1"]["w"] + params["dense_1"]["b"][None]
    flat = lambda z: float(jnp.mean(jax.nn.sigmoid(z) * (1 - jax.nn.sigmoid(z)) < 0.01))  # noqa: E731
    return {"hidden": flat(z1), "output": flat(z2)}


def mlp_run(cost_name, args, train_data, val_data, test_data, model=None):
    """Train the MLP under one cost. `model` (--quick): one model object for every cost, so
    its init program compiles once (a new `models.mlp` is the same network, compiled anew)."""
    model = model or models.mlp([args.hidden, 10], "sigmoid")
    eval_batch = 100 if args.quick else 1000  # quick: one eval shape for val (200), test (300)
    optimizer = optax.sgd(args.lr)
    ts = train.init_train_state(model, optimizer, jax.random.key(args.seed), train_data[0][:1].shape)
    params = saturated_params(ts.params, jax.random.key(args.seed + 1), args.w_std, args.b_std)
    ts = ts._replace(params=params, opt_state=optimizer.init(params))  # same start for every cost
    train_step, eval_step = train.make_steps(model, optimizer, COSTS[cost_name],
                                             metrics={"accuracy": metrics.accuracy})
    (x, y), n = train_data, len(train_data[0])
    per_epoch = n // args.batch_size
    rng = np.random.default_rng(args.seed)
    curve = {"step": [], "train_loss": [], "val_loss": [], "val_accuracy": []}
    window, t0 = [], time.perf_counter()
    for step in range(1, args.epochs * per_epoch + 1):
        if (step - 1) % per_epoch == 0:
            perm = rng.permutation(n)
        idx = perm[((step - 1) % per_epoch) * args.batch_size:][:args.batch_size]
        ts, logs = train_step(ts, (x[idx], y[idx]))
        window.append(logs["loss"])
        if step % args.eval_every == 0 or step == args.epochs * per_epoch:
            val = train.evaluate(ts, eval_step, val_data, batch_size=eval_batch)
            curve["step"].append(step)
            curve["train_loss"].append(float(jnp.mean(jnp.stack(window))))
            curve["val_loss"].append(val["loss"])
            curve["val_accuracy"].append(val["accuracy"])
            window = []
    hit = next((s for s, a in zip(curve["step"], curve["val_accuracy"]) if a >= args.target), None)
    test = train.evaluate(ts, eval_step, test_data, batch_size=eval_batch)
    print(f"  {cost_name:24s} val acc {curve['val_accuracy'][-1]:.4f}  test acc "
          f"{test['accuracy']:.4f}  steps to {args.target}: {hit}  ({time.perf_counter() - t0:.1f} s)")
    return {"curve": curve, "steps_to_target": hit,
            "epochs_to_target": None if hit is None else round(hit / per_epoch, 3),
            "test_accuracy": test["accuracy"], "test_loss": test["loss"]}


# ----------------------------------------------------------------------------- plots
def plot_neuron(neuron, path):
    plt = viz.pyplot()
    fig, (ax_a, ax_c) = plt.subplots(1, 2, figsize=(10, 3.6))
    for color, (start, runs) in zip(("C0", "C3"), neuron.items()):
        for cost, run in runs.items():
            style = dict(color=color, ls="-" if cost == "quadratic" else "--", label=f"{start}, {cost}")
            ax_a.plot(run["output"], **style)
            ax_c.plot(run["cost"], **style)
    ax_a.set(xlabel="epoch", ylabel="output a (target 0)", title="one sigmoid neuron, eta = 0.15")
    ax_c.set(xlabel="epoch", ylabel="cost", yscale="log")
    return finish_figure(fig, path, grid=(ax_a, ax_c), legend=(ax_a, ax_c))


def plot_mlp(runs, target, path, title):
    plt = viz.pyplot()
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, run in runs.items():
        ax_l.plot(run["curve"]["step"], run["curve"]["train_loss"], label=name)
        ax_a.plot(run["curve"]["step"], run["curve"]["val_accuracy"], label=name)
    ax_l.set(xlabel="step", ylabel="train cost (own scale)", yscale="log")
    ax_a.axhline(target, color="grey", lw=0.8, ls=":")
    ax_a.set(xlabel="step", ylabel="validation accuracy", ylim=(0, 1))
    return finish_figure(fig, path, title, grid=(ax_l, ax_a), legend=(ax_l, ax_a), title_y=1.03)


def mlp_table(runs: dict, args) -> str:
    """The MLP part as mean ± sd over the seeds ('not reached', 'k of n reached')."""
    rows = [f"| outputs / cost | steps to {args.target:g} validation accuracy | final validation "
            "accuracy | test accuracy |", "|---|---|---|---|"]
    for name, r in runs.items():
        s = r["over_seeds"]
        rows.append(f"| {name} | {format_mean_sd(s['steps_to_target'], 0)} | "
                    f"{format_mean_sd(s['final_val_accuracy'], 4)} | "
                    f"{format_mean_sd(s['test_accuracy'], 4)} |")
    return "\n".join(rows) + "\n"


def main(argv=None) -> dict:
    p = parser("saturation", __doc__.splitlines()[0])
    p.add_argument("--neuron-epochs", type=int, default=500)
    p.add_argument("--neuron-lr", type=float, default=0.15)
    p.add_argument("--neuron-target", type=float, default=0.2, help="count epochs until a < this")
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--w-std", type=float, default=1.0, help="std of the saturated weights")
    p.add_argument("--b-std", type=float, default=1.0, help="std of the saturated biases")
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--eval-every", type=int, default=100, help="steps between validation checks")
    p.add_argument("--target", type=float, default=0.75, help="validation accuracy to reach")
    p.add_argument("--seeds", type=int, default=3, help="MLP seeds per cost (mean +- sd)")
    args = p.parse_args(argv)
    if args.quick:
        args.neuron_epochs, args.epochs, args.eval_every = min(args.neuron_epochs, 100), 1, 4
        args.seeds = 2
    started = time.perf_counter()

    print(f"part 1: one neuron, eta = {args.neuron_lr}, {args.neuron_epochs} epochs")
    neuron = {}
    for start, (w, b) in NEURON_STARTS.items():
        neuron[start] = {}
        for cost_name, cost in NEURON_COSTS.items():
            a, c = neuron_run(w, b, cost, args.neuron_lr, args.neuron_epochs)
            hit = first_below(a, args.neuron_target)
            neuron[start][cost_name] = {"output": a.tolist(), "cost": c.tolist(),
                                        "epochs_to_target": hit}
            print(f"  start {start:10s} {cost_name:14s} a: {a[0]:.3f} -> {a[-1]:.3f}  "
                  f"epochs to a < {args.neuron_target}: {hit}")

    train_data, val_data, test_data, dataset = load_images(args.quick, seed=args.seed, flatten=True)
    n_in = train_data[0].shape[1]
    print(f"part 2: MLP {n_in}-{args.hidden}-10 on {dataset}, weights ~ N(0, {args.w_std}^2), "
          f"biases ~ N(0, {args.b_std}^2), SGD lr {args.lr}, batch {args.batch_size}")
    model = models.mlp([args.hidden, 10], "sigmoid")
    init = lambda: model.init(jax.random.key(0), (1, n_in))[1]  # noqa: E731
    # every value is redrawn, so --quick takes only the shapes (jax.eval_shape compiles nothing)
    start = saturated_params(jax.eval_shape(init) if args.quick else init(),
                             jax.random.key(args.seed + 1), args.w_std, args.b_std)
    saturated = saturated_fraction(start, val_data[0])
    print(f"  saturated at the start (sigmoid' < 0.01): hidden {saturated['hidden']:.2f}, "
          f"output {saturated['output']:.2f}")
    runs = {}
    for name in COSTS:  # each cost from each seed's saturated start; the first seed keeps its curve
        seeds = [mlp_run(name, with_seed(args, seed), train_data, val_data, test_data,
                         model if args.quick else None)
                 for seed in range(args.seed, args.seed + args.seeds)]
        runs[name] = dict(seeds[0])
        runs[name]["over_seeds"] = {
            "steps_to_target": mean_sd([r["steps_to_target"] for r in seeds]),
            "final_val_accuracy": mean_sd([r["curve"]["val_accuracy"][-1] for r in seeds]),
            "test_accuracy": mean_sd([r["test_accuracy"] for r in seeds])}
    write_table(args.out, mlp_table(runs, args))

    result = {
        "dataset": dataset,
        "neuron": {"lr": args.neuron_lr, "target_output": args.neuron_target, "runs": neuron},
        "mlp": {"sizes": [n_in, args.hidden, 10], "target_accuracy": args.target,
                "saturated_fraction_at_start": saturated, "runs": runs},
        "settings": {k: str(v) if not isinstance(v, (int, float, bool)) else v
                     for k, v in vars(args).items()},
    }
    plot_neuron(neuron, args.out / "neuron.png")
    plot_mlp(runs, args.target, args.out / "mlp.png",
             f"{n_in}-{args.hidden}-10 sigmoid on {dataset}, saturated start")
    save_results(args.out, result, started=started)
    return result


if __name__ == "__main__":
    main()
