"""Datasets on local disk: Fashion-MNIST, MNIST (IDX files) and scikit-learn's bundled digits.

`load(name)` returns {"train": (x, y), "test": (x, y)} with x uint8 images, NHWC (N, H, W, 1),
and y int32 labels in 0..9. Nothing is ever downloaded (docs/curriculum.md, chapter 5;
Loo's MNIST train / validation / test protocol splits "train" further with `jdl.data.split`).

Where the IDX sets are looked for, in order (the first directory holding all four files wins):

1. `data_dir` and `data_dir/<dir>`, when `data_dir` is given (then nothing else is searched);
2. `$JDL_DATA_DIR/<dir>` and `$JDL_DATA_DIR`;
3. `/usr/share/datasets/<dir>` (Debian's `dataset-fashion-mnist` package installs there),

where <dir> is "fashion-mnist" (also "fashion_mnist") or "mnist". Each file may be gzipped
("train-images-idx3-ubyte.gz") or not ("train-images-idx3-ubyte", also "train-images.idx3-ubyte").
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from jdl.data._idx import read_idx

__all__ = ["load", "available", "find", "CLASS_NAMES", "DATASETS", "SYSTEM_DATA_DIR"]

#: Where distribution packages put datasets (Debian: dataset-fashion-mnist).
SYSTEM_DATA_DIR = Path("/usr/share/datasets")

_DIGITS = tuple(str(i) for i in range(10))
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    "mnist": _DIGITS,
    "digits": _DIGITS,
}
DATASETS: tuple[str, ...] = tuple(CLASS_NAMES)
_ALIASES = {"fashion-mnist": "fashion_mnist", "fashionmnist": "fashion_mnist"}
_DIRS = {"fashion_mnist": ("fashion-mnist", "fashion_mnist"), "mnist": ("mnist",)}
# (split, part) -> file stem, as published by LeCun et al. and Zalando.
_STEMS = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
_INSTALL_HINT = {
    "fashion_mnist": "install it with `apt-get install dataset-fashion-mnist`, or put the four files "
                     "in $JDL_DATA_DIR/fashion-mnist",
    "mnist": "put the four files in $JDL_DATA_DIR/mnist",
}
DIGITS_TEST_SIZE = 300
DIGITS_SEED = 0


def _canonical(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a str, one of {sorted(CLASS_NAMES)}, got {type(name).__name__}")
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in CLASS_NAMES:
        raise ValueError(f"`name` must be one of {sorted(CLASS_NAMES) + sorted(_ALIASES)}, got {name!r}")
    return key


def _candidates(name: str, data_dir: str | os.PathLike | None) -> list[Path]:
    """Directories searched for an IDX dataset, in order, without duplicates."""
    subdirs = _DIRS[name]
    if data_dir is not None:
        roots = [Path(data_dir)] + [Path(data_dir) / d for d in subdirs]
    else:
        roots = []
        env = os.environ.get("JDL_DATA_DIR")
        if env:
            roots += [Path(env) / d for d in subdirs] + [Path(env)]
        roots += [SYSTEM_DATA_DIR / d for d in subdirs]
    return list(dict.fromkeys(roots))


def _file(directory: Path, stem: str) -> Path | None:
    dotted = stem.replace("-idx", ".idx")
    for fname in (stem + ".gz", stem, dotted + ".gz", dotted):
        if (directory / fname).is_file():
            return directory / fname
    return None


def _files(directory: Path) -> dict[tuple[str, str], Path | None]:
    return {key: _file(directory, stem) for key, stem in _STEMS.items()}


def find(name: str, *, data_dir: str | os.PathLike | None = None) -> Path | None:
    """The directory holding dataset `name` (for "digits": scikit-learn's bundled file), or None."""
    name = _canonical(name)
    if name == "digits":
        try:
            import sklearn.datasets
        except ImportError:
            return None
        path = Path(sklearn.datasets.__file__).parent / "data" / "digits.csv.gz"
        return path if path.is_file() else None
    for directory in _candidates(name, data_dir):
        if all(_files(directory).values()):
            return directory
    return None


def available(name: str, *, data_dir: str | os.PathLike | None = None) -> bool:
    """True when `load(name, data_dir=data_dir)` finds its files."""
    return find(name, data_dir=data_dir) is not None


def _not_found(name: str, data_dir: str | os.PathLike | None) -> FileNotFoundError:
    lines = []
    for directory in _candidates(name, data_dir):
        if not directory.is_dir():
            lines.append(f"  {directory} (no such directory)")
            continue
        missing = [stem for key, stem in _STEMS.items() if _files(directory)[key] is None]
        lines.append(f"  {directory} (missing {', '.join(missing)})")
    if data_dir is None and not os.environ.get("JDL_DATA_DIR"):
        lines.append("  ($JDL_DATA_DIR is not set)")
    wanted = ", ".join(f"{s}[.gz]" for s in _STEMS.values())
    return FileNotFoundError(
        f"dataset {name!r} not found; searched:\n" + "\n".join(lines)
        + f"\nexpected the four IDX files {wanted}. To fix: {_INSTALL_HINT[name]}"
        + " (or pass data_dir=). jdl never downloads data."
    )


def _load_idx_split(directory: Path, split: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    files = _files(directory)
    images_path, labels_path = files[(split, "images")], files[(split, "labels")]
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"{images_path}: expected uint8 images of shape (N, H, W), "
                         f"got {images.dtype} of shape {images.shape}")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"{labels_path}: expected integer labels of shape (N,), "
                         f"got {labels.dtype} of shape {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{directory}: {split} images and labels disagree in length: "
                         f"{len(images)} images in {images_path.name}, {len(labels)} labels in {labels_path.name}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{labels_path}: expected labels in 0..{num_classes - 1}, "
                         f"got values in {labels.min()}..{labels.max()}")
    return images[..., None], labels.astype(np.int32)


