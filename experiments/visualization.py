"""Visualization: what a small CNN trained on Fashion-MNIST learned, and a style-transfer picture.

    python experiments/visualization.py            # full: fashion_cnn, 2 epochs on 55,000 images, 3 seeds
    python experiments/visualization.py --quick    # seconds: a tiny CNN, 600 images, 2 seeds (the test)
    python experiments/visualization.py --style-weights 3e4 1e5 --style-steps 500

Senk's lecture closes with "Visualizing CNNs" and "Neural Style Transfer" (appendix: [Simonyan et
al. 2014]); Salakhutdinov's lecture shows "The outputs (not the filters) of each layer" of a
ConvNet and lists style transfer among its uses (docs/curriculum.md, chapter 8). The lectures show
pictures, not formulas; the formulas are the cited papers', implemented in `jdl.viz`
(docs/visualization.md). What the pictures should show, checked by numbers where one exists:

- first-layer filters: small oriented edge / blob detectors (plot only);
- feature maps: the first block's maps are edge-filtered copies of the image, the second's
  coarser and sparser (recorded: shape, fraction of active units per layer);
- saliency M = max_c |dS_y/dx| (Simonyan et al. sec. 3.1) concentrates on the garment, not the
  black background (recorded: the share of saliency mass on object pixels, x > 0.1, against
  the share of such pixels, on `--saliency-probe` test images, for the trained network and for
  the same network untrained: the baseline a concentration must beat to mean anything);
- class models I* = argmax_I S_c(I) - lambda ||I||^2 (Simonyan et al. sec. 2): the class score
  rises from start to end and the network classifies each class model as its class (the
  untrained network's class models are the baseline: an optimized input can win its class on
  any network, trained or not);
- style transfer min_x a L_content + b L_style (Gatys et al. 2016, eq. 7, Gram matrices of
  conv features), started from the content image: the style loss falls, the more the larger
  b / a, while the content fades (their Fig. 3 trade-off); at the middle b both the garment and
  the texture are visible. Gatys et al. use an ImageNet VGG-19; **no pretrained ImageNet weights are
  available offline here**, so the features are those of the CNN trained below on 28 x 28
  Fashion-MNIST, and the styles are synthetic NumPy textures (diagonal stripes, checkerboard).

Also the test accuracy and the confusion matrix (per-class recall). Each of
`--seeds` seeds trains a new network (initial weights, data order, validation split) against its
own untrained baseline; the compared numbers are mean ± sd over the seeds (`over_seeds`) and each
verdict follows exceeds_spread (`verdicts`). Writes `<out>/metrics.json`, `<out>/table.md` and
the first seed's PNGs: filters, feature_maps_<layer>, saliency, class_models, confusion_matrix,
style_transfer. Full mode on the 2-core CPU: 272 s for 3 seeds (docs/experiments/visualization.md).
"""
from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import (add_seeds_argument, exceeds_spread, format_mean_sd, load_images, mean_sd,
                     over_seeds, parser, save_results, seeds_of, settings as _settings, with_seed,
                     write_table)

from jdl import checkpoint, data, losses, metrics, models, train, transfer, viz

FEATURE_LAYERS = ("features/block1/relu", "features/block2/relu")


