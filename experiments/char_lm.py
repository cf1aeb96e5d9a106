"""A character language model on the fortunes: many-to-many, a masked loss, bits per character.

    python experiments/char_lm.py              # LSTM 128 on ~4,600 fortunes, 12 epochs, 3 seeds
    python experiments/char_lm.py --quick      # the tests' tiny fortunes, 1 epoch, no cut, 2 seeds
    python experiments/char_lm.py --cell gru --hidden 128 --temperatures 0.3 0.7 1.0

Claim (*Engineering Deep Learning*, "Recurrent Networks"): "Networks should be able to remember
the data over time."; many-to-many ("the input and the output length is the same").

Method: `data.fortunes` (entries of at most --max-length characters, the fixed hash split).
Inputs [EOS] c_1 ... c_L, targets c_1 ... c_L [EOS] (shifted by one), padded with 0, grouped
by `data.length_buckets` (--buckets: one compiled step per bucket length). Embedding -> RNN(cell,
return_sequences=True) -> on_values(Dense(V)), `losses.sequence_softmax_cross_entropy`, Adam
clipped to norm 1. Measured: test bits per character (sum of -ln p(target) / ln 2 over the real
targets / their number) against the add-one unigram of the training targets (no seed: its sd is
0); the same with the memory cut every k steps (--contexts); samples at --temperatures. Each of
--seeds seeds draws the weights, batch order and sampling keys; figures are mean ± sd, verdicts
follow the spread rule (`exceeds_spread`). Writes `<out>/metrics.json`, `table.md` (numbers and
samples), char_lm_bits.png.
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

from jdl import data, losses, nn, optimizers, train, viz

EOS = "<eos>"
CELLS = {"lstm": nn.LSTMCell, "gru": nn.GRUCell}


def parse_args(argv=None):
    p = parser("char_lm", __doc__.splitlines()[0])
    p.add_argument("--cell", choices=sorted(CELLS), default="lstm")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--embed", type=int, default=32)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    p.add_argument("--max-length", type=int, default=400, help="longer fortunes are left out")
    p.add_argument("--buckets", type=int, nargs="+", default=[64, 128, 256, 401],
                   help="bucket lengths (steps = characters + 1); the last covers --max-length")
    p.add_argument("--unroll", type=int, default=1, help="time steps per scan iteration")
    p.add_argument("--contexts", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64, 128],
                   help="memory lengths k for the cut-memory evaluation")
    p.add_argument("--temperatures", type=float, nargs="+", default=[0.5, 1.0])
    p.add_argument("--samples", type=int, default=4, help="samples per temperature")
    p.add_argument("--sample-length", type=int, default=300)
    add_seeds_argument(p)
    args = p.parse_args(argv)
    seeds_of(args)   # --seeds must be at least 1
    if args.quick:   # one bucket of 161 steps: a single compiled step
        args.hidden, args.embed, args.epochs, args.batch_size, args.max_length = 16, 8, 1, 16, 160
        args.buckets, args.samples, args.sample_length = [args.max_length + 1], 2, 40
        args.seeds = min(args.seeds, 2)   # the multi-seed path, on the compiled programs
        args.contexts = [args.max_length + 1]   # no cut: reuses the test scoring's compile
    if max(args.buckets) < args.max_length + 1:
        p.error(f"--buckets: the largest ({max(args.buckets)}) must cover --max-length + 1 "
                f"({args.max_length + 1} steps)")
    return args


def lm_vocabulary(texts) -> data.Vocabulary:
    """The training characters (0 = padding, 1 = unknown) and EOS as the last id."""
    return data.Vocabulary(data.char_vocabulary(texts).chars + (EOS,))


def shifted_pairs(vocab: data.Vocabulary, texts, length: int) -> tuple[np.ndarray, np.ndarray]:
    """`(inputs, targets)`, int32 `(N, length)`: [EOS] + ids(text) and ids(text) + [EOS], padded
    with 0, so targets[:, t] = inputs[:, t + 1] wherever both are real."""
    eos = vocab.size - 1
    inputs, targets = (np.zeros((len(texts), length), np.int32) for _ in range(2))
    for i, text in enumerate(texts):
        row = [eos, *vocab.ids(text), eos]
        if len(row) - 1 > length:
            raise ValueError(f"length: {length} steps cannot hold a text of {len(text)} characters")
        inputs[i, :len(row) - 1], targets[i, :len(row) - 1] = row[:-1], row[1:]
    return inputs, targets


def bits_per_char(nll_nats: float, n_chars: int) -> float:
    """Total negative log-likelihood in nats -> bits per character."""
    return float(nll_nats / np.log(2.0) / n_chars)


def unigram_bits(train_targets: np.ndarray, test_targets: np.ndarray, vocab_size: int) -> float:
    """Bits per character of the unigram model p(c) = (n_c + 1) / (N + V - 1) counted on the
    training targets (ids 1..V-1: padding is never a target), scored on the test targets."""
    counts = np.bincount(train_targets[train_targets > 0], minlength=vocab_size)[1:] + 1.0
    real = test_targets[test_targets > 0]
    return bits_per_char(-np.log(counts / counts.sum())[real - 1].sum(), real.size)


def model(vocab_size: int, args) -> nn.Layer:
    # --quick: Glorot recurrent weights (the default orthogonal ones compile a QR per gate, ~1 s)
    cell = CELLS[args.cell](args.hidden, **({"recurrent_init": "glorot"} if args.quick else {}))
    return nn.serial(("embed", nn.Embedding(vocab_size, args.embed, padding_id=0)),
                     ("rnn", nn.RNN(cell, return_sequences=True, unroll=args.unroll)),
                     ("head", nn.on_values(nn.Dense(vocab_size))))


def step_nll(m: nn.Layer, steps: int = 16384):
    """`nll(ts, inputs, targets)` -> numpy (N, T) per-step -ln p(target), 0 at padding; runs
    in batches of about `steps` steps (the last padded with empty rows), one compile per T."""
    @jax.jit
    def one(ts, x, y):
        (logits, _), _ = m.apply(ts.params, ts.state, x)
        nll = optax.losses.softmax_cross_entropy_with_integer_labels(logits, y)
        return jnp.where(y > 0, nll, 0.0)

    def nll(ts, inputs, targets):
        n, t = inputs.shape
        batch = max(1, min(n, steps // t))
        x, y = (np.pad(a, ((0, (-n) % batch), (0, 0))) for a in (inputs, targets))
        return np.concatenate([np.asarray(one(ts, x[i:i + batch], y[i:i + batch]))
                               for i in range(0, len(x), batch)])[:n]
    return nll


def make_sampler(cell: nn.Cell, vocab_size: int, embed: int, length: int):
    """`sample(params, key, temperature, n) -> ids (n, length)`: starting from EOS and zeros,
    feed each drawn id back in; step t draws with `fold_in(key, t)` from softmax(logits / T)."""
    embedding, head = nn.Embedding(vocab_size, embed), nn.Dense(vocab_size)

    def sample(params, key, temperature, n):
        def body(carry, t):
            state, token = carry
            x, _ = embedding.apply(params["embed"], {}, token)
            state, y = cell.step(params["rnn"], state, x)
            logits, _ = head.apply(params["head"], {}, y)
            token = jax.random.categorical(jax.random.fold_in(key, t), logits / temperature)
            return (state, token.astype(jnp.int32)), token
        start = (cell.initial_carry(n), jnp.full((n,), vocab_size - 1, jnp.int32))
        _, ids = jax.lax.scan(body, start, jnp.arange(length))
        return ids.T
    return jax.jit(sample, static_argnums=3)


def decode(vocab: data.Vocabulary, ids) -> str:
    """The sampled text up to the first EOS (or padding)."""
    ids, eos = list(np.asarray(ids)), vocab.size - 1
    return vocab.decode(ids[:ids.index(eos)] if eos in ids else ids)


def bucketed(vocab, texts, boundaries) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (inputs, targets) of each non-empty length bucket (steps = characters + 1)."""
    groups = data.length_buckets([len(t) + 1 for t in texts], boundaries)
    return [shifted_pairs(vocab, [texts[i] for i in index], length) for length, index in groups]


