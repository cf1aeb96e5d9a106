"""A linear autoencoder is PCA; a deep one reconstructs better (Baldi & Hornik 1989).

    python experiments/autoencoder_pca.py            # Fashion-MNIST, 55,000 training images, 3 seeds
    python experiments/autoencoder_pca.py --quick    # 600 images, one epoch, 2 seeds (the tests)
    python experiments/autoencoder_pca.py --code 16 --linear-epochs 40

Claim (*Engineering Deep Learning*, "Autoencoders"): "Encoder: Performs dimensionality
reduction and creates a latent space." / "Decoder: Reconstructs the input using the latent
space.", with "Dimensionality Reduction" among the uses. Baldi & Hornik (1989): an autoencoder
without non-linearities trained with a squared loss reaches the error of PCA with the same
number of components, and its decoder spans the principal subspace (not the principal axes
themselves: any basis of that subspace is optimal).

Method: flattened images in [0, 1], centred by the training mean. PCA (scikit-learn, exact SVD)
with --code components, and the training covariance's eigenvalues code and code + 1 (how much
the last principal direction stands out); `models.dense_autoencoder((code,), linear=True)` trained with
`losses.sum_squared_error`, Adam with a cosine-decayed learning rate; a deep non-linear
`dense_autoencoder((512, 256, code))` (ReLU) trained the same way. Test-set reconstruction MSE
per pixel of each; the principal angles between the linear decoder's column space and PCA's
subspace (`scipy.linalg.subspace_angles`). Each of `--seeds` seeds draws its own validation
split (so its own training images: PCA has no seed of its own, its sd comes from the data),
initial weights and data order; the compiled steps are shared by the seeds. Numbers are mean ±
sd over the seeds and verdicts follow the spread rule (`exceeds_spread`).

Writes `<out>/metrics.json`, table.md and, from the first seed, autoencoder_pca_reconstructions.png
(test images, then PCA / linear AE / deep AE) and autoencoder_pca_latent.png (deep AE codes,
first two principal components, by class).
"""
from __future__ import annotations

import time
from pathlib import Path

import jax
import numpy as np
import optax
from _common import (add_seeds_argument, exceeds_spread, format_mean_sd, load_images, mean_sd,
                     over_seeds, parser, save_results, seeds_of, settings, with_seed, write_table)
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA

from jdl import data, losses, models, train, viz

SEED_KEYS = ("pca.test_mse", "pca.explained_variance", "pca.eigenvalue_last",
             "pca.eigenvalue_next", "linear_ae.test_mse",
             "linear_ae.mse_ratio_to_pca", "deep_ae.test_mse", "deep_ae.mse_ratio_to_pca",
             "principal_angles_deg.median", "principal_angles_deg.max",
             "principal_angles_deg.mean_cos2")


def parse_args(argv=None):
    p = parser("autoencoder_pca", __doc__.splitlines()[0])
    p.add_argument("--code", type=int, default=32, help="code size = PCA components")
    p.add_argument("--linear-epochs", type=int, default=30)
    p.add_argument("--deep-epochs", type=int, default=20)
    p.add_argument("--hidden", type=int, nargs="+", default=[512, 256],
                   help="the deep autoencoder's hidden widths before the code")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3, help="peak Adam learning rate")
    add_seeds_argument(p)
    args = p.parse_args(argv)
    if args.quick:
        args.linear_epochs, args.deep_epochs, args.hidden, args.batch_size = 1, 1, [64], 50
        args.seeds = min(args.seeds, 2)
    return args


