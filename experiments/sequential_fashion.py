"""Fashion-MNIST read row by row: an LSTM over 28 steps of 28 pixels against a CNN.

    python experiments/sequential_fashion.py            # 55k / 5k / 10k images, 3 epochs each
    python experiments/sequential_fashion.py --quick    # 600 / 200 / 300 images, 1 epoch, tiny
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

Writes `<out>/metrics.json`, `table.md` and sequential_fashion_curves.png.
"""
from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import jax
import numpy as np
import optax
from _common import finish_figure, load_images, parser, save_results, settings, write_table

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
    args = p.parse_args(argv)
    if args.quick:   # k = 28 only: the check that the cut reading equals the model's own
        args.hidden, args.epochs, args.batch_size, args.rows = 16, 1, 50, [28]
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


def train_model(name: str, args, train_data, val_data, test_data) -> dict:
    m = model(name, args, train_data[0].shape[1:])
    opt = optax.adam(args.lr)
    ts = train.init_train_state(m, opt, jax.random.key(args.seed), (1, *train_data[0].shape[1:]))
    train_step, eval_step = train.make_steps(m, opt, losses.softmax_cross_entropy,
                                             metrics={"accuracy": metrics.accuracy})
    eval_batch = 100 if args.quick else 1000   # one eval shape for validation and test
    started = time.perf_counter()
    ts, history = train.fit(ts, train_step, train_data, epochs=args.epochs,
                            batch_size=args.batch_size, val_data=val_data, eval_step=eval_step,
                            verbose=0 if args.quick else 2, steps_per_call=1 if args.quick else 4,
                            eval_batch_size=eval_batch)
    seconds = time.perf_counter() - started
    test = train.evaluate(ts, eval_step, test_data, batch_size=eval_batch)
    times = history["epoch_time"]
    result = {"architecture": ARCHITECTURES[name] if not (args.quick and name == "cnn")
              else "fashion_cnn(widths=(8,), dense=32)",
              "test_accuracy": float(test["accuracy"]), "test_loss": float(test["loss"]),
              "seconds": round(seconds, 1), "seconds_first_epoch": round(times[0], 1),
              "seconds_per_epoch": round(sum(times[1:]) / len(times[1:]), 1) if len(times) > 1
              else round(times[0], 1),
              "parameters": int(sum(a.size for a in jax.tree.leaves(ts.params))),
              "history": {k: history[k] for k in ("loss", "accuracy", "val_loss", "val_accuracy",
                                                   "epoch_time")}}
    if name == "lstm":
        result["accuracy_last_rows"] = last_rows_accuracy(args, ts.params, *test_data)
    print(f"{name:5s} test accuracy {result['test_accuracy']:.4f}  "
          f"{result['seconds_per_epoch']} s/epoch  ({result['parameters']} parameters)")
    return result


def last_rows_accuracy(args, params, x, y, rows=None) -> dict:
    """Test accuracy of the trained LSTM reading only the last k rows of each image (from a
    zero carry), for each k of `rows` (default --rows): how much of its answer needs the rows
    it has to remember; k = 28 is the model itself."""
    cell, head = nn.LSTMCell(args.hidden), nn.Dense(10)

    @partial(jax.jit, static_argnums=2)
    def predict(params, xb, k):
        _, ys = nn.scan_cell(cell, params["lstm"], xb[:, -k:, :, 0])
        return jax.numpy.argmax(head.apply(params["head"], {}, ys[:, -1])[0], axis=-1)

    out = {}
    for k in rows or args.rows:
        predicted = np.concatenate([np.asarray(predict(params, x[i:i + 1000], k))
                                    for i in range(0, len(x), 1000)])
        out[str(k)] = float(np.mean(predicted == y))
    return out


def table(results: dict) -> str:
    rows = ["| model | parameters | test accuracy | s/epoch | first epoch s (with compile) |",
            "|---|---|---|---|---|"]
    for name, r in results.items():
        rows.append(f"| {name} | {r['parameters']:,} | {r['test_accuracy']:.4f} | "
                    f"{r['seconds_per_epoch']} | {r['seconds_first_epoch']} |")
    return "\n".join(rows) + "\n"


def plot_curves(results: dict, path: Path) -> Path:
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(16, 4))
    for name, r in results.items():
        epochs = range(1, len(r["history"]["val_accuracy"]) + 1)
        ax[0].plot(epochs, r["history"]["val_accuracy"], "o-", label=name)
        ax[1].plot(epochs, r["history"]["loss"], "o-", label=name)
    for a in ax:
        a.xaxis.get_major_locator().set_params(integer=True)
    ax[0].set(xlabel="epoch", ylabel="validation accuracy", title="Fashion-MNIST: LSTM over rows vs CNN")
    ax[1].set(xlabel="epoch", ylabel="training loss", title="training loss")
    rows = results.get("lstm", {}).get("accuracy_last_rows", {})
    ax[2].plot([int(k) for k in rows], list(rows.values()), "o-", label="LSTM, last k rows")
    ax[2].axhline(0.1, color="gray", linestyle="--", label="chance")
    ax[2].set(xlabel="k (rows read, from the bottom)", ylabel="test accuracy",
              title="the trained LSTM reading only the last k rows")
    return finish_figure(fig, path, grid=ax, legend=ax)


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    out_dir = Path(args.out)
    train_data, val_data, test_data, name = load_images(args.quick, seed=args.seed)
    results = {m: train_model(m, args, train_data, val_data, test_data) for m in args.models}
    verdict = {}
    if set(MODELS) <= set(results):
        lstm, cnn = results["lstm"], results["cnn"]
        verdict = {"lstm_minus_cnn_accuracy": round(lstm["test_accuracy"] - cnn["test_accuracy"], 4),
                   "lstm_over_cnn_seconds_per_epoch": round(lstm["seconds_per_epoch"]
                                                            / cnn["seconds_per_epoch"], 2),
                   "lstm_learns": lstm["test_accuracy"] > 0.5}
    write_table(out_dir, table(results))
    out = {"settings": settings(args), "dataset": name, "n_train": len(train_data[0]),
           "n_val": len(val_data[0]), "n_test": len(test_data[0]), "models": results,
           "verdicts": verdict}
    save_results(out_dir, out, started=started)
    plot_curves(results, out_dir / "sequential_fashion_curves.png")
    return out


if __name__ == "__main__":
    main()
