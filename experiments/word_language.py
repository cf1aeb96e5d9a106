"""Which language is a word? A many-to-one recurrent network over characters, with masking.

    python experiments/word_language.py            # 6 languages, ~96k training words, 3 seeds
    python experiments/word_language.py --quick    # SimpleRNN with and without masking, 2 seeds
    python experiments/word_language.py --cells gru bigru --hidden 32

Claim (*Engineering Deep Learning*, "Recurrent Networks"): "Networks should handle varying input
length."; many-to-one ("Sentiment Classification": "we only have a single output").

Method: `data.word_languages` (six of Debian's word lists, --per-language words drawn per list
with the seed, the fixed hash split), characters -> ids padded with 0 to --max-length.
Embedding(padding_id=0) -> RNN(cell) -> Dense(6): the RNN answers after each word's last real
character. Cells SimpleRNN, GRU, LSTM (--cells bigru: a bidirectional GRU), Adam. Masking: the
--unmasked cells again, same Layer, weights and batches, on ids whose padding is an ordinary
token (`unmasked`). Reference: TF-IDF of character 1..--ngram-grams + LogisticRegression. Each
of --seeds seeds draws its own words, weights and batch order; figures are mean ± sd, verdicts
follow the spread rule (`exceeds_spread`).

Writes `<out>/metrics.json`, `table.md`, word_language_accuracy.png (accuracy per model and per
word length), word_language_confusion_<model>.png (the best RNN, the n-gram reference).
"""
from __future__ import annotations

import time
from pathlib import Path

import jax
import numpy as np
import optax
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from _common import (add_seeds_argument, exceeds_spread, finish_figure, format_mean_sd,
                     mean_sd, over_seeds, parser, save_results, seeds_of, settings, with_seed,
                     write_table)

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
    add_seeds_argument(p)
    args = p.parse_args(argv)
    seeds_of(args)   # --seeds must be at least 1
    if args.quick:   # one compiled model (the SimpleRNN, with and without masking)
        args.hidden, args.embed, args.epochs, args.batch_size, args.lr = 8, 8, 3, 64, 1e-2
        args.per_language, args.seeds = min(args.per_language, 300), min(args.seeds, 2)
        args.cells = args.cells or ["simple_rnn"]
        args.unmasked = ["simple_rnn"] if args.unmasked is None else args.unmasked
    args.cells = args.cells or list(DEFAULT)
    args.unmasked = ["simple_rnn", "gru"] if args.unmasked is None else args.unmasked
    args.steps_per_call = 1 if args.quick else 4
    return args


def model(name: str, vocab_size: int, args) -> nn.Layer:
    """Embedding(padding_id=0) -> RNN over each word's real characters -> Dense(6)."""
    rnn = (nn.Bidirectional(nn.GRUCell(args.hidden)) if name == "bigru"
           else nn.RNN(CELLS[name](args.hidden)))
    return nn.serial(("embed", nn.Embedding(vocab_size, args.embed, padding_id=0)),
                     ("rnn", rnn), ("head", nn.Dense(6)))


def unmasked(ids: np.ndarray, pad_token: int) -> np.ndarray:
    """The padding written as the token `pad_token` instead of 0: the Embedding finds no trailing
    padding (every length is the full width), so the RNN reads the padding as characters."""
    return np.where(ids == 0, pad_token, ids).astype(np.int32)


def load_words(args) -> dict:
    """The seed's split (its draw of --per-language words per list), the vocabulary (training
    characters) and the padded ids; the training words cut to whole chunks of batches (at most
    `batch * steps_per_call - 1` words dropped at random) so every seed compiles the same step."""
    words = data.word_languages(per_language=args.per_language, max_length=args.max_length,
                                seed=args.seed)
    (w_train, y_train), (w_test, y_test) = words["train"], words["test"]
    n, chunk = len(w_train), args.batch_size * args.steps_per_call
    keep = np.sort(np.random.default_rng(args.seed).permutation(n)[:n - n % chunk or n])
    w_train, y_train = [w_train[i] for i in keep], y_train[keep]
    vocab = data.char_vocabulary(w_train)
    print(f"data (seed {args.seed}): {len(w_train)} training / {len(w_test)} test words, "
          f"{vocab.size} ids, languages {', '.join(words['languages'])}")
    return {"languages": words["languages"], "vocab": vocab, "pad_token": vocab.size,
            "train": (w_train, vocab.encode(w_train, args.max_length), y_train),
            "test": (w_test, vocab.encode(w_test, args.max_length), y_test)}


