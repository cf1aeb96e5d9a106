"""Pictures of images: grids (class models, style transfer results, samples) and saliency maps
next to their images (Senk's "Visualization of CNNs" and style transfer;
docs/curriculum.md, chapter 8)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from jdl.viz._figure import pyplot, normalize01, save_figure, show_image, tile_figure, to_numpy


def _image_list(images, name: str) -> list[np.ndarray]:
    """A 4-D (B, H, W, C) / 3-D (B, H, W) array or a sequence of (H, W[, C]) arrays -> list."""
    if isinstance(images, (list, tuple)):
        out = [to_numpy(im, f"{name}[{i}]") for i, im in enumerate(images)]
        batch = False
    else:
        arr = to_numpy(images, name)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim not in (3, 4):
            raise ValueError(f"{name}: expected a batch (B, H, W, C) or (B, H, W), or a list of "
                             f"images, got shape {arr.shape}")
        out, batch = list(arr), True
    for i, im in enumerate(out):
        if not (im.ndim == 2 or (im.ndim == 3 and im.shape[-1] in (1, 3))):
            where = f"{name} (batch)" if batch else f"{name}[{i}]"
            raise ValueError(f"{where}: expected an image (H, W), (H, W, 1) or (H, W, 3), got "
                             f"shape {im.shape}")
    if not out:
        raise ValueError(f"{name}: expected at least one image, got none")
    return out


def _display(image: np.ndarray, normalize: bool) -> np.ndarray:
    return normalize01(image) if normalize else np.clip(image, 0.0, 1.0)


def plot_images(images, path: str | os.PathLike, *, titles: Sequence[str] | None = None,
                title: str = "", columns: int | None = None, normalize: bool = True,
                cmap: str = "gray") -> Path:
    """Images side by side: class models, style transfer results (content, style, output), samples.

    `images` is a batch (B, H, W, C) with C in {1, 3} or (B, H, W), or a list of (H, W[, C])
    images of any sizes. With `normalize` each image is min-max scaled to [0, 1] (inputs are
    often standardized); otherwise values are clipped to [0, 1]. `titles`: one per image;
    `columns` defaults to one row for up to 5 images, a near-square grid beyond.
    """
    ims = _image_list(images, "images")
    if titles is not None and len(titles) != len(ims):
        raise ValueError(f"titles: expected one title per image ({len(ims)}), got {len(titles)}")
    if columns is None and len(ims) <= 5:
        columns = len(ims)  # a few images: one row
    fig, axes = tile_figure(len(ims), columns, tile_inches=2.0)
    for i, (ax, im) in enumerate(zip(axes, ims)):
        show_image(ax, _display(im, normalize), cmap=cmap, vmin=0.0, vmax=1.0)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_saliency(image, saliency, path: str | os.PathLike, *, title: str = "",
                  cmap: str = "hot") -> Path:
    """Each image (min-max scaled) next to its saliency map (from `saliency`), one row per image.

    `image` (H, W, C) / (H, W) with `saliency` (H, W), or a batch (B, H, W, C) with (B, H, W).
    """
    sal = to_numpy(saliency, "saliency")
    img = to_numpy(image, "image")
    if sal.ndim == 2:
        sal, img = sal[None], img[None]
    if sal.ndim != 3:
        raise ValueError(f"saliency: expected (H, W) or a batch (B, H, W), got shape {sal.shape}")
    if img.ndim == 3 and img.shape[0] == sal.shape[0] and img.shape[1:] == sal.shape[1:]:
        img = img[..., None]  # a batch of grayscale (B, H, W) images
    if img.ndim != 4 or img.shape[:3] != sal.shape or img.shape[-1] not in (1, 3):
        raise ValueError(f"image: expected shape {sal.shape[1:]} + (C,) with C in (1, 3) per "
                         f"saliency map {sal.shape[1:]} (batch {sal.shape[0]}), got "
                         f"{to_numpy(image, 'image').shape}")
    plt = pyplot()
    n = sal.shape[0]
    fig, axes = plt.subplots(n, 2, figsize=(4.4, 2.2 * n + 0.3), squeeze=False)
    for b in range(n):
        show_image(axes[b, 0], normalize01(img[b]), vmin=0.0, vmax=1.0)
        show_image(axes[b, 1], sal[b], cmap=cmap)
        for ax in axes[b]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_title("image", fontsize=9)
    axes[0, 1].set_title("saliency", fontsize=9)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)
