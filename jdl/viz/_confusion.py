"""A confusion matrix as a picture (from `jdl.metrics.confusion_matrix`; docs/curriculum.md,
chapters 2 and 8)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from jdl.viz._figure import pyplot, save_figure, to_numpy


def normalized_confusion(m: np.ndarray, normalize: str | None) -> np.ndarray:
    """M / row sums ("true"), / column sums ("pred"), / total ("all"), or M (None); x / 0 = 0."""
    if normalize is None:
        return m
    total = {"true": m.sum(axis=1, keepdims=True), "pred": m.sum(axis=0, keepdims=True),
             "all": np.sum(m, keepdims=True)}[normalize]
    return np.divide(m, total, out=np.zeros_like(m), where=total != 0)


def plot_confusion_matrix(matrix, path: str | os.PathLike, *, class_names: Sequence[str] | None = None,
                          normalize: str | None = None, title: str = "", cmap: str = "Blues",
                          annotate: bool | None = None) -> Path:
    """M[i, j] = examples of true class i predicted as j (rows true, columns predicted).

    `normalize` as scikit-learn: None (counts), "true" (each row sums to 1: recall on the
    diagonal), "pred" (each column sums to 1: precision) or "all"; an empty row / column stays
    0. `annotate` writes the values in the cells (default when K <= 20).
    """
    m = to_numpy(matrix, "matrix")
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise ValueError(f"matrix: expected a square (K, K) confusion matrix, got shape {m.shape}")
    k = m.shape[0]
    if class_names is not None and len(class_names) != k:
        raise ValueError(f"class_names: expected {k} names (one per class), got {len(class_names)}")
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"normalize: expected None, 'true', 'pred' or 'all', got {normalize!r}")
    m = normalized_confusion(m, normalize)
    names = [str(n) for n in class_names] if class_names is not None else [str(i) for i in range(k)]
    plt = pyplot()
    size = 1.5 + 0.45 * k
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    shown = ax.imshow(m, cmap=cmap, interpolation="nearest",
                      vmin=0.0, vmax=1.0 if normalize is not None else None)
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if annotate if annotate is not None else k <= 20:
        integer = normalize is None and np.all(m == np.round(m))
        threshold = (m.max() + m.min()) / 2
        for i in range(k):
            for j in range(k):
                text = f"{int(m[i, j])}" if integer else f"{m[i, j]:.2f}"
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="white" if m[i, j] > threshold else "black")
    if title:
        ax.set_title(title)
    return save_figure(fig, path)
