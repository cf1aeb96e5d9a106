"""The worked example of *Engineering Deep Learning*: a 9x9 "X" through three 3x3 kernels,
ReLU, 2x2 max pooling, then a dense classifier that tells X from O.

    python experiments/x_vs_o.py            # 2,000 training / 2,000 test images, both variants
    python experiments/x_vs_o.py --quick    # 200 / 200 images, fewer epochs (the tests)
    python experiments/x_vs_o.py --variants fixed --flip 0.1

Claim (*Engineering Deep Learning*, "Steps in CNN" / "Convolution on Multiple Filters" /
"Activation" / "Pooling" / "Classification"): filtering the +-1 image of an X with a 3x3 kernel
gives, at each position, the mean of the pixel-kernel products (the lecture's formula
(1 + 1 + ... + 1) / 9 = 1 where the patch matches), so the diagonal kernel yields the printed
7x7 map (0.77 -0.11 0.11 0.33 0.55 -0.11 0.33 / ...) with 1.00 along the X's diagonal; ReLU
zeroes the negative values; 2x2 max pooling (stride 2, the 7th row/column pooled alone) gives
the printed 4x4 maps (1.00 0.33 0.55 0.33 / ...); the pooled maps of all channels are flattened
and a fully connected layer with a cross-entropy loss classifies.

Kernels (as printed in the deck, +-1 entries, used as kernel / 9 so a map is a mean):

    diagonal        cross           anti_diagonal
     1 -1 -1         1 -1  1        -1 -1  1
    -1  1 -1        -1  1 -1        -1  1 -1
    -1 -1  1         1 -1  1         1 -1 -1

All three are symmetric under a 180-degree rotation, so the lecture's "Flip rows and columns of the
kernel." (true convolution) and jdl's cross-correlation (`nn.Conv`) give the same maps.

Method: model = Conv(3 kernels 3x3, VALID, no bias) -> ReLU -> MaxPool(2, 2, "SAME") -> Flatten
(4 x 4 x 3 = 48) -> Dense(2), softmax cross-entropy. Data: the deck's X and an O drawn on the
same 9x9 grid (the deck only pictures the O), shifted by up to --max-shift pixels in each
direction (the background -1 fills in), each pixel's sign flipped with probability --flip; a
fresh test set from another seed. Two variants: `fixed` (the deck's kernels, frozen with
`jdl.regularizers.freeze`; only the dense layer learns) and `learned` (all weights from a
random He initialization). Training curves are read on a separate validation set (another
seed); after training, accuracy on the test set and on test sets with more flipped pixels
(--flip-sweep). Each of `--seeds` seeds draws its own training set and initialization; the
table gives mean +- sd over them.

Writes `<out>/metrics.json` and PNGs: x_vs_o_images.png (X, O, training samples),
x_vs_o_kernels.png (the deck's kernels), x_vs_o_feature_maps.png / x_vs_o_pooled_maps.png (the
X's ReLU maps and pooled maps, jdl.viz), x_vs_o_maps.png (every map with its numbers, X and O),
x_vs_o_learned_kernels.png and x_vs_o_accuracy.png.
"""
from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import (finish_figure, format_mean_sd, mean_sd, parser, save_results, settings as _settings,
                     write_table)

from jdl import losses, metrics, nn, regularizers, train, viz

CLASSES = ("X", "O")
VARIANTS = ("fixed", "learned")

# Engineering Deep Learning, "Convolution": the 9x9 +-1 image of an X.
X_IMAGE = np.array([
    [-1, -1, -1, -1, -1, -1, -1, -1, -1],
    [-1, 1, -1, -1, -1, -1, -1, 1, -1],
    [-1, -1, 1, -1, -1, -1, 1, -1, -1],
    [-1, -1, -1, 1, -1, 1, -1, -1, -1],
    [-1, -1, -1, -1, 1, -1, -1, -1, -1],
    [-1, -1, -1, 1, -1, 1, -1, -1, -1],
    [-1, -1, 1, -1, -1, -1, 1, -1, -1],
    [-1, 1, -1, -1, -1, -1, -1, 1, -1],
    [-1, -1, -1, -1, -1, -1, -1, -1, -1]], np.float32)

