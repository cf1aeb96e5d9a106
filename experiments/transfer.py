"""Transfer learning: a CNN pretrained on Fashion-MNIST classes 0-4, reused for 5-9 with few labels.

    python experiments/transfer.py            # full: 30k source images; 2/10/50/200 labels, 3 seeds
    python experiments/transfer.py --quick    # seconds: a tiny CNN, 10 labels, 1 seed (the test)
    python experiments/transfer.py --labels-per-class 10 50 --seeds 0 1 2 3 4 --steps 400

Claim (Senk, "Feature extraction & Fine-tuning"; docs/curriculum.md, chapter 8): the lecture's two
recipes for reusing a network trained on a large dataset (AlexNet on ImageNet) on your own, smaller
one: 1. *feature extraction*, "Extract features (from the fc6 or fc7 layer) using your own data and
train a classifier" ("AlexNet fc6 features (trained on ImageNet) generalize to SUN-397 scene
dataset"); 2. *fine-tuning*, "Train on ImageNet", "Finetune network on your own data". The usual
reading, tested here: with few labels the transferred features beat training the same network from
scratch, and fine-tuning (which moves the features too) pays off once more labels are available.

Method. Source task: Fashion-MNIST classes 0-4 (T-shirt, trouser, pullover, dress, coat), all
30,000 training images, `fashion_cnn(5)` (conv32-BN-ReLU-pool, conv64-BN-ReLU-pool, fc128,
dropout 0.25, 5 logits) trained with Adam. Target task: classes 5-9 (sandal, shirt, sneaker,
bag, ankle boot) with k labelled training images per class (k in --labels-per-class; for each
seed a fresh balanced draw, nested: the 10 per class are the first 10 of the 50), tested on
all 5,000 test images of 5-9. Every method gets the same budget of --steps Adam steps of
batch min(--batch-size, 5k) on the 5k images:

    scratch           fashion_cnn(5) from a random init, lr                     (the baseline)
    features_fc       logistic regression on h = fc layer ("classifier/relu", 128 values) of
                      the frozen pretrained network (Senk: fc6/fc7 features)
    features_conv     the same on the conv body's output ("features", 7 x 7 x 64 = 3,136)
    fine_tune         the pretrained network with a new logits layer; body at s * lr, the new
                      head at lr (transfer.fine_tune_optimizer, s = --pretrained-lr-scale)
    fine_tune_frozen  the same with the first conv block frozen (--freeze): its tensors get
                      no update and, since all of them are frozen, the block runs in
                      evaluation mode (nn.eval_mode: its batch norm keeps the pretrained
                      running statistics, as Keras runs a non-trainable BatchNorm)

The feature classifier sees z = (h - mean) / std (statistics of the k x 5 training features)
and minimizes mean cross-entropy + lambda / (2n) ||W||^2 (regularizers.l2, lambda = --head-l2
= 1/C of scikit-learn's LogisticRegression, default C = 1), Adam at --head-lr. Test accuracy
on the target test set for every (method, k, seed); reported as mean +- sd over seeds
(sample sd, ddof 1). `summary` says whether the claim held: the best transfer method
against scratch at the fewest labels, and fine-tuning against feature extraction as k grows;
a method counts as ahead only when the gap of the means exceeds the sum of their sds
(`verdict` per label count: "transfer ahead", "scratch ahead" or "within noise").

Writes `<out>/metrics.json` and `<out>/transfer.png`. Full mode on the 2-core CPU: 126-282 s
measured (docs/experiments/transfer.md).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import jax
import numpy as np
import optax
from _common import (exceeds_spread, finish_figure, format_mean_sd, mean_sd, parser, save_results,
                     settings as _settings)

from jdl import checkpoint, data, losses, metrics, models, nn, regularizers, train, transfer, viz
from jdl.paths import paths

METHODS = ("scratch", "features_fc", "features_conv", "fine_tune", "fine_tune_frozen")
HEAD = "classifier/logits/*"  # the new 5-way head: never copied from the source model


def parse_args(argv=None):
    p = parser("transfer", __doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--source-classes", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--target-classes", type=int, nargs="+", default=[5, 6, 7, 8, 9])
    p.add_argument("--labels-per-class", type=int, nargs="+", default=[2, 10, 50, 200])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                   help="one balanced few-label draw and one head init per seed")
    p.add_argument("--widths", type=int, nargs="+", default=[32, 64],
                   help="fashion_cnn conv widths")
    p.add_argument("--dense", type=int, default=128, help="fashion_cnn fc width")
    p.add_argument("--pretrain-epochs", type=int, default=2)
    p.add_argument("--pretrain-batch-size", type=int, default=128)
    p.add_argument("--source-size", type=int, default=None,
                   help="use only the first N source training images (default: all)")
    p.add_argument("--steps", type=int, default=200, help="Adam steps per target-task run")
    p.add_argument("--batch-size", type=int, default=25)
    p.add_argument("--lr", type=float, default=1e-3,
                   help="Adam lr of pretraining and scratch; of the new head when fine-tuning")
    p.add_argument("--head-lr", type=float, default=1e-2, help="feature-extraction classifier lr")
    p.add_argument("--head-l2", type=float, default=1.0,
                   help="L2 of the feature classifier, l2(lambda, n): lambda = 1/C of scikit-learn")
    p.add_argument("--pretrained-lr-scale", type=float, default=0.1,
                   help="s: the pretrained body is fine-tuned at s * lr")
    p.add_argument("--freeze", nargs="+", default=["features/block1/*"],
                   help="tensors kept fixed by fine_tune_frozen (path patterns)")
    p.add_argument("--fc-layer", default="classifier/relu", help="features_fc's layer path")
    p.add_argument("--conv-layer", default="features", help="features_conv's layer path")
    p.add_argument("--steps-per-call", type=int, default=4, help="train steps per compiled call")
    p.add_argument("--save-pretrained", type=Path, default=None,
                   help="write the source model's weights here (checkpoint.save_weights)")
    p.add_argument("--load-pretrained", type=Path, default=None,
                   help="skip pretraining: read weights written by --save-pretrained")
    args = p.parse_args(argv)
    if args.quick:
        # Few compiles, the cost of a quick run: one conv block, one label count, and the
        # pretraining set the size of the target set, so all share the compiled shuffles and
        # steps (the summary's logic is tested on a hand-made sweep).
        args.widths, args.dense, args.source_size, args.pretrain_epochs = [8], 32, 50, 8
        args.pretrain_batch_size, args.labels_per_class, args.seeds = 25, [10], [0]
        args.steps, args.steps_per_call = 12, 1
    if not set(args.source_classes) | set(args.target_classes) <= set(range(10)):
        p.error(f"--source-classes, --target-classes: expected Fashion-MNIST classes 0-9, got "
                f"{args.source_classes} and {args.target_classes}")
    overlap = set(args.source_classes) & set(args.target_classes)
    if overlap:
        p.error(f"--source-classes and --target-classes: expected disjoint classes, got "
                f"{sorted(overlap)} in both")
    if len(args.target_classes) != len(args.source_classes):
        p.error("--target-classes: expected as many classes as --source-classes (one "
                "architecture serves both tasks; the head is re-initialized)")
    if min(args.labels_per_class) < 1 or args.steps < 1 or args.batch_size < 1:
        p.error("--labels-per-class, --steps and --batch-size: expected positive ints")
    return args


def load_task(quick: bool, source: list[int], target: list[int], source_size: int | None):
    """Scaled Fashion-MNIST split by class: source (train, test) and target (pool, test).

    Labels are re-indexed within each task (class c -> its position in `source` / `target`).
    Quick mode keeps 300 test images per task.
    """
    if not data.available("fashion_mnist"):
        raise SystemExit("transfer.py: expected Fashion-MNIST (see docs/data.md); it was not found")
    splits = data.load("fashion_mnist")
    (x, y), (xt, yt) = splits["train"], splits["test"]

    def task(classes, xs, ys):
        keep = np.isin(ys, classes)
        remap = np.full(int(ys.max()) + 1, -1, np.int32)
        remap[classes] = np.arange(len(classes))
        return data.scale(xs[keep]), remap[ys[keep]]

    src, src_test = task(source, x, y), task(source, xt, yt)
    pool, tgt_test = task(target, x, y), task(target, xt, yt)
    if source_size is not None:
        src = (src[0][:source_size], src[1][:source_size])
    if quick:
        src_test = (src_test[0][:300], src_test[1][:300])
        tgt_test = (tgt_test[0][:300], tgt_test[1][:300])
    return src, src_test, pool, tgt_test


def few_labels(y: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Indices of `per_class` examples of each class of y (0..K-1), class by class.

    One seeded permutation per class; taking its first `per_class` entries makes the draws of
    one seed nested (the 10 per class are the first 10 of the 50).
    """
    rng = np.random.default_rng(seed)
    out = []
    for c in range(int(y.max()) + 1):
        idx = np.flatnonzero(y == c)
        if len(idx) < per_class:
            raise ValueError(f"few_labels: expected at least {per_class} examples of class {c}, "
                             f"got {len(idx)}")
        out.append(rng.permutation(idx)[:per_class])
    return np.concatenate(out)


