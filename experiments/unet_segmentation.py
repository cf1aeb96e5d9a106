"""U-Net segmentation of synthetic shapes: IoU of a U-Net against the same network without skip
connections and against the best global threshold.

    python experiments/unet_segmentation.py            # 4,000 training / 1,000 test images
    python experiments/unet_segmentation.py --quick    # 200 / 100 images, 1 level, 1 epoch (tests)

Claim (*Engineering Deep Learning*, "Architectures: U-Net Architecture", after "Autoencoders"
with its "Image Denoising" application): an encoder-decoder with skip connections that
concatenate each contracting level's features to the expanding path gives a per-pixel output
at the input's resolution (Ronneberger et al. 2015: precise localization for segmentation).

Method: each 32x32 image holds one random disc or square (radius or half side 4..9 px,
brightness 0.6..1) and two distracting straight lines of the same brightness, all on Gaussian
noise (std 0.25); the target mask is the shape only (not the lines). Models, all trained with
Adam on the per-pixel sigmoid cross-entropy (`losses.sigmoid_binary_cross_entropy`):
`models.unet(1, depth, base_filters)`, and `no_skip`, the same levels and filters with the
skip connections removed (an encoder-decoder: each level's decoder block sees only the
upsampled map). Baseline without learning: the global threshold on the pixel value with the
best mean IoU on the training set. Measured: mean IoU (predicted mask: logit > 0) and pixel
accuracy on the test set, and the IoU per epoch.

Writes `<out>/metrics.json`, unet_examples.png (image, true mask, threshold, no-skip and U-Net
masks for 6 test images; 2 with --quick) and unet_iou.png (test IoU per epoch).
"""
from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import finish_figure, parser, save_results, settings, write_table

from jdl import losses, models, nn, train, viz

SIZE = 32
MODELS = ("unet", "no_skip")


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
    args = p.parse_args(argv)
    if args.quick:
        args.train_size, args.test_size, args.epochs, args.base_filters = 200, 100, 1, 4
        args.depth = 1  # compilation dominates: one level compiles in about 60% of the time
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
    images = np.empty((n, SIZE, SIZE), np.float32)
    masks = np.empty((n, SIZE, SIZE), np.float32)
    kinds = rng.integers(0, 2, n)
    for i, kind in enumerate(kinds):
        r = rng.uniform(4, 9)
        cy, cx = rng.uniform(r, SIZE - r, 2)
        if kind == 0:
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        else:
            mask = (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r)
        lines = _line(rng, yy, xx) | _line(rng, yy, xx)
        brightness = rng.uniform(0.6, 1.0)
        images[i] = brightness * (mask | lines) + rng.normal(0, noise, (SIZE, SIZE))
        masks[i] = mask
    return images[..., None], masks[..., None], kinds


def iou(pred, target) -> np.ndarray:
    """Per-image intersection over union of boolean masks (n, ...) -> (n,); 1 where both are
    empty."""
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


def build(name: str, args) -> nn.Layer:
    if name == "unet":
        return models.unet(1, args.depth, args.base_filters)
    return no_skip_net(1, args.depth, args.base_filters)


def train_model(name: str, args, train_data, test_data) -> tuple[dict, np.ndarray]:
    """Train one network; return its metrics and its test logits."""
    model, opt = build(name, args), optax.adam(args.lr)
    ts = train.init_train_state(model, opt, jax.random.key(args.seed), (1, SIZE, SIZE, 1))
    train_step, eval_step = train.make_steps(model, opt, losses.sigmoid_binary_cross_entropy,
                                             metrics={"iou": iou_metric})
    started = time.perf_counter()
    ts, history = train.fit(ts, train_step, train_data, epochs=args.epochs,
                            batch_size=args.batch_size, val_data=test_data, eval_step=eval_step,
                            verbose=0, eval_batch_size=min(500, len(test_data[0])),
                            steps_per_call=1 if args.quick else 4)
    seconds = time.perf_counter() - started
    logits = np.asarray(train.predict(model, ts, test_data[0], batch_size=500))
    pred, masks = logits > 0, test_data[1] > 0.5
    result = {"test_iou": float(iou(pred, masks).mean()),
              "pixel_accuracy": float((pred == masks).mean()),
              "parameters": int(sum(np.size(p) for p in jax.tree.leaves(ts.params))),
              "seconds": round(seconds, 1), "val_iou": history["val_iou"],
              "val_loss_per_pixel": [v / SIZE ** 2 for v in history["val_loss"]]}
    print(f"{name:8s} test IoU {result['test_iou']:.4f}  pixel accuracy "
          f"{result['pixel_accuracy']:.4f}  ({seconds:.0f} s)")
    return result, logits


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
            if j > 1:
                ax[i, j].set_title(f"IoU {iou(arr[i:i + 1], masks[i:i + 1] > 0.5)[0]:.2f}",
                                   fontsize=8)
            if i == 0:
                ax[i, j].set_title(title + (ax[i, j].get_title() and "\n" + ax[i, j].get_title()),
                                   fontsize=8)
    return finish_figure(fig, path, "Synthetic shapes: segmentation on test images")


def plot_iou(results: dict, threshold_iou: float, path: Path) -> Path:
    plt = viz.pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in MODELS:
        v = results[name]["val_iou"]
        ax.plot(np.arange(1, len(v) + 1), v, marker=".", label=name)
    ax.axhline(threshold_iou, color="gray", ls="--", label="best global threshold")
    ax.set(xlabel="epoch", ylabel="mean test IoU", ylim=(0, 1))
    return finish_figure(fig, path, "U-Net vs no skip connections", grid=[ax], legend=[ax])


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    x_tr, m_tr, _ = make_shapes(args.train_size, noise=args.noise, seed=args.seed)
    x_te, m_te, kinds = make_shapes(args.test_size, noise=args.noise, seed=args.seed + 1000)
    threshold, train_iou = best_threshold(x_tr, m_tr)
    thr_pred = x_te > threshold
    results = {"threshold": {"threshold": threshold, "train_iou": train_iou,
                             "test_iou": float(iou(thr_pred, m_te > 0.5).mean()),
                             "pixel_accuracy": float((thr_pred == (m_te > 0.5)).mean())}}
    logits = {}
    for name in MODELS:
        results[name], logits[name] = train_model(name, args, (x_tr, m_tr), (x_te, m_te))
    by_kind = {name: {kind: float(iou(logits[name][kinds == k] > 0, m_te[kinds == k] > 0.5)
                                  .mean()) for k, kind in enumerate(("disc", "square"))}
               for name in MODELS}
    out = {"settings": settings(args), "image_size": SIZE, "n_train": args.train_size,
           "n_test": args.test_size, "mask_fraction": float(m_te.mean()), "results": results,
           "test_iou_by_kind": by_kind}
    save_results(args.out, out, started=started)
    rows = [f"| {k} | {r['test_iou']:.4f} | {r['pixel_accuracy']:.4f} |"
            for k, r in results.items()]
    write_table(args.out, "| method | test IoU | pixel accuracy |\n|---|---|---|\n"
                + "\n".join(rows) + "\n")
    plot_examples(x_te, m_te, threshold, logits, args.out / "unet_examples.png",
                  n=2 if args.quick else 6)  # --quick: 2 rows draw in 0.6 s instead of 1.4 s
    plot_iou(results, results["threshold"]["test_iou"], args.out / "unet_iou.png")
    return out


if __name__ == "__main__":
    main()
