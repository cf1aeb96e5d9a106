"""Exploding gradients: a tanh RNN trained with and without gradient clipping, from recurrent
weights of spectral radius 3 and 1; and whether clipping helps a vanishing gradient.

    python experiments/exploding_gradients.py [--quick] [--length 100] [--seeds 3] [--clip 1.0]

Claim (*Engineering Deep Learning*, "Challenges with RNNs"): "It is possible to solve exploding
gradient problems using the technique known as gradient clipping. But it is highly challenging
to deal with vanishing gradients."

Method: `nn.SimpleRNNCell(32)` -> Dense(1) on the adding problem, T = 50 (predicting 1.0: MSE
0.167); W_h orthogonal x 3 or x 1, SGD 0.1 or Adam 0.003, each without and with
`optimizers.clip(opt, 1.0)`; ||g||_2 before clipping at every step, non-finite steps skipped.
Mean ± sd over the seeds (each: its init and batches), verdicts by the spread rule. Writes
<out>/metrics.json, table.md, loss.png, grad_norm.png, state_gradients.png.
"""
from __future__ import annotations

import functools
import math
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import (add_seeds_argument, exceeds_spread, finish_figure, mean_sd, parser,
                     save_results, seeds_of, settings, write_table)
from long_term_dependency import (BASELINE_MSE, TOLERANCE, adding_problem, compiler_options,
                                  init_state, model, squared_error, state_gradient_norms,
                                  training_batches, windowed)

from jdl import nn, optimizers, train, viz

CONFIGS = {  # name: (scale of the orthogonal W_h, optimizer)
    "radius3_sgd": (3.0, "sgd"), "radius1_sgd": (1.0, "sgd"), "radius1_adam": (1.0, "adam")}


class NormState(NamedTuple):
    norm: jax.Array    # global L2 norm of the last gradient seen
    finite: jax.Array  # whether every entry of it was finite


def global_norm(tree) -> jax.Array:
    """||g||_2 over all leaves, scaled by the largest |entry| first, so entries of 1e20 give a
    finite norm (optax.global_norm squares them to inf in float32)."""
    leaves = [jnp.ravel(x) for x in jax.tree.leaves(tree)]
    big = jnp.max(jnp.stack([jnp.max(jnp.abs(x)) for x in leaves]))
    scale = jnp.where(big > 0, big, 1.0)
    return scale * jnp.sqrt(sum(jnp.sum(jnp.square(x / scale)) for x in leaves))


def record_gradient_norm() -> optax.GradientTransformation:
    """An identity transformation whose state is `NormState` of the gradient it passes on:
    first in a chain, it records the norm before clipping."""
    def init(params):
        return NormState(jnp.zeros((), jnp.float32), jnp.ones((), bool))

    def update(updates, state, params=None):
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(updates)]))
        return updates, NormState(global_norm(updates), finite)

    return optax.GradientTransformation(init, update)


def optimizer(kind: str, args, clip: float | None) -> optax.GradientTransformation:
    """record_gradient_norm, then SGD (`args.lr`) or Adam (`args.adam_lr`), clipped by the
    global norm when `clip` is given."""
    opt = optax.sgd(args.lr) if kind == "sgd" else optax.adam(args.adam_lr)
    return optax.chain(record_gradient_norm(), optimizers.clip(opt, clip) if clip else opt)


