"""Depth: plain-20 vs plain-56 vs ResNet-20 vs ResNet-56; do deeper plain nets train worse?

    python experiments/depth.py            # full: 6,400 images, 8 epochs, widths 8-16-32, 3 seeds
    python experiments/depth.py --quick    # seconds: depths 8 and 14, 128 images (the tests)
    python experiments/depth.py --widths 16 32 64 --epochs 8

Claim (Salakhutdinov, "Residual Networks": "Really, really deep convnets do not train well, e.g.
CIFAR10", He, Zhang, Ren & Sun, CVPR 2016, Fig. 1 and Fig. 6): the 56-layer *plain* net has a
HIGHER training error than the 20-layer one (degradation: an optimization problem, not
overfitting, since a deeper net could copy the shallower one and set its extra layers to the
identity); with a "pass through" around each pair of layers,

    y = relu(F(x) + x)      (residual block; plain block: y = relu(F(x))),

the deeper net trains at least as well as the shallower one.

Method: `jdl.models.cifar_resnet(depth, plain=...)` (depth = 6n + 2: a 3x3 stem, three stages
of n two-conv blocks on 28x28, 14x14, 7x7 maps, global average pooling, a linear layer; option
A parameter-free shortcuts, so plain and residual twins have the same parameters: the plain
twin starts from exactly the ResNet's initial weights, He-normal convolutions), with BN after
every convolution, as in the paper. Every model gets the same seed, data order and optimizer:
SGD, momentum 0.9, lr 0.1 divided by 10 after 50% and 75% of the steps (the paper: at 32k and
48k of 64k iterations), weight decay 1e-4 on the weights (coupled, g <- g + wd w), batch 64,
softmax cross-entropy. The training error is recorded `--evals-per-epoch` times per epoch as the
mean over the mini-batches since the last record (train mode, as the paper's thin curves);
after training: the error of the final weights in eval mode on the whole training subset and
on the 10,000 test images.

Budget (2-core CPU): narrower nets than the paper's 16-32-64 filters (`--widths 8 16 32`, 1/4
of the parameters and multiply-adds), 6,400 training images, 8 epochs (800 steps: twice an
earlier 400-step budget, after which the 56-layer nets had not caught up and degradation could
not be told from a slower start), 3 seeds (`--seeds`; every figure mean +- sd, and each
degradation gap, deep minus shallow, paired by seed and judged by the spread rule). One step
per compiled call (`--steps-per-call 1`): the 4-step unrolled chunk of a 56-layer net takes
minutes to compile. The measured time is on the page.

Writes `<out>/metrics.json` and `<out>/depth.png` (training error per epoch: solid plain,
dashed ResNet, as the paper's Fig. 6).
"""
from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import (exceeds_spread, finish_figure, format_mean_sd, load_images, mean_sd, parser,
                     save_results, settings as _settings, with_seed, write_table)

from jdl import losses, metrics, models, regularizers, summary, train, viz


def parse_args(argv=None):
    p = parser("depth", __doc__.splitlines()[0])
    p.add_argument("--depths", type=int, nargs=2, default=[20, 56], metavar=("SHALLOW", "DEEP"),
                   help="two depths 6n + 2; each is trained plain and residual")
    p.add_argument("--widths", type=int, nargs=3, default=[8, 16, 32],
                   help="filters of the three stages (the paper: 16 32 64)")
    p.add_argument("--train-size", type=int, default=6400)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--evals-per-epoch", type=int, default=4,
                   help="training-error records per epoch")
    p.add_argument("--lr", type=float, default=0.1, help="initial SGD learning rate")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--steps-per-call", type=int, default=1, help="fit's steps per compiled call")
    p.add_argument("--seeds", type=int, default=3, help="seeds per model (mean +- sd)")
    args = p.parse_args(argv)
    if args.quick:
        # compilation dominates (one init, train and eval program per model): 2 steps a record
        args.depths, args.widths, args.train_size = [8, 14], [4, 8, 16], 128
        args.epochs, args.batch_size, args.evals_per_epoch, args.seeds = 2, 32, 2, 1
    for d in args.depths:
        if d < 8 or (d - 2) % 6:
            p.error(f"--depths: expected depths 6n + 2 (8, 14, 20, 32, 44, 56, ...), got {d}")
    if args.depths[0] >= args.depths[1]:
        p.error(f"--depths: expected SHALLOW < DEEP, got {args.depths}")
    return args


def model_list(depths) -> list[tuple[str, int, bool]]:
    """[(name, depth, plain)]: plain20, plain56, resnet20, resnet56 for depths (20, 56)."""
    return [(f"{'plain' if plain else 'resnet'}{d}", d, plain) for plain in (True, False)
            for d in depths]


