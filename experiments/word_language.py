"""Which language is a word? A many-to-one recurrent network over characters, with masking.

    python experiments/word_language.py            # 6 languages, ~96k training words
    python experiments/word_language.py --quick    # SimpleRNN with and without masking, tiny
    python experiments/word_language.py --cells gru bigru --hidden 32

Claim (*Engineering Deep Learning*, "Recurrent Networks"): "Networks should handle varying input
length."; many-to-one ("Sentiment Classification": "we only have a single output").

Method: words from Debian's word lists (`data.word_languages`: English, German, French,
Italian, Spanish, Dutch; lower-cased, alphabetic, words found in two lists dropped, at most
--per-language per language, the fixed hash split). Characters -> ids (`data.char_vocabulary`,
0 = padding) padded at the end to --max-length. Model: Embedding(padding_id=0) -> RNN(cell) ->
Dense(6): the Embedding turns the padding into lengths and the RNN returns the output of each
word's last real character. Cells: SimpleRNN, GRU, LSTM (and, with --cells bigru, a
bidirectional GRU), same hidden size, Adam, softmax cross-entropy. Masking: the SimpleRNN and the
GRU again (--unmasked), the same Layer, initial weights and batches, on ids whose padding is an
ordinary token instead of 0 (`unmasked`): the RNN then reads the padding as characters and
answers after the last padded step, up to 19 steps after the word's last letter. Reference:
scikit-learn's TF-IDF of character 1..--ngram-grams (`char_wb`) + LogisticRegression on the
same split.

Writes `<out>/metrics.json`, `table.md` and PNGs: word_language_accuracy.png (accuracy per model
and per word length), word_language_confusion_<model>.png (the best RNN, the n-gram reference).
"""
from __future__ import annotations

import time
from pathlib import Path

import jax
import numpy as np
import optax
from _common import finish_figure, parser, save_results, settings, write_table

from jdl import data, losses, metrics, nn, train, viz

CELLS = {"simple_rnn": nn.SimpleRNNCell, "gru": nn.GRUCell, "lstm": nn.LSTMCell}
MODELS = ("simple_rnn", "gru", "lstm", "bigru")
DEFAULT = ("simple_rnn", "gru", "lstm")
UNMASKED = "_unmasked"     # suffix: the cell trained on ids whose padding is a token
LENGTH_BINS = ((1, 5), (6, 8), (9, 11), (12, 15), (16, 99))


def parse_args(argv=None):
    p = parser("word_language", __doc__.splitlines()[0])
    p.add_argument("--cells", nargs="+", choices=MODELS, default=None,
                   help=f"models to train (default {' '.join(DEFAULT)}; --quick: simple_rnn)")
    p.add_argument("--unmasked", nargs="*", choices=sorted(CELLS), default=None,
                   help="cells trained again without masking (default simple_rnn gru; "
                        "--quick: simple_rnn; none: no values)")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--embed", type=int, default=16)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    p.add_argument("--per-language", type=int, default=20000)
    p.add_argument("--max-length", type=int, default=20, help="longer words are left out")
    p.add_argument("--ngram", type=int, default=4, help="largest n of the n-gram reference")
    args = p.parse_args(argv)
    if args.quick:   # one compiled model (the SimpleRNN, with and without masking)
        args.hidden, args.embed, args.epochs, args.batch_size, args.lr = 8, 8, 3, 64, 1e-2
        args.per_language = min(args.per_language, 300)   # a few hundred words per list
        args.cells = args.cells or ["simple_rnn"]
        args.unmasked = ["simple_rnn"] if args.unmasked is None else args.unmasked
    args.cells = args.cells or list(DEFAULT)
    args.unmasked = ["simple_rnn", "gru"] if args.unmasked is None else args.unmasked
    return args


def model(name: str, vocab_size: int, args) -> nn.Layer:
    """Embedding(padding_id=0) -> RNN over each word's real characters -> Dense(6)."""
    rnn = (nn.Bidirectional(nn.GRUCell(args.hidden)) if name == "bigru"
           else nn.RNN(CELLS[name](args.hidden)))
    return nn.serial(("embed", nn.Embedding(vocab_size, args.embed, padding_id=0)),
                     ("rnn", rnn), ("head", nn.Dense(6)))


def unmasked(ids: np.ndarray, pad_token: int) -> np.ndarray:
    """The padding written as the token `pad_token` instead of 0: the Embedding then finds no
    trailing padding (every length is the full width), so the RNN reads the padding as
    characters and answers after the last padded step."""
    return np.where(ids == 0, pad_token, ids).astype(np.int32)