def make_program(opt: optax.GradientTransformation, args):
    """`(ts, xs, ys, probe, test) -> (ts, per-step logs, results)`: dL/dh_t before, the steps
    (one `lax.scan`; a step whose loss or gradient is not finite is skipped), dL/dh_t and the
    test MSE after. One compile per optimizer: the initializations share it."""
    cell = nn.SimpleRNNCell(args.hidden)  # the step does not depend on the initializer
    net = model(cell)
    step = train.make_train_step(net, opt, squared_error, jit=False)

    def guarded(ts, batch):
        new, logs = step(ts, batch)
        seen = new.opt_state[0]
        ok = jnp.isfinite(logs["loss"]) & seen.finite
        keep = lambda a, b: jax.tree.map(lambda x, y: jnp.where(ok, x, y), a, b)  # noqa: E731
        ts = ts._replace(params=keep(new.params, ts.params),
                         opt_state=keep(new.opt_state, ts.opt_state), step=new.step)
        return ts, {"loss": logs["loss"], "grad_norm": seen.norm, "skipped": ~ok}

    def program(ts, xs, ys, probe, test):
        before = state_gradient_norms(cell, ts.params, *probe)
        ts, logs = jax.lax.scan(guarded, ts, (xs, ys))
        errors = net.apply(ts.params, ts.state, test[0])[0][:, 0] - test[1]
        return ts, logs, {"before": before, "after": state_gradient_norms(cell, ts.params, *probe),
                          "test_mse": jnp.mean(errors ** 2),
                          "test_accuracy": jnp.mean(jnp.abs(errors) < TOLERANCE)}

    return jax.jit(program, donate_argnums=0, compiler_options=compiler_options(args.quick))


def _num(x, digits: int = 4):
    """A float for strict JSON: rounded to `digits` significant digits, None if not finite."""
    x = float(x)
    return float(f"{x:.{digits}g}") if np.isfinite(x) else None


@functools.cache
def networks(hidden: int) -> dict[float, nn.Layer]:
    """The model for each W_h scale (built once: each compiles its init once)."""
    orthogonal = jax.nn.initializers.orthogonal
    return {scale: model(nn.SimpleRNNCell(hidden, recurrent_init=orthogonal(scale)))
            for scale in sorted({scale for scale, _ in CONFIGS.values()})}


def run_seed(program, net: nn.Layer, opt, clip, seed: int, args, data) -> tuple[dict, dict]:
    """One run: its JSON record and its per-step arrays (for the plots)."""
    ts, (xs, ys) = init_state(net, opt, seed, args.quick), data[seed]
    ts, logs, out = program(ts, xs, ys, *data["probe_test"])
    logs, out = jax.tree.map(np.asarray, (logs, out))
    loss, norm, skipped = logs["loss"].astype(np.float64), logs["grad_norm"], logs["skipped"]
    finite_loss, finite_norm = np.isfinite(loss), np.isfinite(norm)
    first_bad = int(np.argmax(skipped)) + 1 if skipped.any() else None
    ratio = lambda g: _num(g[0] / g[-1])  # noqa: E731  dL/dh_0 / dL/dh_T-1
    record = {
        "seed": seed, "test_mse": _num(out["test_mse"]), "test_accuracy": _num(out["test_accuracy"]),
        "skipped_steps": int(skipped.sum()), "first_skipped_step": first_bad,
        "finite_loss_but_nonfinite_gradient": int(np.sum(finite_loss & skipped)),
        "grad_norm_first_step": _num(norm[0]), "grad_norm_median": _num(np.median(norm)),
        "grad_norm_max": _num(np.max(norm[finite_norm])) if finite_norm.any() else None,
        "nonfinite_grad_norm_steps": int(np.sum(~finite_norm)),
        "clipped_fraction": None if clip is None else _num(np.mean(norm > clip)),
        "loss_first_step": _num(loss[0]), "loss_last_window": _num(np.mean(loss[-args.window:])),
        "loss_max_finite": _num(np.max(loss[finite_loss])) if finite_loss.any() else None,
        "loss_curve": [_num(v) for v in windowed(loss, args.window)],
        "grad_norm_curve": [_num(v) for v in windowed(np.log10(norm), args.window)],
        "grad_ratio_first_last_init": ratio(out["before"]),
        "grad_ratio_first_last_trained": ratio(out["after"]),
        "state_grad_norm_init": [_num(v) for v in out["before"]],
        "state_grad_norm_trained": [_num(v) for v in out["after"]]}
    return record, {"loss": loss, "grad_norm": norm}