# An O on the same grid and in the same 7x7 frame (the deck shows it only as a picture).
O_IMAGE = np.array([
    [-1, -1, -1, -1, -1, -1, -1, -1, -1],
    [-1, -1, -1, 1, 1, 1, -1, -1, -1],
    [-1, -1, 1, -1, -1, -1, 1, -1, -1],
    [-1, 1, -1, -1, -1, -1, -1, 1, -1],
    [-1, 1, -1, -1, -1, -1, -1, 1, -1],
    [-1, 1, -1, -1, -1, -1, -1, 1, -1],
    [-1, -1, 1, -1, -1, -1, 1, -1, -1],
    [-1, -1, -1, 1, 1, 1, -1, -1, -1],
    [-1, -1, -1, -1, -1, -1, -1, -1, -1]], np.float32)

# Engineering Deep Learning, "Convolution on Multiple Filters": the three kernels.
KERNELS = {
    "diagonal": np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1]], np.float32),
    "cross": np.array([[1, -1, 1], [-1, 1, -1], [1, -1, 1]], np.float32),
    "anti_diagonal": np.array([[-1, -1, 1], [-1, 1, -1], [1, -1, -1]], np.float32),
}

# The deck's printed 7x7 maps of the X (before ReLU), one per kernel, and the 4x4 pooled maps.
DECK_MAPS = {
    "diagonal": [[0.77, -0.11, 0.11, 0.33, 0.55, -0.11, 0.33],
                 [-0.11, 1.00, -0.11, 0.33, -0.11, 0.11, -0.11],
                 [0.11, -0.11, 1.00, -0.33, 0.11, -0.11, 0.55],
                 [0.33, 0.33, -0.33, 0.55, -0.33, 0.33, 0.33],
                 [0.55, -0.11, 0.11, -0.33, 1.00, -0.11, 0.11],
                 [-0.11, 0.11, -0.11, 0.33, -0.11, 1.00, -0.11],
                 [0.33, -0.11, 0.55, 0.33, 0.11, -0.11, 0.77]],
    "cross": [[0.33, -0.55, 0.11, -0.11, 0.11, -0.55, 0.33],
              [-0.55, 0.55, -0.55, 0.33, -0.55, 0.55, -0.55],
              [0.11, -0.55, 0.55, -0.77, 0.55, -0.55, 0.11],
              [-0.11, 0.33, -0.77, 1.00, -0.77, 0.33, -0.11],
              [0.11, -0.55, 0.55, -0.77, 0.55, -0.55, 0.11],
              [-0.55, 0.55, -0.55, 0.33, -0.55, 0.55, -0.55],
              [0.33, -0.55, 0.11, -0.11, 0.11, -0.55, 0.33]],
    "anti_diagonal": [[0.33, -0.11, 0.55, 0.33, 0.11, -0.11, 0.77],
                      [-0.11, 0.11, -0.11, 0.33, -0.11, 1.00, -0.11],
                      [0.55, -0.11, 0.11, -0.33, 1.00, -0.11, 0.11],
                      [0.33, 0.33, -0.33, 0.55, -0.33, 0.33, 0.33],
                      [0.11, -0.11, 1.00, -0.33, 0.11, -0.11, 0.55],
                      [-0.11, 1.00, -0.11, 0.33, -0.11, 0.11, -0.11],
                      [0.77, -0.11, 0.11, 0.33, 0.55, -0.11, 0.33]],
}
DECK_POOLED = {
    "diagonal": [[1.00, 0.33, 0.55, 0.33], [0.33, 1.00, 0.33, 0.55],
                 [0.55, 0.33, 1.00, 0.11], [0.33, 0.55, 0.11, 0.77]],
    "cross": [[0.55, 0.33, 0.55, 0.33], [0.33, 1.00, 0.55, 0.11],
              [0.55, 0.55, 0.55, 0.11], [0.33, 0.11, 0.11, 0.33]],
    "anti_diagonal": [[0.33, 0.55, 1.00, 0.77], [0.55, 0.55, 1.00, 0.33],
                      [1.00, 1.00, 0.11, 0.55], [0.77, 0.33, 0.55, 0.33]],
}