def load_words(args) -> dict:
    """The split, the vocabulary (training characters) and the padded ids."""
    words = data.word_languages(per_language=args.per_language, max_length=args.max_length,
                                seed=args.seed)
    (w_train, y_train), (w_test, y_test) = words["train"], words["test"]
    vocab = data.char_vocabulary(w_train)
    print(f"data: {len(w_train)} training / {len(w_test)} test words, {vocab.size} ids, "
          f"languages {', '.join(words['languages'])}")
    return {"languages": words["languages"], "vocab": vocab, "pad_token": vocab.size,
            "train": (w_train, vocab.encode(w_train, args.max_length), y_train),
            "test": (w_test, vocab.encode(w_test, args.max_length), y_test)}


def accuracy_by_length(words, predicted, labels) -> dict:
    """Accuracy of the words whose length falls in each of LENGTH_BINS (absent bins left out)."""
    lengths = np.array([len(w) for w in words])
    out = {}
    for lo, hi in LENGTH_BINS:
        sel = (lengths >= lo) & (lengths <= hi)
        if sel.any():
            out[f"{lo}-{hi}"] = {"accuracy": float(np.mean(predicted[sel] == labels[sel])),
                                 "n": int(sel.sum())}
    return out


def summary(words, predicted, labels) -> dict:
    cm = metrics.confusion_matrix(predicted, labels, num_classes=6)
    return {"test_accuracy": float(np.mean(predicted == labels)),
            "accuracy_by_length": accuracy_by_length(words, predicted, labels),
            "confusion": np.asarray(cm).tolist()}


def train_rnn(name: str, m: nn.Layer, optimizer, step, x, y, d: dict, args) -> dict:
    """Train `m` on (x, y) from the seed's initialization; accuracy and confusion on the test
    words (encoded as x is: with padding 0, or with the padding token when unmasked)."""
    w_test, x_test, y_test = d["test"]
    if name.endswith(UNMASKED):
        x_test = unmasked(x_test, d["pad_token"])
    ts = train.init_train_state(m, optimizer, jax.random.key(args.seed), (1, x.shape[1]))
    started = time.perf_counter()
    ts, history = train.fit(ts, step, (x, y), epochs=args.epochs, batch_size=args.batch_size,
                            verbose=0 if args.quick else 2, steps_per_call=1 if args.quick else 4)
    seconds = time.perf_counter() - started
    predicted = np.asarray(train.predict(m, ts, x_test)).argmax(-1)
    result = summary(w_test, predicted, y_test)
    result.update(train_accuracy=history["accuracy"][-1], train_loss=history["loss"][-1],
                  seconds=round(seconds, 1),
                  seconds_per_epoch=[round(t, 2) for t in history["epoch_time"]],
                  parameters=sum(a.size for a in jax.tree.leaves(ts.params)),
                  history={k: history[k] for k in ("loss", "accuracy")})
    print(f"{name:13s} test accuracy {result['test_accuracy']:.4f}  ({seconds:.1f} s)")
    return result


def train_all(names, d: dict, args) -> dict:
    """Every model; a cell without masking is the masked cell's very Layer and train step on
    other ids, so it starts from the same weights and reuses the compiled programs."""
    layers, steps, optimizers, results = {}, {}, {}, {}
    (_, x, y) = d["train"]
    for name in names:
        base = name.removesuffix(UNMASKED)
        if base not in layers:
            layers[base] = model(base, d["pad_token"] + 1, args)
            optimizers[base] = optax.adam(args.lr)
            steps[base] = train.make_train_step(layers[base], optimizers[base],
                                                losses.softmax_cross_entropy,
                                                metrics={"accuracy": metrics.accuracy})
        ids = unmasked(x, d["pad_token"]) if name.endswith(UNMASKED) else x
        results[name] = train_rnn(name, layers[base], optimizers[base], steps[base], ids, y, d,
                                  args)
    return results


