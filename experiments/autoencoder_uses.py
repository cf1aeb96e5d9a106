"""Three uses of an autoencoder: features for few labels, denoising, anomaly detection.

    python experiments/autoencoder_uses.py            # Fashion-MNIST, 55,000 training images
    python experiments/autoencoder_uses.py --quick    # 600 images, one epoch, no hidden layer
    python experiments/autoencoder_uses.py --held-out 0 1 5 8 9 --anomaly-epochs 8

Claim (*Engineering Deep Learning*, "Autoencoders"): uses "Feature Extraction", "Dimensionality
Reduction", "Image Denoising", "Anomaly Detection"; "Encoder: Performs dimensionality reduction
and creates a latent space." / "Decoder: Reconstructs the input using the latent space."

Method (images in [0, 1], flattened; every autoencoder is `models.dense_autoencoder((256,
code), output_activation="sigmoid")` trained with `losses.sum_squared_error` and Adam):

1. Features: one autoencoder trained on all training images without labels; then a logistic
   regression (scikit-learn) on --labels labelled examples (several random draws), on raw
   pixels, on PCA codes of the same size and on the encoder's codes; test accuracy.
2. Denoising: `models.denoising(model, corruption)` with Gaussian noise whose standard deviation
   is drawn per image from U(0, --max-level) inside the training step; at each test noise level,
   the PSNR of the noisy input (clipped to [0, 1]), of the plain autoencoder of part 1 and of
   the denoising autoencoder against the clean image.
3. Anomaly detection: per class in --held-out, an autoencoder trained on the other nine
   classes; the anomaly score of a test image is its reconstruction error
   (`losses.sum_squared_error`); ROC AUC of "held-out class" against the rest.

Writes `<out>/metrics.json`, table.md and PNGs: autoencoder_uses.png (accuracy against
labelled examples, PSNR against noise level, AUC per held-out class) and
autoencoder_uses_triplets.png (clean / noisy / denoised test images).
"""
from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import finish_figure, load_images, parser, save_results, settings, write_table
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from jdl import data, losses, models, train, viz


def parse_args(argv=None):
    p = parser("autoencoder_uses", __doc__.splitlines()[0])
    p.add_argument("--code", type=int, default=32)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--epochs", type=int, default=10, help="features and denoising autoencoders")
    p.add_argument("--labels", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--draws", type=int, default=3, help="random labelled subsets per size")
    p.add_argument("--max-level", type=float, default=0.5, help="largest training noise std")
    p.add_argument("--levels", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.5])
    p.add_argument("--held-out", type=int, nargs="+", default=[0, 1, 5, 8])
    p.add_argument("--anomaly-epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.anomaly_epochs, args.batch_size = 1, 1, 50
        args.labels, args.draws, args.held_out = [20, 100], 1, [0, 1]
    return args


def psnr(clean, other, peak: float = 1.0) -> np.ndarray:
    """Peak signal-to-noise ratio per image in dB: 10 log10(peak^2 / mean squared error)."""
    clean, other = np.asarray(clean, np.float64), np.asarray(other, np.float64)
    err = np.mean(np.square(clean - other).reshape(len(clean), -1), axis=1)
    return 10.0 * np.log10(peak ** 2 / np.maximum(err, 1e-12))


def autoencoder(args) -> models.Autoencoder:
    # --quick: no hidden layer (every Dense costs compile time, the only cost of a quick run)
    sizes = (args.code,) if args.quick else (args.hidden, args.code)
    return models.dense_autoencoder(sizes, output_shape=(784,), output_activation="sigmoid")


def fit_autoencoder(model, step, x: np.ndarray, args, epochs: int, seed: int):
    """Train `model` to reproduce `x` with the (shared, so compiled once) `step`."""
    ts = train.init_train_state(model, optax.adam(args.lr), jax.random.key(seed), (1, 784))
    ts, _ = train.fit(ts, step, (x, x), epochs=epochs, batch_size=args.batch_size,
                      verbose=0 if args.quick else 2, steps_per_call=1 if args.quick else 4)
    return ts


def encode(ae: models.Autoencoder, ts, x: np.ndarray) -> np.ndarray:
    codes, _ = jax.jit(ae.encoder.apply)(ts.params["encoder"], {}, jnp.asarray(x))
    return np.asarray(codes)


def features(args, ae, ts, x_tr, y_tr, x_te, y_te) -> dict:
    """Logistic regression on few labels: raw pixels, PCA codes, encoder codes."""
    pca = PCA(n_components=args.code, random_state=args.seed).fit(x_tr)
    reps = {"pixels": (x_tr, x_te), "pca": (pca.transform(x_tr), pca.transform(x_te)),
            "autoencoder": (encode(ae, ts, x_tr), encode(ae, ts, x_te))}
    result = {}
    for n in args.labels:
        accs = {k: [] for k in reps}
        for d in range(args.draws):
            idx = np.random.default_rng(args.seed + 100 * d + n).choice(len(x_tr), n, False)
            for k, (f_tr, f_te) in reps.items():
                scaler = StandardScaler().fit(f_tr[idx])
                clf = LogisticRegression(max_iter=2000).fit(scaler.transform(f_tr[idx]), y_tr[idx])
                accs[k].append(float(clf.score(scaler.transform(f_te), y_te)))
        result[str(n)] = {k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "all": v}
                          for k, v in accs.items()}
        print(f"{n} labels: " + ", ".join(f"{k} {v['mean']:.3f}"
                                          for k, v in result[str(n)].items()))
    return result


