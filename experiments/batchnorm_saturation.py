"""Batch norm and saturation: saturated units and gradient norms per layer, sigmoid and tanh.

    python experiments/batchnorm_saturation.py            # full: 8 hidden layers, 3 seeds, 8 variants
    python experiments/batchnorm_saturation.py --quick    # seconds (the test)

Claim (Salakhutdinov, "Batch Normalization": "Why normalize the pre-activation? helps keep the
pre-activation in a non-saturating regime → helps with vanishing gradient problem").

Method: MLPs 784-256x`--depth`-10 with sigmoid or tanh hidden units, with or without `BatchNorm`
between each hidden Dense and its activation (the pre-activation is what batch norm
normalizes), from two initializations: jdl's default (LeCun normal, w ~ N(0, 1/fan_in)) and a
badly scaled one (w ~ N(0, 1), which puts the pre-activations far into the flat tails). Each of
the 2 x 2 x 2 variants is one population of `--seeds` members (`jdl.train.fit_population`),
trained by SGD with momentum 0.9 at one learning rate on a `--train-size` subset of the
Fashion-MNIST training split, validated on a separate 5,000-image split.

Before training and after every epoch, on a fixed probe of 1,000 training images, in training
mode (batch statistics, as during a step):
  saturated[l]   the fraction of (example, unit) pairs of hidden layer l whose activation
                 derivative g'(a) is below 10% of its maximum (sigmoid: |a| > 3.637; tanh:
                 |a| > 1.818): units through which almost no gradient flows;
  grad_norm[l]   ||dL/dW_l||_F of every Dense layer l (0 = next to the input), the mean
                 softmax cross-entropy on the probe;
  vanishing      grad_norm[0] / grad_norm[-1], the first layer's gradient over the output
                 layer's: far below 1 means the gradient vanishes on its way down.
Reported as mean +- sd over the seeds.

Writes `<out>/metrics.json`, `<out>/table.md` and `<out>/batchnorm_saturation.png`.
"""
from __future__ import annotations

import itertools
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import (finish_figure, format_mean_sd as fmt, load_images, mean_sd, parser, save_results,
                     settings as _settings, write_table)

from jdl import losses, metrics, models, nn, train, viz

# g'(a) of each activation as a function of a, and its maximum (at a = 0)
DERIVATIVES = {"sigmoid": (lambda a: jax.nn.sigmoid(a) * (1 - jax.nn.sigmoid(a)), 0.25),
               "tanh": (lambda a: 1 - jnp.tanh(a) ** 2, 1.0)}
INITS = {"lecun": "lecun", "N(0, 1)": jax.nn.initializers.normal(1.0)}
SATURATED_BELOW = 0.1  # of the derivative's maximum


def parse_args(argv=None):
    p = parser("batchnorm_saturation", __doc__.splitlines()[0])
    p.add_argument("--depth", type=int, default=8, help="hidden layers")
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--train-size", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--batch-size", type=int, default=100)
    args = p.parse_args(argv)
    if args.quick:
        args.depth, args.width, args.epochs, args.seeds = 3, 16, 2, 2
    return args


def variants() -> list[tuple[str, str, bool]]:
    return list(itertools.product(DERIVATIVES, INITS, (False, True)))


def variant_name(activation: str, init: str, batch_norm: bool) -> str:
    return f"{activation}, {init}, {'BN' if batch_norm else 'no BN'}"


def make_probe(model: nn.Layer, activation: str, depth: int, batch_norm: bool):
    """A jitted `probe(pop, x, y) -> (saturated (N, depth), grad_norm (N, depth + 1))`."""
    derivative, peak = DERIVATIVES[activation]
    pre = [nn.cut(model, f"batch_norm_{l}" if batch_norm else f"dense_{l}") for l in range(depth)]

    def measure(params, state, x, y):
        saturated = jnp.stack([
            jnp.mean(derivative(cut.apply(params, state, x, train=True)[0]) < SATURATED_BELOW * peak)
            for cut in pre])

        def loss(params):
            logits, _ = model.apply(params, state, x, train=True)
            return jnp.mean(losses.softmax_cross_entropy(logits, y))

        grads = jax.grad(loss)(params)
        norms = jnp.stack([jnp.linalg.norm(grads[f"dense_{l}"]["w"]) for l in range(depth + 1)])
        return saturated, norms

    measure = jax.jit(jax.vmap(measure, in_axes=(0, 0, None, None)))
    return lambda pop, x, y: tuple(np.asarray(v, np.float64) for v in measure(pop.params, pop.state, x, y))


def network(activation: str, batch_norm: bool, args, cache: dict) -> tuple:
    """(model, optimizer, train_step, eval_step, probe) of one architecture, built once: the two
    initializations differ only in the first weights, so they share every compiled program."""
    key = (activation, batch_norm)
    if key not in cache:
        model = models.mlp([args.width] * args.depth + [10], activation, batch_norm=batch_norm)
        optimizer = optax.sgd(args.lr, momentum=0.9)
        steps = train.make_steps(model, optimizer, losses.softmax_cross_entropy,
                                 metrics={"accuracy": metrics.accuracy})
        cache[key] = (model, optimizer, *steps, make_probe(model, activation, args.depth, batch_norm))
    return cache[key]


