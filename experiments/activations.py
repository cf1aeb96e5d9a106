"""Activations in a deep MLP (Loo, COMP9321, Senk, *Engineering Deep Learning*): sigmoid, tanh,
ReLU, leaky ReLU and ELU; per-layer gradient norms (vanishing gradients), accuracy, and dead ReLUs.

    python experiments/activations.py            # full run: about 4 min on the 2-core CPU
    python experiments/activations.py --quick    # seconds: 3 Dense layers of 32, tiny data (the test)

The claims: sigmoid'(z) <= 1/4, so backpropagation multiplies the error by a factor below 1/4 per
sigmoid layer and the gradient of the first layers of a deep sigmoid net vanishes (*Engineering Deep
Learning*, "Vanishing Gradients"; Senk's saturation quiz); tanh saturates too, ReLU does not
saturate for z > 0 (Loo, Senk) but a unit whose input is negative on every example has a zero
gradient: it "dies" (Senk; "Good that we have many data points, so it can come back “alive”"); leaky
ReLU (slope 0.01) and ELU keep a gradient for z < 0 (Loo, Senk, *Engineering Deep Learning*).

Method: the same MLP (`--depth` Dense layers, `--width` units each, Glorot-uniform weights,
zero biases, one seed) with each activation, trained by SGD with momentum on Fashion-MNIST
with softmax cross-entropy. On a fixed probe batch of `--probe-size` training examples,
before and after training:
  grad_norms[l]      ||dL/dW_l||_F for each Dense layer l (0 = next to the input);
  never_positive[l]  the fraction of hidden units of layer l whose pre-activation z <= 0 on
                     every probe example. For ReLU these units are dead (gradient exactly 0
                     on the whole batch); for leaky ReLU and ELU they still pass a small
                     gradient; for sigmoid and tanh the number is reported but means little.
Recorded: the per-epoch history, test accuracy, and the above.

Writes <out>/metrics.json, <out>/grad_norms.png and <out>/training.png.
"""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import finish_figure, load_images, parser, save_results

from jdl import activations, losses, metrics, models, train, viz

ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "elu"]


def pre_activations(params, x, activation, depth):
    """The hidden pre-activations z_l (one per hidden layer) and the logits, by hand."""
    g, a, zs = activations.get(activation), x.reshape(len(x), -1), []
    for i in range(depth):
        z = a @ params[f"dense_{i}"]["w"] + params[f"dense_{i}"]["b"][None]
        if i < depth - 1:
            zs.append(z)
            a = g(z)
    return zs, z


def make_probe(model, activation, depth):
    """A jitted `probe(ts, x, y)`: per-layer weight-gradient norms and never-positive fractions."""
    @jax.jit
    def measure(params, state, x, y):
        def loss(params):
            logits, _ = model.apply(params, state, x, train=False)
            return jnp.mean(losses.softmax_cross_entropy(logits, y)), logits

        grads, reference = jax.grad(loss, has_aux=True)(params)
        zs, logits = pre_activations(params, x, activation, depth)
        norms = jnp.stack([jnp.linalg.norm(grads[f"dense_{i}"]["w"]) for i in range(depth)])
        never_positive = jnp.stack([jnp.mean(jnp.all(z <= 0, axis=0)) for z in zs])
        return norms, never_positive, logits, reference

    def probe(ts, x, y):
        norms, never_positive, logits, reference = measure(ts.params, ts.state, x, y)
        np.testing.assert_allclose(logits, reference, rtol=1e-4, atol=1e-4)  # by hand == model
        return {"grad_norms": np.asarray(norms).tolist(),
                "never_positive": np.asarray(never_positive).tolist(),
                "never_positive_total": float(np.mean(never_positive))}

    return probe


def mlp_for(activation, args):
    return models.mlp([args.width] * (args.depth - 1) + [10], activation, w_init=args.init)


