"""Figures as PNG files: matplotlib (Agg backend, imported on first use) and atomic writes.

Every plot function of `jdl.viz` builds a figure, hands it to `save_figure`, and returns the
path; nothing opens a window. The helpers here turn arrays into displayable tiles.
"""
from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np

from jdl.io import atomic_write


def pyplot():
    """`matplotlib.pyplot`, imported on first use with the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 120) -> Path:
    """Render `fig` to PNG in memory, then write it atomically to `path` and close the figure."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        pyplot().close(fig)
    with atomic_write(path) as f:
        f.write(buffer.getvalue())
    return Path(path)


def to_numpy(x, name: str) -> np.ndarray:
    """`x` as a float64 numpy array, or a ValueError naming the argument."""
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: expected a numeric array, got {type(x).__name__} ({e})") from None


def normalize01(x: np.ndarray, axis=None) -> np.ndarray:
    """Min-max scale to [0, 1] over `axis` (all axes by default); a constant block becomes 0.5."""
    lo = np.min(x, axis=axis, keepdims=True)
    hi = np.max(x, axis=axis, keepdims=True)
    span = hi - lo
    safe = np.where(span > 0, span, 1.0)
    return np.where(span > 0, (x - lo) / safe, 0.5)


def grid_shape(n: int, columns: int | None) -> tuple[int, int]:
    """(rows, columns) for `n` tiles: `columns` if given, else a near-square grid."""
    if columns is not None and (not isinstance(columns, int) or columns < 1):
        raise ValueError(f"columns: expected a positive int or None, got {columns!r}")
    cols = columns or max(1, math.ceil(math.sqrt(n)))
    cols = min(cols, max(n, 1))
    return max(1, math.ceil(n / cols)), cols


def tile_figure(n: int, columns: int | None, tile_inches: float = 1.2):
    """A figure with a grid of `n` axes without ticks (extra axes hidden): (fig, [axes])."""
    rows, cols = grid_shape(n, columns)
    plt = pyplot()
    fig, axes = plt.subplots(rows, cols, figsize=(tile_inches * cols + 0.4, tile_inches * rows + 0.4),
                             squeeze=False)
    flat = list(axes.ravel())
    for ax in flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def show_image(ax, image: np.ndarray, cmap: str = "gray", vmin: float | None = None,
               vmax: float | None = None) -> None:
    """Draw (H, W) or (H, W, 1) with `cmap` (auto-scaled unless vmin/vmax), (H, W, 3) as RGB in [0, 1]."""
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    else:
        ax.imshow(np.clip(image, 0.0, 1.0), interpolation="nearest")
