"""Fixtures shared by the experiment tests: load a script from experiments/, read strict JSON,
and small synthetic data for every `--quick` run: a Fashion-MNIST in the real IDX format, word
lists in `$JDL_DATA_DIR/dict` and fortune files in `$JDL_DATA_DIR/fortunes`.

Why synthetic: the quick runs test the scripts' plumbing, not the data, and must pass on a
machine without Debian's `dataset-fashion-mnist`, word lists (`wamerican`, ...) or `fortunes`
(a fresh CI box) and give the same numbers on every machine. The files are written once per
test session (per xdist worker) and found through `$JDL_DATA_DIR`, exactly as a user's copy
would be.
"""
import importlib.util
import json
import os
import pathlib

import numpy as np
import pytest

from jdl.data import FORTUNE_FILES, WORD_LISTS, write_idx

SYNTHETIC_SIZES = {"train": 3000, "t10k": 1000}  # quick modes read at most 800 / 300 of these

EXPERIMENTS = pathlib.Path(__file__).resolve().parents[2] / "experiments"


def _load_script(name, monkeypatch):
    """Import experiments/<name>.py as a module (the scripts import `_common`, so its folder
    goes on sys.path through `monkeypatch`, undone after the test)."""
    monkeypatch.syspath_prepend(str(EXPERIMENTS))
    spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _strict_json(path):
    """json.loads that refuses NaN / Infinity (the scripts must write valid JSON)."""
    def refuse(constant):
        raise AssertionError(f"{path} holds {constant}: not strict JSON")
    return json.loads(pathlib.Path(path).read_text(), parse_constant=refuse)


def _spread_rule(a: dict, b: dict, higher: str = "higher", lower: str = "lower") -> str:
    """The verdict rule, written out here independently of experiments/_common.py: "within
    noise" unless |mean_a - mean_b| > sd_a + sd_b, else whether a is higher or lower than b."""
    if abs(a["mean"] - b["mean"]) <= a["sd"] + b["sd"]:
        return "within noise"
    return higher if a["mean"] > b["mean"] else lower


@pytest.fixture(scope="session")
def spread_rule():
    return _spread_rule


@pytest.fixture(scope="session")
def load_script():
    return _load_script


@pytest.fixture(scope="session")
def strict_json():
    return _strict_json


def synthetic_fashion_mnist(directory: pathlib.Path, *, seed: int = 0) -> pathlib.Path:
    """Write `train-*` and `t10k-*` IDX files (uint8 28x28 images, uint8 labels 0..9) that a
    small MLP or CNN learns in a few epochs: each class is a fixed pattern of three Gaussian
    blobs, each image that pattern shifted by up to 3 pixels, scaled in brightness and noised."""
    rng = np.random.default_rng(seed)
    grid = np.arange(28, dtype=np.float32)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    centres = rng.uniform(6, 22, size=(10, 3, 2))
    widths = rng.uniform(2.0, 5.0, size=(10, 3))
    prototypes = np.zeros((10, 28, 28), np.float32)
    for c in range(10):
        for (cy, cx), w in zip(centres[c], widths[c]):
            prototypes[c] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * w * w))
    prototypes = 230.0 * prototypes / prototypes.max(axis=(1, 2), keepdims=True)
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in SYNTHETIC_SIZES.items():
        labels = rng.integers(0, 10, n).astype(np.uint8)
        shifts = rng.integers(-3, 4, size=(n, 2))
        images = np.stack([np.roll(prototypes[c], tuple(s), axis=(0, 1))
                           for c, s in zip(labels, shifts)])
        images = images * rng.uniform(0.5, 1.1, size=(n, 1, 1)) + rng.normal(0, 70, (n, 28, 28))
        write_idx(directory / f"{split}-images-idx3-ubyte",
                  np.clip(np.rint(images), 0, 255).astype(np.uint8))
        write_idx(directory / f"{split}-labels-idx1-ubyte", labels)
    return directory


# Made-up words: each language has its own letter groups and endings (some shared, as "sch"
# in German and Dutch), so a quick run learns something and two lists share a few words.
WORD_PARTS = {
    "english": (("th", "wh", "sh", "ea", "ow", "ck", "st", "ar"), ("ing", "ly", "ness", "ful")),
    "german": (("sch", "ei", "au", "ch", "tz", "\u00fc", "st", "ar"), ("ung", "keit", "chen", "lich")),
    "french": (("eau", "ou", "qu", "oi", "\u00e9", "\u00e7", "ar"), ("ette", "ique", "ment", "eux")),
    "italian": (("zz", "gli", "cc", "io", "gn", "ia", "ar"), ("etto", "ino", "are", "ione")),
    "spanish": (("\u00f1", "ll", "rr", "ue", "ie", "j", "ar"), ("ci\u00f3n", "dad", "ado", "ito")),
    "dutch": (("ij", "oo", "aa", "uu", "sch", "ee", "st"), ("heid", "lijk", "tje", "en")),
}
WORDS_PER_LIST = 300
FORTUNE_WORDS = ("the", "a", "cat", "program", "wise", "man", "never", "computer", "runs",
                 "sleeps", "says", "tomorrow", "bug", "and", "is", "always", "love", "work")


def synthetic_word_lists(directory: pathlib.Path, *, seed: int = 0) -> pathlib.Path:
    """One UTF-8 file per name of `jdl.data.WORD_LISTS`, WORDS_PER_LIST made-up words each
    (1 to 3 letter groups, a consonant, an ending), one per line, some capitalized."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for language, filename in WORD_LISTS.items():
        groups, endings = WORD_PARTS[language]
        words = set()
        while len(words) < WORDS_PER_LIST:
            stem = "".join(rng.choice(groups, rng.integers(1, 4)))
            words.add(stem + str(rng.choice(list("bdklmnprt"))) + str(rng.choice(endings)))
        lines = [w.capitalize() if i % 7 == 0 else w for i, w in enumerate(sorted(words))]
        (directory / filename).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def synthetic_fortunes(directory: pathlib.Path, *, per_file: int = 30, seed: int = 0
                       ) -> pathlib.Path:
    """Every file of `jdl.data.FORTUNE_FILES` with `per_file` made-up sentences (3 to 25
    words), entries separated by lines holding only "%", as in Debian's `fortunes`."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for name in FORTUNE_FILES:
        entries = [" ".join(rng.choice(FORTUNE_WORDS, rng.integers(3, 26))).capitalize() + "."
                   for _ in range(per_file)]
        (directory / name).write_text("\n%\n".join(entries) + "\n%\n", encoding="utf-8")
    return directory


@pytest.fixture(scope="session", autouse=True)
def synthetic_data_dir(tmp_path_factory):
    """$JDL_DATA_DIR pointing at a synthetic Fashion-MNIST, word lists and fortunes for the
    whole session (subprocesses started by the tests inherit it)."""
    root = tmp_path_factory.mktemp("jdl-data")
    synthetic_fashion_mnist(root / "fashion-mnist")
    synthetic_word_lists(root / "dict")
    synthetic_fortunes(root / "fortunes")
    old = os.environ.get("JDL_DATA_DIR")
    os.environ["JDL_DATA_DIR"] = str(root)
    yield root
    if old is None:
        os.environ.pop("JDL_DATA_DIR", None)
    else:
        os.environ["JDL_DATA_DIR"] = old
