"""Dropout at test time: inverted dropout vs scaling by the keep probability vs averaging masks.

    python experiments/dropout_at_test.py            # full: 20k train, MLP 784-512-512-10
    python experiments/dropout_at_test.py --quick    # seconds (the test)
    python experiments/dropout_at_test.py --samples 1 10 100 --rate 0.5

Claim (Salakhutdinov, "At test time, we replace the masks by their expectation", "simply the
constant vector 0.5 if dropout probability is 0.5"; Senk, "Dropout could be seen as training a
large ensemble of models", "all these architectures share weights"; Srivastava et al. 2014
section 7.5): a network trained with dropout is an ensemble of 2^units thinned networks;
predicting with all units and scaled activations approximates the ensemble's average, and does as
well as averaging the predictions of many sampled masks (Monte-Carlo averaging), while any single
sampled mask does worse.

Method: two MLPs with dropout `--rate` after each hidden layer, the same seed (same weights, the
same masks during training), SGD with momentum:
  inverted      `Dropout(rate)`: masks scaled by 1/(1-rate) in training, identity at test;
  scaled        `Dropout(rate, inverted=False)`: plain masks in training, activations times the
                keep probability (1-rate) at test (the lectures' formulation).
Each is evaluated on the test set (a set that training never touched; no choice is made on it):
deterministically (the rule of its formulation), and by Monte-Carlo averaging of the softmax
probabilities of T sampled masks for each T in `--samples`.

Writes `<out>/metrics.json` and `<out>/dropout_at_test.png`. Full mode on the 2-core CPU: about
5 minutes (measured: see docs/experiments/dropout_at_test.md).
"""
from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import finish_figure, load_images, parser, save_results, settings as _settings

from jdl import losses, metrics, models, train, viz