def parse_args(argv=None):
    p = parser("x_vs_o", __doc__.splitlines()[0])
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    p.add_argument("--train-size", type=int, default=2000)
    p.add_argument("--test-size", type=int, default=2000)
    p.add_argument("--val-size", type=int, default=1000, help="validation images (the curves)")
    p.add_argument("--seeds", type=int, default=3, help="training sets and initializations")
    p.add_argument("--max-shift", type=int, default=1, help="shift by up to this many pixels")
    p.add_argument("--flip", type=float, default=0.05, help="probability of flipping a pixel")
    p.add_argument("--flip-sweep", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.15, 0.2],
                   help="test-time flip probabilities for the robustness curve")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--lr", type=float, default=0.03, help="Adam learning rate")
    args = p.parse_args(argv)
    if args.quick:
        args.train_size, args.test_size, args.val_size, args.epochs, args.seeds = 200, 200, 200, 15, 2
    if not 0 <= args.max_shift <= 2:
        p.error(f"--max-shift: expected 0, 1 or 2 (the shapes fill a 7x7 frame of the 9x9 "
                f"image), got {args.max_shift}")
    for f in (args.flip, *args.flip_sweep):
        if not 0.0 <= f <= 0.5:
            p.error(f"--flip / --flip-sweep: expected probabilities in [0, 0.5], got {f}")
    if args.batch_size > args.train_size:
        p.error(f"--batch-size ({args.batch_size}) exceeds --train-size ({args.train_size})")
    return args


def deck_kernel_weights() -> np.ndarray:
    """The deck's kernels as a Conv weight (3, 3, 1, 3), divided by 9 (a map is a mean)."""
    return np.stack(list(KERNELS.values()), axis=-1)[:, :, None, :] / 9.0


def model() -> nn.Layer:
    """Conv(3x3x3, no bias) -> ReLU -> 2x2 max pool (SAME: 7 -> 4) -> flatten 48 -> Dense(2)."""
    return nn.serial(("conv", nn.Conv(3, 3, padding="VALID", use_bias=False, w_init="he")),
                     ("relu", nn.Relu()),
                     ("pool", nn.MaxPool(2, 2, padding="SAME")),
                     ("flatten", nn.Flatten()),
                     ("fc", nn.Dense(len(CLASSES))))