def parse_args(argv=None):
    p = parser("visualization", __doc__.splitlines()[0])
    add_seeds_argument(p)
    p.add_argument("--widths", type=int, nargs="+", default=[32, 64],
                   help="fashion_cnn conv widths")
    p.add_argument("--dense", type=int, default=128, help="fashion_cnn fc width")
    p.add_argument("--train-size", type=int, default=None, help="default: all 55,000")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--steps-per-call", type=int, default=4, help="train steps per compiled call")
    p.add_argument("--eval-batch-size", type=int, default=1000)
    p.add_argument("--image", type=int, default=0, help="test image of the feature maps")
    p.add_argument("--saliency-images", type=int, default=6,
                   help="saliency for the first test image of this many classes")
    p.add_argument("--saliency-probe", type=int, default=500,
                   help="test images whose saliency concentration is measured, for the trained "
                        "and the untrained network (the baseline)")
    p.add_argument("--class-steps", type=int, default=300, help="class model: Adam steps")
    p.add_argument("--class-lr", type=float, default=0.01)
    p.add_argument("--class-l2", type=float, default=0.05, help="lambda of S_c(I) - lambda ||I||^2")
    p.add_argument("--content-label", type=int, default=3,
                   help="style transfer content: the first test image of this class (3 dress)")
    p.add_argument("--styles", nargs="+", choices=sorted(TEXTURES),
                   default=["stripes", "checkerboard"])
    p.add_argument("--style-size", type=int, default=56, help="side of the synthetic textures")
    p.add_argument("--content-layer", default="features/block2/relu")
    p.add_argument("--style-layers", nargs="+", default=list(FEATURE_LAYERS))
    p.add_argument("--style-steps", type=int, default=300)
    p.add_argument("--style-lr", type=float, default=0.02)
    p.add_argument("--content-weight", type=float, default=1.0)
    p.add_argument("--style-weights", type=float, nargs="+", default=[1e4, 5e4, 2e5],
                   help="b of a L_content + b L_style: one row of pictures per value")
    p.add_argument("--tv-weight", type=float, default=0.0)
    p.add_argument("--save-weights", type=Path, default=None,
                   help="write the trained CNN here (checkpoint.save_weights)")
    p.add_argument("--load-weights", type=Path, default=None,
                   help="skip training: read weights written by --save-weights")
    args = p.parse_args(argv)
    seeds_of(args)  # --seeds 0: a clear error before any work
    if args.quick:
        args.seeds = min(args.seeds, 2)
        args.widths, args.dense, args.epochs, args.batch_size = [8, 16], 32, 1, 50
        args.class_steps, args.style_steps, args.style_weights = 10, 10, [5e4]
        # few compiles, the cost of a quick run: one step per call, one eval batch shape
        args.steps_per_call, args.eval_batch_size, args.saliency_probe = 1, 100, 50
    return args


def stripes(size: int, period: int = 8) -> np.ndarray:
    """Diagonal stripes: 1 where (i + j) mod period < period / 2, else 0; (size, size, 1)."""
    i, j = np.indices((size, size))
    return (((i + j) % period) < period / 2).astype(np.float32)[..., None]