def _load_digits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """sklearn's 1797 8x8 digits (values 0..16) as uint8 0..255 (x * 255 // 16), split 1497 / 300.

    The split is stratified and fixed: a `np.random.default_rng(DIGITS_SEED)` permutation per class,
    class k giving round(300 * n_k / N) test images (largest remainders make the total exactly 300);
    both parts keep the original order.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.int64) * 255 // 16).astype(np.uint8)[..., None]
    y = bunch.target.astype(np.int32)
    classes, counts = np.unique(y, return_counts=True)
    quota = DIGITS_TEST_SIZE * counts / len(y)
    take = np.floor(quota).astype(int)
    order = np.argsort(-(quota - take), kind="stable")
    take[order[: DIGITS_TEST_SIZE - take.sum()]] += 1
    rng = np.random.default_rng(DIGITS_SEED)
    is_test = np.zeros(len(y), dtype=bool)
    for k, n_test in zip(classes, take):
        members = np.flatnonzero(y == k)
        is_test[rng.permutation(members)[:n_test]] = True
    return {"train": (x[~is_test], y[~is_test]), "test": (x[is_test], y[is_test])}


def load(name: str, *, data_dir: str | os.PathLike | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Load dataset `name` from disk: {"train": (x, y), "test": (x, y)}.

    x: uint8 (N, H, W, 1), NHWC; y: int32 (N,) in 0..9. "fashion_mnist" (alias "fashion-mnist")
    and "mnist": 60000 / 10000 images of 28x28, searched as the module docstring says, else
    `FileNotFoundError` listing every directory searched. "digits": scikit-learn's 8x8 digits,
    1497 train / 300 test, a fixed stratified split.
    """
    name = _canonical(name)
    if name == "digits":
        return _load_digits()
    directory = find(name, data_dir=data_dir)
    if directory is None:
        raise _not_found(name, data_dir)
    num_classes = len(CLASS_NAMES[name])
    return {split: _load_idx_split(directory, split, num_classes) for split in ("train", "test")}