def run_variant(activation: str, init: str, batch_norm: bool, splits, probe_data, args,
                cache: dict | None = None) -> dict:
    """One population (one member per seed): per-epoch probes, losses and validation accuracy."""
    (x, y), val = splits
    _, optimizer, train_step, eval_step, probe = network(
        activation, batch_norm, args, {} if cache is None else cache)
    keys = jnp.stack([jax.random.key(args.seed + s) for s in range(args.seeds)])
    # the weights drawn by `init`; the same network (apply, steps, probe) for both inits
    first = models.mlp([args.width] * args.depth + [10], activation, batch_norm=batch_norm,
                       w_init=INITS[init])
    pop = train.init_population(first, optimizer, keys, (1, x.shape[1]))
    saturated, grad_norms, val_acc, train_loss = [], [], [], []
    started = time.perf_counter()
    for epoch in range(args.epochs + 1):
        if epoch:  # one epoch per call: fit_population takes no callbacks; it resumes from pop.step
            pop, history = train.fit_population(pop, train_step, (x, y), epochs=1,
                                                batch_size=args.batch_size, val_data=val,
                                                eval_step=eval_step, verbose=0)
            val_acc.append(history["val_accuracy"][0])
            train_loss.append(history["loss"][0])
        s, g = probe(pop, *probe_data)
        saturated.append(s)
        grad_norms.append(g)
    return {"saturated": np.stack(saturated, 1).tolist(),      # (seeds, epochs + 1, depth)
            "grad_norm": np.stack(grad_norms, 1).tolist(),     # (seeds, epochs + 1, depth + 1)
            "val_accuracy": np.stack(val_acc, 1).tolist(),     # (seeds, epochs)
            "train_loss": np.stack(train_loss, 1).tolist(),
            "seconds": round(time.perf_counter() - started, 1)}


def summarize(r: dict) -> dict:
    """Per variant: mean saturation over layers and the vanishing ratio, at init and at the end."""
    sat, g = np.array(r["saturated"]), np.array(r["grad_norm"])
    out = {}
    for when, i in (("init", 0), ("end", -1)):
        out[f"saturated_{when}"] = mean_sd(sat[:, i].mean(axis=1))
        out[f"vanishing_{when}"] = mean_sd(g[:, i, 0] / g[:, i, -1])
    out["final_val_accuracy"] = mean_sd(np.array(r["val_accuracy"])[:, -1])
    return out


def table(summaries: dict) -> str:
    rows = ["| variant | saturated at init | saturated at end | grad ratio first/last at init "
            "| at end | final validation accuracy |", "|---|---|---|---|---|---|"]
    for name, s in summaries.items():
        rows.append(f"| {name} | {fmt(s['saturated_init'])} | {fmt(s['saturated_end'])} | "
                    f"{fmt(s['vanishing_init'], 2, True)} | {fmt(s['vanishing_end'], 2, True)} | "
                    f"{fmt(s['final_val_accuracy'], 4)} |")
    return "\n".join(rows) + "\n"


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    train_data, val, _, dataset = load_images(args.quick, train_size=args.train_size,
                                              seed=args.seed, flatten=True)
    n_probe = min(1000, len(train_data[0]))
    probe_data = (train_data[0][:n_probe], train_data[1][:n_probe])
    results, summaries, cache = {}, {}, {}
    for activation, init, batch_norm in variants():
        name = variant_name(activation, init, batch_norm)
        results[name] = run_variant(activation, init, batch_norm, (train_data, val), probe_data,
                                    args, cache)
        summaries[name] = summarize(results[name])
        s = summaries[name]
        print(f"{name}: saturated {s['saturated_init']['mean']:.3f} -> {s['saturated_end']['mean']:.3f}, "
              f"grad ratio {s['vanishing_init']['mean']:.2e} -> {s['vanishing_end']['mean']:.2e}, "
              f"val acc {s['final_val_accuracy']['mean']:.4f} ({results[name]['seconds']} s)")
    write_table(args.out, table(summaries))
    out = {"settings": _settings(args), "dataset": dataset, "results": results,
           "summary": summaries}
    save_results(args.out, out, started=started)
    plot(results, args)
    return out


def plot(results: dict, args):
    plt = viz.pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    fig.subplots_adjust(hspace=0.35)
    styles = {(init, bn): (color, ls) for (init, color), (bn, ls) in
              itertools.product(zip(INITS, ("C0", "C3")), ((False, "--"), (True, "-")))}
    for col, activation in enumerate(DERIVATIVES):
        for (init, bn), (color, ls) in styles.items():
            r = results[variant_name(activation, init, bn)]
            label = f"{init}, {'BN' if bn else 'no BN'}"
            sat = np.array(r["saturated"])[:, -1].mean(axis=0)
            g = np.array(r["grad_norm"])[:, -1].mean(axis=0)
            axes[0, col].plot(np.arange(len(sat)), sat, color=color, ls=ls, marker="o", ms=3, label=label)
            axes[1, col].plot(np.arange(len(g)), g, color=color, ls=ls, marker="o", ms=3, label=label)
        axes[0, col].set(xlabel="hidden layer (0 = next to the input)", ylabel="saturated fraction",
                         ylim=(-0.02, 1.02), title=f"{activation}: saturated units after training")
        axes[1, col].set(xlabel="Dense layer (0 = next to the input)", ylabel="||dL/dW|| after training",
                         yscale="log", title=f"{activation}: gradient norm per layer after training")
    return finish_figure(fig, args.out / "batchnorm_saturation.png",
                         f"Batch norm, saturation and vanishing gradients ({args.depth} hidden layers, "
                         f"mean of {args.seeds} seeds)", grid=axes.ravel(), legend=axes.ravel())


if __name__ == "__main__":
    main()
