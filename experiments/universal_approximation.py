"""Universal approximation: how many hidden units one layer needs to fit a 1-D function.

    python experiments/universal_approximation.py            # full: widths 1 to 1024, 3 seeds
    python experiments/universal_approximation.py --quick    # seconds (the test)

Claim (COMP9321, UNSW: "Neural network with at least one hidden layer is a universal
approximator (can represent any function)", "The capacity of the network increases with more
hidden units and more hidden layers"; Cybenko 1989, Hornik 1991): a single hidden layer of
enough units fits any continuous function on an interval as closely as we like, and (our
reading) the units needed grow with how hard the function is to follow. And its caveat
(Engineering Deep Learning: "A *large* single—layered MLP will be able to represent any function,
but learning the function can fail: Optimization algorithm is unable to find the required
parameters.").

Method: three targets on [-1, 1]: smooth sin(pi x), sharp (a kink and a jump: |x| for
x < 0.3, then 1), and high-frequency sin(6 pi x). For each width in `--widths`, 1-W-1 MLPs
with tanh units are trained by Adam on `--points` evenly spaced inputs (batches of
`--batch-size`) from two initializations:
- `default`: jdl's Dense init (LeCun normal weights, zero biases): every unit's transition
  tanh(w x + b) sits at x = 0 and training must move them apart;
- `spread`: the hidden layer's transitions spread over the interval, as in the constructive
  proofs (a sum of steps at many places): w ~ N(0, `--input-scale`^2), b = -w c with
  c ~ U(-1, 1); the output layer as `default`.
Every (initialization, learning rate in `--lrs`, seed) is one member of a population trained
as one program per width. The learning rate of each (initialization, width) is chosen by the
median final training MSE over the seeds (the task is to fit the training points, so no
held-out data is needed for that choice). The error is the mean squared error on a 4x finer
grid, divided by the target's variance (relative MSE; 1 is the error of predicting the mean).
The units needed are the smallest width whose median relative MSE over the seeds is below
`--target`. The jump cannot be matched exactly by a continuous network; for the sharp target
the error is also reported without the test points within 0.02 of the jump
(`median_relative_mse_away_from_jump`), to show where the rest of the error lies.

Writes `<out>/metrics.json`, `<out>/table.md` and `<out>/universal_approximation.png`.
"""
from __future__ import annotations

import functools
import itertools
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
INITS = ("spread", "default")
JUMP, JUMP_WINDOW = 0.3, 0.02  # the sharp target's jump, and the half-width left out around it


def parse_args(argv=None):
    p = parser("universal_approximation", __doc__.splitlines()[0])
    p.add_argument("--widths", type=int, nargs="+",
                   default=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--lrs", type=float, nargs="+", default=[0.001, 0.003, 0.01])
    p.add_argument("--input-scale", type=float, default=10.0,
                   help="std of the hidden weights of the spread initialization")
    p.add_argument("--points", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=1500)
    p.add_argument("--target", type=float, default=0.01, help="relative MSE to reach")
    args = p.parse_args(argv)
    if args.quick:
        args.widths, args.seeds, args.lrs, args.points, args.epochs = [2, 32], 2, [0.003, 0.01], 128, 20
    return args


def members(args) -> list[tuple[str, float, int]]:
    """(initialization, learning rate, seed) of every population member, in order."""
    return list(itertools.product(INITS, args.lrs, range(args.seeds)))


@functools.cache
def width_program(width: int):
    """The 1-width-1 tanh MLP, its optimizer (per-member learning rate), train step and
    vmapped predictor: built once per width, so the three targets share their programs."""
    model = models.mlp([width, 1], "tanh")
    optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)
    step = train.make_train_step(model, optimizer, losses.mean_squared_error)
    predict = jax.jit(jax.vmap(lambda p, s, x: model.apply(p, s, x)[0][:, 0], (0, 0, None)))
    return model, optimizer, step, predict


def spread_hidden_layer(params: dict, key, scale: float) -> dict:
    """The `spread` initialization of one member's hidden layer: w ~ N(0, scale^2),
    b = -w c with c ~ U(-1, 1), so unit i switches at x = c_i."""
    kw, kc = jax.random.split(key)
    w = scale * jax.random.normal(kw, params["dense_0"]["w"].shape)
    c = jax.random.uniform(kc, params["dense_0"]["b"].shape, minval=-1.0, maxval=1.0)
    return {**params, "dense_0": {"w": w, "b": -w[0] * c}}


def init_members(width: int, args) -> train.TrainState:
    """The population of `members(args)`: keys by seed (both inits of a seed share the output
    layer), per-member learning rates, the spread members' hidden layers replaced."""
    model, optimizer, _, _ = width_program(width)
    table = members(args)
    base = jax.random.key(args.seed)
    keys = jnp.stack([jax.random.fold_in(base, s) for _, _, s in table])
    lrs = np.array([lr for _, lr, _ in table], np.float32)
    pop = train.init_population(model, optimizer, keys, (1, 1), hyperparams={"learning_rate": lrs})
    spread_keys = jnp.stack([jax.random.fold_in(k, 1) for k in keys])
    spread = jax.vmap(lambda p, k: spread_hidden_layer(p, k, args.input_scale))(pop.params, spread_keys)
    is_spread = jnp.array([init == "spread" for init, _, _ in table])
    params = jax.tree.map(lambda s, d: jnp.where(is_spread.reshape((-1,) + (1,) * (s.ndim - 1)), s, d),
                          spread, pop.params)
    return pop._replace(params=params)


