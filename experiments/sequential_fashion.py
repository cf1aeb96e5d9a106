"""Fashion-MNIST read row by row: an LSTM over 28 steps of 28 pixels against a CNN.

    python experiments/sequential_fashion.py            # 55k / 5k / 10k images, 3 epochs, 3 seeds
    python experiments/sequential_fashion.py --quick    # 600 / 200 / 300 images, 1 epoch, 2 seeds
    python experiments/sequential_fashion.py --epochs 5 --hidden 64

Claim (*Engineering Deep Learning*, "Recurrent Networks"): "Networks should be able to remember
the data over time." An image read one row at a time is a sequence whose class is decided only
after the last row (many-to-one), so the LSTM must carry what it saw in the early rows to the
end; a CNN sees the whole image at once.

Method: the same data, epochs, batch size and optimizer (Adam, --lr) for both models.
LSTM: Reshape (28, 28) (row t = step t, its 28 pixels = the input) -> RNN(LSTMCell(--hidden))
-> Dense(10), 1 output after the last row. CNN: `jdl.models.fashion_cnn()`
(conv-BN-ReLU-pool x2, dense 128, dropout, dense 10). Measured: test accuracy, validation
accuracy per epoch, seconds per epoch (the first epoch includes compiling, so the others are
reported apart) and parameters; and the trained LSTM's test accuracy when it reads only the
last k rows (--rows, from a zero carry): what its answer owes to the rows it must remember.
Each of --seeds seeds draws the validation split, initial weights, dropout masks and batch order;
figures are mean ± sd, verdicts follow the spread rule (`exceeds_spread`).

Writes `<out>/metrics.json`, `table.md` and sequential_fashion_curves.png.
"""
from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import jax
import numpy as np
import optax
from _common import (add_seeds_argument, exceeds_spread, finish_figure, format_mean_sd,
                     load_images, mean_sd, over_seeds, parser, save_results, seeds_of, settings,
                     with_seed, write_table)

from jdl import losses, metrics, models, nn, train, viz

MODELS = ("lstm", "cnn")
ARCHITECTURES = {"lstm": "Reshape(28, 28) -> RNN(LSTMCell(hidden)) -> Dense(10)",
                 "cnn": "models.fashion_cnn()"}


