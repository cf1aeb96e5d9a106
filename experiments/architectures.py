"""Architectures: LeNet-5, small VGG, small GoogLeNet, ResNet-20; with and without augmentation.

Each is trained on Fashion-MNIST twice, with and without data augmentation.

    python experiments/architectures.py            # full: 4,096 images, 6 epochs, 8 runs
    python experiments/architectures.py --quick    # seconds: tiny versions, 256 images (the tests)
    python experiments/architectures.py --archs lenet5 resnet --epochs 10

Claim (*Engineering Deep Learning*, "CNN Architectures": LeNet 1989, GoogLeNet the 2014 ImageNet
winner, VGGNet the runner-up, ResNet the 2015 winner; Loo, "Popular ConvNet Architectures";
Salakhutdinov, Table 4: top-5 error VGG 7.1-8.4%, GoogLeNet 7.9%, ResNet-152 4.5%): each newer
design classifies better; and (Senk) data augmentation, "The easiest and most common method to
reduce overfitting on image data", enlarges the dataset with "horizontal reflections", "random
crop", ..., "image translation" (*Engineering Deep Learning*: "Translation, Flips, Random
cropping"). The
script measures rather than assumes: test accuracy, train - test gap, parameters, multiply-adds and
seconds per epoch of every (architecture, augmentation) pair, at small CPU budgets on
Fashion-MNIST.

Models (28x28x1 inputs, 10 classes; jdl has no 28x28 VGG or GoogLeNet, so the small ones are
built here from jdl.nn and `jdl.models.inception`):

    lenet5     `jdl.models.lenet5(input_size=28)`: tanh, average pooling (the 1998 design)
    vgg        VGG rules at 28x28: blocks of two 3x3 conv-BN-ReLU, 2x2 max pool, widths doubling
               16-32-64 (28 -> 14 -> 7 -> 3), then fc 256 - ReLU - dropout 0.5 - fc 10
    googlenet  3x3 conv 32 - BN - ReLU, 2x2 max pool, Inception 3a, 3b (14x14), 2x2 max pool,
               Inception 4a, 4b (7x7; BN inside, as torchvision's), global average pool,
               dropout 0.4, fc 10
    resnet     `jdl.models.resnet20(widths=(8, 16, 32))`: the CIFAR ResNet-20 (He et al. 2016,
               section 4.2) at half the paper's 16-32-64 filters (see --resnet-widths)

Method: for each of `--seeds` seeds, the same initial weights for the two runs of an
architecture, and the same data order, optimizer (Adam, lr 1e-3 with cosine decay to 0) and batch size (128) for every run; the
augmented run draws, per example and step inside the jitted step, a random crop of the image
zero-padded by 2 pixels (= a translation by up to 2 pixels) and a horizontal flip with
probability 1/2 (`jdl.nn.augmenting`). Evaluation sees the original images.

Budget (2-core CPU): 4,096 training images, 6 epochs, 10,000 test images, chosen from one
short timing probe per model (docs/experiments/architectures.md); 3 seeds. Figures are mean +-
sd over the seeds, and augmentation is judged against no augmentation by the spread rule (a
difference counts only when it exceeds the sum of the two sds); the measured time is on the
page.

Writes `<out>/metrics.json`, `<out>/table.md` and `<out>/architectures.png` (test accuracy,
generalization gap and seconds per epoch per architecture and augmentation; parameters).
"""
from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import (exceeds_spread, finish_figure, format_mean_sd, load_images, mean_sd, parser,
                     save_results, settings as _settings, write_table)

from jdl import data, losses, metrics, models, nn, summary, train, viz

ARCHS = ("lenet5", "vgg", "googlenet", "resnet")
# Inception widths (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj), Szegedy et al.'s
# Table 1 scaled down for 14x14 and 7x7 maps.
INCEPTIONS = {"inception3a": (16, 16, 24, 4, 8, 8), "inception3b": (24, 24, 32, 4, 12, 12),
              "inception4a": (32, 24, 48, 8, 16, 16), "inception4b": (40, 28, 56, 8, 16, 16)}
# Steps per compiled call (fit's unrolled chunk, docs/design.md section 3): K = 4 was 1.4x
# faster per step for the VGG (364 vs 520 ms CPU per batch of 128); the deeper graphs of the
# GoogLeNet and the ResNet compile for minutes when unrolled 4 times, so they take K = 1.
STEPS_PER_CALL = {"lenet5": 4, "vgg": 4, "googlenet": 1, "resnet": 1}