def fit_steps(ts, step, xy, args):
    """Train for about `args.steps` steps of `args.batch_size` (whole epochs): (ts, steps run)."""
    n = len(xy[0])
    bs = min(args.batch_size, n)
    per_epoch = n // bs
    epochs = math.ceil(args.steps / per_epoch)
    ts, _ = train.fit(ts, step, xy, epochs=epochs, batch_size=bs, verbose=0,
                      steps_per_call=args.steps_per_call)
    return ts, epochs * per_epoch


def pretrain(runner: "Runner", args, src, src_test):
    """The source model: `fashion_cnn` trained on the source classes with the scratch recipe
    (Adam, lr; the same compiled step), or weights read from --load-pretrained."""
    started = time.perf_counter()
    cnn, shape = runner.cnn, (1, *src[0].shape[1:])
    if args.load_pretrained is not None:
        params, state = transfer.load_pretrained(args.load_pretrained, cnn, shape)
        ts = train.TrainState(params, state, None, 0, jax.random.key(args.seed))
        epochs = 0
    else:
        ts = train.init_train_state(cnn, runner.opts["scratch"], jax.random.key(args.seed),
                                    shape)
        ts, _ = train.fit(ts, runner.steps["scratch"], src, epochs=args.pretrain_epochs,
                          batch_size=args.pretrain_batch_size, verbose=0,
                          steps_per_call=args.steps_per_call)
        epochs = args.pretrain_epochs
        if args.save_pretrained is not None:
            written = checkpoint.save_weights(args.save_pretrained, {"params": ts.params, "state": ts.state})
            print(f"wrote {written}")
    test = train.evaluate(ts, runner.cnn_eval, src_test, **runner.test_batch)
    info = {"classes": args.source_classes, "n_test": len(src_test[0]),
            "n_train": len(src[0]) if args.load_pretrained is None else None,
            "epochs": epochs, "test_accuracy": test["accuracy"], "test_loss": test["loss"],
            "loaded_from": None if args.load_pretrained is None else str(args.load_pretrained),
            "seconds": round(time.perf_counter() - started, 2)}
    return ts.params, ts.state, info


