"""Characters as ids: a vocabulary, padding to a common length, and buckets of similar length.

Recurrent networks read a sequence one token at a time (*Engineering Deep Learning*, "Recurrent
Networks": inputs of varying length). jdl's sequence layers take a padded id array
`(batch, time)` whose padding id is 0, and learn the true lengths from it
(`nn.Embedding(..., padding_id=0)`), so:

    vocab = data.char_vocabulary(train_words)            # ids 0 = padding, 1 = unknown
    ids = vocab.encode(words, length=24)                 # (N, 24) int32, zeros after each word
    vocab.decode(ids[0])                                 # "word"

Bucketing: padding every sequence to the longest wastes steps, and a shape per length compiles
a program per length. `length_buckets` groups sequences into a few lengths (one compiled shape
each) so that little padding remains.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, NamedTuple, Sequence

import numpy as np

PAD, UNKNOWN = "<pad>", "<unk>"
PAD_ID, UNKNOWN_ID = 0, 1


class Vocabulary(NamedTuple):
    """Characters and their ids: `chars[i]` has id i; ids 0 and 1 are padding and unknown."""

    chars: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.chars)

    def ids(self, text: str) -> list[int]:
        """The ids of `text`'s characters (unknown characters -> 1)."""
        index = _index(self.chars)
        return [index.get(c, UNKNOWN_ID) for c in text]

    def encode(self, texts: Sequence[str], length: int | None = None, *,
               truncate: bool = False) -> np.ndarray:
        """`texts` as an int32 array `(N, length)`, each padded with 0 at the end.

        `length` defaults to the longest text. A longer text raises ValueError unless
        `truncate=True` (then its first `length` characters are kept)."""
        texts = _check_texts(texts, "texts")
        longest = max((len(t) for t in texts), default=0)
        length = longest if length is None else int(length)
        if length < 1:
            raise ValueError(f"length: expected a positive int, got {length}")
        if longest > length and not truncate:
            raise ValueError(f"length: expected at least the longest text ({longest} "
                             f"characters), got {length}; pass truncate=True to cut")
        out = np.zeros((len(texts), length), np.int32)
        for i, t in enumerate(texts):
            row = self.ids(t[:length])
            out[i, :len(row)] = row
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """The text of one id sequence, stopping at the first padding id."""
        out = []
        for i in np.asarray(ids).reshape(-1).tolist():
            if i == PAD_ID:
                break
            if not 0 <= i < self.size:
                raise ValueError(f"ids: expected ids in [0, {self.size}), got {i}")
            out.append(self.chars[i])
        return "".join(out)


_INDEX_CACHE: dict[tuple[str, ...], dict[str, int]] = {}


def _index(chars: tuple[str, ...]) -> dict[str, int]:
    if chars not in _INDEX_CACHE:
        _INDEX_CACHE.clear()
        _INDEX_CACHE[chars] = {c: i for i, c in enumerate(chars)}
    return _INDEX_CACHE[chars]


def _check_texts(texts, name: str) -> list[str]:
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError(f"{name}: expected a sequence of str, got {type(texts).__name__}")
    return list(texts)


def char_vocabulary(texts: Sequence[str], *, min_count: int = 1) -> Vocabulary:
    """The characters of `texts` that occur at least `min_count` times, most frequent first
    (ties alphabetical), after the padding and unknown tokens."""
    texts = _check_texts(texts, "texts")
    if not isinstance(min_count, int) or min_count < 1:
        raise ValueError(f"min_count: expected an int >= 1, got {min_count!r}")
    counts = Counter(c for t in texts for c in t)
    kept = sorted((c for c, n in counts.items() if n >= min_count), key=lambda c: (-counts[c], c))
    return Vocabulary((PAD, UNKNOWN, *kept))


def length_buckets(lengths: Sequence[int], boundaries: Sequence[int]) -> list[tuple[int, np.ndarray]]:
    """Group sequences by length: `[(padded_length, indices), ...]`, one entry per non-empty
    bucket. Bucket j holds the sequences with `boundaries[j-1] < length <= boundaries[j]` and
    pads them to `boundaries[j]`; `boundaries` must cover the longest sequence.

    Example: lengths [3, 9, 4, 17], boundaries (4, 8, 16, 32) -> [(4, [0, 2]), (16, [1]),
    (32, [3])]: three compiled shapes, and 1 + 0 + 7 + 15 = 23 padded steps where padding all
    to the longest (17) gives 14 + 8 + 13 + 0 = 35. Doubling boundaries bound the padding of
    each sequence by its own length."""
    lengths = np.asarray(lengths)
    bounds = np.asarray(sorted(int(b) for b in boundaries))
    if lengths.ndim != 1 or bounds.size == 0 or bounds[0] < 1:
        raise ValueError(f"length_buckets: expected lengths of shape (N,) and positive "
                         f"boundaries, got lengths {lengths.shape} and boundaries {list(bounds)}")
    if lengths.size and lengths.max() > bounds[-1]:
        raise ValueError(f"boundaries: expected the largest ({bounds[-1]}) to cover the longest "
                         f"sequence, got a sequence of length {int(lengths.max())}")
    which = np.searchsorted(bounds, lengths, side="left")
    return [(int(bounds[j]), np.flatnonzero(which == j)) for j in range(bounds.size)
            if np.any(which == j)]
