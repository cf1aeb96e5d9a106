"""Neural style transfer (Gatys, Ecker & Bethge 2016, "Image style transfer using convolutional
neural networks"; Senk's "Neural Style Transfer", Salakhutdinov;
docs/curriculum.md, chapter 8).

An image is optimized so that its features at one layer match a content image's (content loss)
and the Gram matrices of its features at several layers match a style image's (style loss).
Any jdl model and layer paths work. Gatys et al. use an ImageNet-trained VGG-19; no pretrained
ImageNet weights are available offline here, so the tests and experiments use small randomly
initialized or locally trained CNNs (random conv features still carry texture statistics).
"""
from __future__ import annotations

from typing import Sequence

import jax.numpy as jnp
import optax
from jax import Array

from jdl import nn
from jdl.viz._inputs import image_batch
from jdl.viz._optimize import check_clip, check_steps, optimize_image


def gram_matrix(features) -> Array:
    """G[b, c, d] = (1 / (H W)) sum_{i, j} F[b, i, j, c] F[b, i, j, d]  (Gatys et al. eq. 3 / M).

    (B, H, W, C) -> (B, C, C); also (H, W, C) -> (C, C). Normalized by the number of positions
    M = H W, so images of different sizes give comparable Gram matrices.
    """
    features = jnp.asarray(features)
    if features.ndim not in (3, 4):
        raise ValueError(f"features: expected feature maps (B, H, W, C) or (H, W, C), got shape "
                         f"{tuple(features.shape)}")
    h, w = features.shape[-3:-1]
    return jnp.einsum("...ijc,...ijd->...cd", features, features) / (h * w)


def content_loss(features, target) -> Array:
    """L_content[b] = 1/2 sum_{i, j, c} (F[b, i, j, c] - P[b, i, j, c])^2  (Gatys et al. eq. 1).

    `features` (B, ...) of the generated image and `target` P of the content image, same shape
    or with a batch of 1; returns one value per example, (B,).
    """
    features, target = jnp.asarray(features), jnp.asarray(target)
    if (features.ndim < 2 or target.shape[1:] != features.shape[1:]
            or target.shape[0] not in (1, features.shape[0])):
        raise ValueError(f"target: expected shape {tuple(features.shape)} or "
                         f"{(1,) + tuple(features.shape[1:])} (the features' shape), got "
                         f"{tuple(target.shape)}")
    diff = features - target
    return 0.5 * jnp.sum(jnp.square(diff), axis=tuple(range(1, diff.ndim)))


def style_loss(features: Sequence, targets: Sequence, weights: Sequence[float] | None = None) -> Array:
    """L_style[b] = sum_l w_l / (4 C_l^2) sum_{c, d} (G_l[b, c, d] - A_l[c, d])^2  (Gatys eq. 4-5).

    `features[l]` are the generated image's maps (B, H_l, W_l, C_l) at layer l, `targets[l]`
    the style image's Gram matrices A_l, (1 or B, C_l, C_l) from `gram_matrix`; `weights` w_l
    default to 1 / L (the paper's choice). With Grams normalized by M_l = H_l W_l this is the
    paper's E_l = 1 / (4 N_l^2 M_l^2) sum (G - A)^2 exactly. Returns (B,).
    """
    features, targets = list(features), list(targets)
    if len(targets) != len(features):
        raise ValueError(f"targets: expected one Gram matrix per feature map ({len(features)}), "
                         f"got {len(targets)}")
    if not features:
        raise ValueError("features: expected at least one layer's feature maps, got none")
    weights = [1.0 / len(features)] * len(features) if weights is None else list(weights)
    if len(weights) != len(features):
        raise ValueError(f"weights: expected one weight per layer ({len(features)}), got {len(weights)}")
    total = 0.0
    for l, (f, a, w) in enumerate(zip(features, targets, weights)):
        g = gram_matrix(f)
        a = jnp.asarray(a)
        c = g.shape[-1]
        if a.shape[-2:] != (c, c) or a.ndim != g.ndim or a.shape[0] not in (1, g.shape[0]):
            raise ValueError(f"targets[{l}]: expected a Gram matrix of shape (1, {c}, {c}) or "
                             f"{tuple(g.shape)}, got {tuple(a.shape)}")
        total = total + w / (4.0 * c * c) * jnp.sum(jnp.square(g - a), axis=(-2, -1))
    return total


def total_variation(images) -> Array:
    """TV[b] = sum_{i,j,c} (x[b,i+1,j,c] - x[b,i,j,c])^2 + (x[b,i,j+1,c] - x[b,i,j,c])^2.

    The squared total variation (a smoothness prior, Mahendran & Vedaldi 2015) often added to
    the style transfer loss. (B, H, W, C) -> (B,).
    """
    x = jnp.asarray(images)
    if x.ndim != 4:
        raise ValueError(f"images: expected (B, H, W, C), got shape {tuple(x.shape)}")
    dh = jnp.sum(jnp.square(x[:, 1:] - x[:, :-1]), axis=(1, 2, 3))
    dw = jnp.sum(jnp.square(x[:, :, 1:] - x[:, :, :-1]), axis=(1, 2, 3))
    return dh + dw