def run_all(args) -> tuple[dict, dict, float]:
    """Every (configuration, clipping) pair over the seeds, one compile per optimizer; and the
    test MSE of predicting 1.0 (1/6 in expectation), a constant for the spread rule."""
    rng, seeds = np.random.default_rng, seeds_of(args)
    data = {seed: training_batches(rng([seed, args.length]), args.steps, args.batch_size,
                                   args.length) for seed in seeds}
    data["probe_test"] = [adding_problem(rng([k, args.length]), n, args.length)
                          for k, n in ((10_000, args.probe_size), (20_000, args.test_size))]
    nets, programs, runs, curves = networks(args.hidden), {}, {}, {}
    base = {"mean": float(np.mean((data["probe_test"][1][1] - 1.0) ** 2)), "sd": 0.0, "finite": 2}
    for config, (scale, kind) in CONFIGS.items():
        for clip in (None, args.clip):
            name, opt = f"{config}_{'clipped' if clip else 'unclipped'}", optimizer(kind, args, clip)
            if (kind, clip) not in programs:  # compiled on its first call
                programs[kind, clip] = make_program(opt, args)
            program, started, records = programs[kind, clip], time.perf_counter(), []
            for seed in seeds:
                record, arrays = run_seed(program, nets[scale], opt, clip, seed, args, data)
                records.append(record)
                curves.setdefault(name, arrays)  # the first seed's steps, for the plots
            stats = combine(records, seeds)
            runs[name] = {"init_scale": scale, "optimizer": kind, "clip": clip, "seeds": records,
                          "over_seeds": stats, "vs_baseline": spread_verdict(
                              stats["test_mse"], base, "below baseline", "above baseline"),
                          "seconds": round(time.perf_counter() - started, 1)}
            print(f"  {name:22s} " + " | ".join(table_cells(runs[name], len(seeds)))
                  + f"  ({runs[name]['seconds']} s)", flush=True)
    return runs, curves, base["mean"]


STATS = ("test_mse", "test_accuracy", "loss_last_window", "clipped_fraction", "skipped_steps")
LOG10 = ("grad_norm_first_step", "grad_norm_max", "grad_ratio_first_last_init",
         "grad_ratio_first_last_trained")  # 1e-15 to 1e35: over_seeds holds log10_<key>


def finite_stat(values) -> dict:
    """mean_sd over the finite values, `finite` of them (a diverged seed's None, the log10 of an
    underflowed 0, left out); `values` keeps every seed's, None where not finite."""
    vals = [None if v is None or not np.isfinite(v) else float(v) for v in values]
    kept = [v for v in vals if v is not None]
    return {**(mean_sd(kept) if kept else {"mean": None, "sd": None}), "finite": len(kept),
            "values": vals}


def combine(records: list[dict], seeds: list[int]) -> dict:
    """`over_seeds` of one run: the seeds, how many diverged (non-finite test MSE), `finite_stat`
    of each key of STATS and of log10 v (v > 0) for each key of LOG10."""
    log = lambda v: None if v is None or v <= 0 else math.log10(v)  # noqa: E731
    return {"seeds": list(seeds), "diverged": sum(r["test_mse"] is None for r in records),
            **{k: finite_stat([r[k] for r in records]) for k in STATS},
            **{f"log10_{k}": finite_stat([log(r[k]) for r in records]) for k in LOG10}}


def spread_verdict(a: dict, b: dict, lower: str, higher: str) -> str:
    """`lower` / `higher` when a's mean is below / above b's by more than sd_a + sd_b, else
    "within noise"; "diverged" / "no spread" when either has 0 / 1 finite seeds."""
    if min(a["finite"], b["finite"]) < 2:
        return "diverged" if min(a["finite"], b["finite"]) == 0 else "no spread"
    return "within noise" if not exceeds_spread(a, b) else lower if a["mean"] < b["mean"] else higher