def random_level_noise(max_level: float):
    """Gaussian corruption with a per-image std drawn from U(0, max_level)."""
    def corrupt(key, x):
        k_level, k_noise = jax.random.split(key)
        level = jax.random.uniform(k_level, (x.shape[0],) + (1,) * (x.ndim - 1), x.dtype,
                                   0.0, max_level)
        return x + level * jax.random.normal(k_noise, x.shape, x.dtype)
    return corrupt


def denoising(args, ae, ae_ts, x_tr, x_te) -> tuple[dict, dict]:
    """Train a denoising autoencoder; PSNR of noisy / plain AE / denoising AE per test level."""
    dae = models.denoising(ae.model, random_level_noise(args.max_level))
    step = train.make_train_step(dae, optax.adam(args.lr), losses.sum_squared_error)
    ts = fit_autoencoder(dae, step, x_tr, args, args.epochs, args.seed + 1)
    rng, result, triplet = np.random.default_rng(args.seed + 7), {}, {}
    for level in args.levels:
        noisy = (x_te + level * rng.standard_normal(x_te.shape)).astype(np.float32)
        out = np.asarray(train.predict(dae, ts, noisy))
        result[f"{level:g}"] = {
            "noisy": float(psnr(x_te, np.clip(noisy, 0, 1)).mean()),
            "noisy_unclipped": float(psnr(x_te, noisy).mean()),
            "plain_autoencoder": float(psnr(x_te, train.predict(ae.model, ae_ts, noisy)).mean()),
            "denoising_autoencoder": float(psnr(x_te, out).mean())}
        if not triplet or abs(level - 0.3) < abs(triplet["level"] - 0.3):
            triplet = {"level": level, "noisy": np.clip(noisy[:10], 0, 1), "denoised": out[:10]}
        print(f"noise {level:g}: PSNR " + ", ".join(f"{k} {v:.2f}"
                                                     for k, v in result[f'{level:g}'].items()))
    return result, triplet