def parse_args(argv=None):
    p = parser("architectures", __doc__.splitlines()[0])
    p.add_argument("--archs", nargs="+", choices=ARCHS, default=list(ARCHS))
    p.add_argument("--augment", nargs="+", choices=("none", "crop_flip"),
                   default=["none", "crop_flip"], help="run each architecture with these")
    p.add_argument("--train-size", type=int, default=4096)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3, help="peak Adam learning rate (cosine decay)")
    p.add_argument("--padding", type=int, default=2, help="random crop: zero padding (pixels)")
    p.add_argument("--vgg-widths", type=int, nargs="+", default=[16, 32, 64])
    p.add_argument("--vgg-dense", type=int, default=256)
    p.add_argument("--resnet-depth", type=int, default=20)
    p.add_argument("--resnet-widths", type=int, nargs=3, default=[8, 16, 32])
    p.add_argument("--steps-per-call", type=int, default=None,
                   help="fit's steps per compiled call for every model (default: per model)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per model (mean +- sd)")
    args = p.parse_args(argv)
    args.inceptions = INCEPTIONS
    if args.quick:  # compilation dominates: K = 1 compiles fastest
        args.train_size, args.epochs, args.batch_size, args.steps_per_call = 256, 2, 64, 1
        args.seeds = 2
        args.vgg_widths, args.vgg_dense, args.resnet_depth = [4, 8], 16, 8
        args.resnet_widths = [4, 8, 16]
        args.inceptions = {"inception3a": (4, 4, 4, 2, 2, 2)}
    return args


def small_vgg(widths=(16, 32, 64), dense: int = 256, dropout: float = 0.5,
              num_classes: int = 10) -> nn.Layer:
    """VGG's rules at 28x28: per width, conv3x3-BN-ReLU twice then a 2x2 max pool (VGG-style
    block b: conv{b}_1, conv{b}_2, pool{b}); then flatten, fc1 `dense`, ReLU, dropout, fc2.

    (B, 28, 28, 1) -> (B, 14, 14, 16) -> (B, 7, 7, 32) -> (B, 3, 3, 64) -> 576 -> 256 -> 10.
    BN as `jdl.models.vgg(batch_norm=True)`; convolutions and fc1 He-initialized.
    """
    feats = []
    for b, width in enumerate(widths, start=1):
        for i in (1, 2):
            feats += [(f"conv{b}_{i}", nn.Conv(width, 3, w_init="he")),
                      (f"bn{b}_{i}", nn.BatchNorm()), (f"relu{b}_{i}", nn.Relu())]
        feats.append((f"pool{b}", nn.MaxPool(2)))
    head = [("flatten", nn.Flatten()), ("fc1", nn.Dense(dense, w_init="he")), ("relu", nn.Relu()),
            ("dropout", nn.Dropout(dropout)), ("fc2", nn.Dense(num_classes))]
    return nn.serial(("features", nn.serial(*feats)), ("classifier", nn.serial(*head)))


def small_googlenet(inceptions=INCEPTIONS, stem: int = 32, dropout: float = 0.4,
                    num_classes: int = 10) -> nn.Layer:
    """GoogLeNet's plan at 28x28: stem conv3x3 `stem`-BN-ReLU, 2x2 max pool (14x14), Inception
    modules "inception3*" , 2x2 max pool (7x7), modules "inception4*", global average pool,
    dropout, fc. Each module `jdl.models.inception(*widths, batch_norm=True)` concatenates
    1x1 | 1x1-3x3 | 1x1-5x5 | maxpool3x3-1x1 branches (Szegedy et al. 2014, Fig. 2b)."""
    conv = nn.serial(("conv", nn.Conv(stem, 3, use_bias=False, w_init="he")),
                     ("bn", nn.BatchNorm()), ("relu", nn.Relu()))
    layers = [("stem", conv), ("pool1", nn.MaxPool(2))]
    for name, widths in inceptions.items():
        if name.startswith("inception4") and not any(n == "pool2" for n, _ in layers):
            layers.append(("pool2", nn.MaxPool(2)))
        layers.append((name, models.inception(*widths, batch_norm=True)))
    layers += [("avgpool", nn.GlobalAvgPool()), ("dropout", nn.Dropout(dropout)),
               ("fc", nn.Dense(num_classes))]
    return nn.serial(*layers)