def verdicts(runs: dict, n: int) -> dict:
    """Per configuration, clipped against unclipped test MSE: a diverged seed counts as a loss
    (an infinite MSE), so the side with fewer diverged seeds is better; with as many diverged,
    the spread rule over the finite seeds. `on_finite_seeds`: the spread rule on those alone."""
    out = {}
    for config in CONFIGS:
        c, u = (runs[f"{config}_{side}"]["over_seeds"] for side in ("clipped", "unclipped"))
        dc, du = c["diverged"], u["diverged"]
        finite = (spread_verdict(c["test_mse"], u["test_mse"], "clipped better", "clipped worse")
                  if max(dc, du) < n else None)  # None: one side has no finite seed
        out[config] = {"diverged_unclipped": du, "diverged_clipped": dc, "clipped_vs_unclipped": (
            "both diverged" if dc == du == n else finite if dc == du
            else "clipped better" if dc < du else "clipped worse"), "on_finite_seeds": finite,
            "clipped_vs_baseline": runs[f"{config}_clipped"]["vs_baseline"]}
    return out


def table_cells(run: dict, n: int) -> list[str]:
    """One run's cells: '0.051 ± 0.005', '(k finite)' added when some seeds are missing."""
    def cell(stat, fmt="{:.3f}", none="-"):
        some = f" ({stat['finite']} finite)" if stat["finite"] < n else ""
        text = f"{fmt.format(stat['mean'])} ± {fmt.format(stat['sd'])}" if stat["finite"] else none
        return text + (some if stat["finite"] else "")
    s = run["over_seeds"]
    return [f"{s['diverged']} of {n}", cell(s["test_mse"], none="diverged"),
            cell(s["loss_last_window"], none="diverged"), cell(s["clipped_fraction"], "{:.0%}"),
            cell(s["skipped_steps"], "{:.0f}"), *(cell(s[f"log10_{k}"], "{:.1f}") for k in LOG10),
            run["vs_baseline"]]


def table(runs: dict, verdict: dict, n: int, window: int) -> str:
    """Mean ± sd over the seeds per run (over the finite seeds where some diverged), then the
    verdicts per configuration."""
    rows = [f"| run | diverged | test MSE | train MSE, last {window} steps | steps clipped | skipped "
            "steps | log10 gradient norm at step 1 | log10 max gradient norm | log10 dL/dh_0 / "
            "dL/dh_T-1 before | after | test MSE vs predicting 1.0 |", "|---" * 11 + "|"]
    rows += [f"| {name} | " + " | ".join(table_cells(r, n)) + " |" for name, r in runs.items()]
    rows += ["", "| configuration | diverged unclipped | diverged clipped | clipped vs unclipped "
             "(test MSE) | on the finite seeds | clipped vs predicting 1.0 |", "|---" * 6 + "|"]
    rows += [f"| {c} | {v['diverged_unclipped']} of {n} | {v['diverged_clipped']} of {n} | "
             f"{v['clipped_vs_unclipped']} | {v['on_finite_seeds'] or '-'} | {v['clipped_vs_baseline']} |"
             for c, v in verdict.items()]
    return "\n".join(rows) + "\n"