def anomaly(args, ae, step, x_tr, y_tr, x_te, y_te) -> dict:
    """Per held-out class: train on the nine others, ROC AUC of the reconstruction error."""
    result = {}
    # --quick: every class's training set cut to one size (one compiled shuffle and gather)
    size = min(int(np.sum(y_tr != c)) for c in args.held_out) if args.quick else None
    for c in args.held_out:
        started = time.perf_counter()
        ts = fit_autoencoder(ae.model, step, x_tr[y_tr != c][:size], args, args.anomaly_epochs,
                             args.seed + 10 + c)
        rec = train.predict(ae.model, ts, x_te)
        score = np.asarray(losses.sum_squared_error(rec, jnp.asarray(x_te)))
        auc = float(roc_auc_score(y_te == c, score))
        result[str(c)] = {"auc": auc, "mean_score_held_out": float(score[y_te == c].mean()),
                          "mean_score_others": float(score[y_te != c].mean()),
                          "seconds": round(time.perf_counter() - started, 1)}
        print(f"held out {c}: ROC AUC {auc:.3f}")
    return result


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    (x_tr, y_tr), _, (x_te, y_te), name = load_images(args.quick, seed=args.seed, flatten=True)
    ae = autoencoder(args)
    step = train.make_train_step(ae.model, optax.adam(args.lr), losses.sum_squared_error)
    ae_ts = fit_autoencoder(ae.model, step, x_tr, args, args.epochs, args.seed)
    rec_mse = float(np.mean(np.square(np.asarray(train.predict(ae.model, ae_ts, x_te)) - x_te)))
    feats = features(args, ae, ae_ts, x_tr, y_tr, x_te, y_te)
    noise, triplet = denoising(args, ae, ae_ts, x_tr, x_te)
    anom = anomaly(args, ae, step, x_tr, y_tr, x_te, y_te)
    classes = data.CLASS_NAMES[name]
    out = {"settings": settings(args), "data": name, "n_train": len(x_tr), "n_test": len(x_te),
           "code": args.code, "autoencoder_test_mse": rec_mse, "features": feats,
           "denoising_psnr_db": noise,
           "anomaly": {"held_out": {classes[int(c)]: v for c, v in anom.items()},
                       "auc": {k: v["auc"] for k, v in anom.items()},
                       "mean_auc": float(np.mean([v["auc"] for v in anom.values()]))}}
    save_results(args.out, out, started=started)
    write_table(args.out, table(out, classes))
    pictures(Path(args.out), out, x_te, triplet, classes)
    return out


def table(m: dict, classes) -> str:
    lines = ["| labelled examples | pixels | PCA codes | autoencoder codes |",
             "|---:|---:|---:|---:|"]
    for n, r in m["features"].items():
        lines.append(f"| {n} | " + " | ".join(f"{r[k]['mean']:.3f} +- {r[k]['std']:.3f}"
                                               for k in ("pixels", "pca", "autoencoder")) + " |")
    lines += ["", "| noise std | noisy input | plain AE | denoising AE |", "|---:|---:|---:|---:|"]
    for lvl, r in m["denoising_psnr_db"].items():
        lines.append(f"| {lvl} | {r['noisy']:.2f} dB | {r['plain_autoencoder']:.2f} dB | "
                     f"{r['denoising_autoencoder']:.2f} dB |")
    lines += ["", "| held-out class | ROC AUC |", "|---|---:|"]
    lines += [f"| {classes[int(c)]} | {auc:.3f} |" for c, auc in m["anomaly"]["auc"].items()]
    return "\n".join(lines) + "\n"


def pictures(out: Path, m: dict, x_te, triplet: dict, classes) -> None:
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    ns = [int(n) for n in m["features"]]
    for k in ("pixels", "pca", "autoencoder"):
        ax[0].errorbar(ns, [m["features"][str(n)][k]["mean"] for n in ns],
                       [m["features"][str(n)][k]["std"] for n in ns], marker="o", label=k)
    ax[0].set(xscale="log", xlabel="labelled examples", ylabel="test accuracy",
              title="logistic regression on features")
    ax[0].set_xticks(ns, [str(n) for n in ns], minor=False)
    ax[0].minorticks_off()
    levels = list(m["denoising_psnr_db"])
    for k in ("noisy", "plain_autoencoder", "denoising_autoencoder"):
        ax[1].plot([float(v) for v in levels], [m["denoising_psnr_db"][v][k] for v in levels],
                   "o-", label=k)
    ax[1].set(xlabel="noise std", ylabel="PSNR (dB)", title="denoising")
    aucs = m["anomaly"]["auc"]
    ax[2].bar([classes[int(c)] for c in aucs], list(aucs.values()))
    ax[2].axhline(0.5, color="gray", ls="--")
    ax[2].set(ylim=(0, 1), ylabel="ROC AUC", title="held-out class as anomaly")
    finish_figure(fig, out / "autoencoder_uses.png", grid=ax[:2], legend=ax[:2])
    viz.denoising_triplets(x_te[:10], triplet["noisy"], triplet["denoised"],
                           out / "autoencoder_uses_triplets.png", image_shape=(28, 28),
                           title=f"Gaussian noise, std {triplet['level']:g}")
    print(f"wrote the plots to {out}")


if __name__ == "__main__":
    main()
