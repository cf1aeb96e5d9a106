"""U-Net segmentation of synthetic shapes: IoU of a U-Net against the same network without skip
connections and against the best global threshold, mean ± sd over seeds.

    python experiments/unet_segmentation.py            # 4,000 training / 1,000 test images, 3 seeds
    python experiments/unet_segmentation.py --quick    # 200 / 100 images, 1 level, 1 epoch, 2 seeds

Claim (*Engineering Deep Learning*, "Architectures: U-Net Architecture"): an encoder-decoder
with skip connections that concatenate each contracting level's features to the expanding path
gives a per-pixel output at the input's resolution (Ronneberger et al. 2015: precise
localization for segmentation).

Method: each 32x32 image holds one random disc or square (radius or half side 4..9 px,
brightness 0.6..1) and two straight lines of the same brightness, on Gaussian noise (std 0.25);
the mask is the shape only. Adam on the per-pixel sigmoid cross-entropy trains `models.unet(1,
depth, base_filters)` and `no_skip` (the same levels and filters without the skips). Baseline:
the global threshold with the best mean IoU on the training set. Measured on the test set: mean
IoU (logit > 0), pixel accuracy, IoU per epoch. Each of `--seeds` seeds draws its own images,
initial weights and data order (compiled steps shared); numbers are mean ± sd over the seeds,
verdicts follow the spread rule (`exceeds_spread`).

Writes `<out>/metrics.json`, table.md, unet_iou.png (test IoU per epoch per seed and mean) and,
from the first seed, unet_examples.png (image, true mask, threshold, no-skip and U-Net masks).
"""
from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import (add_seeds_argument, exceeds_spread, finish_figure, format_mean_sd, mean_sd,
                     over_seeds, parser, save_results, seeds_of, settings, with_seed, write_table)

from jdl import losses, models, nn, train, viz

SIZE = 32
MODELS = ("unet", "no_skip")
METHODS = ("threshold", *MODELS)
KINDS = ("disc", "square")


def parse_args(argv=None):
    p = parser("unet_segmentation", __doc__.splitlines()[0])
    p.add_argument("--train-size", type=int, default=4000)
    p.add_argument("--test-size", type=int, default=1000)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--base-filters", type=int, default=8)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--noise", type=float, default=0.25)
    add_seeds_argument(p)
    args = p.parse_args(argv)
    if args.quick:
        args.train_size, args.test_size, args.epochs, args.base_filters = 200, 100, 1, 4
        args.depth, args.seeds = 1, min(args.seeds, 2)  # one level: about 60% of the compile
    return args


def _line(rng, yy, xx) -> np.ndarray:
    """A 1-2 px wide straight line across the image through a random point, random angle."""
    cy, cx = rng.uniform(0, SIZE, 2)
    angle = rng.uniform(0, np.pi)
    return np.abs((yy - cy) * np.cos(angle) - (xx - cx) * np.sin(angle)) < rng.uniform(0.5, 1.0)


def make_shapes(n: int, *, noise: float = 0.25, seed: int = 0):
    """`n` images (n, 32, 32, 1) float32 and masks (n, 32, 32, 1) in {0, 1}, and the kinds
    (0 = disc, 1 = square): one shape plus two lines of its brightness, on Gaussian noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    images, masks = (np.empty((n, SIZE, SIZE), np.float32) for _ in range(2))
    kinds = rng.integers(0, 2, n)
    for i, kind in enumerate(kinds):
        r = rng.uniform(4, 9)
        cy, cx = rng.uniform(r, SIZE - r, 2)
        if kind == 0:
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        else:
            mask = (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r)
        lines = _line(rng, yy, xx) | _line(rng, yy, xx)
        images[i] = rng.uniform(0.6, 1.0) * (mask | lines) + rng.normal(0, noise, (SIZE, SIZE))
        masks[i] = mask
    return images[..., None], masks[..., None], kinds


def iou(pred, target) -> np.ndarray:
    """Per-image intersection over union of boolean masks (n, ...) -> (n,); 1 if both empty."""
    pred, target = np.asarray(pred, bool), np.asarray(target, bool)
    axes = tuple(range(1, pred.ndim))
    inter, union = (pred & target).sum(axes), (pred | target).sum(axes)
    return np.where(union == 0, 1.0, inter / np.maximum(union, 1))


def iou_metric(logits, masks):
    """`iou` on logits (> 0) for `make_steps`' metrics (jnp, per example)."""
    pred, target = logits > 0, masks > 0.5
    axes = tuple(range(1, logits.ndim))
    inter, union = jnp.sum(pred & target, axes), jnp.sum(pred | target, axes)
    return jnp.where(union == 0, 1.0, inter / jnp.maximum(union, 1))