def plot_steps(curves: dict, key: str, ylabel: str, path, title: str, clip=None):
    """Per step, one line per run (first seed), log scale; a run whose loss went non-finite
    says from which step. The loss plot is cut at 100 (a diverged run leaves it upward)."""
    plt = viz.pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.8))
    for i, (name, arrays) in enumerate(curves.items()):
        values = np.where(np.isfinite(arrays[key]), arrays[key], np.nan)
        bad = np.flatnonzero(~np.isfinite(arrays["loss"]))
        label = name + (f" (loss not finite from step {bad[0] + 1})" if bad.size else "")
        ax.plot(np.arange(1, len(values) + 1), values, color=f"C{i}", lw=0.7, label=label)
    if key == "loss":
        ax.axhline(BASELINE_MSE, color="grey", ls=":", lw=1, label="predict 1.0 (0.167)")
        ax.set_ylim(1e-3, 1e2)
    if clip is not None:
        ax.axhline(clip, color="black", ls="--", lw=0.8, label=f"clip threshold {clip:g}")
    ax.set(xlabel="step", ylabel=ylabel, yscale="log")
    return finish_figure(fig, path, title, grid=[ax], legend=[ax])


def plot_state_gradients(runs: dict, length: int, path):
    plt = viz.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, key, when in zip(axes, ("state_grad_norm_init", "state_grad_norm_trained"),
                             ("at initialization", "after training")):
        for i, (name, r) in enumerate(runs.items()):
            values = [np.nan if v is None else v for v in r["seeds"][0][key]]
            ax.plot(values, color=f"C{i}", label=name)
        ax.set(title=when, xlabel="step t", ylabel="mean ||dL/dh_t||", yscale="log")
    return finish_figure(fig, path, f"Gradient reaching each step, T = {length} (first seed)",
                         grid=axes, legend=axes[:1], title_y=1.02)


def parse_args(argv=None):
    p = parser("exploding_gradients", __doc__.splitlines()[0])
    p.add_argument("--length", type=int, default=50, help="T of the adding problem")
    for flag, default in (("--hidden", 32), ("--steps", 3000), ("--batch-size", 32),
                          ("--test-size", 1000)):
        p.add_argument(flag, type=int, default=default)
    p.add_argument("--lr", type=float, default=0.1, help="SGD learning rate")
    p.add_argument("--adam-lr", type=float, default=3e-3, help="Adam learning rate")
    p.add_argument("--clip", type=float, default=1.0, help="max global gradient norm")
    add_seeds_argument(p)
    p.add_argument("--probe-size", type=int, default=256, help="sequences for dL/dh_t")
    p.add_argument("--window", type=int, default=50, help="steps per curve point in the JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.length, args.hidden, args.steps, args.batch_size, args.seeds = 10, 8, 60, 16, 2
        args.test_size, args.probe_size, args.window = 64, 16, 10
    seeds_of(args)  # ValueError naming --seeds below 1
    if args.length < 2 or args.clip <= 0 or args.steps < args.window:
        p.error(f"expected --length >= 2, --clip > 0, --steps >= --window, got {vars(args)}")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    print(f"simple RNN {args.hidden}, adding problem T = {args.length}, SGD lr {args.lr}, batch "
          f"{args.batch_size}, {args.steps} steps, clip {args.clip}, {args.seeds} seed(s)")
    runs, curves, baseline = run_all(args)
    verdict = verdicts(runs, args.seeds)
    exploded = [v["diverged_clipped"] == 0 for v in verdict.values() if v["diverged_unclipped"]]
    metrics = {"task": "adding problem", "length": args.length, "baseline_mse": BASELINE_MSE,
               "baseline_test_mse": baseline,
               "runs": runs, "verdicts": verdict,  # None: no unclipped run diverged
               "clipping_prevents_divergence": all(exploded) if exploded else None,
               "settings": settings(args)}
    write_table(args.out, table(runs, verdict, args.seeds, args.window))
    plot_steps(curves, "loss", "training MSE", args.out / "loss.png",
               f"Training MSE per step, T = {args.length} (first seed; gaps: not finite)")
    plot_steps(curves, "grad_norm", "||gradient||_2 before clipping", args.out / "grad_norm.png",
               "Global gradient norm per step (first seed)", clip=args.clip)
    plot_state_gradients(runs, args.length, args.out / "state_gradients.png")
    save_results(args.out, metrics, started=started)
    return metrics


if __name__ == "__main__":
    main()