def schedule(lr: float, total_steps: int):
    """lr, lr/10 after 50% of the steps, lr/100 after 75% (He et al. 2016 section 4.2, shorter)."""
    return optax.piecewise_constant_schedule(
        lr, {max(1, total_steps // 2): 0.1, max(2, (3 * total_steps) // 4): 0.1})


def usable(n: int, batch_size: int, per_epoch: int) -> int:
    """Training images kept: the largest multiple of batch_size * per_epoch not above n (so each
    record is whole batches and every kept image is used once per epoch)."""
    kept = (n // (batch_size * per_epoch)) * batch_size * per_epoch
    if kept == 0:
        raise ValueError(f"depth: {n} training images are too few for {per_epoch} records per "
                         f"epoch of batches of {batch_size}")
    return kept


def plain_twin(tree):
    """A residual net's params (or state) in the layout of its plain twin: every block's
    `{"residual": {"main": F}}` becomes `{"main": F}`. Option A shortcuts have no parameters,
    so the twins then start from the same weights and differ only by the skip connections."""
    if not isinstance(tree, dict):
        return tree
    out = {}
    for key, value in tree.items():
        if key == "residual":
            if set(value) != {"main"}:
                raise ValueError(f"plain_twin: expected a parameter-free shortcut, got the "
                                 f"residual children {sorted(value)}")
            out["main"] = plain_twin(value["main"])
        else:
            out[key] = plain_twin(value)
    return out


def initial_states(depth: int, args, optimizer, shape) -> dict:
    """{"resnet": TrainState, "plain": TrainState} at step 0 with the same weights and run key:
    `init_train_state` of the ResNet, mapped onto the plain net by `plain_twin` (and checked
    against the plain net's own `init` shapes)."""
    widths = tuple(args.widths)
    resnet = models.cifar_resnet(depth, 10, widths=widths)
    plain = models.cifar_resnet(depth, 10, plain=True, widths=widths)
    ts = train.init_train_state(resnet, optimizer, jax.random.key(args.seed), shape)
    params, state = plain_twin(ts.params), plain_twin(ts.state)
    want = jax.eval_shape(lambda k: plain.init(k, shape)[1:], jax.random.key(0))
    got = (params, state)
    if (jax.tree.structure(got) != jax.tree.structure(want)
            or [a.shape for a in jax.tree.leaves(got)] != [a.shape for a in jax.tree.leaves(want)]):
        raise ValueError(f"plain_twin: the ResNet-{depth} parameters do not map onto plain-{depth}")
    params, state, step, key = jax.tree.map(jnp.copy, (params, state, ts.step, ts.key))
    # (copies: fit donates the buffers of the TrainState it trains)
    twin = train.TrainState(params, state, jax.jit(optimizer.init)(params), step, key)
    return {"resnet": ts, "plain": twin}


def run_model(depth: int, plain: bool, ts, optimizer, args, splits) -> dict:
    """Train one net from `ts`; its training error per record, final train/test error, size and
    time. Every model sees the same data order: a fresh permutation per epoch (seeded), cut
    into `evals_per_epoch` records of `fit` (each shuffled again inside)."""
    (x_tr, y_tr), (x_te, y_te) = splits
    model = models.cifar_resnet(depth, 10, plain=plain, widths=tuple(args.widths))
    train_step, eval_step = train.make_steps(model, optimizer, losses.softmax_cross_entropy,
                                             metrics={"accuracy": metrics.accuracy})
    size = summary.summary(model, (1, *x_tr.shape[1:]))
    init_norm = float(np.sqrt(sum(np.sum(np.square(np.asarray(w, np.float64)))
                                  for w in jax.tree.leaves(ts.params))))
    seg = len(x_tr) // args.evals_per_epoch
    steps_per_epoch = len(x_tr) // args.batch_size
    order_rng = np.random.default_rng(args.seed)
    history = {"epoch": [], "step": [], "loss": [], "error": [], "seconds": []}
    started = time.perf_counter()
    for _ in range(args.epochs):
        order = order_rng.permutation(len(x_tr))
        for r in range(args.evals_per_epoch):
            part = order[r * seg:(r + 1) * seg]
            ts, h = train.fit(ts, train_step, (x_tr[part], y_tr[part]), epochs=1,
                              batch_size=args.batch_size, verbose=0,
                              steps_per_call=args.steps_per_call)
            step = int(ts.step)
            history["step"].append(step)
            history["epoch"].append(step / steps_per_epoch)
            history["loss"].append(h["loss"][0])
            history["error"].append(1.0 - h["accuracy"][0])
            history["seconds"].append(h["epoch_time"][0])
        print(f"  {'plain' if plain else 'resnet'}{depth} epoch {history['epoch'][-1]:.2f}: "
              f"training error {history['error'][-1]:.4f}, loss {history['loss'][-1]:.4f}")
    train_seconds = time.perf_counter() - started
    eval_bs = min(1000, len(x_te), len(x_tr))  # one eval batch shape for both sets: one compile
    final_train = train.evaluate(ts, eval_step, (x_tr, y_tr), batch_size=eval_bs)
    final_test = train.evaluate(ts, eval_step, (x_te, y_te), batch_size=eval_bs)
    later = history["seconds"][1:] or history["seconds"]
    return {
        "depth": depth, "plain": plain, "widths": list(args.widths),
        "params": size.total_params, "macs": size.total_macs,
        "initial_params_l2_norm": init_norm,  # equal for plain and ResNet twins
        "train_error": 1.0 - final_train["accuracy"], "train_loss": final_train["loss"],
        "test_error": 1.0 - final_test["accuracy"], "test_accuracy": final_test["accuracy"],
        "test_loss": final_test["loss"], "last_running_train_error": history["error"][-1],
        "steps": int(ts.step),
        "seconds": round(time.perf_counter() - started, 2),
        "train_seconds": round(train_seconds, 2),
        "seconds_per_step": float(np.median(later)) / (seg // args.batch_size),
        "first_record_seconds": history["seconds"][0],  # includes the step's compilation
        "history": history,
    }


def claims(results: dict, depths) -> dict:
    """Degradation = error(deep) - error(shallow), per family, from the final eval-mode training
    error; the deck's claim is plain > 0 and ResNet <= 0 (at least: ResNet < plain)."""
    shallow, deep = depths
    gap = {kind: (results[f"{kind}{deep}"]["train_error"]
                  - results[f"{kind}{shallow}"]["train_error"]) for kind in ("plain", "resnet")}
    running = {kind: (results[f"{kind}{deep}"]["last_running_train_error"]
                      - results[f"{kind}{shallow}"]["last_running_train_error"])
               for kind in ("plain", "resnet")}
    return {
        "train_error_gap_plain": gap["plain"], "train_error_gap_resnet": gap["resnet"],
        "running_train_error_gap_plain": running["plain"],
        "running_train_error_gap_resnet": running["resnet"],
        "plain_deeper_has_higher_train_error": gap["plain"] > 0,
        "resnet_deeper_not_higher_train_error": gap["resnet"] <= 0,
        "resnet_gap_below_plain_gap": gap["resnet"] < gap["plain"],
        "deep_resnet_below_deep_plain": (results[f"resnet{deep}"]["train_error"]
                                         < results[f"plain{deep}"]["train_error"]),
    }


SEED_KEYS = ("train_error", "last_running_train_error", "test_error")


def combine_seeds(per_seed: list[dict], depths) -> tuple[dict, dict]:
    """The first seed's records (curves) with `over_seeds` (mean ± sd of SEED_KEYS), and the
    claims over seeds: each degradation gap paired by seed, as mean ± sd, and judged by the
    spread rule (a gap counts only when its mean exceeds its sd)."""
    results = per_seed[0]
    for m, r in results.items():
        r["over_seeds"] = {k: mean_sd([res[m][k] for res in per_seed]) for k in SEED_KEYS}
    each = [claims(res, depths) for res in per_seed]
    verdict = {key: mean_sd([c[key] for c in each]) for key in each[0] if key.endswith(("plain", "resnet"))}
    zero = {"mean": 0.0, "sd": 0.0, "values": [0.0]}
    shallow, deep = depths
    verdict.update({
        "plain_deeper_has_higher_train_error": bool(
            verdict["train_error_gap_plain"]["mean"] > 0
            and exceeds_spread(verdict["train_error_gap_plain"], zero)),
        "resnet_deeper_not_higher_train_error": not (
            verdict["train_error_gap_resnet"]["mean"] > 0
            and exceeds_spread(verdict["train_error_gap_resnet"], zero)),
        "resnet_gap_below_plain_gap": bool(exceeds_spread(verdict["train_error_gap_resnet"],
                                                          verdict["train_error_gap_plain"])
                                           and verdict["train_error_gap_resnet"]["mean"]
                                           < verdict["train_error_gap_plain"]["mean"]),
        "deep_resnet_below_deep_plain": bool(exceeds_spread(
            results[f"resnet{deep}"]["over_seeds"]["train_error"],
            results[f"plain{deep}"]["over_seeds"]["train_error"])
            and results[f"resnet{deep}"]["over_seeds"]["train_error"]["mean"]
            < results[f"plain{deep}"]["over_seeds"]["train_error"]["mean"]),
        "per_seed": each})
    return results, verdict


def table(results: dict, verdict: dict) -> str:
    rows = ["| model | parameters | final train error (eval mode) | last running train error "
            "| test error |", "|---|---|---|---|---|"]
    for m, r in results.items():
        s = r["over_seeds"]
        rows.append(f"| {m} | {r['params']:,} | {format_mean_sd(s['train_error'], 3)} | "
                    f"{format_mean_sd(s['last_running_train_error'], 3)} | "
                    f"{format_mean_sd(s['test_error'], 3)} |")
    rows += ["", "| degradation (deep - shallow training error) | plain | ResNet |", "|---|---|---|",
             f"| final, eval mode | {format_mean_sd(verdict['train_error_gap_plain'], 3)} | "
             f"{format_mean_sd(verdict['train_error_gap_resnet'], 3)} |",
             f"| last running | {format_mean_sd(verdict['running_train_error_gap_plain'], 3)} | "
             f"{format_mean_sd(verdict['running_train_error_gap_resnet'], 3)} |"]
    return "\n".join(rows) + "\n"


def plot(results: dict, depths, path: Path, title: str) -> Path:
    """Training error and loss per epoch (solid plain, dashed ResNet; colour by depth, as He et
    al. Fig. 6) and the final train (eval mode) / test errors."""
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(17, 4.5))
    colors = dict(zip(depths, ("tab:orange", "tab:red")))
    for name, r in results.items():
        style = "-" if r["plain"] else "--"
        h = r["history"]
        label = f"{'plain' if r['plain'] else 'ResNet'}-{r['depth']}"
        ax[0].plot(h["epoch"], 100 * np.asarray(h["error"]), style, color=colors[r["depth"]],
                   label=label)
        ax[1].plot(h["epoch"], h["loss"], style, color=colors[r["depth"]], label=label)
    epochs = max(r["history"]["epoch"][-1] for r in results.values())
    for a in ax[:2]:  # the learning-rate drops (/10 after 50% and 75% of the steps)
        for frac in (0.5, 0.75):
            a.axvline(frac * epochs, color="gray", lw=0.8, ls=":")
    ax[0].set(xlabel="epoch", ylabel="training error (%)",
              title="training error (train mode; dotted: lr / 10)")
    ax[1].set(xlabel="epoch", ylabel="training loss", title="training loss")
    names = list(results)
    pos = np.arange(len(names))
    for i, (key, label) in enumerate((("train_error", "train (eval mode)"),
                                      ("test_error", "test"))):
        ax[2].bar(pos + (i - 0.5) * 0.4, [100 * results[m][key] for m in names], 0.4, label=label)
    ax[2].set(xticks=pos, ylabel="error (%)", title="final errors")
    ax[2].set_xticklabels(names)
    return finish_figure(fig, path, title, grid=ax, legend=ax)


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    (x_tr, y_tr), _, test, name = load_images(args.quick, train_size=args.train_size, val_size=0,
                                             seed=args.seed)
    kept = usable(len(x_tr), args.batch_size, args.evals_per_epoch)
    x_tr, y_tr = x_tr[:kept], y_tr[:kept]
    total_steps = args.epochs * (kept // args.batch_size)
    optimizer = regularizers.weight_decay(
        optax.sgd(schedule(args.lr, total_steps), momentum=args.momentum), args.weight_decay,
        decoupled=False)
    shape = (1, *x_tr.shape[1:])
    per_seed = []
    for seed in range(args.seed, args.seed + args.seeds):  # weights and data order per seed
        seed_args = with_seed(args, seed)
        starts = {d: initial_states(d, seed_args, optimizer, shape) for d in args.depths}
        results = {}
        for m, depth, plain in model_list(args.depths):
            ts = starts[depth].pop("plain" if plain else "resnet")
            results[m] = r = run_model(depth, plain, ts, optimizer, seed_args, ((x_tr, y_tr), test))
            print(f"seed {seed} {m:9s} params {r['params']:7d}  train error {r['train_error']:.4f} "
                  f"(running {r['last_running_train_error']:.4f})  test error "
                  f"{r['test_error']:.4f}  {r['seconds_per_step'] * 1000:.0f} ms/step  "
                  f"({r['seconds']:.1f} s)")
        per_seed.append(results)
    results, verdict = combine_seeds(per_seed, args.depths)
    write_table(args.out, table(results, verdict))
    settings = _settings(args)
    out = {"dataset": name, "n_train": len(x_tr), "n_test": len(test[0]), "settings": settings,
           "models": results, "summary": verdict}
    save_results(args.out, out, started=started)
    widths = "-".join(map(str, args.widths))
    plot(results, args.depths, args.out / "depth.png",
         f"plain vs residual CIFAR-style nets (widths {widths}) on {len(x_tr)} {name} images")
    return out


if __name__ == "__main__":
    main()
