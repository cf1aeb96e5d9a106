"""Dropout at test time: inverted dropout vs scaling by the keep probability vs averaging masks.

    python experiments/dropout_at_test.py            # full: 20k train, MLP 784-512-512-10, 3 seeds
    python experiments/dropout_at_test.py --quick    # seconds, 2 seeds (the test)
    python experiments/dropout_at_test.py --samples 1 10 100 --rate 0.5 --seeds 5

Claim (Salakhutdinov, "At test time, we replace the masks by their expectation", "simply the
constant vector 0.5 if dropout probability is 0.5"; Senk, "Dropout could be seen as training a
large ensemble of models", "all these architectures share weights"; Srivastava et al. 2014
section 7.5): a network trained with dropout is an ensemble of 2^units thinned networks;
predicting with all units and scaled activations approximates the ensemble's average, and does as
well as averaging the predictions of many sampled masks (Monte-Carlo averaging), while any single
sampled mask does worse.

Method: two MLPs with dropout `--rate` after each hidden layer, for each seed the same initial
weights and the same masks during training, SGD with momentum:
  inverted      `Dropout(rate)`: masks scaled by 1/(1-rate) in training, identity at test;
  scaled        `Dropout(rate, inverted=False)`: plain masks in training, activations times the
                keep probability (1-rate) at test (the lectures' formulation).
Each is evaluated on the test set (a set that training never touched; no choice is made on it):
deterministically (the rule of its formulation), and by Monte-Carlo averaging of the softmax
probabilities of T sampled masks for each T in `--samples` (the average over T masks is the
mean of the first T of max(T) masks, so every T reads the same draws).

Seeds (`--seeds`, from `--seed` on): seed s draws the validation split and the 20k training
images kept, the initial weights, the training masks and data order, and the test-time masks.
The models and their compiled steps are built once and shared by the seeds. Every figure is
mean ± sd over the seeds; verdicts follow the spread rule (`exceeds_spread`: a gap counts only
when it exceeds the sum of the two sds).

Writes `<out>/metrics.json`, `<out>/table.md` and `<out>/dropout_at_test.png`. Full mode on
the 2-core CPU: see docs/experiments/dropout_at_test.md for the measured time.
"""
from __future__ import annotations

import argparse
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import (add_seeds_argument, exceeds_spread, finish_figure, format_mean_sd,
                     load_images, mean_sd, over_seeds, parser, save_results, seeds_of,
                     settings as _settings, write_table)

from jdl import losses, metrics, models, train, viz