def standardize(f: np.ndarray):
    """(f - mu) / sigma with the training features' mean and std per feature (sigma = 1 where a
    feature is constant, e.g. a ReLU never active), and that map for the test features."""
    mu, sigma = f.mean(axis=0), f.std(axis=0)
    sigma = np.where(sigma > 1e-6, sigma, 1.0).astype(f.dtype)

    def scale(g: np.ndarray) -> np.ndarray:
        return (g - mu) / sigma

    return scale(f), scale


def frozen_blocks_in_eval_mode(cnn: nn.Layer, shape: tuple, frozen) -> tuple[nn.Layer, list]:
    """`fashion_cnn` rebuilt with every feature block whose tensors are all frozen wrapped in
    `nn.eval_mode`, and the paths of those blocks. Same params and state trees as `cnn` (the
    wrapper is transparent), so the pretrained tensors and the eval step are shared."""
    _, params, _ = jax.eval_shape(lambda: cnn.init(jax.random.key(0), shape))
    groups = transfer.fine_tune_groups(params, frozen=frozen, head=HEAD)
    parts = dict(cnn.children)
    blocks, wrapped = [], []
    for name, block in parts["features"].children:
        inside = [g for p, g in groups.items() if p.startswith(f"features/{name}/")]
        if inside and all(g == "frozen" for g in inside):
            block = nn.eval_mode(block)
            wrapped.append(f"features/{name}")
        blocks.append((name, block))
    model = nn.serial(("features", nn.serial(*blocks)), ("classifier", parts["classifier"]))
    return model, wrapped


