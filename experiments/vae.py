"""A variational autoencoder on Fashion-MNIST: the held-out negative ELBO per epoch, samples from
the prior, and a 2-D latent map; latent size 20 against 2, mean ± sd over seeds.

    python experiments/vae.py            # full: 55,000 training images, 20 + 20 epochs, 3 seeds
    python experiments/vae.py --quick    # 600 images, 1 epoch each, 2 seeds (the tests)

Claim (*Engineering Deep Learning*, "Autoencoders" and "Architectures: Variational Autoencoders"):
unsupervised learning, with the "Goal: To learn representations of input data (latent space)"; the
encoder "Performs dimensionality reduction and creates a latent space." and the decoder
"Reconstructs the input using the latent space." Salakhutdinov's *Deep Learning Essentials* lists
the VAE among the "Statistical Generative Models": a model one can sample new images from.

Method: `models.vae(latent, hidden, likelihood="bernoulli")` (Kingma & Welling's MLPs, ReLU) on
pixels in [0, 1], Adam on the negative ELBO `vae.loss()` = -log p(x|z) + KL(q(z|x) || N(0, I))
(nats per image). After each epoch: the test set's -ELBO and its two parts, one z ~ q(z|x) per
image. Then 64 samples decode(z), z ~ N(0, I), test reconstructions, and a 2-D VAE's test codes
by class and its decoded grid. Each of `--seeds` seeds draws its own validation split (so its
training images), initial weights, data order and z; numbers are mean ± sd over the seeds and
verdicts follow the spread rule (`exceeds_spread`); compiled programs are shared by the seeds.

Writes `<out>/metrics.json`, table.md, vae_elbo.png (held-out -ELBO and parts per epoch, mean ±
sd) and, from the first seed, vae_samples.png, vae_reconstructions.png and vae_latent_map.png.
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

from jdl import losses, models, train, viz

CLASSES = ("T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
           "bag", "boot")
PARTS = ("neg_elbo", "reconstruction", "kl")


def parse_args(argv=None):
    p = parser("vae", __doc__.splitlines()[0])
    p.add_argument("--latent", type=int, default=20, help="latent size of the main VAE")
    p.add_argument("--hidden", type=int, nargs="+", default=[400])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--map-epochs", type=int, default=20, help="epochs of the 2-D VAE")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--grid", type=int, default=15, help="decoded grid: grid x grid images")
    add_seeds_argument(p)
    args = p.parse_args(argv)
    if args.latent == 2:
        p.error("--latent: expected a size other than 2 (the latent map's VAE has 2)")
    if args.quick:
        args.epochs, args.map_epochs, args.grid, args.seeds = 1, 1, 5, min(args.seeds, 2)
    return args


def mosaic(images: np.ndarray, columns: int) -> np.ndarray:
    """(n, h, w[, 1]) images tiled row by row into one (rows * h, columns * w) array, no gaps."""
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
    """After each epoch: the held-out -ELBO (nats per image), reconstruction and KL."""

    def __init__(self, parts, x: np.ndarray, seed: int, batch: int = 500):
        self.parts, self.x, self.seed, self.batch = parts, x, seed, batch
        self.history: dict[str, list[float]] = {name: [] for name in PARTS}

    def measure(self, params) -> dict[str, float]:
        key = jax.random.key(self.seed)
        parts = [self.parts(params, jnp.asarray(self.x[i:i + self.batch]),
                            jax.random.fold_in(key, i)) for i in range(0, len(self.x), self.batch)]
        r, k = (float(np.concatenate([np.asarray(p[j]) for p in parts]).mean()) for j in (0, 1))
        return {"neg_elbo": r + k, "reconstruction": r, "kl": k}

    def on_epoch_end(self, epoch, logs, ts):
        for name, value in self.measure(ts.params).items():
            self.history[name].append(value)


def build(latent: int, args) -> dict:
    """One latent size's VAE, optimizer, train step and held-out parts, shared by the seeds."""
    vae = models.vae(latent, tuple(args.hidden), likelihood="bernoulli")
    opt = optax.adam(args.lr)
    train_step, _ = train.make_steps(vae.model, opt, vae.loss())
    return {"latent": latent, "vae": vae, "opt": opt, "step": train_step,
            "parts": negative_elbo_parts(vae)}