def ngram_reference(d: dict, n: int) -> dict:
    """scikit-learn: TF-IDF of character 1..n-grams within word boundaries + LogisticRegression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    (w_train, _, y_train), (w_test, _, y_test) = d["train"], d["test"]
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, n), sublinear_tf=True)
    features = vectorizer.fit_transform(w_train)
    classifier = LogisticRegression(C=10.0, max_iter=2000).fit(features, y_train)
    predicted = classifier.predict(vectorizer.transform(w_test)).astype(np.int32)
    result = summary(w_test, predicted, y_test)
    result.update(features=int(features.shape[1]), seconds=round(time.perf_counter() - started, 1))
    print(f"n-gram 1-{n}     test accuracy {result['test_accuracy']:.4f}  "
          f"({result['features']} features, {result['seconds']:.1f} s)")
    return result


def verdicts(results: dict, reference: dict) -> dict:
    """The verdicts, from the numbers: chance is 1/6."""
    rnns = {k: v["test_accuracy"] for k, v in results.items() if not k.endswith(UNMASKED)}
    best = max(rnns, key=rnns.get)
    out = {"best_rnn": best, "best_rnn_accuracy": rnns[best], "chance": 1 / 6,
           "ngram_accuracy": reference["test_accuracy"],
           "rnn_minus_ngram": round(rnns[best] - reference["test_accuracy"], 4),
           "many_to_one_held": bool(rnns[best] > 3 / 6)}
    masking = {}
    for cell in (k.removesuffix(UNMASKED) for k in results if k.endswith(UNMASKED)):
        if cell in results:
            masked, plain = results[cell], results[cell + UNMASKED]
            short = [r["accuracy_by_length"].get("1-5", {}).get("accuracy") for r in (masked, plain)]
            masking[cell] = {"masked_minus_unmasked": round(masked["test_accuracy"]
                                                            - plain["test_accuracy"], 4),
                             "masked_minus_unmasked_1_5": None if None in short
                             else round(short[0] - short[1], 4)}
            masking[cell]["matters"] = masking[cell]["masked_minus_unmasked"] > 0.01
    out["masking"] = masking     # "matters": masking gained more than 1 point of accuracy
    return out


def table(results: dict, reference: dict, ngram: int) -> str:
    bins = [f"{lo}-{hi}" for lo, hi in LENGTH_BINS]
    rows = ["| model | test accuracy | " + " | ".join(f"length {b}" for b in bins)
            + " | parameters | train s |", "|---" * (len(bins) + 4) + "|"]
    entries = list(results.items()) + [(f"n-gram 1-{ngram} + logistic", reference)]
    for name, r in entries:
        by = r["accuracy_by_length"]
        cells = [f"{by[b]['accuracy']:.3f}" if b in by else "-" for b in bins]
        rows.append(f"| {name} | {r['test_accuracy']:.4f} | " + " | ".join(cells)
                    + f" | {r.get('parameters', r.get('features', '-'))} | {r['seconds']} |")
    return "\n".join(rows) + "\n"


def plot_accuracy(results: dict, reference: dict, path: Path) -> Path:
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(12, 4))
    entries = {**results, "n-gram": reference}
    ax[0].bar(list(entries), [r["test_accuracy"] for r in entries.values()], color="tab:blue")
    ax[0].axhline(1 / 6, color="gray", linestyle="--", label="chance (1/6)")
    ax[0].set(ylabel="test accuracy", title="language of a word: test accuracy", ylim=(0, 1))
    ax[0].tick_params(axis="x", rotation=30)
    for name, r in entries.items():
        by = r["accuracy_by_length"]
        ax[1].plot(list(by), [v["accuracy"] for v in by.values()], "o-", label=name)
    ax[1].set(xlabel="word length (characters)", ylabel="test accuracy",
              title="accuracy by word length")
    return finish_figure(fig, path, grid=ax, legend=ax)


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    out_dir = Path(args.out)
    d = load_words(args)
    names = list(args.cells) + [c + UNMASKED for c in args.unmasked]
    results = train_all(names, d, args)
    reference = ngram_reference(d, args.ngram)
    verdict = verdicts(results, reference)
    write_table(out_dir, table(results, reference, args.ngram))
    out = {"settings": settings(args), "languages": list(d["languages"]),
           "n_train": len(d["train"][0]), "n_test": len(d["test"][0]),
           "vocabulary": list(d["vocab"].chars), "models": results,
           "ngram_reference": reference, "verdicts": verdict}
    save_results(out_dir, out, started=started)
    plot_accuracy(results, reference, out_dir / "word_language_accuracy.png")
    for name, r in ((verdict["best_rnn"], results[verdict["best_rnn"]]), ("ngram", reference)):
        viz.plot_confusion_matrix(r["confusion"], out_dir / f"word_language_confusion_{name}.png",
                                  class_names=d["languages"], normalize="true",
                                  title=f"{name}: test accuracy {r['test_accuracy']:.3f}")
    print(f"verdicts: {verdict}")
    return out


if __name__ == "__main__":
    main()