class Runner:
    """Builds every method's model, optimizer and steps once, so that the compiled chunks are
    reused by pretraining, seeds and label counts; `set_pretrained(params, state)`, then
    `run(method, x, y, key)` trains and tests one."""

    def __init__(self, cnn, args, test, loss, acc):
        self.cnn, self.args, self.test, self.loss, self.acc = cnn, args, test, loss, acc
        self.params = self.state = self.groups = None
        self.shape = (1, *test[0].shape[1:])
        self.cnn_eval = train.make_eval_step(cnn, loss, metrics=acc)
        k = len(args.target_classes)
        self.opts = {
            "scratch": optax.adam(args.lr),
            "fine_tune": transfer.fine_tune_optimizer(
                optax.adam(args.lr), head=HEAD, pretrained_lr_scale=args.pretrained_lr_scale),
            "fine_tune_frozen": transfer.fine_tune_optimizer(
                optax.adam(args.lr), frozen=args.freeze, head=HEAD,
                pretrained_lr_scale=args.pretrained_lr_scale),
        }
        self.frozen_cnn, self.eval_mode_blocks = frozen_blocks_in_eval_mode(
            cnn, self.shape, args.freeze)
        self.steps = {m: train.make_train_step(self.frozen_cnn if m == "fine_tune_frozen" else cnn,
                                               o, loss, metrics=acc)
                      for m, o in self.opts.items()}
        self.head = models.logistic_regression(k)
        self.head_opt = optax.adam(args.head_lr)
        self.head_eval = train.make_eval_step(self.head, loss, metrics=acc)
        self._head_steps: dict[int, object] = {}
        self.layers = {"features_fc": args.fc_layer, "features_conv": args.conv_layer}
        self._test_features: dict[str, np.ndarray] = {}
        # --quick: the test sets in batches of --batch-size too, so that every evaluation and
        # feature extraction of a model compiles once (one batch shape)
        self.test_batch = {"batch_size": args.batch_size} if args.quick else {}

    def set_pretrained(self, params, state) -> None:
        self.params, self.state, self._test_features = params, state, {}
        self.groups = transfer.fine_tune_groups(params, frozen=self.args.freeze, head=HEAD)

    def head_step(self, n: int):
        """The classifier's train step with the L2 penalty lambda / (2n) ||w||^2 for n images."""
        if n not in self._head_steps:
            penalty = regularizers.l2(self.args.head_l2, n=n) if self.args.head_l2 > 0 else None
            self._head_steps[n] = train.make_train_step(self.head, self.head_opt, self.loss,
                                                        metrics=self.acc, penalty=penalty)
        return self._head_steps[n]

    def features(self, method: str, x) -> np.ndarray:
        return transfer.extract_features(self.cnn, self.params, self.state, self.layers[method], x,
                                         batch_size=self.args.batch_size)

    def test_features(self, method: str) -> np.ndarray:
        if method not in self._test_features:
            self._test_features[method] = transfer.extract_features(
                self.cnn, self.params, self.state, self.layers[method], self.test[0],
                **self.test_batch)
        return self._test_features[method]

    def run(self, method: str, x, y, key) -> dict:
        started = time.perf_counter()
        bs = min(self.args.batch_size, len(x))
        extra = {}
        if method.startswith("features"):
            f, scale = standardize(self.features(method, x))
            ts = train.init_train_state(self.head, self.head_opt, key, (1, *f.shape[1:]))
            ts, steps = fit_steps(ts, self.head_step(len(f)), (f, y), self.args)
            tr = train.evaluate(ts, self.head_eval, (f, y), batch_size=bs)
            te = train.evaluate(ts, self.head_eval,
                                (scale(self.test_features(method)), self.test[1]),
                                **self.test_batch)
            extra["feature_dim"] = int(f.shape[1])
        else:
            opt = self.opts[method]
            ts = train.init_train_state(self.cnn, opt, key, self.shape)
            if method != "scratch":
                ts = self.transplanted(ts, opt)
            ts, steps = fit_steps(ts, self.steps[method], (x, y), self.args)
            tr = train.evaluate(ts, self.cnn_eval, (x, y), batch_size=bs)
            te = train.evaluate(ts, self.cnn_eval, self.test, **self.test_batch)
            if method == "fine_tune_frozen":
                extra["frozen_unchanged"] = self.frozen_unchanged(ts.params)
                extra["frozen_statistics_unchanged"] = self.frozen_statistics_unchanged(ts.state)
        return {"test_accuracy": te["accuracy"], "test_loss": te["loss"],
                "train_accuracy": tr["accuracy"], "steps": steps, **extra,
                "seconds": round(time.perf_counter() - started, 2)}

    def transplanted(self, ts, opt):
        """`transfer.init_transfer_state(..., exclude=HEAD)` on an initialised state: every
        pretrained tensor but the 5-way logits copied in (BN statistics too), fresh `opt` state."""
        params, _ = transfer.transplant(self.params, ts.params, exclude=HEAD)
        state = ts.state
        if jax.tree.leaves(state):  # batch-norm statistics (the head has none)
            state, _ = transfer.transplant(self.state, state)
        return ts._replace(params=params, state=state, opt_state=opt.init(params))

    def frozen_unchanged(self, params) -> bool:
        """Every tensor fine_tune_groups calls "frozen" equals the pretrained one bit for bit."""
        new = dict(zip(transfer.fine_tune_groups(params, frozen=self.args.freeze, head=HEAD),
                       jax.tree.leaves(params)))
        old = dict(zip(self.groups, jax.tree.leaves(self.params)))
        return all(np.array_equal(np.asarray(new[p]), np.asarray(old[p]))
                   for p, g in self.groups.items() if g == "frozen")

    def frozen_statistics_unchanged(self, state) -> bool:
        """The batch-norm statistics of the blocks run in eval mode equal the pretrained ones."""
        new, old = (dict(zip(paths(t), jax.tree.leaves(t))) for t in (state, self.state))
        inside = tuple(f"{block}/" for block in self.eval_mode_blocks)
        return all(np.array_equal(np.asarray(new[p]), np.asarray(old[p]))
                   for p in old if p.startswith(inside))


