"""Initialization in deep ReLU and tanh MLPs: symmetry, saturation, He and Glorot
(Loo, Senk, *Engineering Deep Learning*).

    python experiments/initialization.py           # full: 10 hidden layers of 128, 3 epochs
    python experiments/initialization.py --quick   # 4 hidden layers of 32, 600 examples (the test)
    python experiments/initialization.py --depth 20 --width 256 --epochs 5

Initializers (biases start at 0): zeros; constant 1/fan_in (every weight of a layer equal, the
scale kept sane); N(0, 0.01^2) (small); N(0, 1) (large); He N(0, 2/fan_in); Glorot
U[+-sqrt(6/(fan_in + fan_out))]. Each is drawn once and the same weights start the ReLU net
and the tanh net. For every (activation, initializer):

- at init, on 1,000 validation images: per hidden layer the mean and std of the activations,
  the fraction of ReLU outputs at exactly 0 and of tanh outputs with |a| > 0.99 (saturated),
  and the norm of dL/dW of every Dense layer;
- the symmetry gap: max over hidden layers and units j of max |w_j - w_0| (w_j the incoming
  weights of unit j, plus its bias), at init and after training; 0 means all hidden units of
  each layer are identical;
- validation and test accuracy after `--epochs` epochs of SGD with momentum (lr 0.01, mu 0.9,
  batch 128), for each of `--seeds` seeds (mean +- sd; the per-layer figures above are those of
  the first seed); a run whose loss becomes NaN/inf reports None. He against Glorot is judged
  by the spread rule: a difference counts only when it exceeds the sum of the two sds.

Writes `<out>/metrics.json`, `<out>/activations_at_init.png`, `<out>/training.png`,
`<out>/table.md`. Full mode: 36 runs (6 initializers x 2 activations x 3 seeds) of 3 epochs
(see the page for the measured time); --quick: about 15 s.
"""
from __future__ import annotations

import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import _common
from jdl import initializers, losses, metrics, models, nn, optimizers, train, viz


def constant_fan_in(key, shape, dtype=jnp.float32):
    """Every weight 1/fan_in: a constant initializer whose units compute the mean of their inputs."""
    return jnp.full(shape, 1.0 / shape[0], dtype)


INITS = {
    "zeros": initializers.zeros,
    "constant 1/fan_in": constant_fan_in,
    "normal 0.01": initializers.normal(0.01),
    "normal 1.0": initializers.normal(1.0),
    "he": initializers.he,
    "glorot": initializers.glorot,
}
ACTIVATIONS = ("relu", "tanh")


def finite(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def symmetry_gap(params, depth: int) -> float:
    """max over hidden layers of max_j |(w_j, b_j) - (w_0, b_0)|: 0 when every unit is the same."""
    gaps = []
    for i in range(depth):
        w, b = params[f"dense_{i}"]["w"], params[f"dense_{i}"]["b"]
        gaps += [jnp.max(jnp.abs(w - w[:, :1])), jnp.max(jnp.abs(b - b[:1]))]
    return finite(max(gaps))


def make_layer_stats(model, activation: str, depth: int):
    """`stats(params, state, x, y)`: per hidden layer the activations' mean and std, the fraction
    of ReLU outputs at 0 (or of saturated tanh outputs), and ||dL/dW|| (compiled once)."""

    @jax.jit
    def compute(params, state, x, y):
        acts = [nn.cut(model, f"act_{i}").apply(params, state, x)[0] for i in range(depth)]
        def loss(p):
            return jnp.mean(losses.softmax_cross_entropy(model.apply(p, state, x)[0], y))

        grads = jax.grad(loss)(params)
        return acts, [jnp.linalg.norm(grads[f"dense_{i}"]["w"]) for i in range(depth + 1)]

    def stats(params, state, x, y) -> list[dict]:
        acts, grad_norms = compute(params, state, x, y)
        out = []
        for i, a in enumerate(acts):
            s = {"mean": finite(a.mean()), "std": finite(a.std()),
                 "grad_norm_w": finite(grad_norms[i])}
            if activation == "relu":
                s["frac_zero"] = float(jnp.mean(a == 0))
                s["dead_units"] = float(jnp.mean(jnp.all(a == 0, axis=0)))  # 0 on every image
            else:
                s["frac_saturated"] = float(jnp.mean(jnp.abs(a) > 0.99))
            out.append(s)
        out.append({"output_grad_norm_w": finite(grad_norms[depth])})
        return out

    return stats


def plot_stats(results, depth, path, title):
    plt = viz.pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), layout="constrained")
    layers = range(1, depth + 1)
    for row, act in zip(axes, ACTIVATIONS):
        frac = "frac_zero" if act == "relu" else "frac_saturated"
        for name, r in results[act].items():
            st = r["init_stats"][:depth]
            get = lambda k: [np.nan if s[k] is None else s[k] for s in st]  # noqa: E731
            row[0].plot(layers, get("std"), "o-", ms=3, label=name)
            row[1].plot(layers, get(frac), "o-", ms=3, label=name)
            row[2].plot(layers, get("grad_norm_w"), "o-", ms=3, label=name)
        row[0].set(ylabel=f"{act}: activation std", yscale="symlog")
        row[0].set_yscale("symlog", linthresh=1e-4)
        row[1].set(ylabel=f"{act}: {'fraction = 0' if act == 'relu' else 'fraction |a| > 0.99'}",
                   ylim=(-0.05, 1.05))
        row[2].set_yscale("symlog", linthresh=1e-6)
        row[2].set(ylabel=f"{act}: ||dL/dW|| of the layer")
        for ax in row:
            ax.set(xlabel="hidden layer")
            ax.grid(alpha=0.3)
    axes[0][2].legend(fontsize=8)
    fig.suptitle(title)
    return viz.save_figure(fig, path)


