"""A character language model on the fortunes: many-to-many, a masked loss, bits per character.

    python experiments/char_lm.py              # LSTM 128 on ~4,600 fortunes, 12 epochs
    python experiments/char_lm.py --quick      # the tests' tiny fortunes, 1 epoch, 1 bucket, no cut
    python experiments/char_lm.py --cell gru --hidden 128 --temperatures 0.3 0.7 1.0

Claim (*Engineering Deep Learning*, "Recurrent Networks"): "Networks should be able to remember
the data over time."; many-to-many ("the input and the output length is the same"); "Music
Generation": a trained sequence model generates new sequences one step at a time.

Method: fortunes from Debian's `fortunes` (`data.fortunes`: the general collections, entries of
at most --max-length characters, the fixed hash split, 10% test). Each fortune becomes
[EOS] c_1 ... c_L [EOS]: the inputs are all but the last id, the targets all but the first (the
inputs shifted by one), padded with 0. Model: Embedding(padding_id=0) -> RNN(cell,
return_sequences=True) -> on_values(Dense(V)), trained with `losses.sequence_softmax_cross_entropy`
(padded steps do not count), Adam with the gradient clipped to norm 1. Lengths vary from a few
characters to --max-length, so the fortunes are grouped by `data.length_buckets` (--buckets):
one compiled step per bucket length, and each batch is padded only to its bucket's length
instead of the longest fortune (the padding fraction of both is in metrics.json).

Measured: bits per character on the test fortunes, sum of -ln p(target) over the real target
steps / ln 2 / their number (the closing EOS counts as a character), against the unigram model
of the training targets (add-one smoothing); bits per character by position in the fortune;
samples at each --temperatures, drawn one step at a time with `cell.step` and the keys
`fold_in(key, t)`.

Writes `<out>/metrics.json`, `table.md` (numbers and samples), char_lm_bits.png.
"""
from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import finish_figure, parser, save_results, settings, write_table

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
    args = p.parse_args(argv)
    if args.quick:   # one bucket of 161 steps: a single compiled step
        args.hidden, args.embed, args.epochs, args.batch_size, args.max_length = 16, 8, 1, 16, 160
        args.buckets, args.samples, args.sample_length = [args.max_length + 1], 2, 40
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
    inputs = np.zeros((len(texts), length), np.int32)
    targets = np.zeros((len(texts), length), np.int32)
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
    log_p = np.log(counts / counts.sum())
    real = test_targets[test_targets > 0]
    return bits_per_char(-log_p[real - 1].sum(), real.size)


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
    ids = list(np.asarray(ids))
    eos = vocab.size - 1
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


def train_epochs(m, ts, optimizer, buckets, test, args, nll) -> tuple:
    """The buckets' batches in a random order each epoch; test bits after each epoch."""
    step = train.make_train_step(m, optimizer, losses.sequence_softmax_cross_entropy)
    history = {"loss_bits": [], "test_bits": [], "epoch_time": []}
    for epoch in range(args.epochs):
        started = time.perf_counter()
        key = jax.random.key(args.seed)
        batches = [b for j, (x, y) in enumerate(buckets) for b in
                   data.batches(x, y, batch_size=min(args.batch_size, len(x)), epoch=epoch,
                                key=jax.random.fold_in(key, j), drop_remainder=True)]
        losses_ = []
        for i in np.random.default_rng([args.seed, epoch]).permutation(len(batches)):
            ts, logs = step(ts, batches[i])
            losses_.append(logs["loss"])
        history["loss_bits"].append(float(np.mean(jax.device_get(losses_)) / np.log(2)))
        per_step = nll(ts, *test)
        history["test_bits"].append(bits_per_char(per_step.sum(), int((test[1] > 0).sum())))
        history["epoch_time"].append(round(time.perf_counter() - started, 2))
        print(f"epoch {epoch + 1}/{args.epochs}  loss {history['loss_bits'][-1]:.3f} bits  "
              f"test {history['test_bits'][-1]:.3f} bits/char  ({history['epoch_time'][-1]} s)")
    return ts, history