def train_vae(net: dict, epochs: int, args, x_train, x_test) -> tuple[dict, dict]:
    """Train one VAE from seed `args.seed`; its parameters and held-out history per epoch (a run
    stopped by fit's non-finite guard has fewer epochs and `diverged` set)."""
    ts = train.init_train_state(net["vae"].model, net["opt"], jax.random.key(args.seed),
                                (1, *x_train.shape[1:]))
    held_out = HeldOutELBO(net["parts"], x_test, args.seed + 1)
    started = time.perf_counter()
    ts, history = train.fit(ts, net["step"], (x_train, x_train), epochs=epochs,
                            batch_size=args.batch_size, callbacks=[held_out], verbose=0,
                            steps_per_call=1 if args.quick else 4)
    seconds = time.perf_counter() - started
    h = held_out.history
    print(f"seed {args.seed} VAE latent {net['latent']}: test -ELBO, reconstruction, KL per "
          f"epoch ending {[h[m][-1:] for m in PARTS]} nats, {seconds:.0f} s")
    return ts.params, {"train_loss": history.get("loss", []), **h, "seconds": round(seconds, 1),
                       "diverged": len(h["neg_elbo"]) < epochs}


def reference_points(x_train: np.ndarray, x_test: np.ndarray) -> dict:
    """Untrained yardsticks, nats per test image: sum_j H(x_j) (the reconstruction's floor),
    p = 1/2 for every pixel (784 log 2), p = each pixel's training mean."""
    def bce(p, x):  # summed over pixels, mean over images
        p = np.clip(p, 1e-7, 1 - 1e-7)
        return float(np.mean(-(x * np.log(p) + (1 - x) * np.log(1 - p))) * np.prod(x.shape[1:]))
    x = np.asarray(x_test, np.float64)
    return {"entropy_floor": bce(x, x), "uniform": bce(np.full(x.shape[1:], 0.5), x),
            "pixel_means": bce(np.asarray(x_train, np.float64).mean(axis=0), x)}


def epoch_curves(records: list[dict], names) -> dict:
    """{run: {metric: [mean_sd over seeds, per epoch]}}; a diverged seed's missing epochs: None."""
    out = {}
    for name in names:
        out[name] = {}
        for m in (*PARTS, "train_loss"):
            runs = [r["runs"][name][m] for r in records]
            out[name][m] = [mean_sd([v[e] if e < len(v) else None for v in runs])
                            for e in range(max(map(len, runs)))]
    return out


def compare(a: dict, b: dict) -> str:
    """a against b by the spread rule: 'lower', 'higher', 'within noise' (or 'missing')."""
    differ = exceeds_spread(a, b)
    if not differ:
        return "missing" if differ is None else "within noise"
    return "lower" if a["mean"] < b["mean"] else "higher"


def verdicts(records: list[dict], stats: dict, curves: dict, big: str) -> dict:
    """Latent `big` against latent 2 on the final -ELBO and its parts (and the paired gap, 2
    minus big, per seed), and each run's -ELBO at its last epoch against its first and against
    five epochs before the end."""
    def gap(m):
        pairs = [(r["final"]["latent_2"][m], r["final"][big][m]) for r in records]
        return mean_sd([None if None in p else p[0] - p[1] for p in pairs])
    out = {f"{big}_vs_latent_2": {m: compare(stats[f"final.{big}.{m}"],
                                             stats[f"final.latent_2.{m}"]) for m in PARTS},
           f"gap_latent_2_minus_{big}": {m: gap(m) for m in PARTS}}
    for name, c in curves.items():
        elbo = c["neg_elbo"]  # (with fewer than 6 epochs, the second compares the first)
        out[f"{name}_last_vs_first_epoch"] = compare(elbo[-1], elbo[0])
        out[f"{name}_last_vs_5_epochs_before"] = compare(elbo[-1], elbo[max(len(elbo) - 6, 0)])
    return out


