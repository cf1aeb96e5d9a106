"""DCGAN on Fashion-MNIST: samples per epoch from a fixed noise batch, both players' losses, and
a quality proxy from a jdl-trained classifier (its confidence and the spread of its classes).

    python experiments/dcgan.py            # full: 20,000 training images, 10 epochs, f = 16, 3 seeds
    python experiments/dcgan.py --quick    # 600 images, 1 epoch, f = 4, 2 seeds (the tests)

Claim (Loo's *Deep Learning*, "Generative Network" / "Generative Adversarial Network", and
Salakhutdinov's *Deep Learning Essentials*, "Statistical Generative Models" / "Generative
Adversarial Networks", whose "Model Samples (Karras et.al., 2018)" show "4 years of progression
on Faces"): a generator trained against a discriminator learns to produce new images that
resemble the training data.

Method: `models.dcgan_generator` / `models.dcgan_discriminator` (base_filters f) on images
scaled to [-1, 1] (tanh output), trained by `train.make_gan_step` under `train.fit` (one D
update, then one G update per batch; Adam 2e-4, b1 = 0.5; one-sided label smoothing 0.1; the
non-saturating generator loss; z ~ N(0, I) of size 64). `train.SampleGrid` keeps G(z) of a fixed
batch of 512 z after every epoch. Quality proxy: a classifier trained here on the real
training images (`models.fashion_cnn`, 2 epochs; a small MLP in --quick mode) labels those
samples: its mean confidence (max softmax probability) and the spread of its predicted
classes (counts, and their entropy in nats: log 10 = 2.30 for a uniform spread, 0 when
every sample gets one class, the signature of mode collapse), against the same numbers on
512 real test images. Full mode uses a 20,000-image subset and f = 16 (the paper: 64+) to fit
in 10 minutes on a 2-core CPU. `--seeds N` GANs (seeds --seed, --seed+1, ...: new G and D
weights, shuffling and fixed z; one compiled step reused) are judged by ONE classifier and one
data subset (drawn from --seed); the numbers compared are mean +- sd over the seeds, and each
verdict follows the spread rule (`exceeds_spread`). Curves and pictures: the first seed.

Writes `<out>/metrics.json`, dcgan_samples.png (the fixed batch after each epoch),
dcgan_losses.png (D and G losses and D's outputs per epoch), dcgan_quality.png (the proxy per
epoch and the class counts of generated and real images).
"""
from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import (add_seeds_argument, exceeds_spread, finish_figure, format_mean_sd,
                     load_images, mean_sd, over_seeds, parser, save_results, seeds_of, settings,
                     with_seed, write_table)

from jdl import losses, metrics, models, nn, train, viz

NUM_CLASSES = 10
LOGS = ("d_loss", "g_loss", "d_real", "d_fake")
PROXY = ("mean_confidence", "entropy", "normalized_entropy")
KEYS = (*(f"{e}.{k}" for e in ("first", "last") for k in (*LOGS, *PROXY)),)


