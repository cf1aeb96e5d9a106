"""k-fold cross-validation splits: every example is in exactly one validation fold (the
lectures' "choosing architecture: cross validation"; Salakhutdinov, Deep Learning Essentials).

    folds = kfold(len(x), 5, seed=0)                    # 5 arrays of validation rows
    folds = kfold(y, 5, seed=0, stratify=True)          # each fold keeps the class proportions
    rows = fold_rows(folds, seed=0)                     # equal-shaped rows for a population

The splits come from scikit-learn's `KFold` / `StratifiedKFold` (shuffled, seeded): they are
well kept and well known, so jdl only converts the seed and checks the arguments. What no
library does is `fold_rows`: the k training sets as arrays of one shape, so that the k
fold-models train as one vmapped population (`train.fit_population(..., member_rows=rows)`).
"""
from __future__ import annotations

import numbers
from typing import Any, NamedTuple, Sequence

import numpy as np

from jdl.data._splits import Seed, _generator

__all__ = ["kfold", "fold_rows", "FoldRows"]


def _int_seed(seed: Seed, who: str) -> int:
    return int(_generator(seed, who).integers(2**31 - 1))


def kfold(labels_or_n: int | Any, k: int, *, seed: Seed, stratify: bool = False
          ) -> list[np.ndarray]:
    """The k validation folds of `n` examples: k sorted int arrays that partition `range(n)`.

    Args:
      labels_or_n: the number of examples, or the labels `(n,)` (needed with `stratify`).
      k: the number of folds, 2 <= k <= n.
      seed: an int, ints, a NumPy Generator or a JAX key; the same seed gives the same folds.
      stratify: keep each class's share in every fold (scikit-learn's StratifiedKFold); every
        class needs at least k examples.

    Fold sizes differ by at most one (n = k q + r: r folds of q + 1, the others of q).
    """
    if isinstance(labels_or_n, numbers.Integral) and not isinstance(labels_or_n, bool):
        n, labels = int(labels_or_n), None
    else:
        labels = np.asarray(labels_or_n)
        if labels.ndim != 1:
            raise ValueError(f"labels_or_n: expected an example count or labels of shape (n,), "
                             f"got an array of shape {labels.shape}")
        n = len(labels)
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or not 2 <= k <= n:
        raise ValueError(f"k: expected an int from 2 to the {n} examples, got {k!r}")
    from sklearn.model_selection import KFold, StratifiedKFold

    random_state = _int_seed(seed, "kfold")
    if stratify:
        if labels is None:
            raise ValueError("labels_or_n: stratify=True needs the labels, got an example count")
        values, counts = np.unique(labels, return_counts=True)
        if counts.min() < k:
            raise ValueError(f"labels_or_n: stratify=True needs at least k={k} examples of every "
                             f"class, got {int(counts.min())} of class {values[counts.argmin()].item()!r}")
        splitter = StratifiedKFold(k, shuffle=True, random_state=random_state)
        splits = splitter.split(np.zeros((n, 1)), labels)
    else:
        splits = KFold(k, shuffle=True, random_state=random_state).split(np.zeros((n, 1)))
    return [np.sort(val).astype(np.int32) for _, val in splits]


class FoldRows(NamedTuple):
    """The rows of each fold-model, one row of each array per fold (member).

    Attributes:
      train: `(k, m)` int32: the training rows of each fold-model (all rows outside its fold;
        see `fold_rows` for when one is left out).
      val: `(k, v)` int32: the validation rows (the fold), padded to the longest fold by
        repeating its first row.
      val_weights: `(k, v)` float32: 1 for a real validation row, 0 for padding.
    """

    train: np.ndarray
    val: np.ndarray
    val_weights: np.ndarray


def fold_rows(folds: Sequence[np.ndarray], *, seed: Seed) -> FoldRows:
    """Equal-shaped training and validation rows for the k fold-models of `folds`.

    One compiled program can only train members whose data have one shape. When the folds
    differ in size (n not a multiple of k), the training sets of the members with a shorter
    fold are one row longer than the others: each of those members leaves out one of its
    training rows, drawn from `seed`, so that every training set has m = n - max fold size
    rows. That row is still validated (it is in its own fold); a lone run on `train[i]`
    reproduces member i exactly. Validation folds are padded with weight 0.
    """
    folds = [np.asarray(f, np.int64) for f in folds]
    if len(folds) < 2 or any(f.ndim != 1 or len(f) == 0 for f in folds):
        raise ValueError(f"folds: expected at least 2 non-empty 1-D index arrays, got "
                         f"{[np.shape(f) for f in folds]}")
    everything = np.concatenate(folds)
    n = len(everything)
    if not np.array_equal(np.sort(everything), np.arange(n)):
        raise ValueError(f"folds: expected a partition of range({n}) (every row in exactly one "
                         f"fold), got repeated or missing rows")
    longest = max(len(f) for f in folds)
    rng = _generator(seed, "fold_rows")
    train, val, weights = [], [], []
    for fold in folds:
        rest = np.setdiff1d(np.arange(n), fold)
        if len(rest) > n - longest:
            rest = np.delete(rest, rng.choice(len(rest), len(rest) - (n - longest), replace=False))
        train.append(rest)
        pad = longest - len(fold)
        val.append(np.concatenate([fold, np.full(pad, fold[0])]))
        weights.append(np.concatenate([np.ones(len(fold)), np.zeros(pad)]))
    return FoldRows(np.stack(train).astype(np.int32), np.stack(val).astype(np.int32),
                    np.stack(weights).astype(np.float32))
