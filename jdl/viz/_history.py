"""Learning curves (docs/curriculum.md, chapter 5): one panel per metric, train and validation."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

from jdl.viz._figure import pyplot, save_figure


def plot_history(history: Mapping[str, Sequence[float]], path: str | os.PathLike, *,
                 title: str = "", metrics: Sequence[str] | None = None) -> Path:
    """Learning curves: one panel per metric, train and `val_` curves against the epoch.

    `history` is what `jdl.train.fit` returns (`{"loss": [...], "val_loss": [...], ...}`);
    `metrics` picks the panels (default: every train metric except timings).
    """
    names = list(metrics) if metrics is not None else [
        k for k in history if not k.startswith("val_") and k != "epoch_time"]
    if not names:
        raise ValueError(f"history: expected at least one metric to plot, got keys {sorted(history)}")
    plt = pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        for key, label in ((name, "train"), (f"val_{name}", "validation")):
            if key in history:
                values = history[key]
                ax.plot(range(1, len(values) + 1), values, marker="o", ms=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)