def parse_args(argv=None):
    p = parser("dropout_at_test", __doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, nargs="+", default=[512, 512])
    p.add_argument("--rate", type=float, default=0.5, help="probability of dropping a unit")
    p.add_argument("--train-size", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--samples", type=int, nargs="+", default=[1, 2, 5, 10, 20, 50, 100])
    args = p.parse_args(argv)
    if args.quick:
        args.hidden, args.epochs, args.samples = [64, 64], 2, [1, 4]
    return args


@partial(jax.jit, static_argnums=(0, 4))
def mc_probabilities(model, params, x, key, samples: int):
    """Mean softmax over `samples` dropout masks: `(B, classes)`; mask t uses fold_in(key, t)."""

    def one(t):
        logits, _ = model.apply(params, {}, x, key=jax.random.fold_in(key, t), train=True)
        return jax.nn.softmax(logits)

    return jnp.mean(jax.lax.map(one, jnp.arange(samples)), axis=0)


def scores(probs: jax.Array, y: np.ndarray) -> dict:
    """Accuracy and mean negative log-likelihood of averaged probabilities."""
    nll = -jnp.mean(jnp.log(jnp.take_along_axis(probs, jnp.asarray(y)[:, None], 1) + 1e-12))
    return {"accuracy": float(jnp.mean(metrics.accuracy(probs, y))), "nll": float(nll)}


def evaluate_rules(model, params, test, args, key, batch: int = 1000) -> dict:
    """Deterministic test rule and Monte-Carlo averages over T masks, on the whole test set."""
    x, y = test
    out = {"deterministic": scores(jnp.concatenate([
        jax.nn.softmax(model.apply(params, {}, x[i:i + batch])[0]) for i in range(0, len(x), batch)]), y)}
    for t in args.samples:
        probs = jnp.concatenate([mc_probabilities(model, params, x[i:i + batch],
                                                  jax.random.fold_in(key, i), t)
                                 for i in range(0, len(x), batch)])
        out[f"mc_{t}"] = scores(probs, y)
    return out


def train_variant(inverted: bool, args, train_data, val, init_model=None):
    """Train one formulation. `init_model` (--quick): the other formulation's model, whose
    compiled init draws the same weights (dropout has no parameters): one init compile."""
    model = models.mlp([*args.hidden, 10], "relu", dropout=args.rate, dropout_inverted=inverted)
    optimizer = optax.sgd(args.lr, momentum=args.momentum)
    ts = train.init_train_state(init_model or model, optimizer, jax.random.key(args.seed),
                                (1, train_data[0].shape[1]))
    train_step, eval_step = train.make_steps(model, optimizer, losses.softmax_cross_entropy,
                                             metrics={"accuracy": metrics.accuracy})
    started = time.perf_counter()
    ts, history = train.fit(ts, train_step, train_data, epochs=args.epochs,
                            batch_size=args.batch_size, val_data=val, eval_step=eval_step,
                            verbose=0, eval_batch_size=min(1000, len(val[0])),
                            steps_per_call=1 if args.quick else 4)  # quick: a smaller compile
    return model, ts, history, time.perf_counter() - started


def plot(results: dict, args, path: Path, title: str) -> Path:
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
    for variant, color in (("inverted", "C0"), ("scaled", "C1")):
        r = results[variant]["test"]
        ts_ = args.samples
        for a, metric in zip(ax, ("accuracy", "nll")):
            a.plot(ts_, [r[f"mc_{t}"][metric] for t in ts_], marker="o", color=color,
                   label=f"{variant}: average of T masks")
            a.axhline(r["deterministic"][metric], color=color, ls="--",
                      label=f"{variant}: {'identity' if variant == 'inverted' else 'x (1 - rate)'} at test")
    for a, metric in zip(ax, ("test accuracy", "test negative log-likelihood")):
        a.set(xscale="log", xlabel="T (sampled masks averaged)", ylabel=metric)
    return finish_figure(fig, path, title, grid=ax, legend=ax)


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    train_data, val, test, name = load_images(args.quick, train_size=args.train_size,
                                              seed=args.seed, flatten=True)
    results, init_model = {}, None
    for variant in ("inverted", "scaled"):
        model, ts, history, seconds = train_variant(variant == "inverted", args, train_data, val,
                                                    init_model)
        init_model = model if args.quick else None
        test_scores = evaluate_rules(model, ts.params, test, args, jax.random.key(args.seed + 1))
        results[variant] = {"test": test_scores, "train_seconds": round(seconds, 1),
                            "history": {k: history[k] for k in ("loss", "val_loss", "val_accuracy")}}
        line = "  ".join(f"{k} {v['accuracy']:.4f}" for k, v in test_scores.items())
        print(f"{variant:9s} {line}  ({seconds:.1f} s training)")
    largest = f"mc_{max(args.samples)}"
    summary = {}
    for variant, r in results.items():
        t = r["test"]
        summary[variant] = {
            "deterministic_accuracy": t["deterministic"]["accuracy"],
            "single_mask_accuracy": t.get("mc_1", {}).get("accuracy"),
            f"{largest}_accuracy": t[largest]["accuracy"],
            "deterministic_minus_mc": t["deterministic"]["accuracy"] - t[largest]["accuracy"],
            "single_mask_worse": ("mc_1" in t
                                  and t["mc_1"]["accuracy"] < t["deterministic"]["accuracy"]),
        }
    summary["inverted_minus_scaled_deterministic"] = (
        results["inverted"]["test"]["deterministic"]["accuracy"]
        - results["scaled"]["test"]["deterministic"]["accuracy"])
    settings = _settings(args)
    out = {"dataset": name, "n_train": len(train_data[0]), "n_test": len(test[0]),
           "settings": settings, "results": results, "summary": summary}
    save_results(args.out, out, started=started)
    plot(results, args, args.out / "dropout_at_test.png",
         f"MLP {[*args.hidden, 10]}, dropout {args.rate}, {name}")
    return out


if __name__ == "__main__":
    main()
