"""Three uses of an autoencoder: features for few labels, denoising, anomaly detection.

    python experiments/autoencoder_uses.py            # Fashion-MNIST, 55,000 training images, 3 seeds
    python experiments/autoencoder_uses.py --quick    # 600 images, one epoch, 2 seeds (the tests)
    python experiments/autoencoder_uses.py --held-out 0 1 5 8 9 --anomaly-epochs 8

Claim (*Engineering Deep Learning*, "Autoencoders"): uses "Feature Extraction", "Dimensionality
Reduction", "Image Denoising", "Anomaly Detection"; Encoder: "Performs dimensionality reduction
and creates a latent space." / "Decoder: Reconstructs the input using the latent space."

Method (images in [0, 1], flattened; every autoencoder is `models.dense_autoencoder((256,
code), output_activation="sigmoid")` trained with `losses.sum_squared_error` and Adam):
1. Features: an autoencoder trained on all training images without labels; a logistic
   regression (scikit-learn) on --labels labelled examples (--draws random subsets) of raw
   pixels, PCA codes of the same size and the encoder's codes; test accuracy.
2. Denoising: `models.denoising(model, corruption)`, Gaussian noise of a per-image std drawn
   from U(0, --max-level) inside the training step; per test noise std, the PSNR against the
   clean image of the noisy input (clipped to [0, 1]), the plain AE of part 1 and the denoising AE.
3. Anomaly detection: per class in --held-out, an autoencoder trained on the nine others; score
   = reconstruction error (`losses.sum_squared_error`); ROC AUC of held-out class vs the rest.
Seeds: each of `--seeds` draws its validation split (so its training images), labelled subsets,
every autoencoder's weights, data order and noise; models and programs are built once. Numbers
are mean ± sd over the seeds (a seed's accuracy: its mean over the draws); verdicts by the spread
rule (`exceeds_spread`): AE codes vs pixels / PCA, denoising AE vs noisy input / plain AE, AUC vs 0.5.

Writes `<out>/metrics.json`, table.md, autoencoder_uses.png (accuracy, PSNR, AUC: mean ± sd) and
the first seed's autoencoder_uses_triplets.png (clean / noisy / denoised test images).
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
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from jdl import data, losses, models, train, viz

REPS = ("pixels", "pca", "autoencoder")
PSNR_KEYS = ("noisy", "noisy_unclipped", "plain_autoencoder", "denoising_autoencoder")
ANOMALY_KEYS = ("auc", "mean_score_held_out", "mean_score_others")
CHANCE = {"mean": 0.5, "sd": 0.0}


def parse_args(argv=None):
    p = parser("autoencoder_uses", __doc__.splitlines()[0])
    for flag, kind, default in (("--code", int, 32), ("--hidden", int, 256), ("--batch-size", int, 128),
                                ("--anomaly-epochs", int, 5), ("--lr", float, 1e-3)):
        p.add_argument(flag, type=kind, default=default)
    p.add_argument("--epochs", type=int, default=10, help="features and denoising autoencoders")
    p.add_argument("--labels", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--draws", type=int, default=3, help="random labelled subsets per size and seed")
    p.add_argument("--max-level", type=float, default=0.5, help="largest training noise std")
    p.add_argument("--levels", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.5])
    p.add_argument("--held-out", type=int, nargs="+", default=[0, 1, 5, 8])
    add_seeds_argument(p)
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.anomaly_epochs, args.batch_size = 1, 1, 50
        args.labels, args.draws, args.held_out = [20, 100], 1, [0, 1]
        args.seeds = min(args.seeds, 2)
    return args


def psnr(clean, other, peak: float = 1.0) -> np.ndarray:
    """Peak signal-to-noise ratio per image in dB: 10 log10(peak^2 / mean squared error)."""
    clean, other = np.asarray(clean, np.float64), np.asarray(other, np.float64)
    err = np.mean(np.square(clean - other).reshape(len(clean), -1), axis=1)
    return 10.0 * np.log10(peak ** 2 / np.maximum(err, 1e-12))


def build(args) -> dict:
    """The plain and denoising autoencoders, their train steps and the jitted encoder, built once
    and shared by the seeds (same shapes, fresh parameters: jit's caches hit)."""
    # --quick: no hidden layer (every Dense costs compile time, the only cost of a quick run)
    sizes = (args.code,) if args.quick else (args.hidden, args.code)
    ae = models.dense_autoencoder(sizes, output_shape=(784,), output_activation="sigmoid")
    dae = models.denoising(ae.model, random_level_noise(args.max_level))
    opt = optax.adam(args.lr)
    return {"ae": ae, "dae": dae, "opt": opt, "encode": jax.jit(ae.encoder.apply),
            "plain": (ae.model, train.make_train_step(ae.model, opt, losses.sum_squared_error)),
            "denoising": (dae, train.make_train_step(dae, opt, losses.sum_squared_error))}


def fit_autoencoder(nets: dict, kind: str, x: np.ndarray, args, epochs: int, seed: int):
    """Train the `kind` ("plain", "denoising") autoencoder to reproduce `x` from `seed` (weights,
    data order, noise) with the shared step: (ts, finished), False when fit's non-finite guard
    stopped it."""
    model, step = nets[kind]
    ts = train.init_train_state(model, nets["opt"], jax.random.key(seed), (1, 784))
    ts, history = train.fit(ts, step, (x, x), epochs=epochs, batch_size=args.batch_size,
                            verbose=0 if args.quick else 2, steps_per_call=1 if args.quick else 4)
    return ts, len(history.get("loss", [])) == epochs


def features(args, nets, ae_ts, x_tr, y_tr, x_te, y_te) -> dict:
    """Logistic regression on few labels (this seed's --draws subsets per size): test accuracy
    on raw pixels, PCA codes, encoder codes; per size each kind's mean over the draws (None for
    a diverged autoencoder, `ae_ts` None) and the draws themselves."""
    pca = PCA(n_components=args.code, random_state=args.seed).fit(x_tr)
    reps = {"pixels": (x_tr, x_te), "pca": (pca.transform(x_tr), pca.transform(x_te))}
    if ae_ts is not None:
        def encode(x):
            return np.asarray(nets["encode"](ae_ts.params["encoder"], {}, jnp.asarray(x))[0])
        reps["autoencoder"] = (encode(x_tr), encode(x_te))
    result = {}
    for n in args.labels:
        accs = {k: [] for k in reps}
        for d in range(args.draws):
            idx = np.random.default_rng(args.seed + 100 * d + n).choice(len(x_tr), n, False)
            for k, (f_tr, f_te) in reps.items():
                scaler = StandardScaler().fit(f_tr[idx])
                clf = LogisticRegression(max_iter=2000).fit(scaler.transform(f_tr[idx]), y_tr[idx])
                accs[k].append(float(clf.score(scaler.transform(f_te), y_te)))
        result[str(n)] = {**{k: float(np.mean(accs[k])) if k in accs else None for k in REPS},
                          "draws": accs}
        print(f"seed {args.seed}, {n} labels: {result[str(n)]}")
    return result


def random_level_noise(max_level: float):
    """Gaussian corruption with a per-image std drawn from U(0, max_level)."""
    def corrupt(key, x):
        k_level, k_noise = jax.random.split(key)
        level = jax.random.uniform(k_level, (x.shape[0],) + (1,) * (x.ndim - 1), x.dtype,
                                   0.0, max_level)
        return x + level * jax.random.normal(k_noise, x.shape, x.dtype)
    return corrupt


def denoising(args, nets, ae_ts, x_tr, x_te) -> tuple[dict, dict]:
    """Train this seed's denoising autoencoder; PSNR of noisy / plain AE / denoising AE per
    test level (one noise draw per level from the seed; None for a diverged model)."""
    ae, dae = nets["ae"], nets["dae"]
    ts, ok = fit_autoencoder(nets, "denoising", x_tr, args, args.epochs, 1000 * args.seed + 1)
    rng, result, triplet = np.random.default_rng(1000 * args.seed + 7), {}, {}
    for level in args.levels:
        noisy = (x_te + level * rng.standard_normal(x_te.shape)).astype(np.float32)
        out = np.asarray(train.predict(dae, ts, noisy))
        plain = None if ae_ts is None else train.predict(ae.model, ae_ts, noisy)
        result[f"{level:g}"] = {
            "noisy": float(psnr(x_te, np.clip(noisy, 0, 1)).mean()),
            "noisy_unclipped": float(psnr(x_te, noisy).mean()),
            "plain_autoencoder": None if plain is None else float(psnr(x_te, plain).mean()),
            "denoising_autoencoder": float(psnr(x_te, out).mean()) if ok else None}
        if not triplet or abs(level - 0.3) < abs(triplet["level"] - 0.3):
            triplet = {"level": level, "noisy": np.clip(noisy[:10], 0, 1), "denoised": out[:10]}
        print(f"seed {args.seed}, noise {level:g}: PSNR {result[f'{level:g}']}")
    return result, triplet


def anomaly(args, nets, x_tr, y_tr, x_te, y_te, names) -> dict:
    """Per held-out class: train on the nine others from this seed, ROC AUC of the
    reconstruction error and the mean errors (None for a diverged run); their mean AUC."""
    model, result = nets["ae"].model, {}
    # --quick: every class's (and seed's) training set cut to one size (one compiled shuffle)
    size = min(480, *(int(np.sum(y_tr != c)) for c in args.held_out)) if args.quick else None
    for c in args.held_out:
        started = time.perf_counter()
        ts, ok = fit_autoencoder(nets, "plain", x_tr[y_tr != c][:size], args, args.anomaly_epochs,
                                 1000 * args.seed + 10 + c)
        rec = train.predict(model, ts, x_te)
        score = np.asarray(losses.sum_squared_error(rec, jnp.asarray(x_te)))
        kept = (lambda v: float(v)) if ok else (lambda v: None)   # noqa: E731
        result[str(c)] = {"class": names[c], "auc": kept(roc_auc_score(y_te == c, score)),
                          "mean_score_held_out": kept(score[y_te == c].mean()),
                          "mean_score_others": kept(score[y_te != c].mean()),
                          "seconds": round(time.perf_counter() - started, 1)}
        print(f"seed {args.seed}, held out {c}: ROC AUC {result[str(c)]['auc']}")
    aucs = [r["auc"] for r in result.values()]
    return {"held_out": result, "mean_auc": None if None in aucs else float(np.mean(aucs))}


def run_seed(nets, args, split) -> tuple[dict, dict]:
    """One seed, all three parts on its split: its record and the triplet picture's inputs."""
    (x_tr, y_tr), _, (x_te, y_te), name = split
    model, started = nets["ae"].model, time.perf_counter()
    ae_ts, ok = fit_autoencoder(nets, "plain", x_tr, args, args.epochs, 1000 * args.seed)
    rec_mse = float(np.mean(np.square(np.asarray(train.predict(model, ae_ts, x_te)) - x_te)))
    record = {"data": name, "n_train": len(x_tr), "n_test": len(x_te), "code": args.code,
              "autoencoder_diverged": not ok, "autoencoder_test_mse": rec_mse if ok else None,
              "features": features(args, nets, ae_ts if ok else None, x_tr, y_tr, x_te, y_te)}
    record["denoising_psnr_db"], triplet = denoising(args, nets, ae_ts if ok else None, x_tr, x_te)
    record["anomaly"] = anomaly(args, nets, x_tr, y_tr, x_te, y_te, data.CLASS_NAMES[name])
    record["seconds"] = round(time.perf_counter() - started, 1)
    return record, {"x_te": x_te, "triplet": triplet}


def compare(a: dict, b: dict, higher: str = "higher", lower: str = "lower") -> str:
    """a against b by the spread rule: `higher`, `lower`, 'within noise' (or 'missing')."""
    differ = exceeds_spread(a, b)
    if not differ:
        return "missing" if differ is None else "within noise"
    return higher if a["mean"] > b["mean"] else lower


def verdicts(s: dict, args, levels) -> dict:
    """The spread-rule verdicts: AE codes vs pixels / PCA per label count, the denoising AE vs
    the noisy input / the plain AE per std, each held-out class's AUC vs chance (0.5)."""
    ae = lambda n, k: compare(s[f"features.{n}.autoencoder"], s[f"features.{n}.{k}"])  # noqa: E731
    dae = lambda lvl, k: compare(s[f"denoising_psnr_db.{lvl}.denoising_autoencoder"],  # noqa: E731
                                 s[f"denoising_psnr_db.{lvl}.{k}"])
    return {"features": {str(n): {"autoencoder_vs_pixels": ae(n, "pixels"),
                                  "autoencoder_vs_pca": ae(n, "pca")} for n in args.labels},
            "denoising": {lvl: {"vs_noisy_input": dae(lvl, "noisy"), "vs_plain_autoencoder":
                                dae(lvl, "plain_autoencoder")} for lvl in levels},
            "anomaly_auc_vs_chance": {str(c): compare(s[f"anomaly.held_out.{c}.auc"], CHANCE,
                                                      "above chance", "below chance")
                                      for c in args.held_out}}


def main(argv=None) -> dict:
    args = parse_args(argv)
    started, seeds = time.perf_counter(), seeds_of(args)
    nets, records, first = build(args), [], None
    for seed in seeds:
        split = load_images(args.quick, seed=seed, flatten=True)
        record, pictures_in = run_seed(nets, with_seed(args, seed), split)
        records.append(record)
        first = first or pictures_in
    keys = (["autoencoder_test_mse", "anomaly.mean_auc"]
            + [f"features.{n}.{k}" for n in args.labels for k in REPS]
            + [f"anomaly.held_out.{c}.{k}" for c in args.held_out for k in ANOMALY_KEYS])
    out, levels = over_seeds(records, keys, seeds), list(records[0]["denoising_psnr_db"])
    # the PSNRs' keys "denoising_psnr_db.<std>.<model>": the std's dot defeats over_seeds' lookup
    out["over_seeds"].update({f"denoising_psnr_db.{lvl}.{k}": mean_sd(
        [r["denoising_psnr_db"][lvl][k] for r in records]) for lvl in levels for k in PSNR_KEYS})
    out = {"settings": settings(args), **out, "verdicts": verdicts(out["over_seeds"], args, levels)}
    save_results(args.out, out, started=started)
    write_table(args.out, table(out, args))
    pictures(Path(args.out), out, args, first)
    return out


def table(m: dict, args) -> str:
    """Mean ± sd over the seeds of every compared number, with the spread-rule verdicts."""
    s, v, n = m["over_seeds"], m["verdicts"], len(m["over_seeds"]["seeds"])
    f = lambda stat, d: format_mean_sd(stat, d, none="diverged", some="finite")  # noqa: E731
    lines = [f"| labelled examples | raw pixels (784) | PCA codes ({m['code']}) | autoencoder "
             f"codes ({m['code']}) | AE vs pixels | AE vs PCA |", "|---:|---:|---:|---:|---|---|"]
    for k, r in v["features"].items():
        lines.append(f"| {k} | " + " | ".join(f(s[f"features.{k}.{rep}"], 3) for rep in REPS)
                     + f" | {r['autoencoder_vs_pixels']} | {r['autoencoder_vs_pca']} |")
    lines += ["", "| noise std | noisy input (clipped) | plain AE | denoising AE | DAE vs noisy "
              "| DAE vs plain AE |", "|---:|---:|---:|---:|---|---|"]
    for lvl, r in v["denoising"].items():
        lines.append(f"| {lvl} | " + " | ".join(f(s[f"denoising_psnr_db.{lvl}.{k}"], 2) for k in
                                                PSNR_KEYS if k != "noisy_unclipped")
                     + f" | {r['vs_noisy_input']} | {r['vs_plain_autoencoder']} |")
    lines += ["", "| held-out class | ROC AUC | vs chance | error held-out | error others |",
              "|---|---:|---|---:|---:|"]
    for c, verdict in v["anomaly_auc_vs_chance"].items():
        a = lambda k: s[f"anomaly.held_out.{c}.{k}"]  # noqa: E731
        lines.append(f"| {m['anomaly']['held_out'][c]['class']} | {f(a('auc'), 3)} | {verdict} | "
                     f"{f(a('mean_score_held_out'), 1)} | {f(a('mean_score_others'), 1)} |")
    lines += ["", f"Mean ± sd over {n} seed{'s' * (n > 1)}. Plain autoencoder test MSE per pixel "
              f"{f(s['autoencoder_test_mse'], 5)}; mean AUC {f(s['anomaly.mean_auc'], 3)}.", ""]
    return "\n".join(lines)


def pictures(out: Path, m: dict, args, first: dict) -> None:
    """autoencoder_uses.png (mean ± sd over the seeds) and the first seed's triplets."""
    plt, s = viz.pyplot(), m["over_seeds"]
    # means and sds of mean_sd results (None, a seed diverged, becomes NaN: not drawn)
    spread = lambda stats: np.array([[x["mean"], x["sd"]] for x in stats], float).T  # noqa: E731
    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    ns, levels = list(args.labels), list(m["verdicts"]["denoising"])
    for k in REPS:
        ax[0].errorbar(ns, *spread([s[f"features.{n}.{k}"] for n in ns]), marker="o", label=k)
    ax[0].set(xscale="log", xlabel="labelled examples", ylabel="test accuracy",
              title="logistic regression on features")
    ax[0].set_xticks(ns, [str(n) for n in ns], minor=False), ax[0].minorticks_off()
    for k in ("noisy", "plain_autoencoder", "denoising_autoencoder"):
        ax[1].errorbar([float(x) for x in levels], *spread(
            [s[f"denoising_psnr_db.{lvl}.{k}"] for lvl in levels]), marker="o", label=k)
    ax[1].set(xlabel="noise std", ylabel="PSNR (dB)", title="denoising")
    means, sds = spread([s[f"anomaly.held_out.{c}.auc"] for c in args.held_out])
    ax[2].bar([m["anomaly"]["held_out"][str(c)]["class"] for c in args.held_out], means, yerr=sds)
    ax[2].axhline(0.5, color="gray", ls="--")
    ax[2].set(ylim=(0, 1), ylabel="ROC AUC", title="held-out class as anomaly")
    finish_figure(fig, out / "autoencoder_uses.png", grid=ax[:2], legend=ax[:2],
                  title=f"mean ± sd over {len(s['seeds'])} seeds", title_y=1.03)
    t = first["triplet"]
    viz.denoising_triplets(first["x_te"][:10], t["noisy"], t["denoised"],
                           out / "autoencoder_uses_triplets.png", image_shape=(28, 28),
                           title=f"Gaussian noise, std {t['level']:g} (seed {s['seeds'][0]})")
    print(f"wrote the plots to {out}")


if __name__ == "__main__":
    main()