def build(arch: str, args) -> tuple[nn.Layer, str]:
    """(model, description) of one architecture."""
    if arch == "lenet5":
        return models.lenet5(10, input_size=28), "LeNet-5 (tanh, average pooling)"
    if arch == "vgg":
        w = "-".join(map(str, args.vgg_widths))
        return (small_vgg(args.vgg_widths, args.vgg_dense),
                f"VGG-style, {2 * len(args.vgg_widths)} convs {w} + fc {args.vgg_dense}, BN")
    if arch == "googlenet":
        return (small_googlenet(args.inceptions),
                f"GoogLeNet-style, {len(args.inceptions)} Inception modules, BN")
    w = tuple(args.resnet_widths)
    return (models.cifar_resnet(args.resnet_depth, 10, widths=w),
            f"ResNet-{args.resnet_depth} (CIFAR, widths {'-'.join(map(str, w))})")


def augmentation(padding: int):
    """Per example: random crop of the image zero-padded by `padding` (a translation by up to
    `padding` pixels), then a horizontal flip with probability 1/2 (Senk, *Engineering Deep
    Learning*)."""
    return data.make_augmentation(partial(data.random_crop, padding=padding),
                                  partial(data.random_flip, horizontal=True))


def run_arch(arch: str, args, splits, seed: int | None = None) -> dict:
    """Both runs (augmentation off / on) of one architecture, from the same initial weights
    (those of `seed`, default `--seed`)."""
    seed = args.seed if seed is None else seed
    (x_tr, y_tr), test = splits
    base, description = build(arch, args)
    shape = (1, *x_tr.shape[1:])
    size = summary.summary(base, shape)
    steps = args.epochs * (len(x_tr) // args.batch_size)
    optimizer = optax.adam(optax.cosine_decay_schedule(args.lr, max(1, steps)))
    ts0 = train.init_train_state(base, optimizer, jax.random.key(seed), shape)
    # Evaluation is the same for both runs (augmenting(model) evaluates as model): one compile.
    eval_step = train.make_eval_step(base, losses.softmax_cross_entropy,
                                     metrics={"accuracy": metrics.accuracy})
    k = args.steps_per_call or STEPS_PER_CALL[arch]
    eval_bs = min(1000, len(test[0]), len(x_tr))  # one eval batch shape for both sets
    runs = {}
    for aug in args.augment:
        model = base if aug == "none" else nn.augmenting(base, augmentation(args.padding))
        train_step = train.make_train_step(model, optimizer, losses.softmax_cross_entropy,
                                           metrics={"accuracy": metrics.accuracy})
        ts = jax.tree.map(jnp.copy, ts0)  # fit donates its TrainState; ts0 serves both runs
        started = time.perf_counter()
        ts, history = train.fit(ts, train_step, (x_tr, y_tr), epochs=args.epochs,
                                batch_size=args.batch_size, verbose=0, steps_per_call=k)
        train_seconds = time.perf_counter() - started
        final_train = train.evaluate(ts, eval_step, (x_tr, y_tr), batch_size=eval_bs)
        final_test = train.evaluate(ts, eval_step, test, batch_size=eval_bs)
        epoch_times = history["epoch_time"]
        runs[aug] = {
            "test_accuracy": final_test["accuracy"], "test_loss": final_test["loss"],
            "train_accuracy": final_train["accuracy"], "train_loss": final_train["loss"],
            "gap_accuracy": final_train["accuracy"] - final_test["accuracy"],
            # epoch 1 includes the compilation of the train step
            "seconds_per_epoch": float(np.median(epoch_times[1:] or epoch_times)),
            "first_epoch_seconds": epoch_times[0], "train_seconds": round(train_seconds, 2),
            "steps_per_call": k,
            "history": {"loss": history["loss"], "accuracy": history["accuracy"]},
        }
    return {"description": description, "params": size.total_params, "macs": size.total_macs,
            "runs": runs}


SEED_KEYS = ("test_accuracy", "train_accuracy", "gap_accuracy")


def add_seeds(record: dict, others: list[dict]) -> dict:
    """The first seed's record plus `over_seeds`: mean ± sd of SEED_KEYS per augmentation."""
    for aug, run in record["runs"].items():
        runs = [run] + [o["runs"][aug] for o in others]
        run["over_seeds"] = {key: mean_sd([r[key] for r in runs]) for key in SEED_KEYS}
    return record


def table(results: dict) -> str:
    """Markdown table: one row per (architecture, augmentation), mean ± sd over the seeds."""
    lines = ["| model | augmentation | parameters | MACs / image | test accuracy | train accuracy "
             "| gap (train - test) | s / epoch |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for arch, r in results.items():
        for aug, run in r["runs"].items():
            s = run["over_seeds"]
            lines.append(f"| {r['description']} | {aug} | {r['params']:,} | {r['macs'] / 1e6:.2f}M "
                         f"| {format_mean_sd(s['test_accuracy'], 4)} "
                         f"| {format_mean_sd(s['train_accuracy'], 4)} "
                         f"| {format_mean_sd(s['gap_accuracy'], 4)} | {run['seconds_per_epoch']:.1f} |")
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path, title: str) -> Path:
    """Per architecture (one bar per augmentation): test accuracy, train - test accuracy gap,
    seconds per epoch; and the parameters."""
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 4, figsize=(21, 4.5))
    archs = list(results)
    augs = list(next(iter(results.values()))["runs"])
    pos = np.arange(len(archs))
    width = 0.8 / len(augs)
    panels = ((0, "test_accuracy", "%.3f"), (1, "gap_accuracy", "%+.3f"),
              (2, "seconds_per_epoch", "%.1f"))
    for i, aug in enumerate(augs):
        offset = (i - (len(augs) - 1) / 2) * width
        for k, key, fmt in panels:
            bars = ax[k].bar(pos + offset, [results[a]["runs"][aug][key] for a in archs], width,
                             label=aug)
            ax[k].bar_label(bars, fmt=fmt, fontsize=7)
    accs = [run["test_accuracy"] for r in results.values() for run in r["runs"].values()]
    ax[0].set(ylim=(max(0.0, min(accs) - 0.05), min(1.0, max(accs) + 0.03)),
              ylabel="test accuracy", title="test accuracy")
    ax[1].set(ylabel="train - test accuracy", title="generalization gap")
    ax[2].set(ylabel="seconds per epoch", title="time per epoch (2-core CPU)")
    bars = ax[3].bar(pos, [results[a]["params"] for a in archs], color="gray")
    ax[3].bar_label(bars, labels=[f"{results[a]['params']:,}" for a in archs], fontsize=7)
    ax[3].set(yscale="log", ylabel="parameters", title="parameters")
    for a in ax:
        a.set_xticks(pos)
        a.set_xticklabels(archs)
        a.grid(alpha=0.3, axis="y")
    return finish_figure(fig, path, title, legend=ax[:3])