def best_threshold(images, masks, candidates=None) -> tuple[float, float]:
    """The global threshold with the highest mean IoU on (images, masks), and that IoU."""
    candidates = np.linspace(0.0, 1.2, 49) if candidates is None else candidates
    scores = [float(iou(images > t, masks > 0.5).mean()) for t in candidates]
    best = int(np.argmax(scores))
    return float(candidates[best]), scores[best]


def _block(features: int) -> nn.Layer:
    return nn.serial(("conv1", nn.Conv(features, 3, w_init="he")), ("relu1", nn.Relu()),
                     ("conv2", nn.Conv(features, 3, w_init="he")), ("relu2", nn.Relu()))


def no_skip_net(out_channels: int, depth: int, base_filters: int) -> nn.Layer:
    """`models.unet`'s levels and filters without the skip connections (encoder-decoder)."""
    def level(d):
        f = base_filters * 2 ** d
        if d == depth:
            return _block(f)
        return nn.serial(("encode", _block(f)), ("pool", nn.MaxPool(2)),
                         (f"level{d + 1}", level(d + 1)),
                         ("up", nn.ConvTranspose(f, 2, 2, w_init="he")), ("decode", _block(f)))
    return nn.serial(("level0", level(0)), ("output", nn.Conv(out_channels, 1)))


def build(name: str, args) -> dict:
    """One network, its optimizer and compiled steps, shared by the seeds (same shapes)."""
    model = models.unet(1, args.depth, args.base_filters) if name == "unet" else \
        no_skip_net(1, args.depth, args.base_filters)
    opt = optax.adam(args.lr)
    train_step, eval_step = train.make_steps(model, opt, losses.sigmoid_binary_cross_entropy,
                                             metrics={"iou": iou_metric})
    return {"model": model, "opt": opt, "train_step": train_step, "eval_step": eval_step}


def train_model(name: str, net: dict, args, train_data, test_data) -> tuple[dict, np.ndarray]:
    """Train one network from seed `args.seed`; return its metrics and its test logits (a run
    stopped by fit's non-finite guard has fewer epochs and `diverged` set)."""
    ts = train.init_train_state(net["model"], net["opt"], jax.random.key(args.seed),
                                (1, SIZE, SIZE, 1))
    started = time.perf_counter()
    ts, history = train.fit(ts, net["train_step"], train_data, epochs=args.epochs,
                            batch_size=args.batch_size, val_data=test_data,
                            eval_step=net["eval_step"], verbose=0,
                            eval_batch_size=min(500, len(test_data[0])),
                            steps_per_call=1 if args.quick else 4)
    seconds = time.perf_counter() - started
    logits = np.asarray(train.predict(net["model"], ts, test_data[0], batch_size=500))
    pred, masks = logits > 0, test_data[1] > 0.5
    val_iou = history.get("val_iou", [])
    ok = len(val_iou) == args.epochs
    result = {"test_iou": float(iou(pred, masks).mean()) if ok else None,
              "pixel_accuracy": float((pred == masks).mean()) if ok else None,
              "parameters": int(sum(np.size(p) for p in jax.tree.leaves(ts.params))),
              "seconds": round(seconds, 1), "val_iou": val_iou, "diverged": not ok,
              "val_loss_per_pixel": [v / SIZE ** 2 for v in history.get("val_loss", [])]}
    print(f"seed {args.seed} {name:8s} test IoU {result['test_iou']} ({seconds:.0f} s)")
    return result, logits