def shift(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Move `image` by (dy, dx) pixels; the uncovered border is background (-1)."""
    h, w = image.shape
    padded = np.pad(image, 2, constant_values=-1.0)
    return padded[2 - dy:2 - dy + h, 2 - dx:2 - dx + w]


def make_dataset(n: int, *, max_shift: int, flip: float, seed: int):
    """`n` balanced X/O images (n, 9, 9, 1) in {-1, 1} with labels (0 = X, 1 = O): each shifted
    by (dy, dx) in [-max_shift, max_shift]^2, each pixel's sign flipped with probability `flip`."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 2)
    base = np.stack([X_IMAGE, O_IMAGE])
    moves = rng.integers(-max_shift, max_shift + 1, size=(n, 2))
    images = np.stack([shift(base[c], dy, dx) for c, (dy, dx) in zip(labels, moves)])
    flips = rng.random(images.shape) < flip
    images = np.where(flips, -images, images)
    return images[..., None].astype(np.float32), labels.astype(np.int32)


def deck_maps(params) -> dict:
    """The X and O through the (trained or deck) conv: maps, ReLU maps, pooled maps, per kernel."""
    m = model()
    x = jnp.asarray(np.stack([X_IMAGE, O_IMAGE])[..., None])
    out = {}
    for path in ("conv", "relu", "pool"):
        out[path] = np.asarray(viz.feature_maps(m, params, {}, x, path))
    return out


def deck_check(maps: dict) -> dict:
    """Compare the X's maps with the deck's printed numbers. The deck prints sums / 9 cut (not
    rounded) to two decimals (7/9 -> 0.77, -5/9 -> -0.55): rebuild that from the integer sums."""
    result = {}
    for i, name in enumerate(KERNELS):
        conv = maps["conv"][0, :, :, i]
        pooled = maps["pool"][0, :, :, i]
        sums = np.rint(conv * 9).astype(int)            # integer sums of +-1 products
        truncated = np.trunc(sums * 100 / 9).astype(int)  # the deck's two decimals, x 100
        deck = np.rint(np.asarray(DECK_MAPS[name]) * 100).astype(int)
        pooled_sums = np.rint(pooled * 9).astype(int)
        deck_pooled = np.rint(np.asarray(DECK_POOLED[name]) * 100).astype(int)
        result[name] = {
            "map_matches_deck": bool(np.array_equal(truncated, deck)),
            "pooled_matches_deck": bool(np.array_equal(np.trunc(pooled_sums * 100 / 9),
                                                       deck_pooled)),
            "max_abs_diff_map": float(np.max(np.abs(conv - np.asarray(DECK_MAPS[name])))),
            "max_abs_diff_pooled": float(np.max(np.abs(pooled - np.asarray(DECK_POOLED[name])))),
        }
    result["all_match"] = all(r["map_matches_deck"] and r["pooled_matches_deck"]
                              for r in result.values())
    return result


def initial_states(args, variants, seed: int) -> dict[str, train.TrainState]:
    """One TrainState per variant from the same initialization (one compiled `init`): `learned`
    keeps the He-initialized conv, `fixed` gets the deck's kernels / 9, frozen by its optimizer."""
    base = train.init_train_state(model(), optax.adam(args.lr), jax.random.key(seed),
                                  (1, 9, 9, 1))
    states = {}
    for variant in variants:
        ts = jax.tree.map(jnp.copy, base)  # `fit` donates its TrainState: no shared buffers
        params = ts.params
        if variant == "fixed":
            params["conv"]["w"] = jnp.asarray(deck_kernel_weights())
        states[variant] = ts._replace(opt_state=optimizer(variant, args).init(params))
    return states


def optimizer(variant: str, args) -> optax.GradientTransformation:
    """Adam; for `fixed` the conv kernels get exactly zero updates (`regularizers.freeze`)."""
    if variant == "fixed":
        return regularizers.freeze(optax.adam(args.lr), "conv/*")
    return optax.adam(args.lr)


def train_variant(variant: str, ts: train.TrainState, args, train_data, val,
                  test_sets) -> tuple[dict, dict]:
    """Train one variant from `ts`, validating on `val` after each epoch (the test sets are
    read once, at the end); return its metrics and its parameters."""
    train_step, eval_step = train.make_steps(model(), optimizer(variant, args),
                                             losses.softmax_cross_entropy,
                                             metrics={"accuracy": metrics.accuracy})
    test = test_sets[args.flip]
    bs = min(1000, len(test[0]), len(train_data[0]))  # one eval batch shape: one compile
    started = time.perf_counter()
    # steps_per_call=1: this model is tiny, so compiling an unrolled K-step chunk costs more
    # than the per-step dispatch it saves
    ts, history = train.fit(ts, train_step, train_data, epochs=args.epochs,
                            batch_size=args.batch_size, val_data=val, eval_step=eval_step,
                            verbose=0, eval_batch_size=bs, steps_per_call=1)
    seconds = time.perf_counter() - started
    final = {"train": train.evaluate(ts, eval_step, train_data, batch_size=bs),
             "test": train.evaluate(ts, eval_step, test, batch_size=bs)}
    sweep = {f"{f:g}": train.evaluate(ts, eval_step, pair, batch_size=bs)["accuracy"]
             for f, pair in test_sets.items()}
    kernels = np.asarray(ts.params["conv"]["w"])[:, :, 0, :].transpose(2, 0, 1)
    result = {"train_accuracy": final["train"]["accuracy"], "train_loss": final["train"]["loss"],
              "test_accuracy": final["test"]["accuracy"], "test_loss": final["test"]["loss"],
              "accuracy_by_flip": sweep, "seconds": round(seconds, 2),
              "kernels_times_9": np.round(kernels * 9, 4).tolist(),
              "history": {k: history[k] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}}
    return result, ts.params


def _annotated(ax, a: np.ndarray, title: str, numbers: bool = True, fmt: str = "{:.2f}"):
    ax.imshow(a, cmap="RdBu_r", vmin=-1.0, vmax=1.0)
    for (i, j), v in np.ndenumerate(a) if numbers else ():
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=6,
                color="white" if abs(v) > 0.6 else "black")
    ax.set(xticks=[], yticks=[], title=title)
    ax.title.set_fontsize(8)


