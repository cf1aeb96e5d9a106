"""Long-term dependencies: the adding problem for a simple RNN, a GRU and an LSTM, and the
gradient dL/dh_t that reaches each time step.

    python experiments/long_term_dependency.py            # T = 10, 50, 100, 200 (minutes)
    python experiments/long_term_dependency.py --quick    # T = 10, tiny cells (the tests)
    python experiments/long_term_dependency.py --lengths 200 --seeds 3 --cells gru lstm

Claim (*Engineering Deep Learning*, "Challenges with RNNs"): "Vanishing Gradient Problems";
"Not good at capturing very long-term dependencies."; the GRU and LSTM keep a state through
gates, c_t = Γu * c~_t + (1 - Γu) * c_{t-1}.

Task (the adding problem, Hochreiter & Schmidhuber 1997; Le et al. 2015): steps (value,
marker), values uniform in [0, 1), markers 1 at two steps, the first in the first 10% (step 0
when T < 20), the second in the second half; target: the sum of the two marked values.
Predicting the mean, 1.0, gives MSE Var(u1 + u2) = 1/6 = 0.167.

Method: cell -> last output -> Dense(1), MSE, the same hidden size, Adam learning rate, batch
size and steps for every cell, fresh batches every step; test MSE and fraction with |error| <
0.04 on 1,000 sequences. `state_gradient_norms` adds a zero delta_t to the carry after each
step: dL/d delta_t = dL/dh_t (the LSTM's h_t: the pair (c_t, a_t)), norms averaged over a
probe batch, before and after training. Writes <out>/metrics.json, table.md,
learning_curves.png and state_gradients.png.
"""
from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import finish_figure, parser, save_results, settings, write_table

from jdl import nn, train, viz

CELLS = {"simple_rnn": nn.SimpleRNNCell, "gru": lambda f: nn.GRUCell(f, form="full"),
         "lstm": nn.LSTMCell, "gru_simplified": lambda f: nn.GRUCell(f, form="simplified")}
BASELINE_MSE, TOLERANCE = 1.0 / 6.0, 0.04  # MSE of predicting 1.0; |error| < 0.04 is right
HEAD = nn.Dense(1)