def run_seed(nets: dict, args) -> tuple[dict, dict]:
    """One seed: its images, the threshold and both networks; its record and pictures' inputs."""
    x_tr, m_tr, _ = make_shapes(args.train_size, noise=args.noise, seed=args.seed)
    x_te, m_te, kinds = make_shapes(args.test_size, noise=args.noise, seed=args.seed + 1000)
    threshold, train_iou = best_threshold(x_tr, m_tr)
    thr_pred, logits = x_te > threshold, {}
    results = {"threshold": {"threshold": threshold, "train_iou": train_iou,
                             "test_iou": float(iou(thr_pred, m_te > 0.5).mean()),
                             "pixel_accuracy": float((thr_pred == (m_te > 0.5)).mean())}}
    for name, net in nets.items():
        results[name], logits[name] = train_model(name, net, args, (x_tr, m_tr), (x_te, m_te))
    by_kind = {name: {kind: None if results[name]["diverged"] else float(
        iou(logits[name][kinds == k] > 0, m_te[kinds == k] > 0.5).mean())
        for k, kind in enumerate(KINDS)} for name in MODELS}
    record = {"results": results, "test_iou_by_kind": by_kind, "mask_fraction": float(m_te.mean())}
    return record, {"x_test": x_te, "masks": m_te, "threshold": threshold, "logits": logits}


def compare(a: dict, b: dict) -> str:
    """a against b by the spread rule: 'lower', 'higher', 'within noise' (or 'missing')."""
    differ = exceeds_spread(a, b)
    if not differ:
        return "missing" if differ is None else "within noise"
    return "lower" if a["mean"] < b["mean"] else "higher"


def summarize(records: list[dict], seeds) -> dict:
    """The first seed's record, `over_seeds` (mean ± sd), `curves` (test IoU per epoch) and the
    verdicts: U-Net against no skips (overall, by shape, per epoch, paired gap), against the
    threshold, and the seeds where a network did not beat the threshold (failed to learn)."""
    keys = [f"results.{m}.{k}" for m in METHODS for k in ("test_iou", "pixel_accuracy")] + [
        "results.threshold.threshold", "mask_fraction",
        *(f"test_iou_by_kind.{m}.{k}" for m in MODELS for k in KINDS)]
    out = over_seeds(records, keys, seeds)
    s = out["over_seeds"]
    runs = {m: [r["results"][m]["val_iou"] for r in records] for m in MODELS}
    out["curves"] = curves = {m: [mean_sd([v[e] if e < len(v) else None for v in runs[m]])
                                  for e in range(max(map(len, runs[m])))] for m in MODELS}
    pairs = [(r["results"]["unet"]["test_iou"], r["results"]["no_skip"]["test_iou"]) for r in records]
    per_epoch = [compare(u, n) for u, n in zip(curves["unet"], curves["no_skip"])]
    out["verdicts"] = {
        "unet_vs_no_skip": {k: compare(s[f"results.unet.{k}"], s[f"results.no_skip.{k}"])
                            for k in ("test_iou", "pixel_accuracy")}
        | {k: compare(s[f"test_iou_by_kind.unet.{k}"], s[f"test_iou_by_kind.no_skip.{k}"])
           for k in KINDS},
        "unet_vs_no_skip_per_epoch": per_epoch,
        "unet_ahead_every_epoch": all(v == "higher" for v in per_epoch),
        "gap_unet_minus_no_skip": mean_sd([None if None in p else p[0] - p[1] for p in pairs]),
        "seeds_not_above_threshold": {m: [seed for seed, r in zip(seeds, records) if not (
            (r["results"][m]["test_iou"] or 0) > r["results"]["threshold"]["test_iou"])]
            for m in MODELS},
        **{f"{m}_vs_threshold": compare(s[f"results.{m}.test_iou"],
                                         s["results.threshold.test_iou"]) for m in MODELS}}
    return out