def style_transfer(model: nn.Layer, params, state, content, style, *, content_layer: str,
                   style_layers: Sequence[str], style_weights: Sequence[float] | None = None,
                   steps: int = 200, learning_rate: float = 0.02,
                   optimizer: optax.GradientTransformation | None = None,
                   content_weight: float = 1.0, style_weight: float = 1e3, tv_weight: float = 0.0,
                   init=None, clip: tuple[float, float] | None = None) -> tuple[Array, dict[str, Array]]:
    """Minimize L(x) = a L_content(x) + b L_style(x) + g TV(x) over the image x (Gatys eq. 7).

    a, b, g are `content_weight`, `style_weight`, `tv_weight` (the paper's a / b is 1e-3 to
    1e-4 with its VGG-19; the balance depends on the model and layers). Content features are
    those of `content_layer`, style Gram targets those of `style_layers` (weighted by
    `style_weights`, default 1 / L); all layers are `nn.cut` paths of `model`, run with
    `train=False` (one cut per distinct path; inside the jit XLA computes their shared forward
    prefix once).

    Args:
      content: (H, W, C) or a batch (B, H, W, C).
      style: (H', W', C) or (1, H', W', C), any size (Gram matrices are (C, C)); or a batch
        of B styles, one per content image.
      optimizer: default `optax.adam(learning_rate)` (Gatys et al. use L-BFGS); the whole
        optimization is one jitted `lax.scan` of `steps` updates.
      init: the starting image, the content's shape; default the content image (the paper
        starts from white noise: pass noise here).
      clip: optional (low, high) pixel range enforced after every step, e.g. (0, 1).

    Returns:
      (image of the content's shape, history) with history["loss"], ["content"], ["style"],
      ["tv"] (the unweighted terms), each (steps + 1,) for one image or (steps + 1, B): row 0
      the initial image, row -1 the returned one.

    No pretrained ImageNet weights exist offline in this project: use any trained jdl model
    (or a random-init CNN, whose features still capture local texture statistics).
    """
    content_b, single = image_batch(content, "content")
    style_b, _ = image_batch(style, "style")
    if style_b.shape[0] not in (1, content_b.shape[0]):
        raise ValueError(f"style: expected one style image or one per content image "
                         f"({content_b.shape[0]}), got a batch of {style_b.shape[0]}")
    if style_b.shape[-1] != content_b.shape[-1]:
        raise ValueError(f"style: expected {content_b.shape[-1]} channels (the content's), got "
                         f"shape {tuple(style_b.shape)}")
    if not isinstance(content_layer, str):
        raise ValueError(f"content_layer: expected a layer path such as 'block2/conv', got "
                         f"{content_layer!r}")
    if isinstance(style_layers, str):
        raise ValueError(f"style_layers: expected a sequence of layer paths, got the string "
                         f"{style_layers!r} (write [{style_layers!r}])")
    style_layers = list(style_layers)
    weights = [1.0 / max(len(style_layers), 1)] * len(style_layers) if style_weights is None \
        else [float(w) for w in style_weights]
    if len(weights) != len(style_layers):
        raise ValueError(f"style_weights: expected one weight per style layer ({len(style_layers)}), "
                         f"got {len(weights)}")
    steps, clip = check_steps(steps), check_clip(clip)
    if init is None:
        image = content_b
    else:
        image = jnp.asarray(init, jnp.float32)
        image = image[None] if single and image.ndim == 3 else image
        if image.shape != content_b.shape:
            raise ValueError(f"init: expected the content's shape {tuple(jnp.shape(content))}, got "
                             f"{tuple(jnp.shape(init))}")
    cuts = {p: nn.cut(model, p) for p in dict.fromkeys([content_layer, *style_layers])}
    optimizer = optax.adam(learning_rate) if optimizer is None else optimizer

    def features(params, state, x):
        return {p: c.apply(params, state, x, train=False)[0] for p, c in cuts.items()}

    def targets(params, state, content_b, style_b):
        target = features(params, state, content_b)[content_layer]
        style_feats = features(params, state, style_b)
        return params, state, target, [gram_matrix(style_feats[p]) for p in style_layers]

    def loss(image, params, state, target, grams):
        feats = features(params, state, image)
        lc = content_loss(feats[content_layer], target)
        ls = (style_loss([feats[p] for p in style_layers], grams, weights) if style_layers
              else jnp.zeros_like(lc))
        tv = total_variation(image)
        total = content_weight * lc + style_weight * ls + tv_weight * tv
        return jnp.sum(total), {"loss": total, "content": lc, "style": ls, "tv": tv}

    image, history = optimize_image(loss, image, (params, state, content_b, style_b),
                                    optimizer, steps, clip, prepare=targets)
    if single:
        return image[0], {k: v[:, 0] for k, v in history.items()}
    return image, history
