"""Learning rate and batch size too small vs too large (*Engineering Deep Learning*'s questions);
the lectures' schedules.

    python experiments/learning_rate_batch.py           # full: 55k / 5k / 10k Fashion-MNIST
    python experiments/learning_rate_batch.py --quick   # 600 / 200 / 300 examples, mlp 784-32-10
    python experiments/learning_rate_batch.py --parts lr,schedules --lrs 0.01,0.1,1 --seeds 1

Model: `mlp([256, 128, 10], "relu")`, softmax cross-entropy, plain SGD (`optax.sgd`, which is
`jdl.optimizers.sgd`). Every setting runs `--seeds` seeds (mean +- sd of the final figures;
the curves are the first seed's); within a seed every run starts from the same weights and
sees the same shuffles. Three parts:

- lr: SGD at learning rates from 1e-3 to 3 (batch 128, `--lr-epochs` epochs).
- batch: batch sizes 1 (per-example SGD) to 8192 for a fixed number of epochs, i.e. the same
  number of examples and gradient FLOPs for every size (fixed compute), each at the learning
  rate of `--batch-lrs` with the best validation accuracy on the first seed (the lectures say
  to adjust the learning rate with the batch size); updates, seconds, and the noise of the
  mini-batch gradient at the initial weights, E||g_B - g|| / ||g|| over 16 random batches
  (g: the full training-set gradient).
- schedules: constant, 1/t (lr0 / (1 + t)), 1/sqrt(t + 1) (COMP9321), step decay (halve every
  2 epochs), and halving when the validation loss stops improving (Senk: "maintain until
  validation error stops improving", "divide learning rate by 2") with
  `jdl.train.ReduceLROnPlateau`; t counts epochs.

The learning rate is an Optax hyperparameter (`optax.inject_hyperparams`), so one compiled
step serves every learning rate. Writes `<out>/metrics.json`, `<out>/learning_rate.png`,
`<out>/batch_size.png`, `<out>/schedules.png`, `<out>/table.md`.
Full mode: the measured time is on the page; --quick: about 30 s, mostly compilation (batch
sizes 1, 32, 512; 32 reuses the lr part's step).
"""
from __future__ import annotations

import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import _common
from jdl import losses, metrics, models, schedules, train, viz

PARTS = ("lr", "batch", "schedules")


def finite(v: float) -> float | None:
    """JSON-friendly: a float, or None for NaN/inf (a diverged run)."""
    return float(v) if math.isfinite(v) else None


def floats(text: str, kind=float) -> list:
    return [kind(v) for v in text.split(",") if v]


class RecordLR(train.Callback):
    """The learning rate in use at the end of each epoch (from the injected hyperparameters)."""

    def on_train_begin(self, ts):
        self.values = []

    def on_epoch_end(self, epoch, logs, ts):
        self.values.append(float(ts.opt_state.hyperparams["learning_rate"]))