def table(out: dict) -> str:
    """The methods (mean ± sd over seeds), the verdicts, and the test IoU per epoch."""
    s, v, n = out["over_seeds"], out["verdicts"], len(out["over_seeds"]["seeds"])
    f = lambda stat, d=3: format_mean_sd(stat, d, none="diverged", some="finite")  # noqa: E731
    rows = [f"| method (mean ± sd, {n} seeds) | parameters | test IoU | pixel accuracy "
            f"| IoU discs | IoU squares |", "|---|---|---|---|---|---|",
            f"| best global threshold ({f(s['results.threshold.threshold'], 2)}) | - | "
            f"{f(s['results.threshold.test_iou'])} | {f(s['results.threshold.pixel_accuracy'], 4)}"
            f" | - | - |"]
    for m in ("no_skip", "unet"):
        rows.append(f"| {m} | {out['results'][m]['parameters']:,} | "
                    f"{f(s[f'results.{m}.test_iou'])} | {f(s[f'results.{m}.pixel_accuracy'], 4)} | "
                    + " | ".join(f(s[f"test_iou_by_kind.{m}.{k}"]) for k in KINDS) + " |")
    u = v["unet_vs_no_skip"]
    rows += [f"| unet vs no_skip | - | {u['test_iou']} | {u['pixel_accuracy']} | {u['disc']} | "
             f"{u['square']} |", "",
             "| epoch | " + " | ".join(str(e + 1) for e in range(len(out["curves"]["unet"]))) + " |",
             "|---" * (len(out["curves"]["unet"]) + 1) + "|"]
    rows += [f"| {m} | " + " | ".join(f(c) for c in out["curves"][m]) + " |" for m in MODELS]
    rows.append("| unet vs no_skip | " + " | ".join(v["unet_vs_no_skip_per_epoch"]) + " |")
    rows += ["", "| test IoU of seed | " + " | ".join(map(str, s["seeds"])) + " |",
             "|---" * (n + 1) + "|"] + [f"| {m} | " + " | ".join(
                 "-" if x is None else f"{x:.3f}" for x in s[f"results.{m}.test_iou"]["values"])
                 + " |" for m in METHODS]
    return "\n".join(rows) + "\n"


def plot_examples(images, masks, threshold, logits: dict, path: Path, n: int = 6) -> Path:
    plt = viz.pyplot()
    columns = [("image", images), ("true mask", masks > 0.5),
               (f"threshold {threshold:.2f}", images > threshold)]
    columns += [(f"{k} (logit > 0)", v > 0) for k, v in logits.items()]
    fig, ax = plt.subplots(n, len(columns), figsize=(2 * len(columns), 2 * n))
    for i in range(n):
        for j, (title, arr) in enumerate(columns):
            ax[i, j].imshow(arr[i, :, :, 0], cmap="gray")
            ax[i, j].axis("off")
            score = f"IoU {iou(arr[i:i + 1], masks[i:i + 1] > 0.5)[0]:.2f}" if j > 1 else ""
            ax[i, j].set_title("\n".join(t for t in (title if i == 0 else "", score) if t),
                               fontsize=8)
    return finish_figure(fig, path, "Synthetic shapes: segmentation on test images (first seed)")


def plot_iou(curves: dict, threshold_iou: dict, path: Path) -> Path:
    """Test IoU per epoch: the mean over seeds (thick), each seed's curve (thin), and the
    threshold's mean (a failed seed shows as its own curve, not as a wide band)."""
    plt, nan = viz.pyplot(), lambda v: np.nan if v is None else v
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in MODELS:
        runs = np.array([[nan(v) for v in c["values"]] for c in curves[name]])  # (epoch, seed)
        epochs = np.arange(1, len(runs) + 1)
        line, = ax.plot(epochs, [nan(c["mean"]) for c in curves[name]], marker=".", lw=2,
                        label=f"{name}: mean")
        ax.plot(epochs, runs, color=line.get_color(), lw=0.8, alpha=0.6)
    ax.axhline(nan(threshold_iou["mean"]), color="gray", ls="--", label="best global threshold")
    ax.set(xlabel="epoch", ylabel="mean test IoU", ylim=(-0.02, 1))
    return finish_figure(fig, path, "U-Net vs no skip connections (thin: each seed)",
                         grid=[ax], legend=[ax])


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    seeds = seeds_of(args)
    nets = {name: build(name, args) for name in MODELS}
    runs = [run_seed(nets, with_seed(args, seed)) for seed in seeds]  # (record, pictures)
    records, first = [record for record, _ in runs], runs[0][1]
    out = {"settings": settings(args), "image_size": SIZE, "n_train": args.train_size,
           "n_test": args.test_size, **summarize(records, seeds)}
    save_results(args.out, out, started=started)
    write_table(args.out, table(out))
    plot_examples(first["x_test"], first["masks"], first["threshold"], first["logits"],
                  args.out / "unet_examples.png", n=2 if args.quick else 6)
    plot_iou(out["curves"], out["over_seeds"]["results.threshold.test_iou"],
             args.out / "unet_iou.png")
    return out


if __name__ == "__main__":
    main()