def plot_maps(maps: dict, path: Path) -> Path:
    """Per kernel (rows): the kernel, then for X and O the 7x7 map and the 4x4 pooled ReLU map
    (colour: -1 blue .. +1 red); the X's maps carry their numbers, as in the deck."""
    plt = viz.pyplot()
    fig, ax = plt.subplots(3, 5, figsize=(16, 10))
    for r, (name, k) in enumerate(KERNELS.items()):
        _annotated(ax[r, 0], k, f"kernel '{name}' (x 1/9)", fmt="{:+.0f}")
        for c, label in enumerate(CLASSES):
            _annotated(ax[r, 1 + 2 * c], maps["conv"][c, :, :, r], f"{label}: map (sum / 9)",
                       numbers=c == 0)
            _annotated(ax[r, 2 + 2 * c], maps["pool"][c, :, :, r], f"{label}: ReLU + 2x2 max pool",
                       numbers=c == 0)
    fig.suptitle("Engineering Deep Learning: convolution with three kernels, ReLU, max pooling")
    return viz.save_figure(fig, path)


def plot_accuracy(results: dict, path: Path) -> Path:
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for v, r in results.items():
        ax[0].plot(range(1, len(r["history"]["val_accuracy"]) + 1), r["history"]["val_accuracy"],
                   label=v)
        flips = list(r["accuracy_by_flip"])
        ax[1].plot([float(f) for f in flips], [r["accuracy_by_flip"][f] for f in flips], "o-",
                   label=v)
    ax[0].set(xlabel="epoch", ylabel="validation accuracy", title="X vs O: validation accuracy per epoch")
    ax[1].set(xlabel="probability of a flipped pixel (test set)", ylabel="accuracy",
              title="robustness to pixel noise")
    return finish_figure(fig, path, grid=ax, legend=ax)