class Runner:
    """Trains copies of one initial TrainState with SGD under different settings."""

    def __init__(self, model, splits, seed: int, quick: bool):
        self.model, (self.train, self.val, self.test) = model, splits
        self.quick, self.seed = quick, seed
        self.eval_batch = 100 if quick else 1000  # quick: one eval shape for val (200), test (300)
        self.starts = {}  # seed -> initial TrainState; every setting of a seed starts from it
        self.eval_step = train.make_eval_step(model, losses.softmax_cross_entropy,
                                              metrics={"accuracy": metrics.accuracy})
        self.steps = {}  # one compiled train step per learning-rate rule

    def start(self, seed: int) -> train.TrainState:
        if seed not in self.starts:
            self.starts[seed] = train.init_train_state(self.model, optax.identity(),
                                                       jax.random.key(seed),
                                                       (1, self.train[0].shape[1]))
        return self.starts[seed]

    def step_for(self, lr_rule):
        """(optimizer, train step) for a learning rate: a float (shared step) or a schedule."""
        key = "constant" if isinstance(lr_rule, float) else lr_rule
        if key not in self.steps:
            opt = optax.inject_hyperparams(optax.sgd)(
                learning_rate=0.1 if key == "constant" else lr_rule)
            self.steps[key] = opt, train.make_train_step(
                self.model, opt, losses.softmax_cross_entropy, metrics={"accuracy": metrics.accuracy})
        return self.steps[key]

    def run(self, lr_rule, *, epochs: int, batch_size: int, callbacks=(), seed: int | None = None) -> dict:
        opt, train_step = self.step_for(lr_rule)
        ts = jax.tree.map(jnp.copy, self.start(self.seed if seed is None else seed))  # fit donates it
        ts = ts._replace(opt_state=opt.init(ts.params))
        if isinstance(lr_rule, float):
            hyper = dict(ts.opt_state.hyperparams, learning_rate=jnp.asarray(lr_rule, jnp.float32))
            ts = ts._replace(opt_state=ts.opt_state._replace(hyperparams=hyper))
        record_lr = RecordLR()
        # per-example SGD: a rolled scan over many steps per call (cheap per step); else K = 4
        chunk = dict(steps_per_call=1000, unroll=False) if batch_size < 16 else \
            dict(steps_per_call=1 if self.quick else 4)
        init = train.evaluate(ts, self.eval_step, self.val, batch_size=self.eval_batch)
        t0 = time.perf_counter()
        ts, hist = train.fit(ts, train_step, self.train, epochs=epochs, batch_size=batch_size,
                             val_data=self.val, eval_step=self.eval_step, verbose=0,
                             callbacks=[record_lr, *callbacks], eval_batch_size=self.eval_batch,
                             **chunk)
        seconds = time.perf_counter() - t0
        # a non-finite loss stops fit early (its last finite state is returned): no final figures
        stopped = len(hist.get("val_loss", [])) < epochs
        test = train.evaluate(ts, self.eval_step, self.test, batch_size=self.eval_batch)
        val_loss = [finite(v) for v in [init["loss"], *hist.get("val_loss", [])]]
        return {
            "train_loss": [finite(v) for v in hist.get("loss", [])], "val_loss": val_loss,
            "val_accuracy": [finite(v) for v in [init["accuracy"], *hist.get("val_accuracy", [])]],
            "test_accuracy": None if stopped else finite(test["accuracy"]),
            "lr_per_epoch": record_lr.values, "updates": int(ts.step), "seconds": round(seconds, 2),
            "stopped": stopped,
            "diverged": stopped or val_loss[-1] is None or val_loss[-1] > val_loss[0],
        }

    def gradient_noise(self, batch_sizes, seed: int, draws: int = 16) -> dict:
        """E||g_B - g|| / ||g|| and the std of the batch loss, at the initial weights."""
        params, state = self.start(self.seed).params, self.start(self.seed).state

        def loss(p, x, y):
            return jnp.mean(losses.softmax_cross_entropy(self.model.apply(p, state, x)[0], y))

        def flat_grad(x, y):
            g = jax.grad(loss)(params, x, y)
            return jnp.concatenate([leaf.ravel() for leaf in jax.tree.leaves(g)])

        x, y = jnp.asarray(self.train[0]), jnp.asarray(self.train[1])
        full = jax.jit(flat_grad)(x, y)
        batch_stats = jax.jit(lambda xb, yb: (jnp.linalg.norm(flat_grad(xb, yb) - full),
                                              loss(params, xb, yb)))
        keys = jax.random.split(jax.random.key(seed + 1), draws)
        out = {}
        for b in batch_sizes:
            stats = [batch_stats(x[i], y[i]) for i in
                     (jax.random.choice(k, len(x), (b,), replace=False) for k in keys)]
            dev, batch_loss = map(np.array, zip(*stats))
            out[str(b)] = {"relative_gradient_noise": float(dev.mean() / jnp.linalg.norm(full)),
                           "batch_loss_std": float(batch_loss.std())}
        return out


def curves(ax, runs: dict, key: str, label_fmt: str, first: int = 0, x_key=None):
    for name, r in runs.items():
        ys = [np.nan if v is None else v for v in r[key]]
        xs = r[x_key] if x_key else range(first, first + len(ys))
        ax.plot(xs, ys, marker="o", ms=3, label=label_fmt.format(name))
    ax.grid(alpha=0.3)


def plot_lr(runs, path, title):
    plt = viz.pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    curves(a, runs, "train_loss", "lr {}", first=1)
    a.set(xlabel="epoch", ylabel="training loss (epoch mean, log; cut at 10)", yscale="log")
    a.set_ylim(top=10.0)  # a diverging run reaches 1e30 and would flatten the others
    curves(b, runs, "val_accuracy", "lr {}")
    b.set(xlabel="epoch", ylabel="validation accuracy")
    b.legend(fontsize=8)
    fig.suptitle(title)
    return viz.save_figure(fig, path)