def plot_training(results, path, title):
    plt = viz.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for ax, act in zip(axes, ACTIVATIONS):
        for name, r in results[act].items():
            acc = [np.nan if v is None else v for v in r["val_accuracy"]]
            ax.plot(range(len(acc)), acc, "o-", ms=3, label=name)
        ax.set(xlabel="epoch", ylabel=f"{act}: validation accuracy", ylim=(0, 1))
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle(title)
    return viz.save_figure(fig, path)


def table(results, depth) -> str:
    fmt = lambda v, d=4: "n/a" if v is None else f"{v:.{d}g}"  # noqa: E731
    fmt_acc = lambda stat: _common.format_mean_sd(stat, 4, none="diverged", some="finite")  # noqa: E731
    rows = ["| activation | init | std layer 1 | std last hidden | zero / saturated (mean) "
            "| symmetry gap init -> trained | val acc | test acc |", "|---" * 8 + "|"]
    for act in ACTIVATIONS:
        for name, r in results[act].items():
            st = r["init_stats"][:depth]
            frac = np.mean([s["frac_zero" if act == "relu" else "frac_saturated"] for s in st])
            seeds = r["over_seeds"]
            rows.append(f"| {act} | {name} | {fmt(st[0]['std'])} | {fmt(st[-1]['std'])} | "
                        f"{frac:.3f} | {fmt(r['symmetry_gap_init'], 3)} -> "
                        f"{fmt(r['symmetry_gap_trained'], 3)} | "
                        f"{fmt_acc(seeds['val_accuracy'])} | {fmt_acc(seeds['test_accuracy'])} |")
    return "\n".join(rows) + "\n"