def judge_augmentation(plain: dict, augmented: dict) -> dict:
    """Augmented against plain by the spread rule: a difference counts only when it exceeds the
    sum of the two sds over seeds."""
    change = augmented["test_accuracy"]["mean"] - plain["test_accuracy"]["mean"]
    return {"test_accuracy_change": change,
            "test_accuracy": ("higher" if change > 0 else "lower")
            if exceeds_spread(augmented["test_accuracy"], plain["test_accuracy"]) else "within noise",
            "gap_reduced": bool(augmented["gap_accuracy"]["mean"] < plain["gap_accuracy"]["mean"]
                                and exceeds_spread(augmented["gap_accuracy"], plain["gap_accuracy"]))}


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    (x_tr, y_tr), _, test, name = load_images(args.quick, train_size=args.train_size, val_size=0,
                                             seed=args.seed)
    results = {}
    seeds = range(args.seed, args.seed + args.seeds)
    for arch in args.archs:
        first, *others = [run_arch(arch, args, ((x_tr, y_tr), test), seed) for seed in seeds]
        results[arch] = r = add_seeds(first, others)
        for aug, run in r["runs"].items():
            print(f"{arch:9s} {aug:9s} params {r['params']:7d}  test {run['test_accuracy']:.4f}  "
                  f"train {run['train_accuracy']:.4f}  {run['seconds_per_epoch']:.1f} s/epoch "
                  f"(first {run['first_epoch_seconds']:.1f} s)")
    verdict = {}
    if {"none", "crop_flip"} <= set(args.augment):
        verdict = {a: judge_augmentation(r["runs"]["none"]["over_seeds"],
                                         r["runs"]["crop_flip"]["over_seeds"])
                   for a, r in results.items()}
    settings = _settings(args)
    out = {"dataset": name, "n_train": len(x_tr), "n_test": len(test[0]), "settings": settings,
           "archs": results, "augmentation": verdict}
    text = table(results)
    write_table(args.out, text)
    save_results(args.out, out, started=started)
    plot(results, args.out / "architectures.png",
         f"architectures on {len(x_tr)} {name} images, {args.epochs} epochs")
    return out


if __name__ == "__main__":
    main()
