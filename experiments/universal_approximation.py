"""Universal approximation: how many hidden units one layer needs to fit a 1-D function.

    python experiments/universal_approximation.py            # full: widths 1 to 1024, 3 seeds
    python experiments/universal_approximation.py --quick    # seconds (the test): 2 seeds

Claim (COMP9321, UNSW, after Cybenko 1989 and Hornik 1991): one hidden layer of enough units
fits any continuous function on an interval; (our reading) the units needed grow with how
hard the function is to follow. Caveat (Engineering Deep Learning): "learning the function can
fail", "Optimization algorithm is unable to find the required parameters".

Method: three targets on [-1, 1]: smooth sin(pi x), sharp (a kink and a jump: |x| for
x < 0.3, then 1), and high-frequency sin(6 pi x). For each width in `--widths`, 1-W-1 MLPs
with tanh units are trained by Adam on `--points` evenly spaced inputs (batches of
`--batch-size`) from two initializations:
- `default`: jdl's Dense init (LeCun normal, zero biases): every tanh(w x + b) switches at 0;
- `spread`: the hidden units' transitions spread over the interval, as in the constructive
  proofs: w ~ N(0, `--input-scale`^2), b = -w c with c ~ U(-1, 1); output layer as `default`.
Every (initialization, learning rate in `--lrs`, seed) is one member of a population trained
as one program per width; a seed sets the initial weights and the batch order. The error is
the test MSE on a 4x finer grid over the target's variance (relative MSE). It spans orders of
magnitude, so cells are mean ± sd over seeds of log10(relative MSE); the learning rate of each
(initialization, width) has the lowest mean log10 final training MSE. Units needed: the
smallest width whose mean is below log10(`--target`) by more than its sd. The sharp target's
error is also given without the test points within 0.02 of its jump. Verdicts follow the
spread rule. Writes `<out>/metrics.json`, `table.md` and `universal_approximation.png`.
"""
from __future__ import annotations

import functools
import itertools
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import (add_seeds_argument, exceeds_spread, finish_figure, format_mean_sd, over_seeds,
                     parser, save_results, seeds_of, settings as _settings, write_table)

from jdl import losses, models, train, viz

TARGETS = {
    "smooth": lambda x: np.sin(np.pi * x),
    "sharp": lambda x: np.where(x < 0.3, np.abs(x), 1.0),
    "high_frequency": lambda x: np.sin(6 * np.pi * x),
}
INITS = ("spread", "default")
JUMP, JUMP_WINDOW = 0.3, 0.02  # the sharp target's jump, and the half-width left out around it
JUMP_FROM = 16                 # the widths judged for "no width fixes the jump"
ERROR, AWAY = "log10_relative_mse", "log10_relative_mse_away_from_jump"