def spread_verdict(a: dict, b: dict, ahead: str, behind: str) -> str:
    """`ahead` when a's mean beats b's by more than sd_a + sd_b, `behind` for the reverse, else
    "within noise" (a record without "sd" is one seed: sd 0)."""
    stat = lambda r: {"mean": r["mean"], "sd": r.get("sd", 0.0)}  # noqa: E731
    if not exceeds_spread(stat(a), stat(b)):
        return "within noise"
    return ahead if a["mean"] > b["mean"] else behind


def summarize(results: dict, labels: list[int]) -> dict:
    """Mean test accuracies side by side, and whether Senk's reading held (by the spread rule:
    a flag is true only when the gap exceeds the sum of the sds)."""
    mean = {m: {k: results[m][str(k)]["mean"] for k in labels} for m in results}
    transfer_m = [m for m in results if m != "scratch"]
    feat = [m for m in results if m.startswith("features")]
    tune = [m for m in results if m.startswith("fine_tune")]
    out: dict = {"by_labels": {}}
    for k in labels:
        row = {"best": max(results, key=lambda m: mean[m][k])}
        if "scratch" in results and transfer_m:
            row["gain_over_scratch"] = {m: mean[m][k] - mean["scratch"][k] for m in transfer_m}
            best_transfer = max(transfer_m, key=lambda m: mean[m][k])
            row["best_transfer"] = best_transfer
            row["verdict"] = spread_verdict(results[best_transfer][str(k)],
                                            results["scratch"][str(k)],
                                            "transfer ahead", "scratch ahead")
        if feat and tune:
            row["fine_tune_minus_features"] = (max(mean[m][k] for m in tune)
                                               - max(mean[m][k] for m in feat))
        out["by_labels"][str(k)] = row
    few, many = min(labels), max(labels)
    if "scratch" in results and transfer_m:
        out["transfer_beats_scratch_at_fewest_labels"] = (
            out["by_labels"][str(few)]["verdict"] == "transfer ahead")
        out["features_beat_scratch_at_fewest_labels"] = bool(feat) and any(
            spread_verdict(results[m][str(few)], results["scratch"][str(few)], "ahead", "behind")
            == "ahead" for m in feat)
    if feat and tune:
        gap = {k: out["by_labels"][str(k)]["fine_tune_minus_features"] for k in labels}
        best = lambda ms, k: results[max(ms, key=lambda m: mean[m][k])][str(k)]  # noqa: E731
        out["fine_tune_beats_features_at_most_labels"] = spread_verdict(
            best(tune, many), best(feat, many), "ahead", "behind") == "ahead"
        out["fine_tune_advantage_grows_with_labels"] = bool(gap[many] > gap[few])
    return out


