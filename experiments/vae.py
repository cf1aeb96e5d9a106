"""A variational autoencoder on Fashion-MNIST: the held-out negative ELBO per epoch, samples from
the prior, and a 2-D latent map.

    python experiments/vae.py            # full: 55,000 training images, 20 + 20 epochs
    python experiments/vae.py --quick    # 600 images, 1 epoch each (the tests)

Claim (*Engineering Deep Learning*, "Autoencoders" and "Architectures: Variational Autoencoders"):
unsupervised learning, with the "Goal: To learn representations of input data (latent space)"; the
encoder "Performs dimensionality reduction and creates a latent space." and the decoder
"Reconstructs the input using the latent space." Salakhutdinov's *Deep Learning Essentials* lists
the VAE among the "Statistical Generative Models": a model one can sample new images from.

Method: `models.vae(latent, hidden, likelihood="bernoulli")` (Kingma & Welling's MLP encoder and
decoder, ReLU) on pixels in [0, 1], trained with Adam on the negative ELBO
(`vae.loss()` = reconstruction -log p(x|z) + KL(q(z|x) || N(0, I)), nats per image). After
each epoch the held-out test set's negative ELBO is estimated with one z ~ q(z|x) per image,
with its two parts. Then: 64 samples decode(z), z ~ N(0, I); test reconstructions; and a second
VAE with a 2-D latent space: its test codes (the means of q(z|x)) coloured by class, and the
images decoded over a grid of the latent plane.

Writes `<out>/metrics.json`, vae_elbo.png (the held-out negative ELBO and its parts per epoch),
vae_samples.png, vae_reconstructions.png and vae_latent_map.png (scatter and decoded grid).
"""
from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import finish_figure, load_images, parser, save_results, settings

from jdl import losses, models, train, viz

CLASSES = ("T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
           "bag", "boot")


def parse_args(argv=None):
    p = parser("vae", __doc__.splitlines()[0])
    p.add_argument("--latent", type=int, default=20, help="latent size of the main VAE")
    p.add_argument("--hidden", type=int, nargs="+", default=[400])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--map-epochs", type=int, default=20, help="epochs of the 2-D VAE")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--grid", type=int, default=15, help="decoded grid: grid x grid images")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.map_epochs, args.grid = 1, 1, 5
    return args