def parse_args(argv=None):
    p = parser("universal_approximation", __doc__.splitlines()[0])
    p.add_argument("--widths", type=int, nargs="+",
                   default=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
    add_seeds_argument(p)
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
    if not seeds_of(args) or not args.target > 0:  # seeds_of refuses --seeds 0
        raise ValueError(f"--target: expected a relative MSE above 0, got {args.target}")
    return args


def members(args) -> list[tuple[str, float, int]]:
    """(initialization, learning rate, seed) of every population member, in order."""
    return list(itertools.product(INITS, args.lrs, seeds_of(args)))


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
    """The population of `members(args)`: one key per seed (initial weights and batch order;
    both inits of a seed share the output layer), per-member learning rates, the spread
    members' hidden layers replaced."""
    model, optimizer, _, _ = width_program(width)
    table = members(args)
    keys = jnp.stack([jax.random.key(s) for _, _, s in table])
    lrs = np.array([lr for _, lr, _ in table], np.float32)
    pop = train.init_population(model, optimizer, keys, (1, 1), hyperparams={"learning_rate": lrs})
    spread_keys = jnp.stack([jax.random.fold_in(k, 1) for k in keys])
    spread = jax.vmap(lambda p, k: spread_hidden_layer(p, k, args.input_scale))(pop.params, spread_keys)
    is_spread = jnp.array([init == "spread" for init, _, _ in table])
    params = jax.tree.map(lambda s, d: jnp.where(is_spread.reshape((-1,) + (1,) * (s.ndim - 1)), s, d),
                          spread, pop.params)
    return pop._replace(params=params)


def fit_width(width: int, x, y, x_test, args):
    """Train every member at `width`: predictions (members, n_test), final train MSE (members,),
    NaN for a member stopped by the non-finite guard (diverged)."""
    _, _, step, predict = width_program(width)
    pop, history = train.fit_population(init_members(width, args), step, (x, y),
                                        epochs=args.epochs, batch_size=args.batch_size,
                                        steps_per_call=len(x) // args.batch_size,
                                        unroll=False, verbose=0)
    train_mse = np.asarray(history["loss"][-1], np.float64)
    if "finite" in history:
        train_mse = np.where(np.asarray(history["finite"][-1], bool), train_mse, np.nan)
    return np.asarray(predict(pop.params, pop.state, jnp.asarray(x_test))), train_mse


def summarize(predictions, train_mse, y_test, args, away=None) -> dict:
    """Per initialization: the chosen learning rate, each seed's relative test MSE (None: the
    seed diverged) and `over_seeds` (mean ± sd of log10 relative MSE; with the mask `away`, also
    on those test points only)."""
    table, seeds = members(args), seeds_of(args)
    ok = np.isfinite(train_mse)
    relative = np.where(ok, ((predictions - y_test) ** 2).mean(1) / y_test.var(), np.nan)
    if away is not None:
        rel_away = np.where(ok, ((predictions[:, away] - y_test[away]) ** 2).mean(1) / y_test.var(), np.nan)
    train_log = np.where(ok, np.log10(np.where(ok, train_mse, 1.0)), np.inf)
    out = {}
    for init in INITS:
        by_lr = {lr: [i for i, (n, r, _) in enumerate(table) if n == init and r == lr] for lr in args.lrs}
        score = {lr: float(np.mean(train_log[i])) for lr, i in by_lr.items()}
        chosen = by_lr[min(args.lrs, key=score.get)]
        records = [{ERROR: np.log10(relative[i]),
                    **({AWAY: np.log10(rel_away[i])} if away is not None else {})} for i in chosen]
        out[init] = {"lr": min(args.lrs, key=score.get),
                     "relative_mse": [float(v) if np.isfinite(v) else None for v in relative[chosen]],
                     "train_mse": [float(v) if np.isfinite(v) else None for v in train_mse[chosen]],
                     "mean_log10_train_mse_by_lr": {str(lr): s if np.isfinite(s) else None
                                                    for lr, s in score.items()},
                     "over_seeds": over_seeds(records, list(records[0]), seeds)["over_seeds"],
                     "member": chosen[0]}
    return out


def side(a: dict, b: dict) -> str:
    """The spread rule in words: a is "higher" or "lower" than b beyond the spread, else
    "within noise" ("missing" when a seed diverged)."""
    rule = exceeds_spread(a, b)
    return "missing" if rule is None else "within noise" if not rule else (
        "higher" if a["mean"] > b["mean"] else "lower")


def units_needed(rows: dict, widths: list[int], target: float) -> dict:
    """Smallest width whose mean log10 error is below log10(target) beyond its sd, and a status:
    "reached", "within noise" (a mean below the target, none beyond the spread), "not reached"."""
    goal = {"mean": float(np.log10(target)), "sd": 0.0}
    sides = {w: side(rows[w]["over_seeds"][ERROR], goal) for w in widths}
    below = [w for w in widths if rows[w]["over_seeds"][ERROR]["mean"] is not None
             and rows[w]["over_seeds"][ERROR]["mean"] < goal["mean"]]
    beyond = [w for w in widths if sides[w] == "lower"]
    return {"units_needed": min(beyond) if beyond else None,
            "units_needed_status": "reached" if beyond else "within noise" if below else "not reached",
            "vs_target": {str(w): s for w, s in sides.items()}}


def judge(sides: list[str], expected: str) -> str:
    """"held" when every side is `expected`, "did not hold" when one is the opposite, else
    "missing" (a seed diverged) or "within noise"."""
    if sides and all(s == expected for s in sides):
        return "held"
    if any(s in ("higher", "lower") and s != expected for s in sides):
        return "did not hold"
    return "missing" if "missing" in sides else "within noise"


def verdicts(results: dict, args) -> dict:
    """The claims by the spread rule: units grow with difficulty (sin(6 pi x) worse than
    sin(pi x) at the width where the smooth one reached the target); no width from JUMP_FROM
    fixes the jump (sharp worse than smooth at each, the widest not better than the narrowest;
    and apart: without the jump the error is lower); default init fails on sin(6 pi x) (worse
    than spread at each width from spread's units needed)."""
    def stat(name, init, w, key=ERROR):
        return results[name][init]["widths"][w]["over_seeds"][key]
    out = {"units_grow_with_difficulty": {}, "jump_not_fixed_by_width": {},
           "default_vs_spread": {n: {str(w): side(stat(n, "default", w), stat(n, "spread", w))
                                     for w in args.widths} for n in TARGETS}}
    wide = [w for w in args.widths if w >= JUMP_FROM] or args.widths[-1:]
    for init in INITS:
        ws, wh = (results[n][init]["units_needed"] for n in ("smooth", "high_frequency"))
        at = side(stat("high_frequency", init, ws), stat("smooth", init, ws)) if ws else "missing"
        verdict = "not judged" if ws is None else judge([at], "higher")
        out["units_grow_with_difficulty"][init] = {
            "smooth": ws, "high_frequency": wh, "high_frequency_vs_smooth_at_smooth_units": at,
            "verdict": "did not hold" if verdict == "held" and wh is not None and wh <= ws else verdict}
        rest = {str(w): side(stat("sharp", init, w, AWAY), stat("sharp", init, w)) for w in wide}
        smooth = {str(w): side(stat("sharp", init, w), stat("smooth", init, w)) for w in wide}
        trend = side(stat("sharp", init, wide[-1]), stat("sharp", init, wide[0]))
        out["jump_not_fixed_by_width"][init] = {
            "widths": wide, "sharp_vs_smooth": smooth, "widest_vs_narrowest": trend,
            "verdict": "did not hold" if trend == "lower" else judge(list(smooth.values()), "higher"),
            "away_from_jump_vs_all": rest, "away_from_jump_verdict": judge(list(rest.values()), "lower")}
    ws = results["high_frequency"]["spread"]["units_needed"]
    gap = {str(w): side(stat("high_frequency", "default", w), stat("high_frequency", "spread", w))
           for w in args.widths if ws is not None and w >= ws}
    verdict = "not judged" if ws is None else judge(list(gap.values()), "higher")
    out["default_fails_high_frequency"] = {
        "from_width": ws, "default_vs_spread": gap,
        "default_units_needed_status": results["high_frequency"]["default"]["units_needed_status"],
        "verdict": "did not hold" if results["high_frequency"]["default"]["units_needed"] else verdict}
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
            print(f"{name:15s} width {width:5d}  log10 relative MSE " + "  ".join(
                f"{i} {format_mean_sd(results[name][i]['widths'][width]['over_seeds'][ERROR], 2)}"
                for i in INITS))
        for init in INITS:
            results[name][init].update(units_needed(results[name][init]["widths"], args.widths, args.target))
    verdict = verdicts(results, args)
    write_table(args.out, table(results, verdict, args))
    out = {"settings": _settings(args), "seeds": seeds_of(args), "results": results, "verdicts": verdict}
    save_results(args.out, out, started=started)
    plot(results, curves, x_test[:, 0], args)
    return out


def table(results: dict, verdict: dict, args) -> str:
    """Mean ± sd over seeds of log10(relative test MSE) per width, units needed, the verdicts."""
    lines = [f"log10(test MSE / variance), mean ± sd over seeds {seeds_of(args)}; target {np.log10(args.target):.2f}\n",
             "| target | init | " + " | ".join(f"W={w}" for w in args.widths) + " | units needed |",
             "|---|---|" + "---|" * (len(args.widths) + 1)]
    rows = [(n, i, ERROR) for n in TARGETS for i in INITS] + [("sharp", i, AWAY) for i in INITS]
    for name, init, key in rows:
        r = results[name][init]
        cells = " | ".join(format_mean_sd(r["widths"][w]["over_seeds"][key], 2, none="diverged", some="finite")
                           for w in args.widths)
        needed = (r["units_needed"] or r["units_needed_status"]) if key == ERROR else "-"
        label = name if key == ERROR else "sharp, away from jump"
        lines.append(f"| {label} | {init} | {cells} | {needed} |")
    grow, jump = verdict["units_grow_with_difficulty"], verdict["jump_not_fixed_by_width"]
    lines += ["", "- units grow with difficulty: " + ", ".join(f"{i} init {grow[i]['verdict']}" for i in INITS),
              "- no width fixes the jump: " + ", ".join(f"{i} init {jump[i]['verdict']}" for i in INITS)
              + "; error lower away from the jump: " + ", ".join(
                  f"{i} init {jump[i]['away_from_jump_verdict']}" for i in INITS),
              f"- default init fails on high_frequency: {verdict['default_fails_high_frequency']['verdict']}"]
    return "\n".join(lines) + "\n"


def plot(results: dict, curves: dict, x_test: np.ndarray, args):
    plt = viz.pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    widths = args.widths
    for (name, by_init), color in zip(results.items(), ("C0", "C1", "C2")):
        for init, style in zip(INITS, ("-", "--")):
            stats = [by_init[init]["widths"][w]["over_seeds"][ERROR] for w in widths]
            axes[0].errorbar(widths, [np.nan if s["mean"] is None else s["mean"] for s in stats],
                             yerr=[np.nan if s["sd"] is None else s["sd"] for s in stats], capsize=2,
                             marker="o", ls=style, color=color, label=f"{name} ({init} init)")
    axes[0].axhline(np.log10(args.target), color="k", ls=":", label=f"target {args.target}")
    axes[0].set(xscale="log", xlabel="hidden units", ylabel="log10(test MSE / variance), mean ± sd")
    axes[0].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    shown = sorted({widths[0], widths[len(widths) // 2], widths[-1]})
    for ax, (name, f) in zip(axes[1:], TARGETS.items()):
        ax.plot(x_test, f(x_test), color="k", lw=2, label="target")
        for w in shown:
            ax.plot(x_test, curves[(name, "spread", w)], label=f"{w} units")
        ax.set(title=f"{name} (spread init, seed {args.seed})", xlabel="x")
    return finish_figure(fig, args.out / "universal_approximation.png",
                         "One hidden layer of tanh units fitting 1-D functions",
                         grid=axes, legend=axes[1:])


if __name__ == "__main__":
    main()