def plot(results: dict, labels: list[int], path: Path, title: str) -> Path:
    """Target test accuracy against labels per class (mean +- sd over seeds), and the gain
    of every transfer method over training from scratch."""
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(13, 4.5))
    for m, r in results.items():
        color = f"C{METHODS.index(m)}"  # one colour per method in both panels
        means = [r[str(k)]["mean"] for k in labels]
        stds = [r[str(k)]["sd"] for k in labels]
        ax[0].errorbar(labels, means, yerr=stds, marker="o", capsize=3, label=m, color=color)
        if "scratch" in results and m != "scratch":
            ax[1].plot(labels, [mu - results["scratch"][str(k)]["mean"]
                                for mu, k in zip(means, labels)], marker="o", label=m,
                       color=color)
    ax[0].set(xscale="log", xlabel="labelled images per class", ylabel="test accuracy",
              title="target task (mean +- sd over seeds)")
    ax[1].axhline(0.0, color="black", lw=0.8)
    ax[1].set(xscale="log", xlabel="labelled images per class",
              ylabel="accuracy - scratch accuracy", title="gain over training from scratch")
    for a in ax:
        a.minorticks_off()
        a.set_xticks(labels, [str(k) for k in labels])
    return finish_figure(fig, path, title, grid=ax, legend=ax)


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    src, src_test, pool, test = load_task(args.quick, args.source_classes, args.target_classes,
                                          args.source_size)
    print(f"source {args.source_classes}: train {len(src[0])}, test {len(src_test[0])}; target "
          f"{args.target_classes}: pool {len(pool[0])}, test {len(test[0])}")
    loss, acc = losses.softmax_cross_entropy, {"accuracy": metrics.accuracy}
    cnn = models.fashion_cnn(len(args.source_classes), widths=tuple(args.widths), dense=args.dense)
    runner = Runner(cnn, args, test, loss, acc)
    params, state, pre = pretrain(runner, args, src, src_test)
    runner.set_pretrained(params, state)
    where = pre["loaded_from"] or f"pretrained on {pre['n_train']} images"
    print(f"{where}: source test accuracy {pre['test_accuracy']:.4f} ({pre['seconds']:.1f} s)")
    labels = sorted(set(args.labels_per_class))
    results: dict = {m: {} for m in args.methods}
    for k in labels:
        for m in args.methods:
            runs = []
            for seed in args.seeds:
                idx = few_labels(pool[1], k, seed)
                key = jax.random.key(10_000 + seed)
                runs.append(runner.run(m, pool[0][idx], pool[1][idx], key))
            stat = mean_sd([r["test_accuracy"] for r in runs])
            results[m][str(k)] = {"mean": stat["mean"], "sd": stat["sd"],
                                  "seeds": list(args.seeds), "runs": runs}
            print(f"{k:4d}/class  {m:17s} test {format_mean_sd(stat, 4)}  "
                  f"train {np.mean([r['train_accuracy'] for r in runs]):.3f}  "
                  f"({sum(r['seconds'] for r in runs):.1f} s)")
    summary = summarize(results, labels)
    settings = _settings(args)
    groups = runner.groups
    out = {"dataset": "fashion_mnist", "settings": settings, "pretrain": pre,
           "target": {"classes": args.target_classes, "pool": len(pool[0]), "n_test": len(test[0])},
           "fine_tune_frozen_groups": {g: sum(v == g for v in groups.values())
                                       for g in ("frozen", "scaled", "full")},
           "fine_tune_frozen_eval_mode_blocks": runner.eval_mode_blocks,
           "methods": results, "summary": summary}
    save_results(args.out, out, started=started)
    plot(results, labels, args.out / "transfer.png",
         f"fashion_cnn pretrained on classes {args.source_classes} (source test accuracy "
         f"{pre['test_accuracy']:.3f}) -> classes {args.target_classes}")
    return out


if __name__ == "__main__":
    main()