def plot_batch(runs, noise, path, title):
    plt = viz.pyplot()
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(15, 4), layout="constrained")
    for r in runs.values():  # accuracy against wall-clock time (epoch 0 at t = 0)
        r["_t"] = [0.0] + list(np.cumsum([r["seconds"] / (len(r["val_accuracy"]) - 1)] *
                                         (len(r["val_accuracy"]) - 1)))
    curves(a, runs, "val_accuracy", "batch {}")
    a.set(xlabel="epoch", ylabel="validation accuracy")
    curves(b, runs, "val_accuracy", "batch {}", x_key="_t")
    b.set(xlabel="training seconds", ylabel="validation accuracy")
    b.legend(fontsize=8)
    sizes = [int(k) for k in noise]
    values = [noise[k]["relative_gradient_noise"] for k in noise]
    c.loglog(sizes, values, "o-", label="measured")
    c.loglog(sizes, [values[0] * math.sqrt(sizes[0] / s) for s in sizes], "--",
             label="1/sqrt(B) from the first point")
    c.set(xlabel="batch size B", ylabel="E||g_B - g|| / ||g|| at init")
    c.grid(alpha=0.3, which="both")
    c.legend(fontsize=8)
    for r in runs.values():
        r.pop("_t")
    fig.suptitle(title)
    return viz.save_figure(fig, path)


def plot_schedules(runs, path, title):
    plt = viz.pyplot()
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(15, 4), layout="constrained")
    curves(a, runs, "lr_per_epoch", "{}", first=1)
    a.set(xlabel="epoch", ylabel="learning rate at the epoch's end (log)", yscale="log")
    curves(b, runs, "val_loss", "{}")
    b.set(xlabel="epoch", ylabel="validation loss (log)", yscale="log")
    curves(c, runs, "val_accuracy", "{}")
    c.set(xlabel="epoch", ylabel="validation accuracy")
    c.legend(fontsize=8)
    fig.suptitle(title)
    return viz.save_figure(fig, path)


def over_seeds(runner: Runner, seeds, make_run) -> dict:
    """`make_run(seed)` for every seed: the first seed's record (its curves) plus `over_seeds`,
    the final validation loss, validation and test accuracy as mean ± sd (a diverged seed's
    non-finite loss counts as missing)."""
    runs = [make_run(seed) for seed in seeds]
    record = dict(runs[0])
    record["over_seeds"] = {
        "seeds": list(seeds), "diverged": [r["diverged"] for r in runs],
        "val_loss": _common.mean_sd([None if r["stopped"] else r["val_loss"][-1] for r in runs]),
        "val_accuracy": _common.mean_sd([None if r["stopped"] else r["val_accuracy"][-1]
                                         for r in runs]),
        "test_accuracy": _common.mean_sd([r["test_accuracy"] for r in runs])}
    return record


def table(title: str, first_col: str, runs: dict, extra: dict | None = None) -> str:
    """Final figures as mean ± sd over the seeds; `extra` adds columns (name -> {column: text})."""
    fmt = lambda stat: _common.format_mean_sd(stat, 4, none="diverged", some="finite")  # noqa: E731
    columns = list(next(iter(extra.values()))) if extra else []
    head = f"| {first_col} | " + "".join(f"{c} | " for c in columns) + \
        "updates | final val loss | val acc | test acc | seconds |"
    rows = [f"### {title}", "", head, "|---" * (6 + len(columns)) + "|"]
    for name, r in runs.items():
        s = r["over_seeds"]
        diverged = sum(s["diverged"])
        note = f" ({diverged} of {len(s['diverged'])} diverged)" if diverged else ""
        rows.append(f"| {name} | " + "".join(f"{extra[name][c]} | " for c in columns)
                    + f"{r['updates']} | {fmt(s['val_loss'])}{note} | {fmt(s['val_accuracy'])} | "
                    f"{fmt(s['test_accuracy'])} | {r['seconds']} |")
    return "\n".join(rows) + "\n\n"


def tuned_batch_run(runner: Runner, b: int, lrs, seeds, epochs: int) -> dict:
    """Batch size `b` at the learning rate of `lrs` with the best final validation accuracy on
    the first seed (the lecture: adjust the learning rate with the batch size), then every seed
    at that rate. Records the validation accuracy of every rate tried."""
    tried = {lr: runner.run(lr, epochs=epochs, batch_size=b, seed=seeds[0]) for lr in lrs}
    final = {lr: None if r["stopped"] else r["val_accuracy"][-1] for lr, r in tried.items()}
    best = max(tried, key=lambda lr: final[lr] or 0.0)
    record = over_seeds(runner, seeds, lambda seed: tried[best] if seed == seeds[0] else
                        runner.run(best, epochs=epochs, batch_size=b, seed=seed))
    record["lr"] = best
    record["val_accuracy_by_lr"] = {f"{lr:g}": v for lr, v in final.items()}
    return record