VARIANTS = ("inverted", "scaled")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = parser("dropout_at_test", __doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, nargs="+", default=[512, 512])
    p.add_argument("--rate", type=float, default=0.5, help="probability of dropping a unit")
    p.add_argument("--train-size", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--samples", type=int, nargs="+", default=[1, 2, 5, 10, 20, 50, 100])
    add_seeds_argument(p)
    args = p.parse_args(argv)
    if args.quick:
        args.hidden, args.epochs, args.samples = [64, 64], 2, [1, 4]
        args.seeds = min(args.seeds, 2)
    if args.seeds < 1:
        p.error(f"--seeds: expected at least 1, got {args.seeds}")
    if min(args.samples) < 1:
        p.error(f"--samples: expected mask counts of at least 1, got {args.samples}")
    args.samples = sorted(set(args.samples))
    return args


@partial(jax.jit, static_argnums=(0, 4))
def mc_probabilities(model, params: dict, x: jax.Array, key: jax.Array,
                     samples: tuple[int, ...]) -> jax.Array:
    """For each T of `samples`, the mean softmax over masks 0..T-1: `(len(samples), B, classes)`;
    mask t uses fold_in(key, t), so the T-mask averages share their first masks."""

    def one(t):
        logits, _ = model.apply(params, {}, x, key=jax.random.fold_in(key, t), train=True)
        return jax.nn.softmax(logits)

    sums = jnp.cumsum(jax.lax.map(one, jnp.arange(max(samples))), axis=0)   # (max T, B, C)
    counts = jnp.asarray(samples)
    return sums[counts - 1] / counts[:, None, None].astype(sums.dtype)


def scores(probs: jax.Array, y: np.ndarray) -> dict:
    """Accuracy and mean negative log-likelihood of averaged probabilities."""
    nll = -jnp.mean(jnp.log(jnp.take_along_axis(probs, jnp.asarray(y)[:, None], 1) + 1e-12))
    return {"accuracy": float(jnp.mean(metrics.accuracy(probs, y))), "nll": float(nll)}


def evaluate_rules(model, params: dict, test: tuple, samples: list[int], key: jax.Array,
                   batch: int = 1000) -> dict:
    """Deterministic test rule and Monte-Carlo averages over T masks, on the whole test set."""
    x, y = test
    out = {"deterministic": scores(jnp.concatenate([
        jax.nn.softmax(model.apply(params, {}, x[i:i + batch])[0]) for i in range(0, len(x), batch)]), y)}
    probs = jnp.concatenate([mc_probabilities(model, params, x[i:i + batch],
                                              jax.random.fold_in(key, i), tuple(samples))
                             for i in range(0, len(x), batch)], axis=1)
    for j, t in enumerate(samples):
        out[f"mc_{t}"] = scores(probs[j], y)
    return out


def build(args: argparse.Namespace, inverted: bool) -> tuple:
    """(model, optimizer, train step, eval step) of one formulation: built once for all seeds."""
    model = models.mlp([*args.hidden, 10], "relu", dropout=args.rate, dropout_inverted=inverted)
    optimizer = optax.sgd(args.lr, momentum=args.momentum)
    return (model, optimizer, *train.make_steps(model, optimizer, losses.softmax_cross_entropy,
                                                metrics={"accuracy": metrics.accuracy}))


def train_variant(built: tuple, init_model, seed: int, args: argparse.Namespace,
                  train_data: tuple, val: tuple) -> tuple:
    """Train one formulation from seed `seed`. `init_model`: one model whose compiled init draws
    the weights of both formulations (dropout has no parameters): one init compile."""
    model, optimizer, train_step, eval_step = built
    ts = train.init_train_state(init_model, optimizer, jax.random.key(seed),
                                (1, train_data[0].shape[1]))
    started = time.perf_counter()
    ts, history = train.fit(ts, train_step, train_data, epochs=args.epochs,
                            batch_size=args.batch_size, val_data=val, eval_step=eval_step,
                            verbose=0, eval_batch_size=min(1000, len(val[0])),
                            steps_per_call=1 if args.quick else 4)  # quick: a smaller compile
    return ts, history, time.perf_counter() - started


def run_seed(seed: int, args: argparse.Namespace, nets: dict) -> dict:
    """Both formulations for one seed: test scores per rule, last validation accuracy, history
    (None scores when the non-finite guard stopped training)."""
    train_data, val, test, name = load_images(args.quick, train_size=args.train_size,
                                              seed=seed, flatten=True)
    record = {"seed": seed, "dataset": name, "n_train": len(train_data[0]),
              "n_test": len(test[0]), "results": {}}
    for variant in VARIANTS:
        ts, history, seconds = train_variant(nets[variant], nets["inverted"][0], seed, args,
                                             train_data, val)
        diverged = len(history.get("val_accuracy", [])) < args.epochs
        rules = ["deterministic", *(f"mc_{t}" for t in args.samples)]
        test_scores = ({r: {"accuracy": None, "nll": None} for r in rules} if diverged else
                       evaluate_rules(nets[variant][0], ts.params, test, args.samples,
                                      jax.random.fold_in(jax.random.key(seed), 1)))
        record["results"][variant] = {
            "test": test_scores, "train_seconds": round(seconds, 1), "diverged": diverged,
            "last_val_accuracy": None if diverged else history["val_accuracy"][-1],
            "history": {k: history.get(k, []) for k in ("loss", "val_loss", "val_accuracy")}}
        line = "diverged" if diverged else "  ".join(
            f"{k} {v['accuracy']:.4f}" for k, v in test_scores.items())
        print(f"seed {seed} {variant:9s} {line}  ({seconds:.1f} s training)")
    return record


def compare(a: dict, b: dict) -> str:
    """'higher' / 'lower' when a's mean differs from b's by more than the summed sds, else
    'within noise' ('diverged' when a seed of either has no value)."""
    differs = exceeds_spread(a, b)
    if differs is None:
        return "diverged"
    return ("higher" if a["mean"] > b["mean"] else "lower") if differs else "within noise"


def verdict(a: dict, b: dict) -> dict:
    """a against b for accuracy and NLL: the gap of the means and `compare`."""
    gap = lambda m: None if a[m]["mean"] is None or b[m]["mean"] is None \
        else a[m]["mean"] - b[m]["mean"]  # noqa: E731
    return {f"{m}_gap": gap(m) for m in ("accuracy", "nll")} | {
        m: compare(a[m], b[m]) for m in ("accuracy", "nll")}


def judge(stats: dict, samples: list[int]) -> dict:
    """(a) deterministic vs the largest-T average, (b) one mask vs deterministic, (c) inverted
    vs scaled (deterministic rule, and the last validation accuracy), each by the spread rule."""
    rule = lambda v, r: {m: stats[f"results.{v}.test.{r}.{m}"] for m in ("accuracy", "nll")}  # noqa: E731
    largest = f"mc_{max(samples)}"
    out = {}
    for v in VARIANTS:
        out[v] = {f"deterministic_vs_{largest}": verdict(rule(v, "deterministic"), rule(v, largest))}
        if 1 in samples:
            single = verdict(rule(v, "mc_1"), rule(v, "deterministic"))
            out[v]["single_mask_vs_deterministic"] = single | {
                "single_mask_worse": single["accuracy"] == "lower"}
    out["inverted_vs_scaled_deterministic"] = verdict(rule("inverted", "deterministic"),
                                                      rule("scaled", "deterministic"))
    a, b = (stats[f"results.{v}.last_val_accuracy"] for v in VARIANTS)
    out["inverted_vs_scaled_last_val_accuracy"] = {
        "gap": None if a["mean"] is None or b["mean"] is None else a["mean"] - b["mean"],
        "accuracy": compare(a, b)}
    return out


def table(stats: dict, samples: list[int]) -> str:
    rules = ["deterministic", *(f"mc_{t}" for t in samples)]
    head = "| rule | " + " | ".join(f"{v} accuracy | {v} NLL" for v in VARIANTS) + " |"
    rows = [head, "|---" * (1 + 2 * len(VARIANTS)) + "|"]
    for r in rules:
        label = "deterministic" if r == "deterministic" else f"T = {r[3:]}"
        cells = [format_mean_sd(stats[f"results.{v}.test.{r}.{m}"], d, none="diverged",
                                some="finite") for v in VARIANTS for m, d in (("accuracy", 4), ("nll", 3))]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def plot(stats: dict, samples: list[int], path: Path, title: str) -> Path:
    """Test accuracy and NLL against T (mean ± sd over seeds); the deterministic rule dashed."""
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
    nan = lambda v: np.nan if v is None else v  # noqa: E731
    for variant, color in (("inverted", "C0"), ("scaled", "C1")):
        for a, metric in zip(ax, ("accuracy", "nll")):
            s = [stats[f"results.{variant}.test.mc_{t}.{metric}"] for t in samples]
            a.errorbar(samples, [nan(x["mean"]) for x in s], [nan(x["sd"]) for x in s], marker="o",
                       color=color, capsize=3, label=f"{variant}: average of T masks")
            d = stats[f"results.{variant}.test.deterministic.{metric}"]
            a.axhline(nan(d["mean"]), color=color, ls="--",
                      label=f"{variant}: {'identity' if variant == 'inverted' else 'x (1 - rate)'} at test")
            if d["mean"] is not None:
                a.axhspan(d["mean"] - d["sd"], d["mean"] + d["sd"], color=color, alpha=0.12)
    for a, metric in zip(ax, ("test accuracy", "test negative log-likelihood")):
        a.set(xscale="log", xlabel="T (sampled masks averaged)", ylabel=metric)
    return finish_figure(fig, path, title, grid=ax, legend=ax)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    seeds = seeds_of(args)
    started = time.perf_counter()
    nets = {v: build(args, v == "inverted") for v in VARIANTS}
    records = [run_seed(seed, args, nets) for seed in seeds]
    rules = ["deterministic", *(f"mc_{t}" for t in args.samples)]
    keys = [f"results.{v}.test.{r}.{m}" for v in VARIANTS for r in rules for m in ("accuracy", "nll")]
    keys += [f"results.{v}.last_val_accuracy" for v in VARIANTS]
    out = over_seeds(records, keys, seeds)  # the first seed's record keeps its histories
    stats = out["over_seeds"]
    out.update(settings=_settings(args), summary=judge(stats, args.samples), per_seed=[
        {"seed": r["seed"], **{v: {"test": r["results"][v]["test"],
                                    "last_val_accuracy": r["results"][v]["last_val_accuracy"]}
                               for v in VARIANTS}} for r in records],
        train_seconds=mean_sd([r["results"][v]["train_seconds"] for r in records for v in VARIANTS]))
    print(f"summary: {out['summary']}")
    write_table(args.out, table(stats, args.samples))
    save_results(args.out, out, started=started)
    plot(stats, args.samples, args.out / "dropout_at_test.png",
         f"MLP {[*args.hidden, 10]}, dropout {args.rate}, {out['dataset']}, "
         f"mean ± sd over {len(seeds)} seeds")
    return out


if __name__ == "__main__":
    main()
