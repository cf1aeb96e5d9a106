"""Pictures of what a convolutional layer learned and computed: its filters and its feature maps
(Salakhutdinov's layer outputs, Senk's "Visualization of CNNs"; docs/curriculum.md, chapter 8)."""
from __future__ import annotations

import os
from pathlib import Path


from jdl.viz._figure import normalize01, save_figure, show_image, tile_figure, to_numpy


def _positive(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return value


def plot_filters(weights, path: str | os.PathLike, *, title: str = "", columns: int | None = None,
                 max_filters: int = 64, normalize: str = "filter") -> Path:
    """Conv kernels `weights` (kh, kw, c_in, c_out) (e.g. `params["conv1"]["w"]`) as a grid.

    Each filter is min-max scaled to [0, 1] (`normalize="filter"`; `"all"` uses one scale for
    the whole tensor). With c_in == 3 a filter is one RGB tile (first-layer filters of an RGB
    network); with c_in == 1 one grayscale tile; otherwise a row of c_in grayscale tiles per
    filter (at most 16). The first `max_filters` filters are drawn. Returns `path`.
    """
    w = to_numpy(weights, "weights")
    if w.ndim != 4:
        raise ValueError(f"weights: expected conv kernels of shape (kh, kw, c_in, c_out), e.g. "
                         f"params['conv1']['w'], got shape {w.shape}")
    if normalize not in ("filter", "all"):
        raise ValueError(f"normalize: expected 'filter' or 'all', got {normalize!r}")
    w = w[..., :_positive(max_filters, "max_filters")]
    w = normalize01(w, axis=(0, 1, 2) if normalize == "filter" else None)
    c_in, c_out = w.shape[2], w.shape[3]
    if c_in in (1, 3):
        fig, axes = tile_figure(c_out, columns)
        for o, ax in enumerate(axes):
            show_image(ax, w[:, :, :, o], cmap="gray", vmin=0.0, vmax=1.0)
    else:
        shown = min(c_in, 16)
        fig, axes = tile_figure(c_out * shown, shown, tile_inches=0.6)
        for k, ax in enumerate(axes):
            o, c = divmod(k, shown)
            show_image(ax, w[:, :, c, o], cmap="gray", vmin=0.0, vmax=1.0)
            if c == 0:
                ax.set_ylabel(str(o), fontsize=6)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_feature_maps(maps, path: str | os.PathLike, *, title: str = "", columns: int | None = None,
                      max_maps: int = 64, cmap: str = "viridis") -> Path:
    """One image's feature maps (H, W, C) or (1, H, W, C) as a grid of C tiles, each with its
    own colour scale (from `feature_maps`). The first `max_maps` channels are drawn."""
    m = to_numpy(maps, "maps")
    if m.ndim == 4 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 3:
        raise ValueError(f"maps: expected one image's feature maps (H, W, C) or (1, H, W, C), got "
                         f"shape {m.shape}")
    m = m[..., :_positive(max_maps, "max_maps")]
    fig, axes = tile_figure(m.shape[-1], columns)
    for c, ax in enumerate(axes):
        show_image(ax, m[:, :, c], cmap=cmap)
        ax.set_title(str(c), fontsize=7)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)