def accuracy_by_length(words, predicted, labels) -> dict:
    """Accuracy of the words whose length falls in each of LENGTH_BINS (absent bins left out)."""
    lengths = np.array([len(w) for w in words])
    sel = {f"{lo}-{hi}": (lengths >= lo) & (lengths <= hi) for lo, hi in LENGTH_BINS}
    return {b: {"accuracy": float(np.mean(predicted[s] == labels[s])), "n": int(s.sum())}
            for b, s in sel.items() if s.any()}


def summary(words, predicted, labels) -> dict:
    cm = metrics.confusion_matrix(predicted, labels, num_classes=6)
    return {"test_accuracy": float(np.mean(predicted == labels)),
            "accuracy_by_length": accuracy_by_length(words, predicted, labels),
            "confusion": np.asarray(cm).tolist()}


def train_rnn(name: str, built: tuple, x, y, d: dict, args) -> dict:
    """Train `built = (layer, optimizer, step)` on (x, y) from the seed's initialization; the
    test words' accuracy and confusion (encoded as x is: padding 0, or the token if unmasked)."""
    (m, optimizer, step), (w_test, x_test, y_test) = built, d["test"]
    x_test = unmasked(x_test, d["pad_token"]) if name.endswith(UNMASKED) else x_test
    ts = train.init_train_state(m, optimizer, jax.random.key(args.seed), (1, x.shape[1]))
    started = time.perf_counter()
    ts, history = train.fit(ts, step, (x, y), epochs=args.epochs, batch_size=args.batch_size,
                            verbose=0 if args.quick else 2, steps_per_call=args.steps_per_call)
    seconds = time.perf_counter() - started
    predicted = np.asarray(train.predict(m, ts, x_test)).argmax(-1)
    result = summary(w_test, predicted, y_test)
    done = len(history.get("accuracy", [])) == args.epochs   # else stopped: not finite
    result.update(test_accuracy=result["test_accuracy"] if done else None,
                  train_accuracy=history["accuracy"][-1] if done else None,
                  seconds=round(seconds, 1), parameters=sum(a.size for a in jax.tree.leaves(ts.params)),
                  seconds_per_epoch=[round(t, 2) for t in history.get("epoch_time", [])],
                  history={k: history.get(k, []) for k in ("loss", "accuracy")})
    print(f"seed {args.seed} {name:19s} test accuracy {result['test_accuracy']}  ({seconds:.1f} s)")
    return result


def build(names, vocab_size: int, args) -> dict:
    """{cell: (Layer, optimizer, jitted step)}, once for every seed (jit's cache then hits); a
    cell without masking is the masked cell's very Layer and step on other ids."""
    built = {}
    for base in dict.fromkeys(n.removesuffix(UNMASKED) for n in names):
        layer, optimizer = model(base, vocab_size, args), optax.adam(args.lr)
        built[base] = (layer, optimizer, train.make_train_step(
            layer, optimizer, losses.softmax_cross_entropy, metrics={"accuracy": metrics.accuracy}))
    return built


def ngram_reference(d: dict, n: int) -> dict:
    """scikit-learn: TF-IDF of character 1..n-grams within word boundaries + LogisticRegression."""
    (w_train, _, y_train), (w_test, _, y_test) = d["train"], d["test"]
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, n), sublinear_tf=True)
    features = vectorizer.fit_transform(w_train)
    classifier = LogisticRegression(C=10.0, max_iter=2000).fit(features, y_train)
    predicted = classifier.predict(vectorizer.transform(w_test)).astype(np.int32)
    result = summary(w_test, predicted, y_test)
    result.update(features=int(features.shape[1]), seconds=round(time.perf_counter() - started, 1))
    print(f"n-gram 1-{n} test accuracy {result['test_accuracy']:.4f} ({result['seconds']} s)")
    return result


