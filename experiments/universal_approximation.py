"""Universal approximation: how many hidden units one layer needs to fit a 1-D function.

    python experiments/universal_approximation.py            # full: widths 1 to 1024, 3 seeds
    python experiments/universal_approximation.py --quick    # seconds (the test)

Claim ("a neural network with at least one hidden layer is a universal approximator
(Cybenko); the capacity of the network increases with more hidden units", Introduction to
Neural Networks, COMP9321, UNSW; Cybenko 1989, Hornik 1991): a single hidden layer of enough
units fits any continuous function on an interval as closely as we like, and the units needed
grow with how hard the function is to follow.

Method: three targets on [-1, 1]: smooth sin(pi x), sharp (a kink and a jump: |x| for
x < 0.3, then 1), and high-frequency sin(6 pi x). For each width in `--widths`, a 1-W-1 MLP
with tanh units is trained by Adam on `--points` evenly spaced inputs (full batches of
`--batch-size`), `--seeds` seeds trained as one population; the error is the mean squared
error on a 4x finer grid, divided by the target's variance (relative MSE; 1 is the error of
predicting the mean). The units needed are the smallest width whose median relative MSE over
the seeds is below `--target`. The jump cannot be matched exactly by a continuous network:
its error falls with width but more slowly.

Writes `<out>/metrics.json`, `<out>/table.md` and `<out>/universal_approximation.png`.
"""
from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import finish_figure, parser, save_results, settings as _settings, write_table

from jdl import losses, models, train, viz

TARGETS = {
    "smooth": lambda x: np.sin(np.pi * x),
    "sharp": lambda x: np.where(x < 0.3, np.abs(x), 1.0),
    "high_frequency": lambda x: np.sin(6 * np.pi * x),
}


def parse_args(argv=None):
    p = parser("universal_approximation", __doc__.splitlines()[0])
    p.add_argument("--widths", type=int, nargs="+",
                   default=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--points", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=600)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--target", type=float, default=0.01, help="relative MSE to reach")
    args = p.parse_args(argv)
    if args.quick:
        args.widths, args.seeds, args.points, args.epochs = [2, 32], 2, 128, 20
    return args


@functools.cache
def width_program(width: int, lr: float):
    """The 1-width-1 tanh MLP, its optimizer, train step and vmapped predictor: built once per
    width, so the three targets share their compiled programs."""
    model = models.mlp([width, 1], "tanh")
    optimizer = optax.adam(lr)
    step = train.make_train_step(model, optimizer, losses.mean_squared_error)
    predict = jax.jit(jax.vmap(lambda p, s, x: model.apply(p, s, x)[0][:, 0], (0, 0, None)))
    return model, optimizer, step, predict


def fit_width(width: int, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, args):
    """Train `args.seeds` 1-width-1 tanh MLPs as one population: predictions (seeds, n_test)."""
    model, optimizer, step, predict = width_program(width, args.lr)
    keys = jax.random.split(jax.random.key(args.seed), args.seeds)
    pop = train.init_population(model, optimizer, keys, (1, 1))
    pop, history = train.fit_population(pop, step, (x, y), epochs=args.epochs,
                                        batch_size=args.batch_size,
                                        steps_per_call=len(x) // args.batch_size,
                                        unroll=False, verbose=0)
    return np.asarray(predict(pop.params, pop.state, jnp.asarray(x_test))), history["loss"][-1]


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    x = np.linspace(-1, 1, args.points, dtype=np.float32)[:, None]
    x_test = np.linspace(-1, 1, 4 * args.points, dtype=np.float32)[:, None]
    results, curves = {}, {}
    for name, f in TARGETS.items():
        y, y_test = f(x).astype(np.float32), f(x_test)[:, 0]
        rows = {}
        for width in args.widths:
            t0 = time.perf_counter()
            predictions, train_loss = fit_width(width, x, y, x_test, args)
            relative = ((predictions - y_test) ** 2).mean(1) / y_test.var()
            rows[width] = {"relative_mse": relative.tolist(),
                           "median_relative_mse": float(np.median(relative)),
                           "train_mse": np.asarray(train_loss).tolist(),
                           "seconds": round(time.perf_counter() - t0, 1)}
            curves[(name, width)] = predictions[0]
            print(f"{name:15s} width {width:5d}  relative MSE {np.median(relative):.2e}")
        reached = [w for w in args.widths if rows[w]["median_relative_mse"] < args.target]
        results[name] = {"widths": rows, "units_needed": min(reached) if reached else None}
    table = ["| target | " + " | ".join(f"W={w}" for w in args.widths) + " | units needed |",
             "|---|" + "---|" * (len(args.widths) + 1)]
    for name, r in results.items():
        cells = " | ".join(f"{r['widths'][w]['median_relative_mse']:.1e}" for w in args.widths)
        table.append(f"| {name} | {cells} | {r['units_needed'] or 'not reached'} |")
    write_table(args.out, "\n".join(table) + "\n")
    out = {"settings": _settings(args), "results": results}
    save_results(args.out, out, started=started)
    plot(results, curves, x_test[:, 0], args)
    return out


def plot(results: dict, curves: dict, x_test: np.ndarray, args):
    plt = viz.pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    for name, r in results.items():
        widths = args.widths
        axes[0].plot(widths, [r["widths"][w]["median_relative_mse"] for w in widths], marker="o",
                     label=name)
    axes[0].axhline(args.target, color="k", ls=":", label=f"target {args.target}")
    axes[0].set(xscale="log", yscale="log", xlabel="hidden units",
                ylabel="test MSE / variance (median of seeds)")
    shown = sorted({args.widths[0], args.widths[len(args.widths) // 2], args.widths[-1]})
    for ax, (name, f) in zip(axes[1:], TARGETS.items()):
        ax.plot(x_test, f(x_test), color="k", lw=2, label="target")
        for w in shown:
            ax.plot(x_test, curves[(name, w)], label=f"{w} units")
        ax.set(title=name, xlabel="x")
    return finish_figure(fig, args.out / "universal_approximation.png",
                         "One hidden layer of tanh units fitting 1-D functions",
                         grid=axes, legend=axes)


if __name__ == "__main__":
    main()