def chunked(inputs: np.ndarray, targets: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every row cut into pieces of `k` steps (the last one padded with 0), pieces of padding
    only left out. Each piece is a sequence of its own and starts from a zero carry, so the
    model predicts each character from at most the k characters before it (the previous
    ones in its piece: (k + 1) / 2 on average): its memory is cut every k steps."""
    pad = (-inputs.shape[1]) % k
    x = np.pad(inputs, ((0, 0), (0, pad))).reshape(-1, k)
    y = np.pad(targets, ((0, 0), (0, pad))).reshape(-1, k)
    keep = (y > 0).any(axis=1)
    return x[keep], y[keep]


def bits_with_memory(nll, ts, test, contexts) -> dict:
    """Test bits per character with the memory cut every k steps, for each k of `contexts`."""
    out = {}
    for k in contexts:
        x, y = chunked(*test, k)
        out[str(k)] = bits_per_char(nll(ts, x, y).sum(), int((y > 0).sum()))
    return out


def plot_bits(history: dict, unigram: float, memory: dict, path: Path) -> Path:
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(12, 4))
    epochs = range(1, len(history["test_bits"]) + 1)
    ax[0].plot(epochs, history["loss_bits"], "o-", label="training loss / ln 2 (per-fortune mean)")
    ax[0].plot(epochs, history["test_bits"], "o-", label="test bits per character")
    ax[0].axhline(unigram, color="gray", linestyle="--", label="unigram (test)")
    ax[0].xaxis.get_major_locator().set_params(integer=True)
    ax[0].set(xlabel="epoch", ylabel="bits per character", title="character language model")
    ax[1].semilogx([int(k) for k in memory], list(memory.values()), "o-",
                   label="memory cut every k characters")
    ax[1].axhline(history["test_bits"][-1], color="tab:orange", label="whole fortune (no cut)")
    ax[1].axhline(unigram, color="gray", linestyle="--", label="unigram")
    ax[1].set(xlabel="k (characters)", ylabel="test bits per character",
              title="the same trained model with a shorter memory")
    return finish_figure(fig, path, grid=ax, legend=ax)


def report(r: dict, samples: dict) -> str:
    lines = ["| model | test bits/char | unigram bits/char | train s | s/epoch |", "|---|---|---|---|---|",
             f"| {r['cell']} {r['hidden']} | {r['test_bits_per_char']:.3f} | "
             f"{r['unigram_bits_per_char']:.3f} | {r['seconds']} | {r['seconds_per_epoch']} |", ""]
    for temperature, texts in samples.items():
        lines += [f"Samples at temperature {temperature}:", ""]
        lines += ["    " + t.replace("\n", "\n    ") + "\n" for t in texts]
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    out_dir = Path(args.out)
    texts = data.fortunes(max_length=args.max_length)
    if args.quick:   # a few hundred fortunes, whatever the files hold
        texts = {"train": texts["train"][:300], "test": texts["test"][:60]}
    vocab = lm_vocabulary(texts["train"])
    test = shifted_pairs(vocab, texts["test"], args.max_length + 1)
    buckets = bucketed(vocab, texts["train"], args.buckets)
    print(f"data: {len(texts['train'])} training / {len(texts['test'])} test fortunes, "
          f"{vocab.size} ids, buckets {[x.shape for x, _ in buckets]}")
    m = model(vocab.size, args)
    optimizer = optimizers.clip(optax.adam(args.lr), 1.0)
    ts = train.init_train_state(m, optimizer, jax.random.key(args.seed), (1, args.max_length + 1))
    nll = step_nll(m)
    ts, history = train_epochs(m, ts, optimizer, buckets, test, args, nll)
    train_targets = np.concatenate([y.ravel() for _, y in buckets])
    sampler = make_sampler(CELLS[args.cell](args.hidden), vocab.size, args.embed,
                           args.sample_length)
    samples = {str(t): [decode(vocab, ids) for ids in sampler(
        ts.params, jax.random.fold_in(jax.random.key(args.seed), 1000 + i), t, args.samples)]
        for i, t in enumerate(args.temperatures)}
    result = {"cell": args.cell, "hidden": args.hidden,
              "parameters": int(sum(a.size for a in jax.tree.leaves(ts.params))),
              "test_bits_per_char": history["test_bits"][-1],
              "unigram_bits_per_char": unigram_bits(train_targets, test[1], vocab.size),
              "test_characters": int((test[1] > 0).sum()),
              "bits_with_memory": bits_with_memory(nll, ts, test, args.contexts),
              "seconds": round(sum(history["epoch_time"]), 1),
              "seconds_per_epoch": history["epoch_time"][-1], "history": history}
    result["beats_unigram"] = result["test_bits_per_char"] < result["unigram_bits_per_char"]
    out = {"settings": settings(args), "n_train": len(texts["train"]),
           "n_test": len(texts["test"]), "vocabulary": list(vocab.chars),
           "padding_fraction": padding_fractions(texts["train"], args.buckets),
           "bucket_shapes": [list(x.shape) for x, _ in buckets], "model": result,
           "samples": samples}
    write_table(out_dir, report(result, samples))
    save_results(out_dir, out, started=started)
    plot_bits(history, result["unigram_bits_per_char"], result["bits_with_memory"],
              out_dir / "char_lm_bits.png")
    return out


if __name__ == "__main__":
    main()
