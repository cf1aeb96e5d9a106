"""experiments/char_lm.py: the --quick run on the session's made-up fortunes (2 seeds), its JSON,
mean ± sd and verdicts, and plot, the shift-by-one targets, the bits-per-character arithmetic and
the unigram baseline by hand."""
import math

import numpy as np
import pytest

from jdl import data


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("char_lm")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("char_lm", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, module, returned, strict_json(out / "metrics.json")


def test_json_layout_and_values(outputs):
    _, module, returned, m = outputs
    assert m["settings"]["quick"] is True and m["settings"]["max_length"] == 160
    assert m["settings"]["seeds"] == 2
    assert m["n_train"] > m["n_test"] > 0
    assert m["vocabulary"][:2] == ["<pad>", "<unk>"] and m["vocabulary"][-1] == module.EOS
    assert m["bucket_shapes"] == [[m["n_train"], 161]]          # one bucket in --quick
    # one bucket of 161 steps pads more than padding to the longest made-up fortune would
    assert 0.0 <= m["padding_fraction"]["longest"] <= m["padding_fraction"]["buckets"] < 1.0
    r = m["model"]
    assert r["cell"] == "lstm" and len(r["history"]["test_bits"]) == 1
    v = len(m["vocabulary"])       # Embedding(V, 8), LSTM(16): 4 blocks of (8 + 16) x 16 + 16, Dense
    assert r["parameters"] == v * 8 + 4 * ((8 + 16) * 16 + 16) + 16 * v + v
    assert r["test_bits_per_char"] == r["history"]["test_bits"][-1]
    # between a perfect model and a uniform guess over the vocabulary
    assert 0.0 < r["test_bits_per_char"] < math.log2(len(m["vocabulary"])) + 1.0
    assert r["test_characters"] > m["n_test"]
    # --quick cuts the memory every 161 steps, the whole width: the uncut model's own score
    assert r["bits_with_memory"] == {"161": pytest.approx(r["test_bits_per_char"], rel=1e-6)}
    assert set(m["samples"]) == {"0.5", "1.0"}
    for texts in m["samples"].values():   # 40 steps at most, "<unk>" written out
        assert len(texts) == 2 and all(isinstance(t, str) and len(t) <= 40 * 5 for t in texts)
    assert returned["model"]["test_bits_per_char"] == r["test_bits_per_char"]


def test_mean_and_sd_over_two_seeds(outputs, spread_rule):
    r = outputs[3]["model"]
    s = r["over_seeds"]
    assert s["seeds"] == [0, 1]
    assert set(s) == {"seeds", "test_bits_per_char", "unigram_bits_per_char", "seconds",
                      "bits_with_memory.161"}
    for key, stat in s.items():
        if key == "seeds":
            continue
        assert len(stat["values"]) == 2 and np.all(np.isfinite(stat["values"])), key
        assert stat["mean"] == pytest.approx(np.mean(stat["values"])), key
        assert stat["sd"] == pytest.approx(np.std(stat["values"], ddof=1)) and stat["sd"] >= 0, key
    bits = s["test_bits_per_char"]["values"]
    assert bits[0] == r["test_bits_per_char"] and bits[0] != bits[1]   # the seeds differ
    # the unigram has no seed (the fixed hash split): the same count every seed, sd 0
    unigram = s["unigram_bits_per_char"]
    assert unigram["values"][0] == unigram["values"][1] and unigram["sd"] == 0.0
    assert 0.0 < unigram["mean"] < math.log2(len(outputs[3]["vocabulary"]))
    assert [e["values"][0] for e in r["test_bits_by_epoch"]] == r["history"]["test_bits"]
    assert r["test_bits_by_epoch"][-1]["values"] == bits
    # cutting at k = 161 cuts nothing: paired by seed, the difference is 0
    cut = r["memory_cuts"]["161"]
    assert cut["cut_minus_whole"]["values"] == pytest.approx([0.0, 0.0], abs=1e-5)
    assert cut["verdict"] == "within noise"
    verdicts = r["verdicts"]
    assert verdicts["vs_unigram"] == spread_rule(bits_stat := s["test_bits_per_char"], unigram)
    assert verdicts["longest_cut_that_costs"] is None
    assert verdicts["last_epoch_vs_one_before"] == "within noise"   # one epoch: itself
    assert bits_stat["mean"] == pytest.approx(sum(bits) / 2)


def test_seeds_must_be_positive(outputs):
    with pytest.raises(ValueError, match="--seeds: expected at least 1, got 0"):
        outputs[1].parse_args(["--seeds", "0"])


def test_targets_are_the_inputs_shifted_by_one(outputs):
    module = outputs[1]
    vocab = module.lm_vocabulary(["abba", "cab"])
    eos, a, b = vocab.size - 1, *vocab.ids("ab")
    inputs, targets = module.shifted_pairs(vocab, ["ab", "b"], 4)
    np.testing.assert_array_equal(inputs, [[eos, a, b, 0], [eos, b, 0, 0]])
    np.testing.assert_array_equal(targets, [[a, b, eos, 0], [b, eos, 0, 0]])
    both = (inputs[:, 1:] > 0) & (targets[:, :-1] > 0)
    np.testing.assert_array_equal(targets[:, :-1][both], inputs[:, 1:][both])
    assert module.decode(vocab, [a, b, eos, a]) == "ab" and module.decode(vocab, [b, 0, a]) == "b"
    with pytest.raises(ValueError, match="cannot hold a text of 4 characters"):
        module.shifted_pairs(vocab, ["abba"], 4)


def test_bits_per_character_by_hand(outputs):
    module = outputs[1]
    # a uniform guess over 4 symbols costs ln 4 nats = 2 bits per character
    assert module.bits_per_char(3 * math.log(4.0), 3) == pytest.approx(2.0)
    # unigram with add-one: training targets ids 1, 1, 2 (vocabulary 0..3) -> counts 3, 2, 1
    train_targets = np.array([[1, 1, 2, 0]])
    test_targets = np.array([[1, 3, 0, 0]])
    expected = -(math.log2(3 / 6) + math.log2(1 / 6)) / 2
    assert module.unigram_bits(train_targets, test_targets, 4) == pytest.approx(expected)


def test_memory_cut_every_k_steps(outputs):
    module = outputs[1]
    inputs = np.array([[9, 1, 2, 3, 4, 0], [9, 5, 6, 0, 0, 0]])
    targets = np.array([[1, 2, 3, 4, 9, 0], [5, 6, 9, 0, 0, 0]])
    x, y = module.chunked(inputs, targets, 4)     # 6 steps -> 8: two pieces a row, then 3 kept
    np.testing.assert_array_equal(x, [[9, 1, 2, 3], [4, 0, 0, 0], [9, 5, 6, 0]])
    np.testing.assert_array_equal(y, [[1, 2, 3, 4], [9, 0, 0, 0], [5, 6, 9, 0]])
    assert (y > 0).sum() == (targets > 0).sum()   # every character scored once
    x1, y1 = module.chunked(inputs, targets, 1)
    assert x1.shape == (8, 1) and np.array_equal(np.sort(y1.ravel()), np.sort(targets[targets > 0]))


def test_buckets_pad_less_than_the_longest(outputs):
    module = outputs[1]
    texts = ["a" * 5, "b" * 60, "c" * 7]
    fractions = module.padding_fractions(texts, (8, 64))
    steps = 6 + 61 + 8
    assert fractions == {"buckets": round(1 - steps / (8 * 2 + 64), 4),
                         "longest": round(1 - steps / (61 * 3), 4)}
    vocab = module.lm_vocabulary(texts)
    shapes = [x.shape for x, _ in module.bucketed(vocab, texts, (8, 64))]
    assert shapes == [(2, 8), (1, 64)]
    assert data.length_buckets([6, 61, 8], (8, 64))[0][0] == 8


def test_plot_and_table_written(outputs):
    out = outputs[0]
    assert (out / "char_lm_bits.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (out / "table.md").read_text()
    assert "Samples at temperature 0.5 (seed 0)" in table and "mean ± sd, 2 seeds" in table
    assert "| 161 |" in table and "| whole fortune |" in table