def table(results: dict) -> str:
    """Mean ± sd over the seeds: train and test accuracy, and accuracy per flip probability."""
    flips = list(next(iter(results.values()))["accuracy_by_flip"])
    rows = ["| variant | train accuracy | test accuracy | " + " | ".join(f"flip {f}" for f in flips)
            + " |", "|---" * (3 + len(flips)) + "|"]
    for variant, r in results.items():
        s = r["over_seeds"]
        rows.append(f"| {variant} | {format_mean_sd(s['train_accuracy'], 4)} | "
                    f"{format_mean_sd(s['test_accuracy'], 4)} | "
                    + " | ".join(format_mean_sd(s["accuracy_by_flip"][f], 4) for f in flips) + " |")
    return "\n".join(rows) + "\n"


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    out_dir = Path(args.out)
    # 1. The deck's numbers: the deck kernels applied to the deck's X (no training).
    deck_params = {"conv": {"w": jnp.asarray(deck_kernel_weights())},
                   "fc": {"w": jnp.zeros((48, 2)), "b": jnp.zeros(2)}}
    maps = deck_maps(deck_params)
    check = deck_check(maps)
    np.set_printoptions(precision=2, suppress=True, linewidth=120)
    for i, name in enumerate(KERNELS):
        print(f"X * {name} / 9 (deck: {'match' if check[name]['map_matches_deck'] else 'DIFFER'})"
              f":\n{maps['conv'][0, :, :, i]}")
        print(f"after ReLU and 2x2 max pooling (deck: "
              f"{'match' if check[name]['pooled_matches_deck'] else 'DIFFER'}):\n"
              f"{maps['pool'][0, :, :, i]}")
    # 2. Train the classifier on shifted, noisy X's and O's.
    train_data = make_dataset(args.train_size, max_shift=args.max_shift, flip=args.flip,
                              seed=args.seed)
    flips = sorted(set(args.flip_sweep) | {args.flip})
    test_sets = {f: make_dataset(args.test_size, max_shift=args.max_shift, flip=f,
                                 seed=args.seed + 1000 + i) for i, f in enumerate(flips)}
    val = make_dataset(args.val_size, max_shift=args.max_shift, flip=args.flip, seed=args.seed + 500)
    runs = {variant: [] for variant in args.variants}
    for seed in range(args.seed, args.seed + args.seeds):  # a training set and an init per seed
        seed_train = train_data if seed == args.seed else make_dataset(
            args.train_size, max_shift=args.max_shift, flip=args.flip, seed=seed)
        states = initial_states(args, args.variants, seed)
        for variant in args.variants:
            r, params = train_variant(variant, states[variant], args, seed_train, val, test_sets)
            runs[variant].append((r, params))
            print(f"seed {seed} {variant:8s} train {r['train_accuracy']:.4f}  "
                  f"test {r['test_accuracy']:.4f}  by flip {r['accuracy_by_flip']}  "
                  f"({r['seconds']:.1f} s)")
    results, trained = {}, {}
    for variant, seed_runs in runs.items():  # the first seed's run keeps its curves and kernels
        (results[variant], trained[variant]), rs = seed_runs[0], [r for r, _ in seed_runs]
        results[variant]["over_seeds"] = {
            "test_accuracy": mean_sd([r["test_accuracy"] for r in rs]),
            "train_accuracy": mean_sd([r["train_accuracy"] for r in rs]),
            "accuracy_by_flip": {f: mean_sd([r["accuracy_by_flip"][f] for r in rs])
                                 for f in rs[0]["accuracy_by_flip"]}}
    settings = _settings(args)
    out = {"settings": settings, "classes": list(CLASSES), "kernels": list(KERNELS),
           "deck_check": check,
           "x_maps": {name: {"conv": np.round(maps["conv"][0, :, :, i], 4).tolist(),
                             "relu": np.round(maps["relu"][0, :, :, i], 4).tolist(),
                             "pooled": np.round(maps["pool"][0, :, :, i], 4).tolist()}
                      for i, name in enumerate(KERNELS)},
           "o_pooled": {name: np.round(maps["pool"][1, :, :, i], 4).tolist()
                        for i, name in enumerate(KERNELS)},
           "n_train": args.train_size, "n_val": args.val_size, "n_test": args.test_size,
           "variants": results}
    if results:
        write_table(out_dir, table(results))
    save_results(out_dir, out, started=started)
    samples, labels = train_data[0][:8], train_data[1][:8]
    viz.plot_images([X_IMAGE, O_IMAGE, *samples[..., 0]], out_dir / "x_vs_o_images.png",
                    titles=["deck X", "O", *(f"train: {CLASSES[c]}" for c in labels)], columns=5)
    viz.plot_filters(deck_kernel_weights(), out_dir / "x_vs_o_kernels.png",
                     title="Engineering Deep Learning's kernels: " + ", ".join(KERNELS))
    viz.plot_feature_maps(maps["relu"][0], out_dir / "x_vs_o_feature_maps.png",
                          title="X: ReLU(map) per kernel", columns=3)
    viz.plot_feature_maps(maps["pool"][0], out_dir / "x_vs_o_pooled_maps.png",
                          title="X: 2x2 max-pooled maps", columns=3)
    plot_maps(maps, out_dir / "x_vs_o_maps.png")
    if "learned" in trained:
        viz.plot_filters(trained["learned"]["conv"]["w"], out_dir / "x_vs_o_learned_kernels.png",
                         title="learned 3x3 kernels")
    if results:
        plot_accuracy(results, out_dir / "x_vs_o_accuracy.png")
    print(f"wrote the plots to {out_dir}")
    return out


if __name__ == "__main__":
    main()