def table(out: dict, big: str) -> str:
    """The final comparison (mean ± sd, verdicts) and the held-out curves at a few epochs."""
    stats, v, n = out["over_seeds"], out["verdicts"], len(out["over_seeds"]["seeds"])
    f = lambda s: format_mean_sd(s, 1, none="diverged", some="finite")  # noqa: E731
    rows = [f"| final, mean ± sd over {n} seeds | -ELBO | reconstruction | KL |", "|---|---|---|---|"]
    for name in (big, "latent_2"):
        rows.append(f"| {name} | " + " | ".join(f(stats[f"final.{name}.{m}"]) for m in PARTS) + " |")
    rows += [f"| latent_2 minus {big}, paired | "
             + " | ".join(f(v[f"gap_latent_2_minus_{big}"][m]) for m in PARTS) + " |",
             f"| {big} vs latent_2 | " + " | ".join(v[f"{big}_vs_latent_2"].values()) + " |"]
    epochs = [e for e in (1, 2, 5, 10, 15, 20) if e <= len(out["curves"][big]["neg_elbo"])]
    rows += ["", "| epoch | " + " | ".join(map(str, epochs)) + " |", "|---" * (len(epochs) + 1) + "|"]
    for name, c in out["curves"].items():
        for m, label in zip(PARTS, ("-ELBO", "reconstruction", "KL")):
            rows.append(f"| {name}: {label} | "
                        + " | ".join(f(c[m][e - 1]) for e in epochs if e <= len(c[m])) + " |")
    return "\n".join(rows) + "\n"


def plot_elbo(curves: dict, path: Path) -> Path:
    """The held-out -ELBO, reconstruction and KL per epoch: mean over seeds, ± sd shaded."""
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    for name, c in curves.items():
        for a, m in zip(ax, PARTS):
            mean, sd = (np.array([np.nan if s[k] is None else s[k] for s in c[m]])
                        for k in ("mean", "sd"))
            epochs = np.arange(1, len(mean) + 1)
            line, = a.plot(epochs, mean, marker=".", label=f"{name}: test")
            a.fill_between(epochs, mean - sd, mean + sd, color=line.get_color(), alpha=0.25)
        run = [np.nan if s["mean"] is None else s["mean"] for s in c["train_loss"]]
        ax[0].plot(np.arange(1, len(run) + 1), run, ls="--", label=f"{name}: train (running)")
    for a, t in zip(ax, ("negative ELBO", "reconstruction -log p(x|z)", "KL(q(z|x) || p(z))")):
        a.set(xlabel="epoch", ylabel="nats per image", title=t)
    return finish_figure(fig, path, "VAE on Fashion-MNIST: held-out negative ELBO (mean ± sd "
                         "over seeds)", grid=ax, legend=ax)


def latent_map(vae2: models.VAE, params, x_test, grid: int) -> tuple[np.ndarray, np.ndarray]:
    """The 2-D VAE's test codes (means) and the images decoded over [-3, 3]^2 (grid x grid)."""
    codes = np.concatenate([np.asarray(vae2.encode(params, jnp.asarray(x_test[i:i + 1000]))[0])
                            for i in range(0, len(x_test), 1000)])
    axis = np.linspace(-3.0, 3.0, grid)
    z = np.array([[zx, zy] for zy in axis[::-1] for zx in axis], np.float32)
    return codes, np.asarray(vae2.decode(params, jnp.asarray(z)))