def principal_angles_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The principal angles (degrees, ascending) between the column spaces of `a` and `b`."""
    return np.sort(np.degrees(subspace_angles(np.asarray(a, np.float64),
                                              np.asarray(b, np.float64))))


def mse(x: np.ndarray, reconstruction: np.ndarray) -> float:
    """Mean squared error per pixel."""
    return float(np.mean(np.square(np.asarray(x, np.float64) - reconstruction)))


def build(args, n_train: int, d: int) -> dict:
    """Both autoencoders with their optimizer (Adam, cosine-decayed rate) and compiled train
    step, built once and shared by the seeds: {name: (autoencoder, optimizer, step, epochs)}."""
    specs = {"linear_ae": (models.dense_autoencoder((args.code,), linear=True, output_shape=(d,)),
                           args.linear_epochs),
             "deep_ae": (models.dense_autoencoder((*args.hidden, args.code), output_shape=(d,)),
                         args.deep_epochs)}
    nets = {}
    for name, (ae, epochs) in specs.items():
        steps = epochs * (n_train // args.batch_size)
        opt = optax.adam(optax.cosine_decay_schedule(args.lr, max(steps, 1), alpha=0.01))
        nets[name] = (ae, opt, train.make_train_step(ae.model, opt, losses.sum_squared_error),
                      epochs)
    return nets


def linear_and_deep(nets: dict, args, x_tr, x_te) -> dict:
    """Train both autoencoders from seed `args.seed` (+ 1 for the deep one); return {name:
    (test reconstruction, ts, metrics)}; a run stopped by fit's non-finite guard reports None."""
    out = {}
    for i, (name, (ae, opt, step, epochs)) in enumerate(nets.items()):
        ts = train.init_train_state(ae.model, opt, jax.random.key(args.seed + i), (1, x_tr.shape[1]))
        started = time.perf_counter()
        ts, history = train.fit(ts, step, (x_tr, x_tr), epochs=epochs, batch_size=args.batch_size,
                                verbose=0 if args.quick else 2,
                                steps_per_call=1 if args.quick else 4)
        seconds = round(time.perf_counter() - started, 1)
        losses_ = history.get("loss", [])
        rec = np.asarray(train.predict(ae.model, ts, x_te))
        test_mse = mse(x_te, rec) if len(losses_) == epochs else None
        out[name] = (rec, ts, {"test_mse": test_mse, "epochs": epochs, "seconds": seconds,
                               "diverged": test_mse is None,
                               "train_loss_per_epoch": [round(v, 4) for v in losses_]})
        print(f"seed {args.seed} {name}: test MSE {test_mse} ({seconds} s)")
    return out


def run_seed(nets, args, data_split) -> tuple[dict, dict]:
    """One seed: PCA and both autoencoders on its split; its record and the pictures' inputs."""
    (x_tr, _), _, (x_te, y_te), name = data_split
    mean = x_tr.mean(axis=0)
    x_tr, x_te = (x_tr - mean).astype(np.float32), (x_te - mean).astype(np.float32)
    pca = PCA(n_components=args.code, svd_solver="full").fit(x_tr)  # exact: no seed of its own
    pca_rec = pca.inverse_transform(pca.transform(x_te))
    pca_mse = mse(x_te, pca_rec)
    eigenvalues = np.linalg.eigvalsh((x_tr.T @ x_tr).astype(np.float64) / (len(x_tr) - 1))[::-1]
    print(f"seed {args.seed} PCA({args.code}): test MSE {pca_mse:.5f}")
    trained = linear_and_deep(nets, args, x_tr, x_te)
    decoder_w = np.asarray(trained["linear_ae"][1].params["decoder"]["output"]["w"])  # (code, d)
    angles = principal_angles_deg(decoder_w.T, pca.components_.T)
    lin, deep = trained["linear_ae"][2], trained["deep_ae"][2]
    ratio = lambda r: None if r["test_mse"] is None else r["test_mse"] / pca_mse  # noqa: E731
    record = {"data": name, "n_train": len(x_tr), "n_test": len(x_te), "code": args.code,
              "pca": {"test_mse": pca_mse,
                      "explained_variance": float(pca.explained_variance_ratio_.sum()),
                      "eigenvalue_last": float(eigenvalues[args.code - 1]),
                      "eigenvalue_next": float(eigenvalues[args.code])},
              "linear_ae": {**lin, "mse_ratio_to_pca": ratio(lin)},
              "deep_ae": {**deep, "hidden": args.hidden, "mse_ratio_to_pca": ratio(deep)},
              "principal_angles_deg": {
                  "all": np.round(angles, 3).tolist(), "max": float(angles.max()),
                  "median": float(np.median(angles)),
                  "mean_cos2": float(np.mean(np.cos(np.radians(angles)) ** 2))}}
    return record, {"test": (x_te, y_te), "mean": mean, "pca_rec": pca_rec, "trained": trained,
                    "class_names": data.CLASS_NAMES[name]}


def compare(a: dict, b: dict) -> str:
    """a against b by the spread rule: 'lower', 'higher', 'within noise' (or 'missing')."""
    differ = exceeds_spread(a, b)
    if not differ:
        return "missing" if differ is None else "within noise"
    return "lower" if a["mean"] < b["mean"] else "higher"