def padding_fractions(texts, boundaries) -> dict:
    steps = np.array([len(t) + 1 for t in texts])
    padded = sum(length * len(index) for length, index in data.length_buckets(steps, boundaries))
    return {"buckets": round(1 - steps.sum() / padded, 4),
            "longest": round(1 - steps.sum() / (steps.max() * steps.size), 4)}


def chunked(inputs: np.ndarray, targets: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every row cut into pieces of `k` steps (the last padded with 0; pieces of padding only
    left out), each run from a zero carry: each character is predicted from at most k before it."""
    x, y = (np.pad(a, ((0, 0), (0, (-a.shape[1]) % k))).reshape(-1, k) for a in (inputs, targets))
    keep = (y > 0).any(axis=1)
    return x[keep], y[keep]


def plot_bits(r: dict, path: Path) -> Path:
    """Test bits per epoch and against the memory length k: means over seeds, ± sd shaded."""
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(12, 4))
    s, by_epoch = r["over_seeds"], r["test_bits_by_epoch"]
    ks = [int(k) for k in r["memory_cuts"]]
    for a, x, stats in ((ax[0], range(1, len(by_epoch) + 1), by_epoch),
                        (ax[1], ks, [s[f"bits_with_memory.{k}"] for k in ks])):
        mean, sd = (np.array([st[f] or np.nan for st in stats]) for f in ("mean", "sd"))
        a.plot(x, mean, "o-", label="test bits per character" if a is ax[0] else "memory cut every k")
        a.fill_between(x, mean - sd, mean + sd, alpha=0.3)
        a.axhline(s["unigram_bits_per_char"]["mean"], color="gray", linestyle="--", label="unigram")
    ax[1].axhline(s["test_bits_per_char"]["mean"], color="tab:orange", label="whole fortune")
    ax[1].set_xscale("log")
    ax[0].set(xlabel="epoch", ylabel="bits per character", title="character language model")
    ax[1].set(xlabel="k (characters)", ylabel="test bits per character",
              title="the same trained model with a shorter memory")
    return finish_figure(fig, path, grid=ax, legend=ax)


def run_seed(args, built: dict, buckets, test) -> dict:
    """One seed (weights, batch order, sampling keys) through the programs `built` once: each
    epoch the buckets' batches in a random order, then the test bits; at the end the bits with
    the memory cut every k steps (`chunked`) and the samples."""
    key, nll, history = jax.random.key(args.seed), built["nll"], {"test_bits": [], "epoch_time": []}
    ts = train.init_train_state(built["model"], built["optimizer"], key, (1, args.max_length + 1))
    for epoch in range(args.epochs):
        started = time.perf_counter()
        batches = [b for j, (x, y) in enumerate(buckets) for b in
                   data.batches(x, y, batch_size=min(args.batch_size, len(x)), epoch=epoch,
                                key=jax.random.fold_in(key, j), drop_remainder=True)]
        for i in np.random.default_rng([args.seed, epoch]).permutation(len(batches)):
            ts, _ = built["step"](ts, batches[i])
        history["test_bits"].append(bits_per_char(nll(ts, *test).sum(), int((test[1] > 0).sum())))
        history["epoch_time"].append(round(time.perf_counter() - started, 2))
        print(f"seed {args.seed} epoch {epoch + 1}/{args.epochs}  test "
              f"{history['test_bits'][-1]:.3f} bits/char  ({history['epoch_time'][-1]} s)")
    cuts = {str(k): chunked(*test, k) for k in args.contexts}
    return {"test_bits_per_char": history["test_bits"][-1], "bits_with_memory": {
                k: bits_per_char(nll(ts, x, y).sum(), int((y > 0).sum())) for k, (x, y) in cuts.items()},
            "seconds": round(sum(history["epoch_time"]), 1), "seconds_per_epoch": history[
                "epoch_time"][-1], "parameters": int(sum(a.size for a in jax.tree.leaves(ts.params))),
            "history": history,
            "samples": {str(t): [decode(built["vocab"], ids) for ids in built["sampler"](
                ts.params, jax.random.fold_in(key, 1000 + i), t, args.samples)]
                for i, t in enumerate(args.temperatures)}}


def compare(a: dict, b: dict) -> str:
    """a against b by the spread rule: 'higher', 'lower', 'within noise' (or 'missing')."""
    differs = exceeds_spread(a, b)
    return "missing" if differs is None else (
        ("higher" if a["mean"] > b["mean"] else "lower") if differs else "within noise")


def combine(per_seed: list[dict], unigram: float, args) -> dict:
    """The first seed's record with `over_seeds` (mean ± sd; the unigram has no seed: sd 0), the
    test bits per epoch as mean ± sd, and the verdicts by the spread rule (`compare`)."""
    records = [{**r, "unigram_bits_per_char": unigram} for r in per_seed]
    keys = ["test_bits_per_char", "unigram_bits_per_char", "seconds",
            *[f"bits_with_memory.{k}" for k in records[0]["bits_with_memory"]]]
    r = over_seeds(records, keys, seeds_of(args))
    s, whole = r["over_seeds"], r["over_seeds"]["test_bits_per_char"]
    r["test_bits_by_epoch"] = by = [mean_sd(e) for e in zip(*[x["history"]["test_bits"]
                                                             for x in records])]
    cuts = {k: {"cut_minus_whole": mean_sd([x["bits_with_memory"][k] - x["test_bits_per_char"]
                                            for x in records]),
                "verdict": compare(s[f"bits_with_memory.{k}"], whole)}
            for k in records[0]["bits_with_memory"]}
    r.update(cell=args.cell, hidden=args.hidden, memory_cuts=cuts, verdicts={
        "vs_unigram": compare(whole, s["unigram_bits_per_char"]),   # 'lower': beats it
        "longest_cut_that_costs": max((int(k) for k, c in cuts.items() if c["verdict"] == "higher"),
                                      default=None),   # the memory is used at least this far
        "last_epoch_vs_one_before": compare(by[-1], by[max(len(by) - 2, 0)])})
    return r


def report(r: dict, samples: dict) -> str:
    s, n = r["over_seeds"], len(r["over_seeds"]["seeds"])
    f = lambda stat: format_mean_sd(stat, 3)  # noqa: E731
    lines = [f"| model (mean ± sd, {n} seeds) | test bits/char | unigram bits/char | verdict "
             "| train s |", "|---|---|---|---|---|",
             f"| {r['cell']} {r['hidden']} | {f(s['test_bits_per_char'])} | "
             f"{f(s['unigram_bits_per_char'])} | {r['verdicts']['vs_unigram']} | "
             f"{s['seconds']['mean']:.1f} |", "",
             "| memory cut every k characters | test bits/char | cut minus whole | verdict |",
             "|---|---|---|---|"]
    lines += [f"| {k} | {f(s[f'bits_with_memory.{k}'])} | {f(c['cut_minus_whole'])} | "
              f"{c['verdict']} |" for k, c in r["memory_cuts"].items()]
    lines += [f"| whole fortune | {f(s['test_bits_per_char'])} | - | - |", ""]
    for temperature, texts in samples.items():
        lines += [f"Samples at temperature {temperature} (seed {s['seeds'][0]}):", ""]
        lines += ["    " + t.replace("\n", "\n    ") + "\n" for t in texts]
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    texts = data.fortunes(max_length=args.max_length)
    if args.quick:   # a few hundred fortunes, whatever the files hold
        texts = {"train": texts["train"][:300], "test": texts["test"][:60]}
    print(f"data: {len(texts['train'])} training / {len(texts['test'])} test fortunes")
    vocab = lm_vocabulary(texts["train"])
    test = shifted_pairs(vocab, texts["test"], args.max_length + 1)
    buckets = bucketed(vocab, texts["train"], args.buckets)
    m, optimizer = model(vocab.size, args), optimizers.clip(optax.adam(args.lr), 1.0)
    built = {"model": m, "optimizer": optimizer, "nll": step_nll(m), "vocab": vocab,
             "step": train.make_train_step(m, optimizer, losses.sequence_softmax_cross_entropy),
             "sampler": make_sampler(CELLS[args.cell](args.hidden), vocab.size, args.embed,
                                     args.sample_length)}
    per_seed = [run_seed(with_seed(args, seed), built, buckets, test) for seed in seeds_of(args)]
    train_targets = np.concatenate([y.ravel() for _, y in buckets])
    result = combine(per_seed, unigram_bits(train_targets, test[1], vocab.size), args)
    samples = result.pop("samples")
    out = {"settings": settings(args), "n_train": len(texts["train"]),
           "n_test": len(texts["test"]), "vocabulary": list(vocab.chars),
           "padding_fraction": padding_fractions(texts["train"], args.buckets),
           "bucket_shapes": [list(x.shape) for x, _ in buckets], "samples": samples,
           "model": {**result, "test_characters": int((test[1] > 0).sum())}}
    write_table(args.out, report(result, samples))
    save_results(args.out, out, started=started)
    plot_bits(result, Path(args.out) / "char_lm_bits.png")
    return out


if __name__ == "__main__":
    main()
