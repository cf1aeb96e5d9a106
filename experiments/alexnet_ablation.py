"""AlexNet ablations (Salakhutdinov): the parameters that removing layers drops at ImageNet size,
and the accuracy that the same removals cost a down-scaled AlexNet trained on Fashion-MNIST.

    python experiments/alexnet_ablation.py          # counts; 3 small nets, 10,000 images, 10 epochs
    python experiments/alexnet_ablation.py --quick  # counts; 1 small net, 256 images, 1 epoch
    python experiments/alexnet_ablation.py --train-variants full no_fc6_fc7 --epochs 4

Claim (Salakhutdinov, "AlexNet", after Zeiler & Fergus 2013, Table 3): "Remove top fully connected
layer 7", "Drop ~16 million parameters", "Only 1.1% drop in performance!"; "Remove layers 3 4,6
and 7", "Drop ~50 million parameters", "33.5% drop in performance!", "Depth of the network is the
key".

Method, part 1 (ImageNet size, no training): `jdl.models.alexnet(drop_layers=...)` (two
towers, 227x227x3, 60,965,224 parameters, Caffe's bvlc_alexnet) for the variants below,
counted by `jdl.summary` under `jax.eval_shape` (nothing allocated). A removed layer's successor
reads its predecessor's output (pools and LRN stay): without conv3 and conv4, conv5 reads
conv2's 256 maps; without fc6 and fc7, fc8 reads the 9216 pool5 features.

    full            -
    no_fc7          drop_layers=(7,)
    no_fc6_fc7      drop_layers=(6, 7)            (two further removals, for comparison)
    no_conv3_conv4  drop_layers=(3, 4)
    no_3_4_6_7      drop_layers=(3, 4, 6, 7)

Method, part 2 (training): the same variants of AlexNet scaled down by --width-divisor 8 (conv
widths 12, 32, 48, 48, 32; fc6/fc7 512 units; one tower, --groups 1, because XLA:CPU runs
grouped convolutions about 1.9x slower; LRN as the paper; no dropout by default, since removing
fc6 and fc7 would also remove their dropout and the comparison would mix two changes) at its smallest
input, 67x67 (11x11/4 conv1 -> 15, pools -> 7 -> 3 -> 1: every kernel, stride and pool of the
original), on Fashion-MNIST upsampled bilinearly from 28x28 to 67x67 (y = A x A^T, A the 67x28
interpolation matrix). The first 10,000 images (--train-size) of a seeded shuffle of the
training set, 2,000 more (--val-size) for validation, the 10,000 test images. The peak learning
rate is chosen among --lrs by the first variant's final validation accuracy (the test set plays
no part). Every variant, for each of --seeds seeds: the same data order and optimizer per seed
(Adam with cosine decay to 0, batch 128, 10 epochs), weights drawn in numpy (He normal; fc8 LeCun normal; biases 0) in the
shapes `init` declares, since compiling `jax.random` for every tensor costs ~5-10 s per model
on a loaded 2-core CPU. Reported: test accuracy, and the drop = full - variant, in points (the
lecture's "% drop"), paired by seed, as mean +- sd over the seeds.

Writes `<out>/metrics.json`, `<out>/table.md` and `<out>/alexnet_ablation.png`. Full mode: 3
learning rates on the full net, then 3 variants x 3 seeds (11 trainings of 10 epochs; the
measured time is on the page). `--quick` trains only no_3_4_6_7 (the cheapest to compile), at
2 learning rates and 2 seeds.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import (finish_figure, format_mean_sd, load_images, mean_sd, parser, save_results,
                     settings as _settings, write_table)

from jdl import losses, metrics, models, summary, train, viz

VARIANTS = {"full": (), "no_fc7": (7,), "no_fc6_fc7": (6, 7), "no_conv3_conv4": (3, 4),
            "no_3_4_6_7": (3, 4, 6, 7)}
DECK = {"no_fc7": {"quote": "Remove top fully connected layer 7 - Drop ~16 million parameters - "
                            "Only 1.1% drop in performance!",
                   "params_dropped": 16e6, "performance_drop_percent": 1.1},
        "no_3_4_6_7": {"quote": "Remove layers 3 4,6 and 7 - Drop ~50 million parameters - "
                                "33.5% drop in performance!",
                       "params_dropped": 50e6, "performance_drop_percent": 33.5}}
IMAGENET_SHAPE = (1, 227, 227, 3)
CONV_WIDTHS = (96, 256, 384, 384, 256)


def parse_args(argv=None):
    p = parser("alexnet_ablation", __doc__.splitlines()[0])
    p.add_argument("--train-variants", nargs="+", choices=list(VARIANTS), default=None,
                   help="variants to train (default: full no_fc7 no_3_4_6_7; --quick: "
                        "no_3_4_6_7 alone, since compiling a train step takes 5-20 s per variant)")
    p.add_argument("--width-divisor", type=int, default=8, help="conv widths and fc units / this")
    p.add_argument("--groups", type=int, choices=(1, 2), default=1, help="towers of the small net")
    p.add_argument("--input-size", type=int, default=67, help="side of the upsampled images")
    p.add_argument("--train-size", type=int, default=10_000)
    p.add_argument("--val-size", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2],
                   help="peak Adam learning rates tried on the first variant; the one with the "
                        "best validation accuracy trains every variant")
    p.add_argument("--seeds", type=int, default=3, help="seeds per variant (mean +- sd)")
    p.add_argument("--dropout", type=float, default=0.0,
                   help="dropout after fc6 and fc7 (default 0: the remnants without fc6/fc7 "
                        "would otherwise lose a regularizer along with the layers)")
    p.add_argument("--steps-per-call", type=int, default=1,
                   help="train steps per compiled call (fit's K); 1 compiles fastest")
    args = p.parse_args(argv)
    if args.quick:
        args.train_size, args.epochs, args.batch_size, args.seeds = 256, 1, 64, 2
        args.lrs = args.lrs[:2]
    if args.train_variants is None:
        args.train_variants = (["no_3_4_6_7"] if args.quick
                               else ["full", "no_fc7", "no_3_4_6_7"])
    if args.width_divisor < 1:
        p.error(f"--width-divisor: expected a positive int, got {args.width_divisor}")
    if args.input_size < 67:
        p.error(f"--input-size: AlexNet's 11x11/4 conv1 and three 3/2 pools need at least 67, "
                f"got {args.input_size}")
    return args


# ------------------------------------------------------------------ part 1: ImageNet counts
def imagenet_counts() -> dict:
    """Parameters (and multiply-adds) of every variant at ImageNet size, from `jdl.summary`."""
    out = {}
    for name, drop in VARIANTS.items():
        s = summary.summary(models.alexnet(drop_layers=drop), IMAGENET_SHAPE)
        out[name] = {"drop_layers": list(drop), "params": s.total_params, "macs": s.total_macs,
                     "per_layer": {r.path: r.params for r in s if r.params}}
    full = out["full"]
    for r in out.values():
        r["params_dropped"] = full["params"] - r["params"]
        r["fraction_dropped"] = r["params_dropped"] / full["params"]
    for name, deck in DECK.items():
        out[name]["deck"] = {**deck, "ratio_to_deck": out[name]["params_dropped"]
                             / deck["params_dropped"]}
    return out


# ------------------------------------------------------------------ part 2: the small nets
def small_alexnet(drop_layers, args):
    widths = tuple(max(1, w // args.width_divisor) for w in CONV_WIDTHS)
    if args.groups == 2:
        widths = tuple(w + w % 2 for w in widths)
    return models.alexnet(10, input_size=args.input_size, groups=args.groups, widths=widths,
                          fc_width=max(1, 4096 // args.width_divisor), dropout=args.dropout,
                          drop_layers=drop_layers)


def upsample_matrix(n_in: int, n_out: int) -> np.ndarray:
    """A (n_out, n_in): row i holds the bilinear weights of output pixel i (jax.image.resize's
    'linear', half-pixel centres), so an image x upsamples as A x A^T."""
    return np.asarray(jax.image.resize(jnp.eye(n_in), (n_out, n_in), "linear"), np.float32)


def upsample(x: np.ndarray, size: int) -> np.ndarray:
    """(N, 28, 28, 1) -> (N, size, size, 1), bilinear, in numpy."""
    a = upsample_matrix(x.shape[1], size)
    return np.einsum("ij,njk,lk->nil", a, x[..., 0], a, optimize=True)[..., None].astype(np.float32)


def numpy_init(model, input_shape, seed: int):
    """(params, state) in the shapes `model.init` declares (eval_shape), drawn with numpy: "w"
    ~ N(0, 2 / fan_in) (He, as alexnet's conv and fc6/fc7), fc8's ~ N(0, 1 / fan_in), "b" = 0."""
    def init(key):
        _, params, state = model.init(key, tuple(input_shape))
        return params, state

    params, state = jax.eval_shape(init, jax.random.key(0))
    rng = np.random.default_rng(seed)

    def fill(path, leaf):
        names = [p.key for p in path]
        if names[-1] != "w":
            return jnp.zeros(leaf.shape, leaf.dtype)
        gain = 1.0 if names[0] == "fc8" else 2.0
        std = math.sqrt(gain / math.prod(leaf.shape[:-1]))
        return jnp.asarray(rng.normal(0.0, std, leaf.shape), jnp.float32)

    zeros = jax.tree.map(lambda leaf: jnp.zeros(leaf.shape, leaf.dtype), state)  # alexnet: {}
    return jax.tree_util.tree_map_with_path(fill, params), zeros


def train_variant(name: str, args, splits, *, lr: float, seed: int) -> dict:
    (x_tr, y_tr), val, test = splits
    model = small_alexnet(VARIANTS[name], args)
    params, state = numpy_init(model, (1, *x_tr.shape[1:]), seed)
    steps = args.epochs * (len(x_tr) // args.batch_size)
    optimizer = optax.adam(optax.cosine_decay_schedule(lr, max(1, steps)))
    ts = train.TrainState(params, state, jax.jit(optimizer.init)(params), jnp.zeros((), jnp.int32),
                          jax.random.key(seed))
    train_step, eval_step = train.make_steps(model, optimizer, losses.softmax_cross_entropy,
                                             metrics={"accuracy": metrics.accuracy})
    bs = min(1000, len(val[0]), len(test[0]))  # one eval batch shape: one compile
    started = time.perf_counter()
    ts, history = train.fit(ts, train_step, (x_tr, y_tr), epochs=args.epochs,
                            batch_size=args.batch_size, val_data=val, eval_step=eval_step,
                            verbose=0, eval_batch_size=bs, steps_per_call=args.steps_per_call)
    final = train.evaluate(ts, eval_step, test, batch_size=bs)
    n_params = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(ts.params))
    return {"drop_layers": list(VARIANTS[name]), "params": n_params, "lr": lr, "seed": seed,
            "test_accuracy": final["accuracy"], "test_loss": final["loss"],
            "val_accuracy": history["val_accuracy"][-1],
            "seconds": round(time.perf_counter() - started, 1),
            "history": {k: history[k] for k in ("loss", "accuracy", "val_loss", "val_accuracy",
                                                "epoch_time")}}


def choose_lr(name: str, args, splits) -> tuple[float, dict, dict]:
    """Train `name` (first seed) at every lr of `--lrs`; the best final validation accuracy
    wins (the test set plays no part). Returns (lr, the winner's run, val accuracy per lr)."""
    runs = {lr: train_variant(name, args, splits, lr=lr, seed=args.seed) for lr in args.lrs}
    val = {f"{lr:g}": r["val_accuracy"] for lr, r in runs.items()}
    best = max(runs, key=lambda lr: runs[lr]["val_accuracy"])
    print(f"learning rate chosen on validation ({name}): {best:g} from {val}")
    return best, runs[best], val


def add_drops(trained: dict) -> dict:
    """With a trained "full": params_dropped, and the drop 100 (acc_full - acc) in points (the
    deck's "% drop in performance") per seed, paired by seed, as mean +- sd. Each variant's
    record is its first seed's run plus `over_seeds`. Updates and returns `trained`."""
    if "full" in trained:
        base = trained["full"]
        for r in trained.values():
            r["params_dropped"] = base["params"] - r["params"]
            r["accuracy_drop_points"] = 100 * (base["test_accuracy"] - r["test_accuracy"])
            pairs = zip(base["over_seeds"]["test_accuracy"]["values"],
                        r["over_seeds"]["test_accuracy"]["values"])
            r["over_seeds"]["accuracy_drop_points"] = mean_sd([100 * (b - a) for b, a in pairs])
    return trained


def table(trained: dict) -> str:
    fmt = format_mean_sd
    rows = ["| variant | parameters | test accuracy | drop (points) |", "|---|---|---|---|"]
    for name, r in trained.items():
        s = r["over_seeds"]
        drop = fmt(s["accuracy_drop_points"], 2) if "accuracy_drop_points" in s else "-"
        rows.append(f"| {name} | {r['params']:,} | {fmt(s['test_accuracy'], 4)} | {drop} |")
    return "\n".join(rows) + "\n"


def plot(counts: dict, trained: dict, path: Path, title: str) -> Path:
    """ImageNet-size parameters per variant (deck drops marked), small-net test accuracy,
    validation accuracy per epoch."""
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(19, 4.8))
    names = list(counts)
    pos = np.arange(len(names))
    ax[0].bar(pos, [counts[n]["params"] / 1e6 for n in names], color="tab:blue")
    full = counts["full"]["params"] / 1e6
    for i, n in enumerate(names):
        label = (f"{counts[n]['params'] / 1e6:.1f}M" if n == "full"
                 else f"-{counts[n]['params_dropped'] / 1e6:.1f}M")
        ax[0].text(i, counts[n]["params"] / 1e6 + 0.8, label, ha="center", fontsize=8)
        if n in DECK:
            ax[0].plot([i - 0.4, i + 0.4], [full - DECK[n]["params_dropped"] / 1e6] * 2, "r--",
                       label="deck: full - drop" if n == "no_fc7" else None)
    ax[0].set(xticks=pos, ylabel="parameters (millions)",
              title="AlexNet at 227x227x3: parameters per variant")
    ax[0].set_xticklabels(names, rotation=20, ha="right", fontsize=8)
    ax[0].legend(fontsize=8)
    tnames = list(trained)
    tpos = np.arange(len(tnames))
    accs = [trained[n]["test_accuracy"] for n in tnames]
    ax[1].bar(tpos, accs, color="tab:green")
    for i, n in enumerate(tnames):
        drop = trained["full"]["test_accuracy"] - accs[i] if "full" in trained else None
        shown = drop is not None and n != "full"
        label = f"{accs[i]:.3f}" + (f"\n({-100 * drop:+.1f} pts)" if shown else "")
        ax[1].text(i, accs[i] + 0.005, label, ha="center", fontsize=8)
    ax[1].set(xticks=tpos, ylim=(max(0.0, min(accs) - 0.15), 1.0), ylabel="test accuracy",
              title="small AlexNet on Fashion-MNIST")
    ax[1].set_xticklabels(tnames, rotation=20, ha="right", fontsize=8)
    for n in tnames:
        h = trained[n]["history"]["val_accuracy"]
        ax[2].plot(range(1, len(h) + 1), h, "o-", label=n)
    ax[2].set(xlabel="epoch", ylabel="validation accuracy", title="validation accuracy per epoch")
    ax[2].legend(fontsize=8)
    return finish_figure(fig, path, title, grid=ax)


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    counts = imagenet_counts()
    print(f"{'variant':16s} {'params':>12s} {'dropped':>12s}  deck")
    for n, r in counts.items():
        deck = DECK.get(n)
        print(f"{n:16s} {r['params']:>12,d} {r['params_dropped']:>12,d}  "
              f"{'~%.0fM' % (deck['params_dropped'] / 1e6) if deck else ''}")
    (x_tr, y_tr), val, test, dataset = load_images(args.quick, train_size=args.train_size,
                                                   val_size=args.val_size, seed=args.seed)
    if dataset != "fashion_mnist":
        raise SystemExit("alexnet_ablation: needs Fashion-MNIST (28x28; the digits fallback is "
                         "8x8), install Debian's dataset-fashion-mnist or set $JDL_DATA_DIR")
    splits = ((upsample(x_tr, args.input_size), y_tr), (upsample(val[0], args.input_size), val[1]),
              (upsample(test[0], args.input_size), test[1]))
    print(f"data: {dataset} upsampled to {args.input_size}x{args.input_size}: train "
          f"{splits[0][0].shape}, val {splits[1][0].shape}, test {splits[2][0].shape}")
    lr, first_run, val_by_lr = choose_lr(args.train_variants[0], args, splits)
    trained = {}
    for name in args.train_variants:
        seeds = [first_run if name == args.train_variants[0] else
                 train_variant(name, args, splits, lr=lr, seed=args.seed)]
        seeds += [train_variant(name, args, splits, lr=lr, seed=s)
                  for s in range(args.seed + 1, args.seed + args.seeds)]
        trained[name] = r = dict(seeds[0])
        r["over_seeds"] = {"seeds": [x["seed"] for x in seeds],
                           "test_accuracy": mean_sd([x["test_accuracy"] for x in seeds]),
                           "val_accuracy": mean_sd([x["val_accuracy"] for x in seeds])}
        print(f"{name:16s} params {r['params']:>9,d}  test accuracy "
              f"{r['over_seeds']['test_accuracy']['values']}  ({r['seconds']:.1f} s per run)")
    add_drops(trained)
    write_table(args.out, table(trained))
    settings = _settings(args)
    out = {"dataset": dataset, "n_train": len(x_tr), "n_val": len(val[0]), "n_test": len(test[0]),
           "settings": settings, "imagenet": counts, "small": trained,
           "lr": {"chosen": lr, "on": args.train_variants[0], "val_accuracy_by_lr": val_by_lr}}
    save_results(args.out, out, started=started)
    plot(counts, trained, args.out / "alexnet_ablation.png",
         f"AlexNet ablations (Salakhutdinov): small nets trained on {len(x_tr)} images, "
         f"{args.epochs} epochs")
    return out


if __name__ == "__main__":
    main()
