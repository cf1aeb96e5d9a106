"""Data augmentation (Senk, "Data Augmentation"; *Engineering Deep Learning*, "Regularization
Strategies: Data Augmentation"): pure, keyed, label-preserving transformations of one NHWC image.

"The easiest and most common method to reduce overfitting on image data is to artificially
enlarge the dataset using supervision-preserving transformations: horizontal reflections,
random crop, changing RGB intensities, image translation" (Senk); "Translation, Flips,
Random cropping, Rotating, Color" and noise (*Engineering Deep Learning*).

Every `random_*` function takes `(key, img, ...)` with ONE image `img: (H, W, C)` and returns an
image of the same shape: a pure function of its key, so it runs under `jit`, and under `vmap`
with one key per example. `augment` / `make_augmentation` do that for a batch `(N, H, W, C)`:

    aug = make_augmentation(partial(random_flip, horizontal=True),
                            partial(random_translate, max_shift=2),
                            partial(random_rotation, max_degrees=10))
    x_aug = aug(key, images)                    # (N, H, W, C), a different draw per example

To train with it, wrap the model: `jdl.nn.augmenting(model, aug)` augments the input with the layer
key when `train=True` and is the model itself otherwise, so `make_train_step`, `fit`,
`evaluate` and checkpoints work unchanged, and each step draws a fresh augmentation.

Geometric functions keep the dtype (uint8 works); photometric ones (brightness, contrast, RGB
intensity, noise) need a floating image (`jdl.data.scale` first) and do not clip: append
`lambda key, img: jnp.clip(img, 0, 1)` to the pipeline if you need the range.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.ndimage import map_coordinates


__all__ = ["random_flip", "random_crop", "translate", "random_translate", "rotate",
           "random_rotation", "random_brightness", "random_contrast", "rgb_pca", "IMAGENET_PCA",
           "random_rgb_intensity", "additive_noise", "ImageFn", "BatchFn"]

ImageFn = Callable[[jax.Array, jax.Array], jax.Array]  # (key, img (H, W, C)) -> img
BatchFn = Callable[[jax.Array, jax.Array], jax.Array]  # (key, images (N, H, W, C)) -> images

#: AlexNet-style lighting PCA of ImageNet RGB pixels scaled to [0, 1]: (eigenvalues (3,),
#: eigenvectors (3, 3) as columns), the values of fb.resnet.torch's `Lighting` transform.
IMAGENET_PCA = (np.array([0.2175, 0.0188, 0.0045], np.float32),
                np.array([[-0.5675, 0.7192, 0.4009],
                          [-0.5808, -0.0045, -0.8140],
                          [-0.5836, -0.6948, 0.4203]], np.float32))


# ---- argument checks ---------------------------------------------------------------------

def _image(fn: str, img: Any, *, floating: bool = False) -> jax.Array:
    img = jnp.asarray(img)
    if img.ndim != 3:
        raise ValueError(f"{fn}: expected one image of shape (height, width, channels), got shape "
                         f"{img.shape}; for a batch (N, H, W, C) use "
                         f"jdl.data.augment(key, images, ...) or jax.vmap")
    if floating and not jnp.issubdtype(img.dtype, jnp.floating):
        raise TypeError(f"{fn}: expected a floating-point image, got dtype {img.dtype}; scale it "
                        f"first, e.g. jdl.data.scale(images)")
    return img


def _number(fn: str, name: str, value: Any, *, low: float = 0.0) -> Any:
    """Check Python numbers (>= low); traced values pass through (vmap over a hyper-parameter)."""
    if isinstance(value, bool) or (isinstance(value, (int, float)) and not value >= low):
        raise ValueError(f"{fn}: expected {name} to be a number >= {low}, got {value!r}")
    if not isinstance(value, (int, float, np.number, jax.Array, np.ndarray)):
        raise TypeError(f"{fn}: expected {name} to be a number, got {type(value).__name__}")
    return value


def _pair(fn: str, name: str, value: Any) -> tuple[int, int]:
    """`2 -> (2, 2)`; `(1, 3)` stays; non-negative Python ints only (they set static shapes)."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                 and v >= 0 for v in pair):
        raise ValueError(f"{fn}: expected {name} to be an int >= 0 or a pair (rows, columns) of "
                         f"them, got {value!r}")
    return int(pair[0]), int(pair[1])


