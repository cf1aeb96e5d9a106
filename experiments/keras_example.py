"""COMP9321's Keras example (784-500-500-10, sigmoid, MSE, SGD lr 0.1, batch 100, 20 epochs)
against the same network with ReLU and softmax cross-entropy, on Fashion-MNIST.

    python experiments/keras_example.py                  # full run: about 5 min on the 2-core CPU
    python experiments/keras_example.py --variants all   # + the two mixed runs: about 10 min
    python experiments/keras_example.py --quick          # seconds, tiny data (the test suite runs it)

The lecture's Keras code, line by line in jdl:

    Dense(500) sigmoid, Dense(500) sigmoid, Dense(10) softmax   models.mlp([500, 500, 10], "sigmoid",
                                                                           w_init="glorot")
    loss='mse'                       mean_j (softmax(z)_j - onehot(y)_j)^2   (losses.mean_squared_error)
    optimizer=SGD(lr=0.1)            optax.sgd(0.1)
    fit(batch_size=100, nb_epoch=20) train.fit(..., batch_size=100, epochs=20)

Keras' Dense starts from Glorot-uniform weights and zero biases; so does every run here. The
alternative changes the hidden activation to ReLU and the loss to the log-likelihood of the
softmax (Keras' categorical cross-entropy), nothing else. `--variants all` adds the two runs that
change only one of the two (sigmoid + cross-entropy, ReLU + MSE) to tell which change matters.

Writes <out>/metrics.json (per-epoch history, test accuracy of each run) and <out>/curves.png.
"""
from __future__ import annotations

import time

import jax
import optax
from _common import finish_figure, load_images, parser, save_results

from jdl import losses, metrics, models, train, viz


def mse_on_softmax(logits, labels):
    """Keras' loss='mse' after a softmax output layer, on one-hot targets."""
    return losses.mean_squared_error(jax.nn.softmax(logits), jax.nn.one_hot(labels, logits.shape[-1]))


VARIANTS = {  # name -> (hidden activation, loss on the logits)
    "sigmoid_mse": ("sigmoid", mse_on_softmax),                        # the deck's Keras example
    "relu_cross_entropy": ("relu", losses.softmax_cross_entropy),      # the usual fix
    "sigmoid_cross_entropy": ("sigmoid", losses.softmax_cross_entropy),
    "relu_mse": ("relu", mse_on_softmax),
}


def run(name, args, train_data, val_data, test_data):
    activation, loss = VARIANTS[name]
    model = models.mlp([500, 500, 10], activation, w_init="glorot")
    optimizer = optax.sgd(args.lr)
    ts = train.init_train_state(model, optimizer, jax.random.key(args.seed), train_data[0][:1].shape)
    train_step, eval_step = train.make_steps(model, optimizer, loss,
                                             metrics={"accuracy": metrics.accuracy})
    t0 = time.perf_counter()
    # --quick: compilation dominates, so one step per compiled call (not K = 4) and one
    # eval batch shape for the validation and test sets
    quick = {"steps_per_call": 1, "eval_batch_size": 100} if args.quick else {}
    ts, history = train.fit(ts, train_step, train_data, epochs=args.epochs,
                            batch_size=args.batch_size, val_data=val_data, eval_step=eval_step,
                            verbose=args.verbose, **quick)
    seconds = time.perf_counter() - t0
    test = train.evaluate(ts, eval_step, test_data, **({"batch_size": 100} if args.quick else {}))
    print(f"{name:22s} test accuracy {test['accuracy']:.4f}  ({seconds:.1f} s)")
    return {"activation": activation, "loss": "mse" if loss is mse_on_softmax else "cross_entropy",
            "history": history, "test_accuracy": test["accuracy"], "test_loss": test["loss"],
            "train_seconds": seconds}


def plot(runs, path, title):
    plt = viz.pyplot()
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, r in runs.items():
        epochs = range(1, len(r["history"]["loss"]) + 1)
        ax_l.plot(epochs, r["history"]["loss"], marker="o", ms=3, label=name)
        ax_a.plot(epochs, r["history"]["val_accuracy"], marker="o", ms=3, label=name)
    ax_l.set(xlabel="epoch", ylabel="train loss (own scale)", yscale="log")
    ax_a.set(xlabel="epoch", ylabel="validation accuracy", ylim=(0, 1))
    return finish_figure(fig, path, title, grid=(ax_l, ax_a), legend=(ax_l, ax_a), title_y=1.03)


def main(argv=None) -> dict:
    p = parser("keras_example", __doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--variants", default="sigmoid_mse,relu_cross_entropy",
                   help=f"comma-separated names from {sorted(VARIANTS)}, or 'all'")
    p.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    args = p.parse_args(argv)
    names = list(VARIANTS) if args.variants == "all" else args.variants.split(",")
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        p.error(f"--variants: unknown {unknown}; expected names from {sorted(VARIANTS)} or 'all'")
    if args.quick:
        args.epochs, args.verbose = min(args.epochs, 2), 0
    started = time.perf_counter()

    train_data, val_data, test_data, dataset = load_images(args.quick, seed=args.seed, flatten=True)
    n_in = train_data[0].shape[1]
    print(f"{dataset}: train {train_data[0].shape}, {n_in}-500-500-10, SGD lr {args.lr}, "
          f"batch {args.batch_size}, {args.epochs} epochs")
    runs = {name: run(name, args, train_data, val_data, test_data) for name in names}

    result = {
        "dataset": dataset, "sizes": [n_in, 500, 500, 10],
        "test_accuracy": {name: r["test_accuracy"] for name, r in runs.items()},
        "runs": runs,
        "settings": {k: str(v) if not isinstance(v, (int, float, bool)) else v
                     for k, v in vars(args).items()},
    }
    plot(runs, args.out / "curves.png", f"{n_in}-500-500-10 on {dataset}, SGD lr {args.lr}, "
         f"batch {args.batch_size}")
    save_results(args.out, result, started=started)
    return result


if __name__ == "__main__":
    main()
