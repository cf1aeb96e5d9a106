"""A linear autoencoder is PCA; a deep one reconstructs better (Baldi & Hornik 1989).

    python experiments/autoencoder_pca.py            # Fashion-MNIST, 55,000 training images
    python experiments/autoencoder_pca.py --quick    # 600 images, one epoch (the tests)
    python experiments/autoencoder_pca.py --code 16 --linear-epochs 40

Claim (*Engineering Deep Learning*, "Autoencoders"): "Encoder: Performs dimensionality
reduction and creates a latent space." / "Decoder: Reconstructs the input using the latent
space.", with "Dimensionality Reduction" among the uses. Baldi & Hornik (1989): an autoencoder
without non-linearities trained with a squared loss reaches the error of PCA with the same
number of components, and its decoder spans the principal subspace (not the principal axes
themselves: any basis of that subspace is optimal).

Method: flattened images in [0, 1], centred by the training mean. PCA (scikit-learn) with
--code components; `models.dense_autoencoder((code,), linear=True)` trained with
`losses.sum_squared_error`, Adam with a cosine-decayed learning rate; a deep non-linear
`dense_autoencoder((512, 256, code))` (ReLU) trained the same way. Test-set reconstruction MSE
per pixel of each; the principal angles between the linear decoder's column space and PCA's
subspace (`scipy.linalg.subspace_angles`).

Writes `<out>/metrics.json`, table.md and autoencoder_pca_reconstructions.png (test images,
then PCA / linear AE / deep AE) and autoencoder_pca_latent.png (deep AE codes, first two
principal components, by class).
"""
from __future__ import annotations

import time
from pathlib import Path

import jax
import numpy as np
import optax
from _common import load_images, parser, save_results, settings, write_table
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA

from jdl import data, losses, models, train, viz


def parse_args(argv=None):
    p = parser("autoencoder_pca", __doc__.splitlines()[0])
    p.add_argument("--code", type=int, default=32, help="code size = PCA components")
    p.add_argument("--linear-epochs", type=int, default=30)
    p.add_argument("--deep-epochs", type=int, default=20)
    p.add_argument("--hidden", type=int, nargs="+", default=[512, 256],
                   help="the deep autoencoder's hidden widths before the code")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3, help="peak Adam learning rate")
    args = p.parse_args(argv)
    if args.quick:
        args.linear_epochs, args.deep_epochs, args.hidden, args.batch_size = 1, 1, [64], 50
    return args


