"""experiments/word_language.py: the --quick run on the session's made-up word lists (the
SimpleRNN with and without masking, the n-gram reference, 2 seeds), its JSON and plots, the
mean ± sd over seeds and the spread-rule verdicts, the helpers."""
import jax
import numpy as np
import pytest

from jdl import nn

PLOTS = ("word_language_accuracy.png", "word_language_confusion_simple_rnn.png",
         "word_language_confusion_ngram.png")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("word_language")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("word_language", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, module, returned, strict_json(out / "metrics.json")


def check_over_seeds(stats: dict, record: dict, seeds) -> None:
    """mean ± sd of each key over the seeds: the first value is the first seed's own record."""
    assert stats["seeds"] == seeds
    for key, stat in stats.items():
        if key == "seeds":
            continue
        values = stat["values"]
        assert len(values) == len(seeds), key
        assert stat["mean"] == pytest.approx(np.mean(values)), key
        assert stat["sd"] == pytest.approx(np.std(values, ddof=1)) and stat["sd"] >= 0, key
        first = record
        for part in key.split("."):
            first = first[part]
        assert values[0] == pytest.approx(first), key


def test_json_layout_and_values(outputs, spread_rule):
    _, _, returned, m = outputs
    assert m["settings"]["quick"] is True and m["settings"]["cells"] == ["simple_rnn"]
    assert m["settings"]["seeds"] == 2 and m["seeds"] == [0, 1]
    assert m["languages"] == ["english", "german", "french", "italian", "spanish", "dutch"]
    assert set(m["models"]) == {"simple_rnn", "simple_rnn_unmasked"}
    assert len(m["n_train"]) == len(m["n_test"]) == 2 and min(m["n_train"]) > max(m["n_test"]) > 100
    assert m["vocabulary"][:2] == ["<pad>", "<unk>"]
    entries = {**m["models"], "ngram": m["ngram_reference"]}
    for name, r in entries.items():
        cm = np.array(r["confusion"])         # the first seed's
        assert cm.shape == (6, 6) and cm.sum() == m["n_test"][0], name
        assert np.trace(cm) / m["n_test"][0] == pytest.approx(r["test_accuracy"]), name
        assert sum(b["n"] for b in r["accuracy_by_length"].values()) == m["n_test"][0], name
        check_over_seeds(r["over_seeds"], r, [0, 1])
        assert {"test_accuracy", "seconds"} <= set(r["over_seeds"]), name
        assert all(f"accuracy_by_length.{b}.accuracy" in r["over_seeds"]
                   for b in r["accuracy_by_length"]), name
    rnn, unmasked = m["models"]["simple_rnn"], m["models"]["simple_rnn_unmasked"]
    assert rnn["parameters"] == unmasked["parameters"]          # the same Layer
    assert len(rnn["history"]["loss"]) == 3 and np.isfinite(rnn["history"]["loss"]).all()
    assert rnn["history"]["loss"][-1] < rnn["history"]["loss"][0]
    assert min(rnn["over_seeds"]["test_accuracy"]["values"]) > 0.5   # chance is 1/6
    assert min(m["ngram_reference"]["over_seeds"]["test_accuracy"]["values"]) > 0.9
    v = m["verdicts"]
    acc = {k: r["over_seeds"]["test_accuracy"] for k, r in entries.items()}
    assert v["best_rnn"] == "simple_rnn" and v["best_rnn_accuracy"] == acc["simple_rnn"]
    assert set(v["comparisons"]) == {"simple_rnn - simple_rnn_unmasked", "simple_rnn - ngram"}
    for key, c in v["comparisons"].items():
        a, b = key.split(" - ")
        gaps = np.subtract(acc[a]["values"], acc[b]["values"])   # paired by seed
        assert c["difference"]["values"] == pytest.approx(gaps.tolist())
        assert c["difference"]["mean"] == pytest.approx(gaps.mean())
        assert c["verdict"] == spread_rule(acc[a], acc[b]), key
    assert v["masking"]["simple_rnn"]["matters"] == (
        v["comparisons"]["simple_rnn - simple_rnn_unmasked"]["verdict"] == "higher")
    assert v["many_to_one_held"] == (acc["simple_rnn"]["mean"] - acc["simple_rnn"]["sd"] > 0.5)
    assert returned["verdicts"] == v


def test_seeds_must_be_positive(outputs):
    with pytest.raises(ValueError, match="--seeds: expected at least 1, got 0"):
        outputs[1].parse_args(["--seeds", "0"])


def test_padding_as_a_token_gives_full_lengths(outputs):
    module = outputs[1]
    ids = np.array([[3, 4, 0, 0], [5, 0, 0, 0], [2, 3, 4, 5]], np.int32)
    written = module.unmasked(ids, 9)
    np.testing.assert_array_equal(written, [[3, 4, 9, 9], [5, 9, 9, 9], [2, 3, 4, 5]])
    np.testing.assert_array_equal(nn.lengths_from_padding(ids, 0), [2, 1, 4])
    np.testing.assert_array_equal(nn.lengths_from_padding(written, 0), [4, 4, 4])


def test_every_model_gives_six_logits(outputs):
    module = outputs[1]
    args = module.parse_args(["--quick"])
    for name in module.MODELS:     # traced only (no compile): ids (2, 7) -> (2, 6)
        shapes = []
        jax.eval_shape(lambda k, n=name: shapes.append(module.model(n, 12, args).init(k, (2, 7))),
                       jax.random.key(0))
        assert tuple(shapes[0][0]) == (2, 6), name


def test_accuracy_by_length_by_hand(outputs):
    module = outputs[1]
    words = ["ab", "abcdef", "abcdefghijklm", "abc"]
    got = module.accuracy_by_length(words, np.array([0, 1, 2, 3]), np.array([0, 0, 2, 0]))
    assert got == {"1-5": {"accuracy": 0.5, "n": 2}, "6-8": {"accuracy": 0.0, "n": 1},
                   "12-15": {"accuracy": 1.0, "n": 1}}


def test_ngram_reference_on_two_alphabets(outputs):
    module = outputs[1]
    a = ["aab", "aba", "bba", "abab", "baab", "aaab", "bbab"]
    x = ["xxy", "xyx", "yyx", "xyxy", "yxxy", "xxxy", "yyxy"]
    split = {"train": (a[:5] + x[:5], None, np.array([0] * 5 + [3] * 5)),
             "test": (a[5:] + x[5:], None, np.array([0, 0, 3, 3]))}
    r = module.ngram_reference(split, 2)
    # " " (char_wb marks the word edges) and a, b, x, y; the 16 bigrams " a", "aa", ..., "y "
    assert r["test_accuracy"] == 1.0 and r["features"] == 5 + 16
    assert np.array(r["confusion"])[[0, 3], [0, 3]].tolist() == [2, 2]


def test_plots_written(outputs):
    out = outputs[0]
    for name in PLOTS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    table = (out / "table.md").read_text()
    assert "| simple_rnn_unmasked |" in table and "mean ± sd, 2 seeds" in table
    assert "| simple_rnn - ngram |" in table
