"""Shifted test images: an MLP, whose every pixel has its own weight, against a CNN with pooling.

    python experiments/shift_robustness.py            # full: 3 seeds of each, 5 epochs
    python experiments/shift_robustness.py --quick    # seconds (the test)

Claims (*Engineering Deep Learning*, "Challenges" of fully connected networks on images: "Each
pixel has its own associated weight. Small shifts in image can result in large change in
prediction."; Salakhutdinov, *Deep Learning Essentials*, on pooling: "Make the detection robust
to the exact location of the eye").

Method: an MLP 784-256-128-10 (ReLU) and `models.fashion_cnn` (conv3x3-BN-ReLU-maxpool2 twice,
dense 128, dropout 0.25), each trained on the unshifted Fashion-MNIST training images
(`--seeds` seeds, one after another, Adam 1e-3, batch 128, `--epochs` epochs). Then
both read the test images shifted by s = 1 to `--max-shift` pixels up, down, left and right
(`data.translate`, the uncovered border black, as the images' background). Reported per
model and shift: the test accuracy (mean over the four directions, then mean ± sd over the
seeds), and the fraction of test images whose predicted class changes from the unshifted
image's.

Writes `<out>/metrics.json`, `<out>/table.md` and `<out>/shift_robustness.png`.
"""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import finish_figure, load_images, parser, save_results, settings as _settings, write_table

from jdl import data, losses, metrics, models, train, viz

DIRECTIONS = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}


def parse_args(argv=None):
    p = parser("shift_robustness", __doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--max-shift", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=128)
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs, args.max_shift = 2, 1, 2
    return args


def build(name: str, quick: bool):
    if name == "mlp":
        return models.mlp([32, 10] if quick else [256, 128, 10], "relu")
    return models.fashion_cnn(widths=(4, 8), dense=16) if quick else models.fashion_cnn()


def shifted(x: np.ndarray, dy: int, dx: int) -> jax.Array:
    """Every image of `x (N, H, W, C)` moved by (dy, dx) pixels, the border filled with 0."""
    return jax.vmap(lambda img: data.translate(img, dy, dx))(jnp.asarray(x))


def train_model(name: str, train_data, val, args):
    """`--seeds` lone runs of one model (`train.fit`, one after another: a vmapped population of
    convolutional nets runs as grouped convolutions, which XLA:CPU executes far slower)."""
    model = build(name, args.quick)
    optimizer = optax.adam(1e-3)
    train_step, eval_step = train.make_steps(model, optimizer, losses.softmax_cross_entropy,
                                             metrics={"accuracy": metrics.accuracy})
    runs, started = [], time.perf_counter()
    for seed in range(args.seed, args.seed + args.seeds):
        ts = train.init_train_state(model, optimizer, jax.random.key(seed),
                                    (1, *train_data[0].shape[1:]))
        ts, history = train.fit(ts, train_step, train_data, epochs=args.epochs,
                                batch_size=args.batch_size, val_data=val, eval_step=eval_step,
                                verbose=0, eval_batch_size=100 if args.quick else 1000,
                                steps_per_call=1 if args.quick else 4)
        runs.append((ts, float(np.asarray(history["val_accuracy"])[-1])))
    return model, runs, time.perf_counter() - started


def predictions(model, ts, x, batch: int) -> np.ndarray:
    """Predicted classes of one trained model: (N,) (`train.predict` keeps one compiled
    forward program per model)."""
    return np.asarray(jnp.argmax(train.predict(model, ts, x, batch_size=batch), -1))


def evaluate_shifts(model, runs, test, args) -> dict:
    """Per shift s: accuracy and changed-prediction fraction per seed (mean of 4 directions)."""
    x, y = test
    batch = 100 if args.quick else 1000
    states = [ts for ts, _ in runs]
    base = np.stack([predictions(model, ts, jnp.asarray(x), batch) for ts in states])
    out = {"0": {"accuracy": (base == y).mean(1).tolist(), "changed": [0.0] * len(base)}}
    for s in range(1, args.max_shift + 1):
        acc, changed = [], []
        for dy, dx in DIRECTIONS.values():
            moved = shifted(x, s * dy, s * dx)
            pred = np.stack([predictions(model, ts, moved, batch) for ts in states])
            acc.append((pred == y).mean(1))
            changed.append((pred != base).mean(1))
        out[str(s)] = {"accuracy": np.mean(acc, 0).tolist(), "changed": np.mean(changed, 0).tolist(),
                       "accuracy_by_direction": {d: a.tolist() for d, a in zip(DIRECTIONS, acc)}}
    return out


def table(results: dict, args) -> str:
    shifts = [str(s) for s in range(args.max_shift + 1)]
    ms = lambda v: f"{np.mean(v):.3f} ± {np.std(v, ddof=1) if len(v) > 1 else 0.0:.3f}"  # noqa: E731
    lines = ["| model | measure | " + " | ".join(f"shift {s}" for s in shifts) + " |",
             "|---|---|" + "---|" * len(shifts)]
    for name, r in results.items():
        for key, label in (("accuracy", "test accuracy"), ("changed", "prediction changed")):
            lines.append(f"| {name} | {label} | " + " | ".join(ms(r["shifts"][s][key]) for s in shifts)
                         + " |")
    return "\n".join(lines) + "\n"


def plot(results: dict, test_x: np.ndarray, args):
    plt = viz.pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    shifts = list(range(args.max_shift + 1))
    for (name, r), color in zip(results.items(), ("C0", "C1")):
        for ax, key in zip(axes[:2], ("accuracy", "changed")):
            values = np.array([r["shifts"][str(s)][key] for s in shifts])   # (shifts, seeds)
            ax.errorbar(shifts, values.mean(1), yerr=values.std(1), marker="o", capsize=3,
                        color=color, label=name)
    axes[0].set(xlabel="shift (pixels, mean of 4 directions)", ylabel="test accuracy",
                title="accuracy on shifted test images")
    axes[1].set(xlabel="shift (pixels)", ylabel="fraction of predictions changed",
                title="predictions that change with the shift")
    strip = np.concatenate([np.asarray(shifted(test_x[:1], 0, s))[0, :, :, 0] for s in shifts], 1)
    axes[2].imshow(strip, cmap="gray")
    axes[2].set(title=f"one test image shifted right by {', '.join(map(str, shifts))} px",
                xticks=[], yticks=[])
    return finish_figure(fig, args.out / "shift_robustness.png",
                         "Shifted test images: MLP vs CNN (Fashion-MNIST)", grid=axes[:2],
                         legend=axes[:2])


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    train_data, val, test, dataset = load_images(args.quick, seed=args.seed)
    results = {}
    for name in ("mlp", "cnn"):
        model, runs, seconds = train_model(name, train_data, val, args)
        shifts = evaluate_shifts(model, runs, test, args)
        results[name] = {"seconds": round(seconds, 1), "shifts": shifts,
                         "val_accuracy": [v for _, v in runs]}
        print(f"{name}: " + "  ".join(f"shift {s}: {np.mean(r['accuracy']):.3f}"
                                      for s, r in shifts.items()) + f"  ({seconds:.1f} s)")
    write_table(args.out, table(results, args))
    out = {"settings": _settings(args), "dataset": dataset, "n_train": len(train_data[0]),
           "results": results}
    save_results(args.out, out, started=started)
    plot(results, test[0], args)
    return out


if __name__ == "__main__":
    main()