def combine(records: list[dict], seeds) -> dict:
    """One model's per-seed records -> the first seed's with `over_seeds`: mean ± sd of the test
    and training accuracy, the seconds, and the accuracy of each length bin every seed has."""
    bins = [b for b in records[0]["accuracy_by_length"]
            if all(b in r["accuracy_by_length"] for r in records)]
    keys = ["test_accuracy", "seconds", *[f"accuracy_by_length.{b}.accuracy" for b in bins]]
    return over_seeds(records, keys + ["train_accuracy"] * ("train_accuracy" in records[0]), seeds)


def compare(a: dict, b: dict) -> str:
    """a against b by the spread rule: 'higher', 'lower', 'within noise' (or 'missing')."""
    differs = exceeds_spread(a, b)
    return "missing" if differs is None else (
        ("higher" if a["mean"] > b["mean"] else "lower") if differs else "within noise")


def paired(per_seed: list[dict], a: str, b: str, key: str = "test_accuracy") -> dict:
    """mean ± sd over seeds of model a's `key` minus model b's (dotted key), paired by seed."""
    def get(record):   # None where a seed's test words lack the length bin
        for part in key.split("."):
            record = record.get(part) if isinstance(record, dict) else None
        return record
    pairs = [(get(s[a]), get(s[b])) for s in per_seed]
    return mean_sd([None if None in p else p[0] - p[1] for p in pairs])


def verdicts(results: dict, reference: dict, per_seed: list[dict]) -> dict:
    """Each comparison of test accuracy, a minus b: the difference paired by seed and the
    verdict, 'higher' / 'lower' only when the gap of the means exceeds the summed sds
    (`exceeds_spread`), else 'within noise'. Chance is 1/6."""
    acc = {k: v["over_seeds"]["test_accuracy"] for k, v in {**results, "ngram": reference}.items()}
    rnns = [k for k in results if not k.endswith(UNMASKED) and acc[k]["mean"] is not None]
    best = max(rnns, key=lambda k: acc[k]["mean"], default=next(iter(results)))
    pairs = [(k, "simple_rnn") for k in rnns if k != "simple_rnn" and "simple_rnn" in rnns]
    pairs += [("lstm", "gru")] * ({"gru", "lstm"} <= set(rnns))
    pairs += [(k.removesuffix(UNMASKED), k) for k in results
              if k.endswith(UNMASKED) and k.removesuffix(UNMASKED) in results]
    pairs += [(best, "ngram")]
    comparisons = {f"{a} - {b}": {"difference": paired(per_seed, a, b),
                                  "verdict": compare(acc[a], acc[b])} for a, b in pairs}
    masking = {a: {"masked_minus_unmasked_1_5": paired(per_seed, a, b,
                                                       "accuracy_by_length.1-5.accuracy"),
                   "matters": comparisons[f"{a} - {b}"]["verdict"] == "higher"}
               for a, b in pairs if b.endswith(UNMASKED)}
    return {"best_rnn": best, "best_rnn_accuracy": acc[best], "chance": 1 / 6,
            "many_to_one_held": compare(acc[best], mean_sd([0.5])) == "higher",  # 3 x chance
            "comparisons": comparisons, "masking": masking}


def table(results: dict, reference: dict, verdict: dict, ngram: int) -> str:
    bins = [f"{lo}-{hi}" for lo, hi in LENGTH_BINS]
    n = len(reference["over_seeds"]["seeds"])
    rows = [f"| model (mean ± sd, {n} seeds) | test accuracy | "
            + " | ".join(f"length {b}" for b in bins) + " | parameters | train s |",
            "|---" * (len(bins) + 4) + "|"]
    entries = list(results.items()) + [(f"n-gram 1-{ngram} + logistic", reference)]
    for name, r in entries:
        s = r["over_seeds"]
        cells = [format_mean_sd(s[f"accuracy_by_length.{b}.accuracy"], 3)
                 if f"accuracy_by_length.{b}.accuracy" in s else "-" for b in bins]
        rows.append(f"| {name} | {format_mean_sd(s['test_accuracy'], 4)} | " + " | ".join(cells)
                    + f" | {r.get('parameters', r.get('features', '-'))} | "
                    f"{s['seconds']['mean']:.1f} |")
    rows += ["", "| test accuracy, a - b | difference, paired by seed | verdict (spread rule) |",
             "|---|---|---|"]
    rows += [f"| {k} | {format_mean_sd(c['difference'], 4)} | {c['verdict']} |"
             for k, c in verdict["comparisons"].items()]
    return "\n".join(rows) + "\n"


