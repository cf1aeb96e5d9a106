"""Pictures of autoencoders and generative models (*Engineering Deep Learning*, "Autoencoders":
"Encoder: Performs dimensionality reduction and creates a latent space." / "Decoder:
Reconstructs the input using the latent space."; docs/curriculum.md, chapter 9).

Each function builds a matplotlib Figure and returns it; with `path` it also writes the PNG
(`save_figure`, which closes the figure: the returned Figure can still be saved again).
Images are a batch (B, H, W[, C]) or flattened (B, H*W) rows with `image_shape` given.
"""
from __future__ import annotations

import math
import os
from typing import Callable, Sequence

import numpy as np

from jdl.viz._figure import pyplot, save_figure, show_image, tile_figure, to_numpy


def _batch(images, name: str, image_shape: Sequence[int] | None) -> np.ndarray:
    """`images` as a float array (B, H, W) or (B, H, W, C) with C in (1, 3)."""
    arr = to_numpy(images, name)
    if image_shape is not None:
        shape = tuple(int(d) for d in image_shape)
        if arr.ndim < 1 or arr[0].size != math.prod(shape):
            raise ValueError(f"{name}: expected images of {math.prod(shape)} values each for "
                             f"image_shape {shape}, got shape {arr.shape}")
        arr = arr.reshape((len(arr), *shape))
    if arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if not (arr.ndim == 3 or (arr.ndim == 4 and arr.shape[-1] == 3)) or len(arr) == 0:
        raise ValueError(f"{name}: expected a non-empty batch (B, H, W), (B, H, W, 1), (B, H, W, "
                         f"3), or flattened rows with image_shape, got shape {arr.shape}")
    return arr


def _finish(fig, path, title: str):
    if title:
        fig.suptitle(title)
    if path is not None:
        save_figure(fig, path)
    return fig