def parse_args(argv=None):
    p = parser("sequential_fashion", __doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate")
    p.add_argument("--rows", type=int, nargs="+", default=[1, 2, 4, 7, 14, 21, 28],
                   help="the trained LSTM is also scored reading only the last k rows")
    add_seeds_argument(p)
    args = p.parse_args(argv)
    seeds_of(args)   # --seeds must be at least 1
    if args.quick:   # k = 28 only: the check that the cut reading equals the model's own
        args.hidden, args.epochs, args.batch_size, args.rows = 16, 1, 50, [28]
        args.seeds = min(args.seeds, 2)
    return args


def model(name: str, args, image_shape) -> nn.Layer:
    """The row-by-row LSTM or the demo's CNN, both on images (B, H, W, 1) -> 10 logits."""
    if name == "lstm":
        h, w = image_shape[:2]
        # --quick: Glorot recurrent weights (the default orthogonal ones compile 4 QRs, ~1 s)
        cell = (nn.LSTMCell(args.hidden, recurrent_init="glorot") if args.quick
                else nn.LSTMCell(args.hidden))
        return nn.serial(("rows", nn.Reshape((h, w))), ("lstm", nn.RNN(cell)),
                         ("head", nn.Dense(10)))
    if args.quick:   # one block, narrower (compiling dominates a quick run)
        return models.fashion_cnn(widths=(8,), dense=32)
    return models.fashion_cnn()


def build(name: str, args, image_shape) -> dict:
    """The model, optimizer and jitted steps, once for every seed (jit's cache then hits)."""
    m, opt = model(name, args, image_shape), optax.adam(args.lr)
    steps = train.make_steps(m, opt, losses.softmax_cross_entropy,
                             metrics={"accuracy": metrics.accuracy})
    return {"model": m, "optimizer": opt, "steps": steps,
            "rows": rows_predictor(args) if name == "lstm" else None}


def train_model(name: str, built: dict, args, train_data, val_data, test_data) -> dict:
    """One seed's run of the model `built`: from `init_train_state(key(seed))`."""
    train_step, eval_step = built["steps"]
    ts = train.init_train_state(built["model"], built["optimizer"], jax.random.key(args.seed),
                                (1, *train_data[0].shape[1:]))
    eval_batch = 100 if args.quick else 1000   # one eval shape for validation and test
    started = time.perf_counter()
    ts, history = train.fit(ts, train_step, train_data, epochs=args.epochs,
                            batch_size=args.batch_size, val_data=val_data, eval_step=eval_step,
                            verbose=0 if args.quick else 2, steps_per_call=1 if args.quick else 4,
                            eval_batch_size=eval_batch)
    seconds = time.perf_counter() - started
    test = train.evaluate(ts, eval_step, test_data, batch_size=eval_batch)
    times = history.get("epoch_time") or [seconds]
    done = len(history.get("val_accuracy", [])) == args.epochs   # else stopped: not finite
    result = {"architecture": ARCHITECTURES[name] if not (args.quick and name == "cnn")
              else "fashion_cnn(widths=(8,), dense=32)",
              "test_accuracy": float(test["accuracy"]) if done else None,
              "test_loss": float(test["loss"]) if done else None,
              "seconds": round(seconds, 1), "seconds_first_epoch": round(times[0], 1),
              "seconds_per_epoch": round(float(np.mean(times[1:] or times)), 1),
              "parameters": int(sum(a.size for a in jax.tree.leaves(ts.params))),
              "history": {k: history.get(k, []) for k in ("loss", "accuracy", "val_loss",
                                                          "val_accuracy", "epoch_time")}}
    if name == "lstm":
        result["accuracy_last_rows"] = last_rows_accuracy(built["rows"], args.rows, ts.params,
                                                          *test_data)
    print(f"seed {args.seed} {name:5s} test accuracy {result['test_accuracy']}  "
          f"{result['seconds_per_epoch']} s/epoch  ({result['parameters']} parameters)")
    return result


def rows_predictor(args):
    """jit(params, x, k) -> the classes the trained LSTM gives reading only the last k rows of
    each image, from a zero carry (k static: one compile per k, shared by the seeds)."""
    cell, head = nn.LSTMCell(args.hidden), nn.Dense(10)

    @partial(jax.jit, static_argnums=2)
    def predict(params, xb, k):
        _, ys = nn.scan_cell(cell, params["lstm"], xb[:, -k:, :, 0])
        return jax.numpy.argmax(head.apply(params["head"], {}, ys[:, -1])[0], axis=-1)
    return predict


def last_rows_accuracy(predict, rows, params, x, y) -> dict:
    """Test accuracy reading only the last k rows, for each k of `rows`: how much of the answer
    needs the rows the LSTM has to remember; k = 28 is the model itself."""
    out = {}
    for k in rows:
        predicted = np.concatenate([np.asarray(predict(params, x[i:i + 1000], k))
                                    for i in range(0, len(x), 1000)])
        out[str(k)] = float(np.mean(predicted == y))
    return out


def compare(a: dict, b: dict) -> str:
    """a against b by the spread rule: 'higher', 'lower', 'within noise' (or 'missing')."""
    differs = exceeds_spread(a, b)
    return "missing" if differs is None else (
        ("higher" if a["mean"] > b["mean"] else "lower") if differs else "within noise")


def combine(records: list[dict], seeds) -> dict:
    """One model's records over the seeds -> the first's with `over_seeds` (mean ± sd) and the
    validation accuracy per epoch as mean ± sd."""
    keys = ["test_accuracy", "test_loss", "seconds_per_epoch", "seconds_first_epoch",
            *[f"accuracy_last_rows.{k}" for k in records[0].get("accuracy_last_rows", {})]]
    r = over_seeds(records, keys, seeds)
    r["val_accuracy_by_epoch"] = [mean_sd([h["history"]["val_accuracy"][e]
                                           if e < len(h["history"]["val_accuracy"]) else None
                                           for h in records]) for e in range(len(
                                               records[0]["history"]["val_accuracy"]))]
    return r


def verdicts(results: dict, per_seed: list[dict]) -> dict:
    """LSTM against CNN (test accuracy, paired by seed) and the LSTM reading only its last k rows
    against all 28, each 'higher' / 'lower' beyond the spread, else 'within noise'."""
    def gap(a, b):
        pairs = [(a(r), b(r)) for r in per_seed]
        return mean_sd([None if None in p else p[0] - p[1] for p in pairs])
    out = {}
    if set(MODELS) <= set(results):
        lstm, cnn = (results[m]["over_seeds"] for m in ("lstm", "cnn"))
        out.update(lstm_minus_cnn_accuracy=gap(lambda r: r["lstm"]["test_accuracy"],
                                               lambda r: r["cnn"]["test_accuracy"]),
                   lstm_vs_cnn=compare(lstm["test_accuracy"], cnn["test_accuracy"]),
                   lstm_over_cnn_seconds_per_epoch=round(lstm["seconds_per_epoch"]["mean"]
                                                         / cnn["seconds_per_epoch"]["mean"], 2))
    if "lstm" in results:
        s = results["lstm"]["over_seeds"]
        out["lstm_learns"] = compare(s["test_accuracy"], mean_sd([0.5])) == "higher"
        out["last_rows"] = {k: {"k_minus_all": gap(lambda r, k=k: r["lstm"]["accuracy_last_rows"][k],
                                                   lambda r: r["lstm"]["test_accuracy"]),
                                "verdict": compare(s[f"accuracy_last_rows.{k}"], s["test_accuracy"])}
                            for k in results["lstm"]["accuracy_last_rows"]}
    return out


def table(results: dict, verdict: dict) -> str:
    n = len(next(iter(results.values()))["over_seeds"]["seeds"])
    rows = [f"| model (mean ± sd, {n} seeds) | parameters | test accuracy | validation accuracy "
            "per epoch | s/epoch | first epoch s (with compile) |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        s = r["over_seeds"]
        rows.append(f"| {name} | {r['parameters']:,} | {format_mean_sd(s['test_accuracy'], 4)} | "
                    + ", ".join(format_mean_sd(e, 3) for e in r["val_accuracy_by_epoch"])
                    + f" | {format_mean_sd(s['seconds_per_epoch'], 1)} | "
                    f"{format_mean_sd(s['seconds_first_epoch'], 1)} |")
    if "lstm_vs_cnn" in verdict:
        rows += ["", "| test accuracy | LSTM - CNN, paired by seed | verdict (spread rule) |",
                 "|---|---|---|", f"| LSTM vs CNN | "
                 f"{format_mean_sd(verdict['lstm_minus_cnn_accuracy'], 4)} | {verdict['lstm_vs_cnn']} |"]
    if "last_rows" in verdict:
        s = results["lstm"]["over_seeds"]
        rows += ["", "| LSTM reading the last k rows | test accuracy | k rows - all 28 | verdict |",
                 "|---|---|---|---|"]
        rows += [f"| {k} | {format_mean_sd(s[f'accuracy_last_rows.{k}'], 3)} | "
                 f"{format_mean_sd(v['k_minus_all'], 3)} | {v['verdict']} |"
                 for k, v in verdict["last_rows"].items()]
    return "\n".join(rows) + "\n"


def plot_curves(results: dict, path: Path) -> Path:
    """Validation accuracy per epoch and the LSTM reading its last k rows (means over seeds, sd
    as error bars); the first seed's training loss per epoch."""
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(16, 4))
    bars = lambda stats: [np.array([np.nan if s[f] is None else s[f] for s in stats])  # noqa: E731
                          for f in ("mean", "sd")]
    for name, r in results.items():
        mean, sd = bars(r["val_accuracy_by_epoch"])
        ax[0].errorbar(range(1, len(mean) + 1), mean, yerr=sd, fmt="o-", capsize=3, label=name)
        ax[1].plot(range(1, len(r["history"]["loss"]) + 1), r["history"]["loss"], "o-", label=name)
    for a in ax[:2]:
        a.xaxis.get_major_locator().set_params(integer=True)
    n = len(next(iter(results.values()))["over_seeds"]["seeds"])
    ax[0].set(xlabel="epoch", ylabel="validation accuracy",
              title=f"LSTM over rows vs CNN (mean ± sd, {n} seeds)")
    ax[1].set(xlabel="epoch", ylabel="training loss", title="training loss (first seed)")
    if "lstm" in results:
        s, ks = results["lstm"]["over_seeds"], list(results["lstm"]["accuracy_last_rows"])
        mean, sd = bars([s[f"accuracy_last_rows.{k}"] for k in ks])
        ax[2].errorbar([int(k) for k in ks], mean, yerr=sd, fmt="o-", capsize=3,
                       label="LSTM, last k rows")
    ax[2].axhline(0.1, color="gray", linestyle="--", label="chance")
    ax[2].set(xlabel="k (rows read, from the bottom)", ylabel="test accuracy",
              title="the trained LSTM reading only the last k rows")
    return finish_figure(fig, path, grid=ax, legend=ax)


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    per_seed, built = [], None
    for seed in seeds_of(args):   # the seed's validation split, weights, dropout, batch order
        train_data, val_data, test_data, name = load_images(args.quick, seed=seed)
        built = built or {m: build(m, args, train_data[0].shape[1:]) for m in args.models}
        per_seed.append({m: train_model(m, built[m], with_seed(args, seed), train_data, val_data,
                                        test_data) for m in args.models})
    results = {m: combine([r[m] for r in per_seed], seeds_of(args)) for m in args.models}
    verdict = verdicts(results, per_seed)
    write_table(args.out, table(results, verdict))
    out = {"settings": settings(args), "dataset": name, "n_train": len(train_data[0]),
           "n_val": len(val_data[0]), "n_test": len(test_data[0]), "models": results,
           "verdicts": verdict}
    save_results(args.out, out, started=started)
    plot_curves(results, Path(args.out) / "sequential_fashion_curves.png")
    return out


if __name__ == "__main__":
    main()