def parse_args(argv=None):
    p = parser("dcgan", __doc__.splitlines()[0])
    p.add_argument("--train-size", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--base-filters", type=int, default=16)
    p.add_argument("--latent", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--classifier-epochs", type=int, default=2)
    p.add_argument("--n-eval", type=int, default=512, help="samples and real images in the proxy")
    add_seeds_argument(p)
    args = p.parse_args(argv)
    if args.quick:
        args.train_size, args.epochs, args.base_filters = 600, 1, 4
        args.classifier_epochs, args.n_eval, args.seeds = 2, 128, 2
    if args.seeds < 1:
        p.error(f"--seeds: expected at least 1, got {args.seeds}")
    return args


def class_spread(predicted, num_classes: int = NUM_CLASSES) -> dict:
    """Counts of the predicted classes, their entropy in nats (0: all one class; log K: uniform)
    and that entropy divided by log K."""
    counts = np.bincount(np.asarray(predicted, int), minlength=num_classes)
    p = counts / max(counts.sum(), 1)
    entropy = max(0.0, float(-np.sum(p[p > 0] * np.log(p[p > 0]))))  # no -0.0
    return {"counts": counts.tolist(), "entropy": entropy,
            "normalized_entropy": entropy / float(np.log(num_classes))}


def quality(probs: np.ndarray) -> dict:
    """The proxy on softmax outputs (n, K): mean confidence and the class spread."""
    probs = np.asarray(probs)
    return {"mean_confidence": float(probs.max(axis=1).mean()),
            **class_spread(probs.argmax(axis=1), probs.shape[1])}


def mosaic(images: np.ndarray, columns: int) -> np.ndarray:
    """(n, h, w[, 1]) images tiled row by row into one (rows * h, columns * w) array."""
    images = np.asarray(images).reshape(len(images), *np.shape(images)[1:3])
    rows = -(-len(images) // columns)
    pad = np.zeros((rows * columns - len(images), *images.shape[1:]), images.dtype)
    tiles = np.concatenate([images, pad]).reshape(rows, columns, *images.shape[1:])
    return tiles.transpose(0, 2, 1, 3).reshape(rows * images.shape[1], columns * images.shape[2])


def train_classifier(args, train_data, test_data):
    """The judge: `fashion_cnn` (an MLP in --quick mode) on [0, 1] images; returns
    `probs(x) -> softmax (n, 10)` and its test accuracy."""
    model = (nn.serial(("flatten", nn.Flatten()), ("hidden", nn.Dense(64, w_init="he")),
                       ("relu", nn.Relu()), ("out", nn.Dense(NUM_CLASSES)))
             if args.quick else models.fashion_cnn())
    opt = optax.adam(1e-3)
    ts = train.init_train_state(model, opt, jax.random.key(args.seed + 7), (1, 28, 28, 1))
    step, eval_step = train.make_steps(model, opt, losses.softmax_cross_entropy,
                                       metrics={"accuracy": metrics.accuracy})
    ts, _ = train.fit(ts, step, train_data, epochs=args.classifier_epochs, batch_size=64,
                      verbose=0, steps_per_call=1 if args.quick else 4)
    accuracy = train.evaluate(ts, eval_step, test_data, batch_size=500)["accuracy"]
    apply = jax.jit(lambda x: jax.nn.softmax(model.apply(ts.params, ts.state, x)[0]))
    print(f"classifier test accuracy {accuracy:.4f}")
    return (lambda x: np.asarray(apply(jnp.asarray(x)))), accuracy


def build_gan(args) -> tuple:
    """(G, D, compiled GAN step): built once, so every seed reuses the compiled programs."""
    G = models.dcgan_generator(base_filters=args.base_filters)
    D = models.dcgan_discriminator(base_filters=args.base_filters)
    g_opt, d_opt = optax.adam(args.lr, b1=0.5), optax.adam(args.lr, b1=0.5)
    step = train.make_gan_step(G, D, g_opt, d_opt, latent_dim=args.latent,
                               label_smoothing=args.label_smoothing)
    return G, D, g_opt, d_opt, step


def train_gan(args, x_train, gan) -> tuple[dict, list]:
    """Train the DCGAN (seed `args.seed`: weights, shuffling, fixed z) on images in [-1, 1];
    return the per-epoch logs (shorter if the non-finite guard stopped it) and the samples."""
    G, D, g_opt, d_opt, step = gan
    gs = train.init_gan_state(G, D, g_opt, d_opt, jax.random.key(args.seed),
                              latent_dim=args.latent, image_shape=(1, 28, 28, 1))
    grid = train.SampleGrid(G, jax.random.normal(jax.random.key(args.seed + 1),
                                                 (args.n_eval, args.latent)))
    started = time.perf_counter()
    gs, history = train.fit(gs, step, (x_train, np.zeros(len(x_train), np.int32)),
                            epochs=args.epochs, batch_size=args.batch_size, callbacks=[grid],
                            verbose=0, steps_per_call=1 if args.quick else 4)
    seconds = time.perf_counter() - started
    history = {k: [float(v) for v in history.get(k, [])] for k in LOGS}
    print(f"GAN seed {args.seed}: {len(history['d_loss'])} epochs in {seconds:.0f} s; last "
          f"d_loss {history['d_loss'][-1:]}, g_loss {history['g_loss'][-1:]}")
    return {**history, "seconds": round(seconds, 1)}, grid.samples


def seed_record(args, x_gan, gan, probs) -> tuple[dict, list]:
    """One seed: its history, the proxy per epoch, and "first"/"last": losses and proxy after
    epoch 1 and after the last epoch (None where the run diverged before it)."""
    history, samples = train_gan(args, x_gan, gan)
    per_epoch = [quality(probs((images + 1.0) / 2.0)) for _, images in samples]
    done = all(len(history[k]) == args.epochs and np.isfinite(history[k]).all() for k in LOGS)
    done = done and len(per_epoch) == args.epochs

    def at(i: int) -> dict:
        return {**{k: history[k][i] if done else None for k in LOGS},
                **{k: per_epoch[i][k] if done else None for k in PROXY}}
    return {"seed": args.seed, "diverged": not done, "history": history,
            "quality_per_epoch": per_epoch, "quality_generated": per_epoch[-1] if done else None,
            "first": at(0), "last": at(-1),
            "generated_range": [float(samples[-1][1].min()), float(samples[-1][1].max())]
            if samples else None}, samples


def compare(a: dict, b: dict) -> str | None:
    """'higher' / 'lower' (a against b) when the gap exceeds sd_a + sd_b, else 'within noise'."""
    beyond = exceeds_spread(a, b)
    if beyond is None:
        return None
    return ("higher" if a["mean"] > b["mean"] else "lower") if beyond else "within noise"


def verdicts(stats: dict, real: dict) -> dict:
    """Last epoch against epoch 1 (every logged number and proxy) and generated against the one
    judged set of real images (sd 0), each by the spread rule; and the claim's verdict."""
    out = {f"{k} last vs first": compare(stats[f"last.{k}"], stats[f"first.{k}"])
           for k in (*LOGS, *PROXY)}
    out.update({f"{k} generated vs real": compare(stats[f"last.{k}"], mean_sd([real[k]]))
                for k in PROXY})
    rose = out["mean_confidence last vs first"] == "higher"
    spread = out["normalized_entropy generated vs real"]
    out["claim"] = ("not shown" if not rose or spread is None else
                    "held" if spread != "lower" else "held in part (narrower spread than real)")
    return out


def results_table(stats: dict, real: dict, verdict: dict, epochs: int, n: int) -> str:
    """Markdown: each number after epoch 1 and the last epoch (mean ± sd over n seeds), the real
    images' value and the verdicts."""
    names = {"d_loss": "D loss", "g_loss": "G loss", "d_real": "D(real)", "d_fake": "D(G(z))",
             "mean_confidence": "judge's confidence", "entropy": "class entropy (nats)",
             "normalized_entropy": "class entropy / log 10"}
    lines = [f"| mean ± sd over {n} seeds | epoch 1 | epoch {epochs} | real test images | "
             f"epoch {epochs} vs 1 | generated vs real |", "|---|---|---|---|---|---|"]
    for k, name in names.items():
        cells = [format_mean_sd(stats[f"{e}.{k}"], 3, none="diverged", some="finite")
                 for e in ("first", "last")]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | "
                     f"{f'{real[k]:.3f}' if k in PROXY else ''} | {verdict[f'{k} last vs first']} | "
                     f"{verdict.get(f'{k} generated vs real', '')} |")
    return "\n".join(lines) + f"\n\nClaim: {verdict['claim']}.\n"


def plot_samples(samples: list, path: Path, per_epoch: int = 16) -> Path:
    plt = viz.pyplot()
    columns = min(len(samples), 5)
    rows = -(-len(samples) // columns)
    fig, ax = plt.subplots(rows, columns, figsize=(3 * columns, 3 * rows), squeeze=False)
    for a in ax.flat:
        a.axis("off")
    for a, (epoch, images) in zip(ax.flat, samples):
        a.imshow(mosaic((images[:per_epoch] + 1) / 2, 4), cmap="gray", vmin=0, vmax=1)
        a.set_title(f"epoch {epoch + 1}", fontsize=9)
    return finish_figure(fig, path, "G(z) for a fixed z after each epoch")


def plot_losses(history: dict, path: Path) -> Path:
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    epochs = np.arange(1, len(history["d_loss"]) + 1)
    for k in ("d_loss", "g_loss"):
        ax[0].plot(epochs, history[k], marker=".", label=k)
    for k in ("d_real", "d_fake"):
        ax[1].plot(epochs, history[k], marker=".", label=k)
    ax[0].set(xlabel="epoch", ylabel="mean loss (nats)", title="losses")
    ax[1].set(xlabel="epoch", ylabel="mean D(x)", ylim=(0, 1), title="D's probability of 'real'")
    return finish_figure(fig, path, "DCGAN training", grid=ax, legend=ax)


def plot_quality(per_epoch: list, final: dict, real: dict, path: Path) -> Path:
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(12, 4))
    epochs = np.arange(1, len(per_epoch) + 1)
    for key, colour in (("mean_confidence", "C0"), ("normalized_entropy", "C1")):
        ax[0].plot(epochs, [q[key] for q in per_epoch], marker=".", color=colour,
                   label=f"generated: {key}")
        ax[0].axhline(real[key], color=colour, ls="--", label=f"real: {key}")
    ax[0].set(xlabel="epoch", ylim=(0, 1.05), title="classifier on generated vs real")
    width = 0.4
    ax[1].bar(np.arange(NUM_CLASSES) - width / 2, final["counts"], width, label="generated")
    ax[1].bar(np.arange(NUM_CLASSES) + width / 2, real["counts"], width, label="real test")
    ax[1].set(xlabel="predicted class", ylabel="count", xticks=range(NUM_CLASSES),
              title="predicted classes after the last epoch")
    return finish_figure(fig, path, "Quality proxy", grid=ax, legend=ax)


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    (x_tr, y_tr), _, (x_te, y_te), name = load_images(args.quick, train_size=args.train_size,
                                                      seed=args.seed)
    probs, accuracy = train_classifier(args, (x_tr, y_tr), (x_te, y_te))
    real = quality(probs(x_te[:args.n_eval]))
    gan, seeds = build_gan(args), seeds_of(args)
    runs = [seed_record(with_seed(args, s), x_tr * 2.0 - 1.0, gan, probs) for s in seeds]
    first = over_seeds([r for r, _ in runs], KEYS, seeds)
    stats, samples = first["over_seeds"], runs[0][1]
    verdict = verdicts(stats, real)
    out = {"settings": settings(args), "data": name, "n_train": int(len(x_tr)),
           "classifier": {"kind": "mlp" if args.quick else "fashion_cnn",
                          "test_accuracy": accuracy, "seed": args.seed},
           **first, "quality_real": real, "verdicts": verdict,
           "diverged_seeds": [r["seed"] for r, _ in runs if r["diverged"]],
           "per_seed": [{k: r[k] for k in ("seed", "first", "last")} for r, _ in runs]}
    write_table(args.out, results_table(stats, real, verdict, args.epochs, len(seeds)))
    save_results(args.out, out, started=started)
    plot_samples(samples, args.out / "dcgan_samples.png")
    plot_losses(first["history"], args.out / "dcgan_losses.png")
    if first["quality_generated"] is not None:
        plot_quality(first["quality_per_epoch"], first["quality_generated"], real,
                     args.out / "dcgan_quality.png")
    return out


if __name__ == "__main__":
    main()