def main(argv=None) -> dict:
    p = _common.parser("learning_rate_batch", __doc__.splitlines()[0])
    p.add_argument("--parts", default=",".join(PARTS), help=f"subset of {','.join(PARTS)}")
    p.add_argument("--lrs", default="0.001,0.01,0.1,0.3,1,3")
    p.add_argument("--lr-epochs", type=int, default=5)
    p.add_argument("--batch-sizes", default="1,16,128,1024,8192")
    p.add_argument("--batch-lrs", default="0.001,0.003,0.01,0.03,0.1,0.3,1",
                   help="learning rates tried per batch size; the best on validation is kept")
    p.add_argument("--batch-epochs", type=int, default=3)
    p.add_argument("--lr0", type=float, default=0.1, help="initial learning rate of the schedules")
    p.add_argument("--schedule-epochs", type=int, default=10)
    p.add_argument("--seeds", type=int, default=3, help="seeds per setting (mean +- sd)")
    args = p.parse_args(argv)
    parts = [x for x in args.parts.split(",") if x]
    if not set(parts) <= set(PARTS):
        p.error(f"--parts: expected a subset of {PARTS}, got {parts}")
    batch_sizes = floats(args.batch_sizes, int)
    hidden = [256, 128]
    if args.quick:  # every batch size is a compile: per-example SGD, the lr part's 32, a large one
        args.lr_epochs, args.batch_epochs, args.schedule_epochs, args.seeds = 2, 2, 4, 2
        args.batch_lrs = "0.01,0.1"
        batch_sizes, hidden = [1, 32, 512], [32]
    started = time.perf_counter()
    *splits, dataset = _common.load_images(args.quick, seed=args.seed, flatten=True)
    n_train = len(splits[0][0])
    runner = Runner(models.mlp([*hidden, 10], "relu"), splits, args.seed, args.quick)
    widths = "-".join(str(w) for w in [splits[0][0].shape[1], *hidden, 10])
    seeds = list(range(args.seed, args.seed + args.seeds))
    out = {"settings": _common.settings(args), "dataset": dataset,
           "model": f"mlp {widths} relu, SGD", "n_train": n_train, "seed": args.seed,
           "seeds": seeds, "parts": parts}
    text = ""
    args.out.mkdir(parents=True, exist_ok=True)

    if "lr" in parts:
        runs = {str(lr): over_seeds(runner, seeds, lambda seed, lr=lr: runner.run(
            lr, epochs=args.lr_epochs, batch_size=128 if not args.quick else 32, seed=seed))
            for lr in floats(args.lrs)}
        out["learning_rate"] = {"epochs": args.lr_epochs, "runs": runs}
        plot_lr(runs, args.out / "learning_rate.png", f"SGD learning rate on {dataset}")
        text += table("Learning rate (SGD, fixed epochs)", "lr", runs)

    if "batch" in parts:
        batch_sizes = [b for b in batch_sizes if b <= n_train]
        runs = {str(b): tuned_batch_run(runner, b, floats(args.batch_lrs), seeds, args.batch_epochs)
                for b in batch_sizes}
        noise = runner.gradient_noise(batch_sizes, args.seed)
        out["batch_size"] = {"epochs": args.batch_epochs, "lrs_tried": floats(args.batch_lrs),
                             "runs": runs, "gradient_noise_at_init": noise}
        plot_batch(runs, noise, args.out / "batch_size.png",
                   f"batch size, each at its best SGD lr, {args.batch_epochs} epochs, {dataset}")
        text += table("Batch size (same epochs, lr chosen per batch size on validation)", "batch",
                      runs, {k: {"lr": f"{runs[k]['lr']:g}",
                                 "noise": f"{v['relative_gradient_noise']:.3f}"}
                             for k, v in noise.items()})

    if "schedules" in parts:
        batch = 32 if args.quick else 128
        per_epoch = n_train // batch
        lr0 = args.lr0
        rules = {
            "constant": (lr0, ()),
            "1/t": (schedules.inverse_time(lr0, decay=1.0 / per_epoch), ()),
            "1/sqrt(t+1)": (lambda count: schedules.inverse_sqrt(lr0)(count / per_epoch), ()),
            "step (x0.5 / 2 epochs)": (schedules.step_decay(lr0, 0.5, every_steps=2 * per_epoch), ()),
            "halve on plateau": (lr0, (train.ReduceLROnPlateau("val_loss", factor=0.5, patience=1),)),
        }
        runs = {name: over_seeds(runner, seeds, lambda seed, rule=rule, cbs=cbs: runner.run(
            rule, epochs=args.schedule_epochs, batch_size=batch, callbacks=cbs, seed=seed))
            for name, (rule, cbs) in rules.items()}
        out["schedules"] = {"epochs": args.schedule_epochs, "lr0": lr0, "batch_size": batch,
                            "runs": runs}
        plot_schedules(runs, args.out / "schedules.png", f"SGD schedules from lr {lr0} on {dataset}")
        text += table(f"Schedules (SGD from lr {lr0})", "schedule", runs)

    _common.write_table(args.out, text)
    _common.save_results(args.out, out, started=started)
    return out


if __name__ == "__main__":
    main()