def principal_angles_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The principal angles (degrees, ascending) between the column spaces of `a` and `b`."""
    return np.sort(np.degrees(subspace_angles(np.asarray(a, np.float64),
                                              np.asarray(b, np.float64))))


def mse(x: np.ndarray, reconstruction: np.ndarray) -> float:
    """Mean squared error per pixel."""
    return float(np.mean(np.square(np.asarray(x, np.float64) - reconstruction)))


def train_autoencoder(ae: models.Autoencoder, x: np.ndarray, args, epochs: int, seed: int):
    """Fit `ae.model` to reproduce the (centred) rows of `x`: (TrainState, history, seconds)."""
    steps = epochs * (len(x) // args.batch_size)
    schedule = optax.cosine_decay_schedule(args.lr, max(steps, 1), alpha=0.01)
    opt = optax.adam(schedule)
    ts = train.init_train_state(ae.model, opt, jax.random.key(seed), (1, x.shape[1]))
    step = train.make_train_step(ae.model, opt, losses.sum_squared_error)
    started = time.perf_counter()
    ts, history = train.fit(ts, step, (x, x), epochs=epochs, batch_size=args.batch_size,
                            verbose=0 if args.quick else 2,
                            steps_per_call=1 if args.quick else 4)
    return ts, history, round(time.perf_counter() - started, 1)


def linear_and_deep(args, x_tr, x_te):
    """Train both autoencoders; return {name: (test reconstruction, ts, metrics)}."""
    d, out = x_tr.shape[1], {}
    specs = {"linear_ae": (models.dense_autoencoder((args.code,), linear=True, output_shape=(d,)),
                           args.linear_epochs),
             "deep_ae": (models.dense_autoencoder((*args.hidden, args.code), output_shape=(d,)),
                         args.deep_epochs)}
    for i, (name, (ae, epochs)) in enumerate(specs.items()):
        ts, history, seconds = train_autoencoder(ae, x_tr, args, epochs, args.seed + i)
        rec = np.asarray(train.predict(ae.model, ts, x_te))
        out[name] = (rec, ts, {"test_mse": mse(x_te, rec), "epochs": epochs, "seconds": seconds,
                               "train_loss_per_epoch": [round(v, 4) for v in history["loss"]]})
        print(f"{name}: test MSE {out[name][2]['test_mse']:.5f} ({seconds} s)")
    return out


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    (x_tr, _), _, (x_te, y_te), name = load_images(args.quick, seed=args.seed, flatten=True)
    mean = x_tr.mean(axis=0)
    x_tr, x_te = (x_tr - mean).astype(np.float32), (x_te - mean).astype(np.float32)
    pca = PCA(n_components=args.code, random_state=args.seed).fit(x_tr)
    pca_rec = pca.inverse_transform(pca.transform(x_te))
    pca_mse = mse(x_te, pca_rec)
    print(f"PCA({args.code}): test MSE {pca_mse:.5f}")
    trained = linear_and_deep(args, x_tr, x_te)
    decoder_w = np.asarray(trained["linear_ae"][1].params["decoder"]["output"]["w"])  # (code, d)
    angles = principal_angles_deg(decoder_w.T, pca.components_.T)
    lin, deep = trained["linear_ae"][2], trained["deep_ae"][2]
    ratio = lin["test_mse"] / pca_mse
    out = {"settings": settings(args), "data": name, "n_train": len(x_tr), "n_test": len(x_te),
           "code": args.code,
           "pca": {"test_mse": pca_mse,
                   "explained_variance": float(pca.explained_variance_ratio_.sum())},
           "linear_ae": {**lin, "mse_ratio_to_pca": ratio, "within_2_percent": bool(ratio <= 1.02)},
           "deep_ae": {**deep, "hidden": args.hidden,
                       "mse_ratio_to_pca": deep["test_mse"] / pca_mse,
                       "lower_than_pca": bool(deep["test_mse"] < pca_mse)},
           "principal_angles_deg": {"all": np.round(angles, 3).tolist(),
                                    "max": float(angles.max()), "median": float(np.median(angles)),
                                    "mean_cos2": float(np.mean(np.cos(np.radians(angles)) ** 2))}}
    save_results(args.out, out, started=started)
    write_table(args.out, table(out))
    pictures(args, (x_te, y_te), mean, pca_rec, trained, data.CLASS_NAMES[name])
    return out


def table(m: dict) -> str:
    rows = [("PCA", m["pca"]["test_mse"], 1.0),
            ("linear autoencoder", m["linear_ae"]["test_mse"], m["linear_ae"]["mse_ratio_to_pca"]),
            ("deep autoencoder", m["deep_ae"]["test_mse"], m["deep_ae"]["mse_ratio_to_pca"])]
    lines = [f"| model (code {m['code']}) | test MSE per pixel | / PCA |", "|---|---:|---:|"]
    lines += [f"| {n} | {v:.5f} | {r:.4f} |" for n, v, r in rows]
    a = m["principal_angles_deg"]
    lines.append(f"\nprincipal angles, linear decoder vs PCA: median {a['median']:.2f} deg, "
                 f"max {a['max']:.2f} deg, mean cos^2 {a['mean_cos2']:.4f}")
    return "\n".join(lines) + "\n"


def pictures(args, test, mean, pca_rec, trained, class_names) -> None:
    (x_te, y_te), out, shape, n = test, Path(args.out), (28, 28), 10
    recs = {"PCA": pca_rec[:n] + mean, "linear AE": trained["linear_ae"][0][:n] + mean,
            "deep AE": trained["deep_ae"][0][:n] + mean}
    viz.reconstruction_pairs(x_te[:n] + mean, recs, out / "autoencoder_pca_reconstructions.png",
                             image_shape=shape, title=f"test images and reconstructions from "
                                                       f"{args.code} numbers")
    ae = models.dense_autoencoder((*args.hidden, args.code), output_shape=(x_te.shape[1],))
    ts = trained["deep_ae"][1]
    codes, _ = ae.encoder.apply(ts.params["encoder"], ts.state.get("encoder", {}), x_te[:2000])
    codes_2d = PCA(n_components=2).fit_transform(np.asarray(codes))
    viz.latent_scatter(codes_2d, y_te[:2000], out / "autoencoder_pca_latent.png",
                       class_names=class_names, title="deep autoencoder codes (first two PCs)")
    print(f"wrote the plots to {out}")


if __name__ == "__main__":
    main()