def plot_pictures(pics: dict, grid: int, out: Path) -> None:
    """The first seed's samples, reconstructions and 2-D latent map (three PNGs in `out`)."""
    plt = viz.pyplot()
    fig, ax = plt.subplots(figsize=(7, 7))
    ax.imshow(mosaic(pics["samples"], 8), cmap="gray", vmin=0, vmax=1)
    ax.axis("off")
    finish_figure(fig, out / "vae_samples.png", "64 samples: decode(z), z ~ N(0, I)")
    fig, ax = plt.subplots(2, 1, figsize=(10, 3))
    for a, ims, t in zip(ax, (pics["originals"], pics["recons"]),
                         ("test images", "reconstructions (z = mean)")):
        a.imshow(mosaic(ims, len(ims)), cmap="gray", vmin=0, vmax=1)
        a.set_title(t, fontsize=9)
        a.axis("off")
    finish_figure(fig, out / "vae_reconstructions.png")
    fig, ax = plt.subplots(1, 2, figsize=(15, 7))
    codes = pics["codes"]
    sc = ax[0].scatter(codes[:, 0], codes[:, 1], c=pics["labels"], cmap="tab10", s=3, vmin=-0.5,
                       vmax=9.5)
    fig.colorbar(sc, ax=ax[0], ticks=range(10)).ax.set_yticklabels(CLASSES)
    ax[0].set(xlabel="z1", ylabel="z2", title="test codes (mean of q(z|x)) by class")
    ax[1].imshow(mosaic(pics["decoded"], grid), cmap="gray", vmin=0, vmax=1, extent=(-3, 3, -3, 3))
    ax[1].set(xlabel="z1", ylabel="z2", title=f"decode(z) on a {grid}x{grid} grid over [-3, 3]^2")
    finish_figure(fig, out / "vae_latent_map.png", "VAE with a 2-D latent space", grid=ax[:1])


def run_seed(nets: dict, args) -> tuple[dict, dict]:
    """One seed (its split, both VAEs): its record (runs, final numbers, sample intensity, code
    spread) and the pictures' inputs."""
    (x_tr, _), _, (x_te, y_te), name = load_images(args.quick, seed=args.seed)
    big, small = nets.values()
    params, main_run = train_vae(big, args.epochs, args, x_tr, x_te)
    params2, map_run = train_vae(small, args.map_epochs, args, x_tr, x_te)
    samples = np.asarray(big["vae"].sample(params, jax.random.key(args.seed + 2), 64))
    codes, decoded = latent_map(small["vae"], params2, x_te, args.grid)
    runs = dict(zip(nets, (main_run, map_run)))
    code_std = [float(v) if np.isfinite(v) else None for v in codes.std(axis=0)]
    record = {"runs": runs,
              "final": {k: {m: None if r["diverged"] else r[m][-1] for m in PARTS}
                        for k, r in runs.items()},
              "sample_mean_intensity": float(samples.mean()),
              "latent_2_code_std": dict(zip(("z1", "z2"), code_std))}
    recons = big["vae"].decode(params, big["vae"].encode(params, jnp.asarray(x_te[:12]))[0])
    pictures = {"samples": samples, "originals": x_te[:12], "recons": np.asarray(recons),
                "codes": codes, "labels": y_te, "decoded": decoded, "data": name, "x_train": x_tr,
                "x_test": x_te}
    return record, pictures


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    seeds = seeds_of(args)
    big = f"latent_{args.latent}"
    nets = {big: build(args.latent, args), "latent_2": build(2, args)}
    records, first = [], None
    for seed in seeds:
        record, pictures = run_seed(nets, with_seed(args, seed))
        records.append(record)
        first = first or pictures
    keys = [f"final.{n}.{m}" for n in nets for m in PARTS] + [
        "sample_mean_intensity", "latent_2_code_std.z1", "latent_2_code_std.z2"]
    out = {"settings": settings(args), "data": first["data"], "n_train": int(len(first["x_train"])),
           "n_test": int(len(first["x_test"])), "units": "nats per image (784 pixels)",
           **over_seeds(records, keys, seeds)}
    out["curves"] = epoch_curves(records, nets)
    out["verdicts"] = verdicts(records, out["over_seeds"], out["curves"], big)
    out["reference"] = reference_points(first["x_train"], first["x_test"])
    out["test_mean_intensity"] = float(first["x_test"].mean())
    save_results(args.out, out, started=started)
    write_table(args.out, table(out, big))
    plot_elbo(out["curves"], args.out / "vae_elbo.png")
    plot_pictures(first, args.grid, args.out)
    return out


if __name__ == "__main__":
    main()
