"""Text data: word lists and fortunes read from tiny files in Debian's formats, the fixed hash
split, the character vocabulary, padding and length buckets."""
import hashlib

import numpy as np
import pytest

from jdl import data


@pytest.fixture
def dict_dir(tmp_path):
    lists = {"american-english": "Apple\nhouse\nAA's\nchat\nBanana\n06-dealer\n",
             "ngerman": "Haus\nApfel\nchat\nStraße\n", "french": "chat\nmaison\npomme\nété\n"}
    for name, text in lists.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_word_languages_reads_dedups_and_labels(dict_dir):
    d = data.word_languages(("english", "german", "french"), root=dict_dir, test_fraction=0.5)
    words = d["train"][0] + d["test"][0]
    labels = np.concatenate([d["train"][1], d["test"][1]])
    got = dict(zip(words, labels.tolist()))
    # lower-cased, alphabetic only ("aa's", "06-dealer" dropped), "chat" is in three lists: gone
    assert got == {"apple": 0, "house": 0, "banana": 0, "haus": 1, "apfel": 1, "straße": 1,
                   "maison": 2, "pomme": 2, "été": 2}
    assert d["languages"] == ("english", "german", "french")
    assert d["train"][1].dtype == np.int32
    for w in d["test"][0]:            # the split is the hash rule, nothing else
        assert data.in_test_split(w, 0.5)
    for w in d["train"][0]:
        assert not data.in_test_split(w, 0.5)


def test_the_split_does_not_move_when_the_sample_size_changes(dict_dir):
    small = data.word_languages(("english", "french"), root=dict_dir, per_language=2, seed=1)
    full = data.word_languages(("english", "french"), root=dict_dir, per_language=None)
    assert set(small["test"][0]) <= set(full["test"][0])
    assert np.bincount(np.concatenate([small["train"][1], small["test"][1]])).tolist() == [2, 2]
    digest = hashlib.sha256("maison".encode()).digest()
    assert data.in_test_split("maison", 0.3) == (int.from_bytes(digest[:8], "big") / 2**64 < 0.3)


def test_word_languages_bad_arguments(dict_dir, tmp_path):
    with pytest.raises(ValueError, match=r"languages: expected names from .*got \['klingon'\]"):
        data.word_languages(("klingon",), root=dict_dir)
    with pytest.raises(ValueError, match="test_fraction: expected a value in"):
        data.word_languages(("english",), root=dict_dir, test_fraction=1.0)
    with pytest.raises(FileNotFoundError, match="apt-get install wamerican"):
        data.word_languages(("english",), root=tmp_path / "nowhere")


def test_fortunes_split_by_entry_and_skip_long_ones(tmp_path):
    (tmp_path / "fortunes").write_text("A day for firm decisions!\n%\nShort.\n  Two lines.\n%\n"
                                       + "x" * 50 + "\n%\n", encoding="utf-8")
    (tmp_path / "riddles").write_text("Q: Why?\nA: Because.\n", encoding="utf-8")
    f = data.fortunes(("fortunes", "riddles"), root=tmp_path, max_length=40, test_fraction=0.5)
    assert sorted(f["train"] + f["test"]) == sorted(
        ["A day for firm decisions!", "Short.\n  Two lines.", "Q: Why?\nA: Because."])
    assert all(data.in_test_split(t, 0.5) for t in f["test"])
    with pytest.raises(FileNotFoundError, match="'missing' is not there"):
        data.fortunes(("missing",), root=tmp_path)


def test_vocabulary_encodes_pads_and_decodes():
    vocab = data.char_vocabulary(["abba", "cab"])
    assert vocab.chars == ("<pad>", "<unk>", "a", "b", "c")      # by count, then alphabetical
    ids = vocab.encode(["cab", "abz"], length=5)
    np.testing.assert_array_equal(ids, [[4, 2, 3, 0, 0], [2, 3, 1, 0, 0]])
    assert ids.dtype == np.int32
    assert vocab.decode(ids[0]) == "cab" and vocab.decode(ids[1]) == "ab<unk>"
    assert vocab.encode(["abba", "c"]).shape == (2, 4)
    np.testing.assert_array_equal(vocab.encode(["abba"], 2, truncate=True), [[2, 3]])
    with pytest.raises(ValueError, match=r"length: expected at least the longest text \(4"):
        vocab.encode(["abba"], 2)
    with pytest.raises(TypeError, match="texts: expected a sequence of str"):
        vocab.encode("abba")
    with pytest.raises(ValueError, match=r"ids: expected ids in \[0, 5\), got 9"):
        vocab.decode([2, 9])
    assert data.char_vocabulary(["aab"], min_count=2).chars == ("<pad>", "<unk>", "a")


def test_the_padded_ids_give_the_lengths_the_embedding_sees():
    from jdl import nn
    vocab = data.char_vocabulary(["hello", "hi"])
    ids = vocab.encode(["hello", "hi", "h"], length=6)
    np.testing.assert_array_equal(nn.lengths_from_padding(ids, 0), [5, 2, 1])


def test_length_buckets():
    buckets = data.length_buckets([3, 9, 4, 17], (32, 4, 8, 16))
    assert [(n, idx.tolist()) for n, idx in buckets] == [(4, [0, 2]), (16, [1]), (32, [3])]
    with pytest.raises(ValueError, match=r"boundaries: expected the largest \(8\) to cover"):
        data.length_buckets([3, 9], (4, 8))