def checkerboard(size: int, square: int = 4) -> np.ndarray:
    """A checkerboard of `square`-pixel squares in {0, 1}; (size, size, 1)."""
    i, j = np.indices((size, size))
    return (((i // square) + (j // square)) % 2).astype(np.float32)[..., None]


TEXTURES = {"stripes": stripes, "checkerboard": checkerboard}


def first_of_each_class(y: np.ndarray, count: int) -> np.ndarray:
    """Index of the first example of each of the first `count` classes present in y."""
    classes = np.unique(y)[:count]
    return np.array([int(np.flatnonzero(y == c)[0]) for c in classes])


def saliency_on_object(images: np.ndarray, maps: np.ndarray, threshold: float = 0.1) -> dict:
    """Share of saliency mass on object pixels (x > threshold) and the share of object pixels.

    Fashion-MNIST garments lie on a black (0) background, so a map that looks at the garment
    puts more than the object's area share of its mass there: mean_concentration = mean of
    mass share / area share, 1 for a map blind to the object.
    """
    mask = images[..., 0] > threshold
    mass = np.sum(maps * mask, axis=(1, 2)) / np.maximum(np.sum(maps, axis=(1, 2)), 1e-30)
    area = mask.mean(axis=(1, 2))
    return {"saliency_mass_on_object": mass.tolist(), "object_pixel_fraction": area.tolist(),
            "mean_concentration": float(np.mean(mass / np.maximum(area, 1e-30)))}


def build(args):
    """fashion_cnn(10), Adam and the jitted train / eval steps, built once for every seed (the
    seeds reuse the compiled programs): (model, optimizer, step, eval_step)."""
    model = models.fashion_cnn(10, widths=tuple(args.widths), dense=args.dense)
    optimizer = optax.adam(args.lr)
    step, ev = train.make_steps(model, optimizer, losses.softmax_cross_entropy,
                                metrics={"accuracy": metrics.accuracy})
    return model, optimizer, step, ev


def train_cnn(args, kit, train_data, val, test):
    """fashion_cnn(10) trained with Adam from the key of args.seed (or loaded): (model, ts, info)."""
    model, optimizer, step, ev = kit
    shape = (1, *train_data[0].shape[1:])
    started = time.perf_counter()
    history = {}
    if args.load_weights is not None:
        params, state = transfer.load_pretrained(args.load_weights, model, shape)
        ts = train.TrainState(params, state, None, jnp.zeros((), jnp.int32),
                              jax.random.key(args.seed))
    else:
        ts = train.init_train_state(model, optimizer, jax.random.key(args.seed), shape)
        ts, history = train.fit(ts, step, train_data, epochs=args.epochs,
                                batch_size=args.batch_size, val_data=val, eval_step=ev, verbose=0,
                                steps_per_call=args.steps_per_call,
                                eval_batch_size=args.eval_batch_size)
        if args.save_weights is not None:
            written = checkpoint.save_weights(args.save_weights, {"params": ts.params, "state": ts.state})
            print(f"wrote {written}")
    test_logs = train.evaluate(ts, ev, test, batch_size=args.eval_batch_size)
    info = {"epochs": 0 if args.load_weights is not None else args.epochs,
            "loaded_from": None if args.load_weights is None else str(args.load_weights),
            "history": {k: v for k, v in history.items() if k != "epoch_time"},
            "test_accuracy": test_logs["accuracy"], "test_loss": test_logs["loss"],
            "seconds": round(time.perf_counter() - started, 2)}
    return model, ts, info


def plot_saliency_grid(images, maps, titles, path: Path, title: str) -> Path:
    """Images (top row, titled with true / predicted class) above their saliency maps."""
    plt = viz.pyplot()
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.9 * n, 4.2), squeeze=False)
    for i in range(n):
        axes[0, i].imshow(images[i][..., 0], cmap="gray", vmin=0, vmax=1)
        axes[0, i].set_title(titles[i], fontsize=8)
        axes[1, i].imshow(maps[i], cmap="hot")
        for ax in axes[:, i]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[1, 0].set_ylabel("saliency |dS_y/dx|", fontsize=8)
    fig.suptitle(title)
    return viz.save_figure(fig, path)


def classify(model, ts, images, args) -> np.ndarray:
    """The predicted class of each image (evaluation mode). --quick runs the forward pass as
    one compiled program (`train.predict`): an eager `apply` compiles every layer's ops one by
    one, about 1 s each time on the 2-core CPU."""
    if args.quick:
        logits = train.predict(model, ts, images, batch_size=args.eval_batch_size)
    else:
        logits = model.apply(ts.params, ts.state, images, train=False)[0]
    return np.asarray(jnp.argmax(logits, -1))


def history_summary(history: dict) -> dict:
    """First and last value of each loss term, per image (lists), from a viz history."""
    out = {}
    for name, h in history.items():
        h = np.asarray(h)
        out[f"{name}_start"], out[f"{name}_end"] = h[0].tolist(), h[-1].tolist()
    return out


def run_seed(args, kit, pictures: bool) -> dict:
    """One seed (args.seed: initial weights, data order, validation split, and the untrained
    baseline's own initialization): the metrics; the PNGs only when `pictures`."""
    train_data, val, test, name = load_images(args.quick, seed=args.seed)
    if args.train_size is not None:
        train_data = (train_data[0][:args.train_size], train_data[1][:args.train_size])
    names = list(data.CLASS_NAMES[name])
    model, ts, info = train_cnn(args, kit, train_data, val, test)
    params, state = ts.params, ts.state
    # the baseline of every check: the same network at this seed's initial weights, never trained
    untrained = train.init_train_state(model, kit[1], jax.random.key(args.seed),
                                       (1, *train_data[0].shape[1:]))
    print(f"seed {args.seed} trained: test accuracy {info['test_accuracy']:.4f} "
          f"({info['seconds']:.1f} s)")
    out, files = args.out, []
    draw = files.append
    x_test, y_test = test

    # confusion matrix on the whole test set
    logits = train.predict(model, ts, x_test, batch_size=args.eval_batch_size)
    pred = np.asarray(jnp.argmax(logits, axis=-1))
    cm = np.asarray(metrics.confusion_matrix(logits, y_test, 10))
    if pictures:
        draw(viz.plot_confusion_matrix(cm, out / "confusion_matrix.png", class_names=names,
                                       normalize="true", title=f"test accuracy "
                                       f"{info['test_accuracy']:.3f} (rows: recall)"))

    # first-layer filters
    w1 = params["features"]["block1"]["conv"]["w"]
    if pictures:
        draw(viz.plot_filters(w1, out / "filters.png",
                              title=f"first-layer filters {tuple(w1.shape)}"))

    # feature maps of two layers for one test image
    image, label = x_test[args.image], int(y_test[args.image])
    fmaps = {}
    for layer in FEATURE_LAYERS:
        maps = np.asarray(viz.feature_maps(model, params, state, image, layer))
        fmaps[layer] = {"shape": list(maps.shape), "fraction_active": float(np.mean(maps > 0)),
                        "mean": float(maps.mean())}
        if pictures:
            draw(viz.plot_feature_maps(
                maps, out / f"feature_maps_{layer.replace('/', '_')}.png",
                title=f"{layer} on test image {args.image} ({names[label]})"))

    # saliency for the first test image of several classes
    idx = first_of_each_class(y_test, args.saliency_images)
    imgs, labels = x_test[idx], y_test[idx]
    sal = np.asarray(viz.saliency(model, params, state, imgs, labels))
    titles = [f"{names[t]}\npred {names[p]}" for t, p in zip(labels, pred[idx])]
    if pictures:
        draw(plot_saliency_grid(imgs, sal, titles, out / "saliency.png",
                                "saliency of the true class's score (Simonyan et al. 2014)"))
    sal_info = {"indices": idx.tolist(), "labels": labels.tolist(),
                "predictions": pred[idx].tolist(), **saliency_on_object(imgs, sal)}
    probe_x, probe_y = x_test[:args.saliency_probe], y_test[:args.saliency_probe]
    sal_info["probe"] = {"images": len(probe_x), **{
        name: saliency_on_object(probe_x, np.asarray(viz.saliency(model, p, s, probe_x, probe_y)))[
            "mean_concentration"]
        for name, (p, s) in (("trained", (params, state)),
                             ("untrained", (untrained.params, untrained.state)))}}
    print(f"saliency concentration on {len(probe_x)} test images: trained "
          f"{sal_info['probe']['trained']:.3f}, untrained {sal_info['probe']['untrained']:.3f}")

    # class models of all ten classes at once
    shape = (10, *x_test.shape[1:])
    # start: 0.01 N(0, 1) noise (class_model's `key` start, drawn by NumPy: no compile)
    noise = 0.01 * np.random.default_rng(args.seed + 1).standard_normal(shape, np.float32)
    cm_images, hist = viz.class_model(model, params, state, jnp.arange(10), shape,
                                      steps=args.class_steps, learning_rate=args.class_lr,
                                      l2=args.class_l2, init=noise, clip=(0.0, 1.0))
    cm_pred = classify(model, ts, cm_images, args)
    class_info = {**history_summary(hist), "predicted_class": cm_pred.tolist(),
                  "classified_as_their_class": int(np.sum(cm_pred == np.arange(10))),
                  "mean_score_end": float(np.mean(np.asarray(hist["score"])[-1]))}
    # baseline: class models of the untrained network, judged by the untrained network
    base_images, base_hist = viz.class_model(model, untrained.params, untrained.state,
                                             jnp.arange(10), shape, steps=args.class_steps,
                                             learning_rate=args.class_lr, l2=args.class_l2,
                                             init=noise, clip=(0.0, 1.0))
    base_pred = classify(model, untrained, base_images, args)
    class_info["untrained"] = {**history_summary(base_hist),
                               "classified_as_their_class": int(np.sum(base_pred == np.arange(10))),
                               "mean_score_end": float(np.mean(np.asarray(base_hist["score"])[-1]))}
    print(f"class models classified as their class: trained {class_info['classified_as_their_class']}"
          f" of 10, untrained {class_info['untrained']['classified_as_their_class']} of 10")
    if pictures:
        draw(viz.plot_images(np.asarray(cm_images), out / "class_models.png", titles=names,
                             columns=5, title=f"class models, {args.class_steps} Adam steps, "
                             f"lambda {args.class_l2}, pixels in [0, 1]"))

    # style transfer: a test image in the styles of synthetic textures
    content_idx = int(np.flatnonzero(y_test == args.content_label)[0])
    content = x_test[content_idx]
    styles = np.stack([TEXTURES[n](args.style_size) for n in args.styles])
    runs, rows, row_titles = [], [], []
    for weight in args.style_weights:
        # every style in one call: the content repeated, one style per copy
        results, hist = viz.style_transfer(
            model, params, state, np.repeat(content[None], len(styles), axis=0), styles,
            content_layer=args.content_layer, style_layers=args.style_layers,
            steps=args.style_steps, learning_rate=args.style_lr,
            content_weight=args.content_weight, style_weight=weight, tv_weight=args.tv_weight,
            clip=(0.0, 1.0))
        st_pred = classify(model, ts, results, args)
        summary = history_summary(hist)
        rows.append(content)
        row_titles.append(f"content, b = {weight:g}")
        for i, style_name in enumerate(args.styles):
            r = {"style": style_name, "style_weight": weight,
                 **{k: float(v[i]) for k, v in summary.items()}}
            r["style_reduction"] = r["style_start"] / max(r["style_end"], 1e-30)
            r["predicted_class"] = names[int(st_pred[i])]
            runs.append(r)
            rows += [styles[i], np.asarray(results[i])]
            row_titles += [f"style: {style_name}", f"style loss / {r['style_reduction']:.1f}"]
            print(f"style {style_name}, b {weight:g}: style loss {r['style_start']:.4g} -> "
                  f"{r['style_end']:.4g}, content loss {r['content_end']:.4g}, classified as "
                  f"{r['predicted_class']}")
    if pictures:
        draw(viz.plot_images(rows, out / "style_transfer.png", titles=row_titles,
                             columns=1 + 2 * len(styles), normalize=False,
                             title=f"style transfer ({args.style_steps} Adam steps, a = "
                             f"{args.content_weight:g}) with the Fashion-MNIST CNN's features "
                             f"(no ImageNet weights offline)"))

    recall = np.diag(cm) / np.maximum(cm.sum(axis=1), 1)
    return {
        "dataset": name, "class_names": names, "settings": _settings(args),
        "n_train": len(train_data[0]), "n_val": len(val[0]), "n_test": len(x_test),
        "train": info, "test_accuracy": info["test_accuracy"],
        "confusion_matrix": cm.tolist(),
        "per_class_recall": recall.tolist(), "lowest_recall": float(recall.min()),
        "lowest_recall_class": names[int(recall.argmin())],
        "feature_maps": {"image": args.image, "label": names[label], "layers": fmaps},
        "saliency": sal_info, "class_models": class_info,
        "style_transfer": {"content_image": content_idx, "content_label": names[args.content_label],
                           "content_layer": args.content_layer, "style_layers": args.style_layers,
                           "runs": runs, "by_run": {
                               f"{r['style']}_b{r['style_weight']:g}": {
                                   k: r[k] for k in ("style_start", "style_end", "style_reduction",
                                                     "content_end")} for r in runs},
                           "note": "features of the CNN trained here; no pretrained ImageNet "
                                   "weights (Gatys et al.'s VGG-19) are available offline"},
        "files": sorted(Path(f).name for f in files),
    }


def seed_keys(args) -> list[str]:
    """The metrics compared on the page, averaged over the seeds (dotted keys)."""
    keys = ["test_accuracy", "lowest_recall", "saliency.mean_concentration",
            "saliency.probe.trained", "saliency.probe.untrained",
            "class_models.classified_as_their_class", "class_models.mean_score_end",
            "class_models.untrained.classified_as_their_class",
            "class_models.untrained.mean_score_end"]
    keys += [f"feature_maps.layers.{layer}.fraction_active" for layer in FEATURE_LAYERS]
    keys += [f"style_transfer.by_run.{s}_b{w:g}.{k}" for s in args.styles
             for w in args.style_weights for k in ("style_start", "style_end", "style_reduction")]
    return keys


def compare(a: dict, b: dict, above: str, below: str) -> str:
    """The verdict on mean_sd a against b: `above` / `below` when |mean gap| > sd_a + sd_b
    (exceeds_spread), else "within noise"."""
    if not exceeds_spread(a, b):
        return "within noise"
    return above if a["mean"] > b["mean"] else below


def verdicts(stats: dict, args) -> dict:
    """Each claim of the page decided by exceeds_spread on the seeds' mean ± sd."""
    one = {"mean": 1.0, "sd": 0.0}
    out = {
        "saliency_trained_vs_untrained": compare(
            stats["saliency.probe.trained"], stats["saliency.probe.untrained"],
            "trained more concentrated", "untrained more concentrated"),
        "saliency_untrained_vs_blind": compare(stats["saliency.probe.untrained"], one,
                                               "above 1", "below 1"),
        "class_models_classified_trained_vs_untrained": compare(
            stats["class_models.classified_as_their_class"],
            stats["class_models.untrained.classified_as_their_class"],
            "trained more", "untrained more"),
        "class_score_trained_vs_untrained": compare(
            stats["class_models.mean_score_end"], stats["class_models.untrained.mean_score_end"],
            "trained higher", "untrained higher")}
    for style in args.styles:  # a larger b: a larger style-loss reduction
        ws = list(args.style_weights)
        for w0, w1 in zip(ws, ws[1:]):
            out[f"style_reduction_{style}_b{w1:g}_vs_b{w0:g}"] = compare(
                stats[f"style_transfer.by_run.{style}_b{w1:g}.style_reduction"],
                stats[f"style_transfer.by_run.{style}_b{w0:g}.style_reduction"],
                "larger", "smaller")
    return out


def table(stats: dict, verdict: dict) -> str:
    """The page's Markdown table: each compared quantity as mean ± sd over the seeds."""
    f = format_mean_sd
    lines = ["| quantity | mean ± sd over seeds |", "|---|---|"]
    for key, stat in stats.items():
        if key != "seeds":  # counts to 0.1, scores to 0.01, accuracies to 1e-4
            digits = 1 if "classified" in key else 2 if "score" in key else 4 if "accuracy" in key else 3
            lines.append(f"| `{key}` | {f(stat, digits)} |")
    lines += ["", "| verdict (exceeds_spread) | result |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in verdict.items()]
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    """Every seed of seeds_of(args) with the steps compiled once; pictures of the first seed,
    mean ± sd of seed_keys and the verdicts in metrics.json and table.md."""
    args = parse_args(argv)
    started, seeds, kit = time.perf_counter(), seeds_of(args), build(args)
    records = [run_seed(with_seed(args, seed), kit, pictures=i == 0)
               for i, seed in enumerate(seeds)]
    result = over_seeds(records, seed_keys(args), seeds)
    result["settings"] = _settings(args)
    result["verdicts"] = verdicts(result["over_seeds"], args)
    write_table(args.out, table(result["over_seeds"], result["verdicts"]))
    save_results(args.out, result, started=started)
    return result


if __name__ == "__main__":
    main()