def run(activation, args, train_data, val_data, test_data, init_model=None):
    """Train and probe one activation. `init_model` (--quick): another model of the same shape
    whose compiled init draws the weights for every activation; they are the same weights
    either way (an activation has no parameters), but the init compiles once, not per run."""
    model = mlp_for(activation, args)
    optimizer = optax.sgd(args.lr, momentum=args.momentum)
    ts = train.init_train_state(init_model or model, optimizer, jax.random.key(args.seed),
                                train_data[0][:1].shape)
    train_step, eval_step = train.make_steps(model, optimizer, losses.softmax_cross_entropy,
                                             metrics={"accuracy": metrics.accuracy})
    probe = make_probe(model, activation, args.depth)
    x_probe, y_probe = train_data[0][:args.probe_size], train_data[1][:args.probe_size]
    at_init = probe(ts, x_probe, y_probe)
    eval_batch = 100 if args.quick else 1000  # quick: one eval shape for val (200) and test (300)
    t0 = time.perf_counter()
    ts, history = train.fit(ts, train_step, train_data, epochs=args.epochs,
                            batch_size=args.batch_size, val_data=val_data, eval_step=eval_step,
                            verbose=args.verbose, eval_batch_size=eval_batch,
                            steps_per_call=1 if args.quick else 4)  # quick: a smaller compile
    seconds = time.perf_counter() - t0
    trained = probe(ts, x_probe, y_probe)
    test = train.evaluate(ts, eval_step, test_data, batch_size=eval_batch)
    g0, g1 = at_init["grad_norms"], trained["grad_norms"]
    print(f"{activation:10s} test acc {test['accuracy']:.4f}  |dW_0|/|dW_last| at init "
          f"{g0[0] / g0[-1]:.2e}, trained {g1[0] / g1[-1]:.2e}  never positive: init "
          f"{at_init['never_positive_total']:.3f}, trained {trained['never_positive_total']:.3f}"
          f"  ({seconds:.1f} s)")
    return {"init": at_init, "trained": trained, "history": history,
            "test_accuracy": test["accuracy"], "test_loss": test["loss"], "train_seconds": seconds}


def plot_grad_norms(runs, path, title):
    plt = viz.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, when in zip(axes, ("init", "trained")):
        for name, r in runs.items():
            norms = r[when]["grad_norms"]
            ax.plot(range(len(norms)), norms, marker="o", ms=3, label=name)
        ax.set(xlabel="Dense layer (0 = input side)", yscale="log",
               title="at initialization" if when == "init" else "after training")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("||dL/dW|| on the probe batch")
    axes[0].legend(fontsize=8)
    fig.suptitle(title, y=1.03)
    return viz.save_figure(fig, path)


def plot_training(runs, path, title):
    plt = viz.pyplot()
    fig, (ax_a, ax_d) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, r in runs.items():
        acc = r["history"]["val_accuracy"]
        ax_a.plot(range(1, len(acc) + 1), acc, marker="o", ms=3, label=name)
        if name in ("relu", "leaky_relu", "elu"):
            frac = r["trained"]["never_positive"]
            ax_d.plot(range(len(frac)), frac, marker="o", ms=3, label=f"{name}, trained")
    if "relu" in runs:
        frac = runs["relu"]["init"]["never_positive"]
        ax_d.plot(range(len(frac)), frac, "k:", marker="x", ms=3, label="relu, init")
    ax_a.set(xlabel="epoch", ylabel="validation accuracy", ylim=(0, 1))
    ax_d.set(xlabel="hidden layer", ylabel="units with z <= 0 on every probe example")
    return finish_figure(fig, path, title, grid=(ax_a, ax_d), legend=(ax_a, ax_d), title_y=1.03)


def main(argv=None) -> dict:
    p = parser("activations", __doc__.splitlines()[0])
    p.add_argument("--activations", default=",".join(ACTIVATIONS),
                   help=f"comma-separated, from {ACTIVATIONS}")
    p.add_argument("--depth", type=int, default=10, help="number of Dense layers")
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--init", default="glorot", help="weight initializer (jdl.initializers name)")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--probe-size", type=int, default=1000)
    p.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    args = p.parse_args(argv)
    names = args.activations.split(",")
    if not set(names) <= set(ACTIVATIONS) or args.depth < 2:
        p.error(f"--activations: expected names from {ACTIVATIONS}; --depth: at least 2")
    if args.quick:
        args.epochs, args.verbose, args.probe_size = min(args.epochs, 1), 0, 200
        args.depth, args.width = min(args.depth, 3), min(args.width, 32)
    started = time.perf_counter()

    train_data, val_data, test_data, dataset = load_images(args.quick, seed=args.seed, flatten=True)
    print(f"{dataset}: {args.depth} Dense layers of {args.width}, init {args.init}, SGD lr "
          f"{args.lr} momentum {args.momentum}, batch {args.batch_size}, {args.epochs} epochs")
    init_model = mlp_for(names[0], args) if args.quick else None  # quick: one init compile
    runs = {name: run(name, args, train_data, val_data, test_data, init_model) for name in names}

    result = {
        "dataset": dataset, "depth": args.depth, "width": args.width,
        "test_accuracy": {n: r["test_accuracy"] for n, r in runs.items()},
        "dead_relu_fraction": ({"init": runs["relu"]["init"]["never_positive_total"],
                                "trained": runs["relu"]["trained"]["never_positive_total"]}
                               if "relu" in runs else None),
        "runs": runs,
        "settings": {k: str(v) if not isinstance(v, (int, float, bool)) else v
                     for k, v in vars(args).items()},
    }
    title = f"{args.depth}-layer MLP (width {args.width}, {args.init} init) on {dataset}"
    plot_grad_norms(runs, args.out / "grad_norms.png", title)
    plot_training(runs, args.out / "training.png", title)
    save_results(args.out, result, started=started)
    return result


if __name__ == "__main__":
    main()