# ---- geometric -----------------------------------------------------------------------------

def random_flip(key: jax.Array, img: jax.Array, horizontal: bool = True, vertical: bool = False,
                p: float = 0.5) -> jax.Array:
    """Mirror the image with probability `p` (Senk, "horizontal reflections";
    *Engineering Deep Learning*, "Flips").

    horizontal: out[i, j] = img[i, W-1-j] (`jnp.flip(img, 1)`); vertical: out[i, j] =
    img[H-1-i, j] (`jnp.flip(img, 0)`). Each enabled flip is an independent Bernoulli(p) draw
    from `split(key)[0]` (horizontal) and `split(key)[1]` (vertical). Shape and dtype kept.
    """
    img = _image("random_flip", img)
    p = _number("random_flip", "p", p)
    if isinstance(p, (int, float)) and p > 1:
        raise ValueError(f"random_flip: expected p (the flip probability) in [0, 1], got {p!r}")
    k_h, k_v = jax.random.split(key)
    if horizontal:
        img = jnp.where(jax.random.bernoulli(k_h, p), jnp.flip(img, 1), img)
    if vertical:
        img = jnp.where(jax.random.bernoulli(k_v, p), jnp.flip(img, 0), img)
    return img


def random_crop(key: jax.Array, img: jax.Array, padding: int | Sequence[int], *,
                mode: str = "constant", fill: float = 0.0) -> jax.Array:
    """Pad by `padding` pixels on each side, then crop a random H x W window (Senk, "random
    crop").

    padded = pad(img, ((ph, ph), (pw, pw), (0, 0)), mode); out = padded[oy:oy+H, ox:ox+W] with
    (oy, ox) = randint(key, (2,), 0, (2ph+1, 2pw+1)). `padding` is an int or (ph, pw);
    `mode` is `jnp.pad`'s ("constant" with `fill`, "edge", "reflect", "symmetric", "wrap").
    padding 0 is the identity. With mode="constant" this is `random_translate(max_shift=padding)`
    (offset o = p - shift); the other modes fill the uncovered border from the image instead.
    """
    img = _image("random_crop", img)
    ph, pw = _pair("random_crop", "padding", padding)
    modes = ("constant", "edge", "reflect", "symmetric", "wrap")
    if mode not in modes:
        raise ValueError(f"random_crop: expected mode in {modes}, got {mode!r}")
    h, w, c = img.shape
    pads = ((ph, ph), (pw, pw), (0, 0))
    padded = (jnp.pad(img, pads, constant_values=jnp.asarray(fill, img.dtype))
              if mode == "constant" else jnp.pad(img, pads, mode=mode))
    offset = jax.random.randint(key, (2,), 0, jnp.array([2 * ph + 1, 2 * pw + 1]))
    return jax.lax.dynamic_slice(padded, (offset[0], offset[1], 0), (h, w, c))


def translate(img: jax.Array, dy: Any, dx: Any, *, fill: float = 0.0) -> jax.Array:
    """Shift the image content by (dy, dx) pixels (down, right); uncovered pixels get `fill`.

    out[i, j] = img[i - dy, j - dx] where 0 <= i - dy < H and 0 <= j - dx < W, else fill.
    `dy`, `dx` are integers and may be traced (any size: a shift >= H gives all `fill`).
    """
    img = _image("translate", img)
    h, w = img.shape[:2]
    rows, cols = jnp.arange(h) - dy, jnp.arange(w) - dx
    valid = ((rows >= 0) & (rows < h))[:, None, None] & ((cols >= 0) & (cols < w))[None, :, None]
    moved = img[jnp.clip(rows, 0, h - 1)][:, jnp.clip(cols, 0, w - 1)]
    return jnp.where(valid, moved, jnp.asarray(fill, img.dtype))