def verdicts(stats: dict) -> dict:
    """Each model's test MSE against the others' by the spread rule, and the 2% check on the
    linear autoencoder's ratio to PCA (paired by seed: mean + sd <= 1.02)."""
    ratio = stats["linear_ae.mse_ratio_to_pca"]
    return {"linear_ae_vs_pca": compare(stats["linear_ae.test_mse"], stats["pca.test_mse"]),
            "deep_ae_vs_pca": compare(stats["deep_ae.test_mse"], stats["pca.test_mse"]),
            "deep_ae_vs_linear_ae": compare(stats["deep_ae.test_mse"],
                                            stats["linear_ae.test_mse"]),
            "linear_ae_within_2_percent": None if ratio["mean"] is None
            else bool(ratio["mean"] + ratio["sd"] <= 1.02)}


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    seeds, nets, records, first = seeds_of(args), None, [], None
    for seed in seeds:
        seed_args = with_seed(args, seed)
        split = load_images(args.quick, seed=seed, flatten=True)
        nets = nets or build(args, len(split[0][0]), split[0][0].shape[1])
        record, pictures_in = run_seed(nets, seed_args, split)
        records.append(record)
        first = first or pictures_in
    out = {"settings": settings(args), **over_seeds(records, SEED_KEYS, seeds)}
    out["verdicts"] = verdicts(out["over_seeds"])
    save_results(args.out, out, started=started)
    write_table(args.out, table(out))
    pictures(args, first)
    return out


def table(m: dict) -> str:
    """Test MSE (mean ± sd over seeds), the ratio to PCA and the verdicts; principal angles."""
    s, v, n = m["over_seeds"], m["verdicts"], len(m["over_seeds"]["seeds"])
    f = lambda stat, d: format_mean_sd(stat, d, none="diverged", some="finite")  # noqa: E731
    var = mean_sd([100 * x for x in s["pca.explained_variance"]["values"]])  # in percent
    lines = [f"| model (code {m['code']}), mean ± sd over {n} seeds | test MSE per pixel | / PCA "
             f"(paired) | vs PCA |", "|---|---:|---:|---|",
             f"| PCA ({f(var, 1)}% of the variance) | {f(s['pca.test_mse'], 6)} | 1 | - |",
             f"| linear autoencoder | {f(s['linear_ae.test_mse'], 6)} | "
             f"{f(s['linear_ae.mse_ratio_to_pca'], 5)} | {v['linear_ae_vs_pca']} |",
             f"| deep autoencoder | {f(s['deep_ae.test_mse'], 6)} | "
             f"{f(s['deep_ae.mse_ratio_to_pca'], 4)} | {v['deep_ae_vs_pca']} |",
             "", "| principal angles, linear decoder vs PCA | median (deg) | max (deg) | mean cos^2 |",
             "|---|---:|---:|---:|",
             f"| mean ± sd over {n} seeds | {f(s['principal_angles_deg.median'], 3)} | "
             f"{f(s['principal_angles_deg.max'], 2)} | {f(s['principal_angles_deg.mean_cos2'], 4)} |",
             "", f"PCA eigenvalues {m['code']} and {m['code'] + 1} (training variance): "
             f"{f(s['pca.eigenvalue_last'], 4)} and {f(s['pca.eigenvalue_next'], 4)}"]
    return "\n".join(lines) + "\n"


def pictures(args, first: dict) -> None:
    """The first seed's reconstructions and deep codes (two PNGs in `args.out`)."""
    (x_te, y_te), mean, trained = first["test"], first["mean"], first["trained"]
    out, shape, n = Path(args.out), (28, 28), 10
    recs = {"PCA": first["pca_rec"][:n] + mean, "linear AE": trained["linear_ae"][0][:n] + mean,
            "deep AE": trained["deep_ae"][0][:n] + mean}
    viz.reconstruction_pairs(x_te[:n] + mean, recs, out / "autoencoder_pca_reconstructions.png",
                             image_shape=shape, title=f"test images and reconstructions from "
                                                       f"{args.code} numbers")
    ae = models.dense_autoencoder((*args.hidden, args.code), output_shape=(x_te.shape[1],))
    ts = trained["deep_ae"][1]
    codes, _ = ae.encoder.apply(ts.params["encoder"], ts.state.get("encoder", {}), x_te[:2000])
    codes_2d = PCA(n_components=2).fit_transform(np.asarray(codes))
    viz.latent_scatter(codes_2d, y_te[:2000], out / "autoencoder_pca_latent.png",
                       class_names=first["class_names"], title="deep autoencoder codes (first two PCs)")
    print(f"wrote the plots to {out}")


if __name__ == "__main__":
    main()