def plot_accuracy(results: dict, reference: dict, path: Path) -> Path:
    """Test accuracy per model (mean, sd as error bars) and by word length (means)."""
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(12, 4))
    entries = {**results, "n-gram": reference}
    stats = [r["over_seeds"]["test_accuracy"] for r in entries.values()]
    ax[0].bar(list(entries), [s["mean"] or 0 for s in stats], yerr=[s["sd"] or 0 for s in stats],
              color="tab:blue", capsize=3)
    ax[0].axhline(1 / 6, color="gray", linestyle="--", label="chance (1/6)")
    ax[0].set(ylabel="test accuracy", title="test accuracy (mean ± sd)", ylim=(0, 1))
    ax[0].tick_params(axis="x", rotation=30)
    for name, r in entries.items():
        by = {k.split(".")[1]: v["mean"] for k, v in r["over_seeds"].items()
              if k.startswith("accuracy_by_length.")}
        ax[1].plot(list(by), list(by.values()), "o-", label=name)
    ax[1].set(xlabel="word length (characters)", ylabel="test accuracy (mean over seeds)",
              title="accuracy by word length")
    return finish_figure(fig, path, grid=ax, legend=ax)


def run_seeds(args) -> tuple[dict, dict, list[dict], list[dict]]:
    """Every seed: its word draw, the models from its initialization, the n-gram reference.
    The Embedding is sized for the largest vocabulary of the seeds (one set of programs)."""
    splits = [load_words(with_seed(args, s)) for s in seeds_of(args)]
    pad = max(d["vocab"].size for d in splits)
    names = list(args.cells) + [c + UNMASKED for c in args.unmasked]
    built = build(names, pad + 1, args)
    per_seed = []
    for seed, d in zip(seeds_of(args), splits):
        d["pad_token"], (_, x, y) = pad, d["train"]
        per_seed.append({name: train_rnn(name, built[name.removesuffix(UNMASKED)], unmasked(
            x, pad) if name.endswith(UNMASKED) else x, y, d, with_seed(args, seed)) for name in names})
        per_seed[-1]["ngram"] = ngram_reference(d, args.ngram)
    results = {n: combine([s[n] for s in per_seed], seeds_of(args)) for n in names}
    return results, combine([s["ngram"] for s in per_seed], seeds_of(args)), per_seed, splits


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    out_dir = Path(args.out)
    results, reference, per_seed, splits = run_seeds(args)
    verdict = verdicts(results, reference, per_seed)
    write_table(out_dir, table(results, reference, verdict, args.ngram))
    d = splits[0]
    out = {"settings": settings(args), "seeds": seeds_of(args), "languages": list(d["languages"]),
           "n_train": [len(s["train"][0]) for s in splits],
           "n_test": [len(s["test"][0]) for s in splits],
           "vocabulary": list(d["vocab"].chars), "models": results,
           "ngram_reference": reference, "verdicts": verdict}
    save_results(out_dir, out, started=started)
    plot_accuracy(results, reference, out_dir / "word_language_accuracy.png")
    for name, r in ((verdict["best_rnn"], results[verdict["best_rnn"]]), ("ngram", reference)):
        viz.plot_confusion_matrix(r["confusion"], out_dir / f"word_language_confusion_{name}.png",
                                  class_names=d["languages"], normalize="true",
                                  title=f"{name} (seed {args.seed}): test accuracy "
                                        f"{r['test_accuracy']:.3f}")
    print(f"verdicts: {verdict}")
    return out


if __name__ == "__main__":
    main()