def random_translate(key: jax.Array, img: jax.Array, max_shift: int | Sequence[int], *,
                     fill: float = 0.0) -> jax.Array:
    """`translate(img, dy, dx, fill)` by a random whole-pixel shift (Senk and
    *Engineering Deep Learning*, "translation").

    (dy, dx) = randint(key, (2,), -(my, mx), (my, mx) + 1): uniform over the integers in
    [-my, my] x [-mx, mx]; `max_shift` is an int or (my, mx).
    """
    img = _image("random_translate", img)
    my, mx = _pair("random_translate", "max_shift", max_shift)
    bound = jnp.array([my, mx])
    shift = jax.random.randint(key, (2,), -bound, bound + 1)
    return translate(img, shift[0], shift[1], fill=fill)


def rotate(img: jax.Array, degrees: Any, *, fill: float = 0.0, order: int = 1) -> jax.Array:
    """Rotate the image counter-clockwise by `degrees` about its centre (bilinear for order=1).

    With the centre (cy, cx) = ((H-1)/2, (W-1)/2) and t = degrees * pi / 180, output pixel
    (i, j) samples the input at
        row = cy - (-sin t (j - cx) + cos t (cy - i)),   col = cx + cos t (j - cx) + sin t (cy - i)
    (the output point, in Cartesian coordinates x = j - cx, y = cy - i, rotated back by -t)
    with `jax.scipy.ndimage.map_coordinates(order, mode="constant", cval=fill)`, per channel:
    `scipy.ndimage.rotate(img, degrees, reshape=False, order=1, mode="grid-constant")`. 90
    degrees on a square image is `jnp.rot90(img)`. Integer images are rounded back to their
    dtype; `degrees` may be traced.
    """
    img = _image("rotate", img)
    if order not in (0, 1):
        raise ValueError(f"rotate: expected order 0 (nearest) or 1 (bilinear), got {order!r}")
    h, w = img.shape[:2]
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    t = jnp.deg2rad(jnp.asarray(degrees, jnp.float32))
    cos, sin = jnp.cos(t), jnp.sin(t)
    i, j = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32),
                        indexing="ij")
    x, y = j - cx, cy - i                       # Cartesian, y up
    src_row = cy - (-sin * x + cos * y)         # (x, y) rotated by -t: y' = -sin t x + cos t y
    src_col = cx + (cos * x + sin * y)          #                       x' =  cos t x + sin t y
    work = img if jnp.issubdtype(img.dtype, jnp.floating) else img.astype(jnp.float32)

    def one_channel(channel):
        return map_coordinates(channel, [src_row, src_col], order=order, mode="constant",
                               cval=fill)

    out = jax.vmap(one_channel, in_axes=2, out_axes=2)(work)
    if not jnp.issubdtype(img.dtype, jnp.floating):
        info = jnp.iinfo(img.dtype)
        out = jnp.clip(jnp.round(out), info.min, info.max)
    return out.astype(img.dtype)


def random_rotation(key: jax.Array, img: jax.Array, max_degrees: float, *, fill: float = 0.0,
                    order: int = 1) -> jax.Array:
    """`rotate(img, angle)` with angle ~ Uniform[-max_degrees, max_degrees] drawn from `key`
    (*Engineering Deep Learning*, "Rotating"); bilinear (`map_coordinates`, order=1) by default."""
    img = _image("random_rotation", img)
    max_degrees = _number("random_rotation", "max_degrees", max_degrees)
    angle = jax.random.uniform(key, (), jnp.float32, -max_degrees, max_degrees)
    return rotate(img, angle, fill=fill, order=order)


# ---- photometric --------------------------------------------------------------------------

def random_brightness(key: jax.Array, img: jax.Array, max_delta: float) -> jax.Array:
    """img + delta, one delta ~ Uniform[-max_delta, max_delta] for every pixel and channel
    (`tf.image.random_brightness`; *Engineering Deep Learning*, "Color"). Not clipped."""
    img = _image("random_brightness", img, floating=True)
    max_delta = _number("random_brightness", "max_delta", max_delta)
    delta = jax.random.uniform(key, (), jnp.float32, -max_delta, max_delta)
    return img + delta.astype(img.dtype)