def main(argv=None) -> dict:
    p = _common.parser("initialization", __doc__.splitlines()[0])
    p.add_argument("--depth", type=int, default=10, help="hidden layers")
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.01, help="SGD-momentum learning rate (mu 0.9)")
    p.add_argument("--inits", default=",".join(INITS), help="comma-separated subset of the above")
    p.add_argument("--seeds", type=int, default=3, help="seeds per run; accuracies are mean +- sd")
    args = p.parse_args(argv)
    if args.quick:
        args.depth, args.width = min(args.depth, 4), min(args.width, 32)
        args.epochs, args.batch_size, args.seeds = min(args.epochs, 2), min(args.batch_size, 32), 2
    names = [n for n in args.inits.split(",") if n]
    if not set(names) <= set(INITS):
        p.error(f"--inits: expected names among {list(INITS)}, got {names}")
    started = time.perf_counter()
    (x_tr, y_tr), (x_val, y_val), test_data, dataset = _common.load_images(
        args.quick, seed=args.seed, flatten=True)
    sizes = [args.width] * args.depth + [10]
    x_stats, y_stats = jnp.asarray(x_val[:1000]), jnp.asarray(y_val[:1000])
    opt = optimizers.momentum(args.lr, 0.9)
    acc = {"accuracy": metrics.accuracy}
    eval_batch = 100 if args.quick else 1000  # quick: one eval shape for val (200), test (300)
    nets = {}  # one model and one compiled step per activation: the weights are just arrays
    for act in ACTIVATIONS:
        model = models.mlp(sizes, act)
        nets[act] = (model,
                     train.make_train_step(model, opt, losses.softmax_cross_entropy, metrics=acc),
                     train.make_eval_step(model, losses.softmax_cross_entropy, metrics=acc),
                     make_layer_stats(model, act, args.depth))

    results = {act: {} for act in ACTIVATIONS}
    seeds = range(args.seed, args.seed + args.seeds)
    for name in names:
        for act, (model, train_step, eval_step, layer_stats) in nets.items():
            r, finals = {}, {"val": [], "test": []}
            for seed in seeds:  # the first seed's run also gives the per-layer figures
                start = train.init_train_state(models.mlp(sizes, w_init=INITS[name]), optax.identity(),
                                               jax.random.key(seed), (1, x_tr.shape[1]))
                ts = start._replace(opt_state=opt.init(start.params))
                if seed == args.seed:
                    r = {"init_stats": layer_stats(ts.params, ts.state, x_stats, y_stats),
                         "symmetry_gap_init": symmetry_gap(ts.params, args.depth)}
                    init = train.evaluate(ts, eval_step, (x_val, y_val), batch_size=eval_batch)
                t0 = time.perf_counter()
                ts, hist = train.fit(ts, train_step, (x_tr, y_tr), epochs=args.epochs,
                                     batch_size=args.batch_size, val_data=(x_val, y_val),
                                     eval_step=eval_step, verbose=0, eval_batch_size=eval_batch,
                                     steps_per_call=1 if args.quick else 4)
                # a non-finite loss stops fit early (its last finite state is returned): diverged
                diverged = len(hist.get("val_accuracy", [])) < args.epochs
                test = None if diverged else finite(
                    train.evaluate(ts, eval_step, test_data, batch_size=eval_batch)["accuracy"])
                finals["val"].append(None if diverged else finite(hist["val_accuracy"][-1]))
                finals["test"].append(test)
                if seed == args.seed:
                    r.update(seconds=round(time.perf_counter() - t0, 2),
                             symmetry_gap_trained=symmetry_gap(ts.params, args.depth),
                             train_loss=[finite(v) for v in hist.get("loss", [])],
                             val_accuracy=[finite(v) for v in [init["accuracy"],
                                                               *hist.get("val_accuracy", [])]],
                             test_accuracy=test, diverged=diverged)
            r["over_seeds"] = {"seeds": list(seeds), "val_accuracy": _common.mean_sd(finals["val"]),
                               "test_accuracy": _common.mean_sd(finals["test"])}
            results[act][name] = r
            print(f"{act:4s} {name:18s} std last hidden {r['init_stats'][args.depth - 1]['std']}  "
                  f"gap {r['symmetry_gap_init']} -> {r['symmetry_gap_trained']}  "
                  f"test acc {finals['test']}  ({r['seconds']} s per run)")
    verdicts = {act: {"he_vs_glorot_test": _common.exceeds_spread(
        results[act]["he"]["over_seeds"]["test_accuracy"],
        results[act]["glorot"]["over_seeds"]["test_accuracy"])}
        for act in ACTIVATIONS if {"he", "glorot"} <= set(results[act])}

    out = {"settings": _common.settings(args), "dataset": dataset, "depth": args.depth, "width": args.width, "epochs": args.epochs,
           "batch_size": args.batch_size, "optimizer": f"momentum lr {args.lr}, mu 0.9",
           "stats_examples": int(len(x_stats)), "seed": args.seed, "seeds": args.seeds,
           "results": results, "he_vs_glorot_exceeds_spread": verdicts}
    args.out.mkdir(parents=True, exist_ok=True)
    net = f"{args.depth} x {args.width} hidden"
    plot_stats(results, args.depth, args.out / "activations_at_init.png",
               f"at initialization: {net}, {len(x_stats)} {dataset} images")
    plot_training(results, args.out / "training.png",
                  f"after {args.epochs} epochs of SGD-momentum: {net}, {dataset}")
    text = table(results, args.depth)
    _common.write_table(args.out, text)
    _common.save_results(args.out, out, started=started)
    return out


if __name__ == "__main__":
    main()