def adding_problem(rng: np.random.Generator, batch: int, length: int):
    """x (batch, length, 2) = (value, marker), y (batch,) = the sum of the 2 marked values; one
    marker in the first 10% of the steps (step 0 if length < 20), one in the second half."""
    values = rng.random((batch, length), dtype=np.float32)
    first = rng.integers(0, max(1, length // 10), batch)
    second = rng.integers(length // 2, length, batch)
    steps = np.arange(length)
    markers = ((steps == first[:, None]) | (steps == second[:, None])).astype(np.float32)
    return np.stack([values, markers], axis=-1), np.sum(values * markers, axis=1)


def training_batches(rng: np.random.Generator, steps: int, batch: int, length: int):
    """`steps` fresh batches stacked: x (steps, batch, length, 2), y (steps, batch)."""
    x, y = adding_problem(rng, steps * batch, length)
    return x.reshape(steps, batch, length, 2), y.reshape(steps, batch)


def model(cell: nn.Cell) -> nn.Layer:
    """The cell over the sequence, its last output through Dense(1): (batch, T, 2) -> (batch, 1)."""
    return nn.serial(("rnn", nn.RNN(cell)), ("head", HEAD))


def squared_error(outputs, targets):  # (batch, 1), (batch,) -> (batch,)
    return (outputs[:, 0] - targets) ** 2


def loss_with_deltas(cell: nn.Cell, params: dict, x, y, deltas):
    """The summed squared error of `model(cell)` on (x, y) with h_t <- h_t + delta_t after every
    step (`deltas`: carry-shaped, (T, batch, F) arrays); its gradient at 0 is dL/dh_t."""
    rnn = params["rnn"]
    projected = cell.input_projection(rnn, jnp.swapaxes(x, 0, 1))  # (T, batch, k*F)

    def body(carry, inputs):
        p_t, delta_t = inputs
        carry, _ = cell.step_projected(rnn, carry, p_t)
        return jax.tree.map(jnp.add, carry, delta_t), None

    carry, _ = jax.lax.scan(body, cell.initial_carry(x.shape[0]), (projected, deltas))
    last = carry[1] if isinstance(carry, tuple) else carry  # the LSTM's output is a_t
    outputs, _ = HEAD.apply(params["head"], {}, last)
    return jnp.sum(squared_error(outputs, y))


def state_gradients(cell: nn.Cell, params: dict, x, y):
    """dL_i/dh_t for every step t and sequence i: a carry-shaped pytree of (T, batch, F)."""
    zeros = jax.tree.map(lambda c: jnp.zeros((x.shape[1],) + c.shape, c.dtype),
                         cell.initial_carry(x.shape[0]))
    return jax.grad(loss_with_deltas, argnums=4)(cell, params, x, y, zeros)


def state_gradient_norms(cell: nn.Cell, params: dict, x, y):
    """(T,): the mean over the sequences of ||dL_i/dh_t||_2 (all carry arrays together)."""
    grads = state_gradients(cell, params, x, y)
    squares = sum(jnp.sum(g ** 2, axis=-1) for g in jax.tree.leaves(grads))  # (T, batch)
    return jnp.mean(jnp.sqrt(squares), axis=1)


def make_program(cell: nn.Cell, args):
    """`(ts, xs, ys, probe, test) -> (ts, losses, results)`, compiled once per cell and length:
    dL/dh_t before, `len(xs)` Adam steps (one `lax.scan`), dL/dh_t and test metrics after."""
    net = model(cell)
    step = train.make_train_step(net, optax.adam(args.lr), squared_error, jit=False)

    def program(ts, xs, ys, probe, test):
        before = state_gradient_norms(cell, ts.params, *probe)
        ts, logs = jax.lax.scan(step, ts, (xs, ys))
        errors = net.apply(ts.params, ts.state, test[0])[0][:, 0] - test[1]
        return ts, logs["loss"], {"before": before,
                                  "after": state_gradient_norms(cell, ts.params, *probe),
                                  "test_mse": jnp.mean(errors ** 2),
                                  "test_accuracy": jnp.mean(jnp.abs(errors) < TOLERANCE)}

    return net, jax.jit(program, donate_argnums=0, compiler_options=compiler_options(args.quick))


def compiler_options(quick: bool) -> dict | None:
    """XLA's backend optimization level 0 in --quick (compile time is all that counts there)."""
    return {"xla_backend_optimization_level": 0} if quick else None


@functools.cache
def _init_program(net: nn.Layer, quick: bool):
    return jax.jit(lambda k: net.init(k, (1, 1, 2))[1:], compiler_options=compiler_options(quick))


def init_state(net: nn.Layer, optimizer, seed: int, quick: bool) -> train.TrainState:
    """`train.init_train_state`'s TrainState (same key split), the init compiled once per model
    under `compiler_options` (the params do not depend on the length)."""
    init_key, run_key = jax.random.split(jax.random.key(seed))
    params, state = _init_program(net, quick)(init_key)
    zero = jnp.zeros((), jnp.int32)
    return train.TrainState(params, state, optimizer.init(params), zero, run_key)


def windowed(values: np.ndarray, window: int) -> list[float]:
    """Means over consecutive windows of `window` steps (the curves kept in the JSON)."""
    n = len(values) // window * window
    return np.round(values[:n].reshape(-1, window).mean(axis=1), 5).tolist()


def steps_to_learn(loss: np.ndarray, window: int) -> int | None:
    """The last step of the first window of training losses that averages below a tenth of the
    baseline MSE (0.0167), or None."""
    hits = np.flatnonzero(np.asarray(windowed(loss, window)) < BASELINE_MSE / 10)
    return int((hits[0] + 1) * window) if hits.size else None


def run_seed(net, program, length: int, seed: int, args, probe, test) -> dict:
    """One training run: `args.steps` steps in chunks of `args.chunk` (one compiled program)."""
    rng = np.random.default_rng([seed, length])
    ts = init_state(net, optax.adam(args.lr), seed, args.quick)
    losses, profiles = [], []
    for _ in range(args.steps // args.chunk):
        xs, ys = training_batches(rng, args.chunk, args.batch_size, length)
        ts, loss, out = program(ts, xs, ys, probe, test)
        out = jax.tree.map(np.asarray, out)
        losses.append(np.asarray(loss))
        profiles.append(out["before"])
    profiles.append(out["after"])
    loss = np.concatenate(losses)
    return {"seed": seed, "test_mse": round(float(out["test_mse"]), 5),
            "test_accuracy": round(float(out["test_accuracy"]), 4),
            "steps_to_learn": steps_to_learn(loss, args.window),
            "loss_curve": windowed(loss, args.window),
            "grad_norm_init": _sig(profiles[0]), "grad_norm_trained": _sig(profiles[-1]),
            "grad_ratio_by_chunk": _sig([p[0] / p[-1] for p in profiles])}


def _sig(values) -> list[float]:
    return [float(f"{v:.4g}") for v in np.asarray(values)]


def run_cell(name: str, length: int, args) -> dict:
    """All seeds of one cell at one length: one compile, then one call per chunk and seed."""
    net, program = make_program(CELLS[name](args.hidden), args)
    probe = adding_problem(np.random.default_rng([10_000, length]), args.probe_size, length)
    test = adding_problem(np.random.default_rng([20_000, length]), args.test_size, length)
    started = time.perf_counter()
    seeds = [run_seed(net, program, length, seed, args, probe, test)
             for seed in range(args.seed, args.seed + args.seeds)]
    mse, acc = ([s[k] for s in seeds] for k in ("test_mse", "test_accuracy"))
    ratio = {k: float(np.median([s["grad_ratio_by_chunk"][i] for s in seeds]))
             for k, i in (("init", 0), ("trained", -1))}
    summary = {"test_mse_mean": float(np.mean(mse)), "test_mse_std": float(np.std(mse)),
               "test_accuracy_mean": float(np.mean(acc)), "test_accuracy_std": float(np.std(acc)),
               "learned": sum(m < BASELINE_MSE / 10 for m in mse),
               "grad_ratio_first_last_init": ratio["init"],
               "grad_ratio_first_last_trained": ratio["trained"],
               "seconds": round(time.perf_counter() - started, 1)}
    print(f"  T={length:4d} {name:10s} test MSE {np.mean(mse):.4f}  |err|<{TOLERANCE}: "
          f"{np.mean(acc):.3f}  dL/dh_0 / dL/dh_T-1: init {ratio['init']:.2e}, trained "
          f"{ratio['trained']:.2e}  ({summary['seconds']} s)", flush=True)
    return {"summary": summary, "seeds": seeds}


def _pm(mean: float, std: float, n: int, fmt: str = "{:.4f}") -> str:
    return fmt.format(mean) + (f" ± {fmt.format(std)}" if n > 1 else "")


def _ratio(value: float) -> str:  # float32 underflows below ~1e-45
    return "0 (underflow)" if value == 0 else f"{value:.2e}"


def table(results: dict, n_seeds: int) -> str:
    """The Markdown table of every (T, cell): test MSE, accuracy, steps, gradient ratios."""
    rows = ["| T | cell | test MSE | fraction \\|error\\| < 0.04 | learned (MSE < 0.0167) | "
            "steps to train MSE < 0.0167 | dL/dh_0 / dL/dh_T-1 at init | after training |",
            "|---|---|---|---|---|---|---|---|"]
    for length, cells in results.items():
        for name, r in cells.items():
            s = r["summary"]
            steps = [x["steps_to_learn"] for x in r["seeds"]]
            rows.append(
                f"| {length} | {name} | {_pm(s['test_mse_mean'], s['test_mse_std'], n_seeds)} | "
                f"{_pm(s['test_accuracy_mean'], s['test_accuracy_std'], n_seeds, '{:.3f}')} | "
                f"{s['learned']}/{n_seeds} | {', '.join(str(v or '-') for v in steps)} | "
                f"{_ratio(s['grad_ratio_first_last_init'])} | "
                f"{_ratio(s['grad_ratio_first_last_trained'])} |")
    return "\n".join(rows) + "\n"


def _lines(ax, cells: dict, key: str, window: int = 0):
    """One line per (cell, seed) of `r["seeds"][i][key]`; x = steps when `window` is given."""
    for name, r in cells.items():
        for i, s in enumerate(r["seeds"]):
            x = np.arange(len(s[key])) + (1 if window else 0)
            ax.plot(x * max(window, 1), s[key], color=f"C{list(CELLS).index(name)}",
                    alpha=0.4 if i else 0.9, label=None if i else name)


def plot_learning_curves(results: dict, window: int, path):
    plt = viz.pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3.4), squeeze=False)
    for ax, (length, cells) in zip(axes[0], results.items()):
        _lines(ax, cells, "loss_curve", window)
        ax.axhline(BASELINE_MSE, color="grey", ls=":", lw=1, label="predict 1.0 (0.167)")
        ax.set(title=f"T = {length}", xlabel="step", yscale="log")
    axes[0][0].set_ylabel("training MSE")
    return finish_figure(fig, path, "The adding problem: training MSE (window means)",
                         grid=axes[0], legend=axes[0][:1], title_y=1.02)


def plot_state_gradients(cells: dict, length: int, path):
    plt = viz.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, key, when in zip(axes, ("grad_norm_init", "grad_norm_trained"),
                             ("at initialization", "after training")):
        _lines(ax, cells, key)
        ax.set(title=when, xlabel="step t", yscale="log")
    axes[0].set_ylabel("mean ||dL/dh_t|| (underflow to 0: cut)")
    return finish_figure(fig, path, f"Gradient reaching each step, T = {length}", grid=axes,
                         legend=axes, title_y=1.02)


def parse_args(argv=None):
    p = parser("long_term_dependency", __doc__.splitlines()[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[10, 50, 100, 200])
    p.add_argument("--cells", nargs="+", choices=list(CELLS), default=list(CELLS)[:3])
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    p.add_argument("--seeds", type=int, default=1, help="seeds per (T, cell): seed .. seed+N-1")
    p.add_argument("--test-size", type=int, default=1000)
    p.add_argument("--probe-size", type=int, default=256, help="sequences for dL/dh_t")
    p.add_argument("--window", type=int, default=50, help="steps per learning-curve point")
    p.add_argument("--chunk", type=int, default=500, help="steps per compiled call")
    args = p.parse_args(argv)
    if args.quick:
        args.lengths, args.hidden, args.steps, args.batch_size = [10], 8, 60, 16
        args.test_size, args.probe_size, args.window, args.chunk = 64, 16, 10, 30
    if min(args.lengths) < 2 or args.seeds < 1 or args.steps % args.chunk \
            or args.chunk % args.window:
        p.error("expected lengths >= 2, --seeds >= 1, --steps a multiple of --chunk, and "
                "--chunk of --window")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    print(f"adding problem: hidden {args.hidden}, Adam lr {args.lr}, batch {args.batch_size}, "
          f"{args.steps} steps, {args.seeds} seed(s); predicting 1.0 gives MSE {BASELINE_MSE:.3f}")
    results = {length: {name: run_cell(name, length, args) for name in args.cells}
               for length in args.lengths}
    longest = max(args.lengths)
    metrics = {"task": "adding problem", "baseline_mse": BASELINE_MSE, "tolerance": TOLERANCE,
               "results": {str(t): r for t, r in results.items()},
               "settings": settings(args)}
    write_table(args.out, table(results, args.seeds))
    plot_learning_curves(results, args.window, args.out / "learning_curves.png")
    plot_state_gradients(results[longest], longest, args.out / "state_gradients.png")
    save_results(args.out, metrics, started=started)
    return metrics


if __name__ == "__main__":
    main()