def random_contrast(key: jax.Array, img: jax.Array, lower: float = 0.8, upper: float = 1.2
                    ) -> jax.Array:
    """(img - mean) * f + mean with f ~ Uniform[lower, upper] and `mean` the per-channel mean over
    the image's pixels, shape (1, 1, C) (`tf.image.random_contrast`; *Engineering Deep Learning*,
    "Color"). f < 1 lowers the contrast, f > 1 raises it; each channel's mean is kept. Not
    clipped."""
    fn = "random_contrast"
    img = _image(fn, img, floating=True)
    lower, upper = _number(fn, "lower", lower), _number(fn, "upper", upper)
    if isinstance(lower, (int, float)) and isinstance(upper, (int, float)) and lower > upper:
        raise ValueError(f"{fn}: expected lower <= upper, got lower={lower!r}, upper={upper!r}")
    factor = jax.random.uniform(key, (), jnp.float32, lower, upper).astype(img.dtype)
    mean = jnp.mean(img, axis=(0, 1), keepdims=True)
    return (img - mean) * factor + mean


def rgb_pca(images: Any) -> tuple[np.ndarray, np.ndarray]:
    """The principal components of the pixel colours of a training set (AlexNet section 4.1).

    images: (N, H, W, C) floating (e.g. scaled to [0, 1]). Returns (eigenvalues (C,) in
    decreasing order, eigenvectors (C, C) as columns) of the C x C covariance of all N*H*W
    pixel colour vectors, computed once on the host in float64 (like `standardize`).
    """
    x = np.asarray(images, np.float64)
    if x.ndim != 4:
        raise ValueError(f"rgb_pca: expected images of shape (N, H, W, C), got shape {x.shape}")
    pixels = x.reshape(-1, x.shape[-1])
    cov = np.atleast_2d(np.cov(pixels, rowvar=False))
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1]
    return vals[order].astype(np.float32), vecs[:, order].astype(np.float32)


def random_rgb_intensity(key: jax.Array, img: jax.Array, std: float = 0.1,
                         pca: tuple[Any, Any] | None = None) -> jax.Array:
    """AlexNet's PCA colour augmentation (Senk, "changing RGB intensities"; Krizhevsky et al.
    2012, section 4.1): add to every pixel the same colour vector

        [p_1, ..., p_C] [a_1 l_1, ..., a_C l_C]^T,   a_k ~ N(0, std^2) drawn from `key`,

    where p_k, l_k are the eigenvectors (columns) and eigenvalues of the C x C covariance of the
    training set's pixel colours: `pca = rgb_pca(x_train)`. pca=None uses `IMAGENET_PCA`
    (3 channels, pixels in [0, 1]). For one channel it is a brightness shift a_1 l_1.
    """
    fn = "random_rgb_intensity"
    img = _image(fn, img, floating=True)
    std = _number(fn, "std", std)
    channels = img.shape[-1]
    if pca is None:
        if channels != 3:
            raise ValueError(f"{fn}: expected 3 channels for the default IMAGENET_PCA, got "
                             f"{channels}; pass pca=jdl.data.rgb_pca(x_train)")
        pca = IMAGENET_PCA
    vals, vecs = jnp.asarray(pca[0], jnp.float32), jnp.asarray(pca[1], jnp.float32)
    if vals.shape != (channels,) or vecs.shape != (channels, channels):
        raise ValueError(f"{fn}: expected pca = (eigenvalues ({channels},), eigenvectors "
                         f"({channels}, {channels})), got shapes {vals.shape} and {vecs.shape}")
    alpha = std * jax.random.normal(key, (channels,), jnp.float32)
    shift = (vecs @ (alpha * vals)).astype(img.dtype)   # (C,): one colour for the whole image
    return img + shift.reshape((1,) * (img.ndim - 1) + (channels,))


def additive_noise(key: jax.Array, img: jax.Array, std: float) -> jax.Array:
    """img + std * N(0, 1), independent per pixel and channel (*Engineering Deep Learning*, "Noise
    Robustness", here on the inputs; `jdl.regularizers.noisy_apply` puts it on the weights). Not
    clipped."""
    img = _image("additive_noise", img, floating=True)
    std = _number("additive_noise", "std", std)
    return img + (std * jax.random.normal(key, img.shape, jnp.float32)).astype(img.dtype)