def _clip(image: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    return np.clip((image - vmin) / (vmax - vmin), 0.0, 1.0)


def sample_grid(images, path: str | os.PathLike | None = None, *, columns: int | None = None,
                title: str = "", image_shape: Sequence[int] | None = None,
                vmin: float = 0.0, vmax: float = 1.0, cmap: str = "gray"):
    """A grid of images (samples of a generator or a VAE, training images): a Figure.

    Values are shown on the fixed range [vmin, vmax] (clipped), so grids are comparable.
    """
    ims = _batch(images, "images", image_shape)
    fig, axes = tile_figure(len(ims), columns, tile_inches=1.0)
    for ax, im in zip(axes, ims):
        show_image(ax, _clip(im, vmin, vmax), cmap=cmap, vmin=0.0, vmax=1.0)
    return _finish(fig, path, title)


def _rows_figure(rows: list[np.ndarray], labels: Sequence[str], path, title: str,
                 vmin: float, vmax: float, cmap: str):
    """One row of images per entry of `rows` (same length), the label left of each row."""
    plt = pyplot()
    n = len(rows[0])
    fig, axes = plt.subplots(len(rows), n, figsize=(1.0 * n + 1.0, 1.1 * len(rows) + 0.4),
                             squeeze=False)
    for r, (row, label) in enumerate(zip(rows, labels)):
        for c in range(n):
            ax = axes[r, c]
            show_image(ax, _clip(row[c], vmin, vmax), cmap=cmap, vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize=9)
    return _finish(fig, path, title)


def _same_length(arrays: dict[str, np.ndarray]) -> None:
    shapes = {name: a.shape for name, a in arrays.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError("expected images of the same shape and number, got "
                         + ", ".join(f"{k} {v}" for k, v in shapes.items()))


def reconstruction_pairs(originals, reconstructions, path: str | os.PathLike | None = None, *,
                         labels: Sequence[str] = ("original", "reconstruction"),
                         title: str = "", image_shape: Sequence[int] | None = None,
                         vmin: float = 0.0, vmax: float = 1.0, cmap: str = "gray"):
    """Originals (top row) above their reconstructions (bottom row).

    `reconstructions` may also be a dict {name: images} (e.g. PCA, linear AE, deep AE): one row
    per entry under the originals, labelled by its name.
    """
    orig = _batch(originals, "originals", image_shape)
    recs = reconstructions if isinstance(reconstructions, dict) else {labels[1]: reconstructions}
    rows = {labels[0]: orig}
    rows.update({str(k): _batch(v, f"reconstructions[{k!r}]", image_shape)
                 for k, v in recs.items()})
    _same_length(rows)
    return _rows_figure(list(rows.values()), list(rows), path, title, vmin, vmax, cmap)


def denoising_triplets(clean, noisy, denoised, path: str | os.PathLike | None = None, *,
                       title: str = "", image_shape: Sequence[int] | None = None,
                       vmin: float = 0.0, vmax: float = 1.0, cmap: str = "gray"):
    """Three rows: clean images, their corrupted copies, the model's denoised outputs."""
    rows = {"clean": _batch(clean, "clean", image_shape),
            "noisy": _batch(noisy, "noisy", image_shape),
            "denoised": _batch(denoised, "denoised", image_shape)}
    _same_length(rows)
    return _rows_figure(list(rows.values()), list(rows), path, title, vmin, vmax, cmap)


def latent_interpolation(decode_fn: Callable, z_a, z_b, steps: int = 8,
                         path: str | os.PathLike | None = None, *, title: str = "",
                         image_shape: Sequence[int] | None = None, vmin: float = 0.0,
                         vmax: float = 1.0, cmap: str = "gray"):
    """Decode the straight line z(t) = (1 - t) z_a + t z_b, t = 0 .. 1 in `steps` points, one
    image per point (a row). `decode_fn` maps a batch of codes (steps, d) to images."""
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps: expected an int >= 2, got {steps!r}")
    za, zb = to_numpy(z_a, "z_a").ravel(), to_numpy(z_b, "z_b").ravel()
    if za.shape != zb.shape:
        raise ValueError(f"z_a, z_b: expected codes of the same size, got {za.shape} and "
                         f"{zb.shape}")
    t = np.linspace(0.0, 1.0, steps)[:, None]
    codes = ((1.0 - t) * za + t * zb).astype(np.float32)
    ims = _batch(decode_fn(codes), "decode_fn(codes)", image_shape)
    if len(ims) != steps:
        raise ValueError(f"decode_fn: expected {steps} images for {steps} codes, got {len(ims)}")
    fig = _rows_figure([ims], ["decoded"], None, "", vmin, vmax, cmap)
    for ax, ti in zip(fig.axes, t[:, 0]):
        ax.set_title(f"t={ti:.2f}", fontsize=8)
    return _finish(fig, path, title)


def latent_scatter(codes_2d, labels, path: str | os.PathLike | None = None, *,
                   class_names: Sequence[str] | None = None, title: str = "",
                   point_size: float = 4.0, cmap: str = "tab10"):
    """A scatter plot of 2-D codes (a 2-d latent space, or the first two PCA components of
    one) coloured by label, with a legend (class names when given)."""
    codes = to_numpy(codes_2d, "codes_2d")
    labels = np.asarray(labels).ravel()
    if codes.ndim != 2 or codes.shape[1] != 2 or len(codes) != len(labels):
        raise ValueError(f"codes_2d, labels: expected shapes (n, 2) and (n,), got {codes.shape} "
                         f"and {labels.shape}")
    classes = np.unique(labels)
    if class_names is not None and len(classes) and int(classes.max()) >= len(class_names):
        raise ValueError(f"class_names: expected a name for every label up to {classes.max()}, "
                         f"got {len(class_names)} names")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 5.0))
    colours = plt.get_cmap(cmap)
    for i, c in enumerate(classes):
        name = class_names[int(c)] if class_names is not None else str(c)
        pts = codes[labels == c]
        ax.scatter(pts[:, 0], pts[:, 1], s=point_size, color=colours(i % colours.N), label=name)
    ax.set(xlabel="z1", ylabel="z2")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, markerscale=3, loc="best")
    return _finish(fig, path, title)