def fit_width(width: int, x, y, x_test, args):
    """Train every member at `width`: predictions (members, n_test), final train MSE (members,)."""
    _, _, step, predict = width_program(width)
    pop, history = train.fit_population(init_members(width, args), step, (x, y),
                                        epochs=args.epochs, batch_size=args.batch_size,
                                        steps_per_call=len(x) // args.batch_size,
                                        unroll=False, verbose=0)
    return (np.asarray(predict(pop.params, pop.state, jnp.asarray(x_test))),
            np.asarray(history["loss"][-1]))


def summarize(predictions, train_mse, y_test, args, away=None) -> dict:
    """Per initialization: the chosen learning rate and the seeds' relative test MSEs (and,
    with the mask `away`, the median relative MSE on those test points only)."""
    table = members(args)
    relative = ((predictions - y_test) ** 2).mean(1) / y_test.var()
    if away is not None:
        relative_away = ((predictions[:, away] - y_test[away]) ** 2).mean(1) / y_test.var()
    out = {}
    for init in INITS:
        by_lr = {lr: [i for i, (n, r, _) in enumerate(table) if n == init and r == lr]
                 for lr in args.lrs}
        best = min(args.lrs, key=lambda lr: np.median(train_mse[by_lr[lr]]))
        chosen = by_lr[best]
        out[init] = {"lr": best, "relative_mse": relative[chosen].tolist(),
                     "median_relative_mse": float(np.median(relative[chosen])),
                     "train_mse": train_mse[chosen].tolist(),
                     "median_train_mse_by_lr": {str(lr): float(np.median(train_mse[i]))
                                                for lr, i in by_lr.items()},
                     "member": chosen[0]}
        if away is not None:
            out[init]["median_relative_mse_away_from_jump"] = float(np.median(relative_away[chosen]))
    return out


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    x = np.linspace(-1, 1, args.points, dtype=np.float32)[:, None]
    x_test = np.linspace(-1, 1, 4 * args.points, dtype=np.float32)[:, None]
    results, curves = {name: {init: {"widths": {}} for init in INITS} for name in TARGETS}, {}
    for name, f in TARGETS.items():
        y, y_test = f(x).astype(np.float32), f(x_test)[:, 0]
        for width in args.widths:
            t0 = time.perf_counter()
            predictions, train_mse = fit_width(width, x, y, x_test, args)
            away = np.abs(x_test[:, 0] - JUMP) > JUMP_WINDOW if name == "sharp" else None
            for init, row in summarize(predictions, train_mse, y_test, args, away).items():
                curves[(name, init, width)] = predictions[row.pop("member")]
                row["seconds"] = round(time.perf_counter() - t0, 1)
                results[name][init]["widths"][width] = row
            print(f"{name:15s} width {width:5d}  relative MSE " + "  ".join(
                f"{i} {results[name][i]['widths'][width]['median_relative_mse']:.2e}" for i in INITS))
        for init in INITS:
            rows = results[name][init]["widths"]
            reached = [w for w in args.widths if rows[w]["median_relative_mse"] < args.target]
            results[name][init]["units_needed"] = min(reached) if reached else None
    write_table(args.out, table(results, args))
    out = {"settings": _settings(args), "results": results}
    save_results(args.out, out, started=started)
    plot(results, curves, x_test[:, 0], args)
    return out


def table(results: dict, args) -> str:
    lines = ["| target | init | " + " | ".join(f"W={w}" for w in args.widths) + " | units needed |",
             "|---|---|" + "---|" * (len(args.widths) + 1)]
    for name, by_init in results.items():
        for init, r in by_init.items():
            cells = " | ".join(f"{r['widths'][w]['median_relative_mse']:.1e}" for w in args.widths)
            lines.append(f"| {name} | {init} | {cells} | {r['units_needed'] or 'not reached'} |")
    return "\n".join(lines) + "\n"


def plot(results: dict, curves: dict, x_test: np.ndarray, args):
    plt = viz.pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    widths = args.widths
    for (name, by_init), color in zip(results.items(), ("C0", "C1", "C2")):
        for init, style in zip(INITS, ("-", "--")):
            axes[0].plot(widths, [by_init[init]["widths"][w]["median_relative_mse"] for w in widths],
                         marker="o", ls=style, color=color, label=f"{name} ({init} init)")
    axes[0].axhline(args.target, color="k", ls=":", label=f"target {args.target}")
    axes[0].set(xscale="log", yscale="log", xlabel="hidden units",
                ylabel="test MSE / variance (median of seeds)")
    shown = sorted({widths[0], widths[len(widths) // 2], widths[-1]})
    for ax, (name, f) in zip(axes[1:], TARGETS.items()):
        ax.plot(x_test, f(x_test), color="k", lw=2, label="target")
        for w in shown:
            ax.plot(x_test, curves[(name, "spread", w)], label=f"{w} units")
        ax.set(title=f"{name} (spread init)", xlabel="x")
    return finish_figure(fig, args.out / "universal_approximation.png",
                         "One hidden layer of tanh units fitting 1-D functions",
                         grid=axes, legend=axes)


if __name__ == "__main__":
    main()
