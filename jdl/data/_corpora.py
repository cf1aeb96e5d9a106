"""Text corpora on local disk, installed like Fashion-MNIST and never downloaded.

- `word_languages()`: "which language is this word?" (a many-to-one sequence task) from
  Debian's word lists, `apt-get install wamerican wngerman wfrench witalian wspanish wdutch`,
  which put one word per line under `/usr/share/dict`.
- `fortunes()`: a character-level corpus for language modelling (many-to-many) from Debian's
  `fortunes` package, `/usr/share/games/fortunes`: text files whose entries are separated by
  lines holding only "%".

Both splits are fixed by the text itself (a hash of the word or fortune picks the test set),
so they do not move when a list grows or a sample size changes. `$JDL_DATA_DIR/dict` and
`$JDL_DATA_DIR/fortunes` are searched first, so a machine without the packages can hold copies
there (tests write tiny files in the same formats).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

import numpy as np

#: language -> file name under /usr/share/dict (Debian packages w<language>).
WORD_LISTS = {"english": "american-english", "german": "ngerman", "french": "french",
              "italian": "italian", "spanish": "spanish", "dutch": "dutch"}
#: the fortune files used by default (the package's general collections; no "off/" files).
FORTUNE_FILES = ("fortunes", "literature", "riddles", "people", "wisdom", "science",
                 "humorists", "computers", "work", "politics")
_DIRS = {"dict": Path("/usr/share/dict"), "fortunes": Path("/usr/share/games/fortunes")}
_PACKAGES = {"dict": "wamerican wngerman wfrench witalian wspanish wdutch", "fortunes": "fortunes"}


def _directory(kind: str, root: str | os.PathLike | None) -> Path:
    candidates = [Path(root)] if root is not None else (
        ([Path(os.environ["JDL_DATA_DIR"]) / kind] if os.environ.get("JDL_DATA_DIR") else [])
        + [_DIRS[kind]])
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError(f"{kind}: none of {[str(c) for c in candidates]} exists; install "
                            f"it with `apt-get install {_PACKAGES[kind]}` or put the files in "
                            f"$JDL_DATA_DIR/{kind}")


def in_test_split(text: str, test_fraction: float) -> bool:
    """The fixed split: `text` is a test item when the first 8 bytes of its sha256, read as a
    fraction of 2**64, fall below `test_fraction`."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") < test_fraction * 2.0**64


def _read_words(path: Path, min_length: int, max_length: int) -> set[str]:
    words = set()
    for line in path.read_text(encoding="utf-8", errors="strict").splitlines():
        w = line.strip().lower()
        if min_length <= len(w) <= max_length and w.isalpha():   # no "AA's", "06-dealer"
            words.add(w)
    return words


def word_languages(languages: Sequence[str] = tuple(WORD_LISTS), *, root=None,
                   per_language: int | None = 20000, min_length: int = 1, max_length: int = 30,
                   test_fraction: float = 0.2, seed: int = 0) -> dict:
    """Words labelled by language: `{"train": (words, labels), "test": (words, labels),
    "languages": (...)}`, labels int32 indices into `languages`.

    Each list is lower-cased and keeps alphabetic words of `min_length`..`max_length`
    characters; a word found in two or more of the lists is dropped (it has no single answer).
    Then at most `per_language` words per language are drawn (with `seed`), so the classes are
    balanced, and the fixed hash split (`in_test_split`) puts `test_fraction` of them in test.
    """
    unknown = [lang for lang in languages if lang not in WORD_LISTS]
    if unknown or not languages:
        raise ValueError(f"languages: expected names from {sorted(WORD_LISTS)}, got "
                         f"{list(languages)}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction: expected a value in (0, 1), got {test_fraction!r}")
    directory = _directory("dict", root)
    lists = {lang: _read_words(directory / WORD_LISTS[lang], min_length, max_length)
             for lang in languages}
    seen: dict[str, int] = {}
    for words in lists.values():
        for w in words:
            seen[w] = seen.get(w, 0) + 1
    rng = np.random.default_rng(seed)
    split = {"train": ([], []), "test": ([], [])}
    for label, lang in enumerate(languages):
        unique = sorted(w for w in lists[lang] if seen[w] == 1)
        if per_language is not None and len(unique) > per_language:
            unique = sorted(rng.choice(unique, per_language, replace=False).tolist())
        for w in unique:
            words, labels = split["test" if in_test_split(w, test_fraction) else "train"]
            words.append(w)
            labels.append(label)
    return {name: (words, np.asarray(labels, np.int32)) for name, (words, labels) in
            split.items()} | {"languages": tuple(languages)}


def fortunes(files: Sequence[str] = FORTUNE_FILES, *, root=None, max_length: int | None = 400,
             test_fraction: float = 0.1) -> dict[str, list[str]]:
    """Fortunes as texts: `{"train": [...], "test": [...]}`, split by fortune (hash split).

    Entries are separated by lines holding only "%"; whitespace at both ends is stripped,
    and entries longer than `max_length` characters (long poems, ASCII art) are left out.
    """
    directory = _directory("fortunes", root)
    split: dict[str, list[str]] = {"train": [], "test": []}
    for name in files:
        path = directory / name
        if not path.is_file():
            raise FileNotFoundError(f"files: expected fortune files in {directory}, "
                                    f"{name!r} is not there")
        for entry in path.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
            text = entry.strip().strip("%").strip()
            if text and (max_length is None or len(text) <= max_length):
                split["test" if in_test_split(text, test_fraction) else "train"].append(text)
    return split
