"""Quickstart: train the small CNN on Fashion-MNIST with a jitted step (what `make demo` runs).

    python experiments/quickstart.py            # full run: 55k train / 5k validation / 10k test
    python experiments/quickstart.py --quick    # 400 / 200 / 200 examples, 1 epoch (used by tests)

Model: `jdl.models.fashion_cnn()` (conv-BN-ReLU-pool x2, dense 128, dropout 0.25, dense 10).
Optimizer: Adam with a cosine-decayed learning rate (Optax). Data: the IDX files of Debian's
`dataset-fashion-mnist` package (or $JDL_DATA_DIR/fashion-mnist); if they are absent it trains
on scikit-learn's bundled 8x8 `digits` instead and says so.

Writes `<out>/metrics.json` (history, test accuracy, timings, settings) and
`<out>/learning_curves.png`. Result on the 2-core CPU machine: see README.md.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import jax
import optax

import jdl
from jdl import data, losses, metrics, models, train, viz
from jdl.io import write_json


def load_data(quick: bool, seed: int):
    """Fashion-MNIST if installed, else digits; scaled to [0, 1] float32, NHWC."""
    name = "fashion_mnist" if data.available("fashion_mnist") else "digits"
    if name == "digits":
        print("Fashion-MNIST not found (install Debian's dataset-fashion-mnist or put the IDX files "
              "in $JDL_DATA_DIR/fashion-mnist): training on scikit-learn's 8x8 digits instead.")
    splits = data.load(name)
    x, y = splits["train"]
    x_test, y_test = splits["test"]
    val_size = 5000 if name == "fashion_mnist" else 200
    if quick:  # val and test of one size: the eval step compiles once
        x, y, x_test, y_test, val_size = x[:600], y[:600], x_test[:200], y_test[:200], 200
    (x_train, y_train), (x_val, y_val) = data.train_val_split(x, y, val_size, seed=seed)
    prep = lambda a: data.scale(a).astype("float32")  # noqa: E731
    return name, (prep(x_train), y_train), (prep(x_val), y_val), (prep(x_test), y_test)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak Adam learning rate")
    parser.add_argument("--dropout", type=float, default=0.25, help="dropout rate before the last layer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny run for smoke tests")
    parser.add_argument("--out", type=Path, default=Path("results/quickstart"))
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs = min(args.epochs, 1)

    t0 = time.perf_counter()
    name, train_data, val_data, test_data = load_data(args.quick, args.seed)
    print(f"data: {name}, train {train_data[0].shape}, val {val_data[0].shape}, "
          f"test {test_data[0].shape} ({time.perf_counter() - t0:.1f} s)")

    model = models.fashion_cnn(num_classes=10, dropout=args.dropout)
    steps = args.epochs * (len(train_data[0]) // args.batch_size)
    optimizer = optax.adam(optax.cosine_decay_schedule(args.lr, max(steps, 1)))
    ts = train.init_train_state(model, optimizer, jax.random.key(args.seed), (1, *train_data[0].shape[1:]))
    train_step, eval_step = train.make_steps(model, optimizer, losses.softmax_cross_entropy,
                                             metrics={"accuracy": metrics.accuracy})
    t1 = time.perf_counter()
    ts, history = train.fit(ts, train_step, train_data, epochs=args.epochs,
                            batch_size=args.batch_size, val_data=val_data, eval_step=eval_step,
                            verbose=args.verbose,
                            steps_per_call=1 if args.quick else 4)  # quick: a smaller compile
    train_time = time.perf_counter() - t1
    test = train.evaluate(ts, eval_step, test_data)
    print(f"test: loss {test['loss']:.4f}  accuracy {test['accuracy']:.4f}  "
          f"(training {train_time:.1f} s, total {time.perf_counter() - t0:.1f} s)")

    result = {
        "dataset": name, "test_accuracy": test["accuracy"], "test_loss": test["loss"],
        "history": history, "train_seconds": train_time,
        "total_seconds": time.perf_counter() - t0,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "versions": {"jdl": jdl.__version__, "jax": jax.__version__, "optax": optax.__version__,
                     "python": platform.python_version()},
        "device": str(jax.devices()[0]), "command": " ".join(sys.argv),
    }
    write_json(args.out / "metrics.json", result)
    viz.plot_history(history, args.out / "learning_curves.png",
                     title=f"fashion_cnn on {name}: test accuracy {test['accuracy']:.4f}")
    print(f"wrote {args.out / 'metrics.json'} and {args.out / 'learning_curves.png'}")
    return result


if __name__ == "__main__":
    main()