def mosaic(images: np.ndarray, columns: int) -> np.ndarray:
    """(n, h, w[, 1]) images tiled row by row into one (rows * h, columns * w) array (1 px gaps
    at 1.0 would hide borders, so none)."""
    images = np.asarray(images).reshape(len(images), *np.shape(images)[1:3])
    rows = -(-len(images) // columns)
    pad = np.zeros((rows * columns - len(images), *images.shape[1:]), images.dtype)
    tiles = np.concatenate([images, pad]).reshape(rows, columns, *images.shape[1:])
    return tiles.transpose(0, 2, 1, 3).reshape(rows * images.shape[1], columns * images.shape[2])


def negative_elbo_parts(vae: models.VAE):
    """Jitted `(params, x, key) -> (recon, kl)` per image, z drawn once from q(z|x)."""

    @jax.jit
    def parts(params, x, key):
        out, _ = vae.model.apply(params, {}, x, key=key, train=True)
        return (losses.sigmoid_binary_cross_entropy(out.reconstruction, x),
                losses.gaussian_kl(out.mean, out.log_var))

    return parts


class HeldOutELBO(train.Callback):
    """After each epoch: the held-out negative ELBO (nats per image), reconstruction and KL."""

    def __init__(self, vae: models.VAE, x: np.ndarray, seed: int, batch: int = 500):
        self.parts, self.x, self.seed, self.batch = negative_elbo_parts(vae), x, seed, batch
        self.history: dict[str, list[float]] = {"neg_elbo": [], "reconstruction": [], "kl": []}

    def measure(self, params) -> dict[str, float]:
        key, recon, kl = jax.random.key(self.seed), [], []
        for i in range(0, len(self.x), self.batch):
            r, k = self.parts(params, jnp.asarray(self.x[i:i + self.batch]),
                              jax.random.fold_in(key, i))
            recon.append(np.asarray(r))
            kl.append(np.asarray(k))
        r, k = float(np.concatenate(recon).mean()), float(np.concatenate(kl).mean())
        return {"neg_elbo": r + k, "reconstruction": r, "kl": k}

    def on_epoch_end(self, epoch, logs, ts):
        for name, value in self.measure(ts.params).items():
            self.history[name].append(value)


def train_vae(latent: int, epochs: int, args, x_train, x_test) -> tuple[models.VAE, dict, dict]:
    """Train one VAE; return it, its parameters and its held-out history per epoch."""
    vae = models.vae(latent, tuple(args.hidden), likelihood="bernoulli")
    opt = optax.adam(args.lr)
    ts = train.init_train_state(vae.model, opt, jax.random.key(args.seed), (1, *x_train.shape[1:]))
    train_step, _ = train.make_steps(vae.model, opt, vae.loss())
    held_out = HeldOutELBO(vae, x_test, args.seed + 1)
    started = time.perf_counter()
    ts, history = train.fit(ts, train_step, (x_train, x_train), epochs=epochs,
                            batch_size=args.batch_size, callbacks=[held_out], verbose=0,
                            steps_per_call=1 if args.quick else 4)
    seconds = time.perf_counter() - started
    h = held_out.history
    print(f"VAE latent {latent}: test -ELBO {h['neg_elbo'][-1]:.1f} nats "
          f"(reconstruction {h['reconstruction'][-1]:.1f} + KL {h['kl'][-1]:.1f}), {seconds:.0f} s")
    return vae, ts.params, {"train_loss": history["loss"], **h, "seconds": round(seconds, 1)}


def plot_elbo(results: dict, path: Path) -> Path:
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    for name, r in results.items():
        epochs = np.arange(1, len(r["neg_elbo"]) + 1)
        ax[0].plot(epochs, r["neg_elbo"], marker=".", label=f"{name}: test")
        ax[0].plot(epochs, r["train_loss"], ls="--", label=f"{name}: train (running)")
        ax[1].plot(epochs, r["reconstruction"], marker=".", label=name)
        ax[2].plot(epochs, r["kl"], marker=".", label=name)
    for a, t in zip(ax, ("negative ELBO", "reconstruction -log p(x|z)", "KL(q(z|x) || p(z))")):
        a.set(xlabel="epoch", ylabel="nats per image", title=t)
    return finish_figure(fig, path, "VAE on Fashion-MNIST: held-out negative ELBO",
                         grid=ax, legend=ax)


def plot_pictures(samples, originals, recons, path_samples: Path, path_recons: Path) -> None:
    plt = viz.pyplot()
    fig, ax = plt.subplots(figsize=(7, 7))
    ax.imshow(mosaic(samples, 8), cmap="gray", vmin=0, vmax=1)
    ax.axis("off")
    finish_figure(fig, path_samples, "64 samples: decode(z), z ~ N(0, I)")
    fig, ax = plt.subplots(2, 1, figsize=(10, 3))
    for a, ims, t in zip(ax, (originals, recons), ("test images", "reconstructions (z = mean)")):
        a.imshow(mosaic(ims, len(ims)), cmap="gray", vmin=0, vmax=1)
        a.set_title(t, fontsize=9)
        a.axis("off")
    finish_figure(fig, path_recons)


def latent_map(vae2: models.VAE, params, x_test, grid: int) -> tuple[np.ndarray, np.ndarray]:
    """The 2-D VAE's test codes (means) and the images decoded over [-3, 3]^2 (grid x grid)."""
    codes = np.concatenate([np.asarray(vae2.encode(params, jnp.asarray(x_test[i:i + 1000]))[0])
                            for i in range(0, len(x_test), 1000)])
    axis = np.linspace(-3.0, 3.0, grid)
    z = np.array([[zx, zy] for zy in axis[::-1] for zx in axis], np.float32)
    return codes, np.asarray(vae2.decode(params, jnp.asarray(z)))


def plot_latent_map(codes, labels, decoded, grid: int, path: Path) -> Path:
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(15, 7))
    sc = ax[0].scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=3, vmin=-0.5,
                       vmax=9.5)
    cbar = fig.colorbar(sc, ax=ax[0], ticks=range(10))
    cbar.ax.set_yticklabels(CLASSES)
    ax[0].set(xlabel="z1", ylabel="z2", title="test codes (mean of q(z|x)) by class")
    ax[1].imshow(mosaic(decoded, grid), cmap="gray", vmin=0, vmax=1, extent=(-3, 3, -3, 3))
    ax[1].set(xlabel="z1", ylabel="z2", title=f"decode(z) on a {grid}x{grid} grid over [-3, 3]^2")
    return finish_figure(fig, path, "VAE with a 2-D latent space", grid=ax[:1])


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    (x_tr, _), _, (x_te, y_te), name = load_images(args.quick, seed=args.seed)
    vae, params, main_run = train_vae(args.latent, args.epochs, args, x_tr, x_te)
    vae2, params2, map_run = train_vae(2, args.map_epochs, args, x_tr, x_te)
    samples = np.asarray(vae.sample(params, jax.random.key(args.seed + 2), 64))
    originals = x_te[:12]
    recons = np.asarray(vae.decode(params, vae.encode(params, jnp.asarray(originals))[0]))
    codes, decoded = latent_map(vae2, params2, x_te, args.grid)
    results = {f"latent_{args.latent}": main_run, "latent_2": map_run}
    out = {"settings": settings(args), "data": name, "n_train": int(len(x_tr)),
           "n_test": int(len(x_te)), "units": "nats per image (784 pixels)",
           "runs": results,
           "final": {k: {m: r[m][-1] for m in ("neg_elbo", "reconstruction", "kl")}
                     for k, r in results.items()},
           "sample_mean_intensity": float(samples.mean()),
           "test_mean_intensity": float(x_te.mean()),
           "latent_2_code_std": np.round(codes.std(axis=0), 4).tolist()}
    save_results(args.out, out, started=started)
    plot_elbo(results, args.out / "vae_elbo.png")
    plot_pictures(samples, originals, recons, args.out / "vae_samples.png",
                  args.out / "vae_reconstructions.png")
    plot_latent_map(codes, y_te, decoded, args.grid, args.out / "vae_latent_map.png")
    return out


if __name__ == "__main__":
    main()
