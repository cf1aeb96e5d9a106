"""U-Net (Ronneberger, Fischer & Brox 2015; *Engineering Deep Learning*, "Architectures: U-Net
Architecture"): a contracting path of conv blocks and 2x2 max pools, an expanding path of 2x2
transposed convolutions, and skip connections that concatenate each contracting block's output
to the upsampled map of the same size, so the output keeps the input's fine detail.

Built from `serial` and `parallel` only, recursively: level d is

    serial(encode: conv block (f_d),
           skip: parallel(copy: Identity, lower: serial(pool, level d+1, up: ConvTranspose f_d)),
           decode: conv block (f_d))          # parallel concatenates on channels: 2 f_d in

with f_d = base_filters * 2**d and the bottom level (d = depth) a conv block alone. So
`summary` lists every layer with its MACs and `nn.cut(model, "level0/encode")` takes the
first block's features. Paths read `level0/skip/lower/level1/encode/conv1/w`.
"""
from __future__ import annotations

from jdl import nn


def _conv_block(features: int, batch_norm: bool) -> nn.Layer:
    """Two 3x3 'SAME' convolutions, each followed by [BatchNorm] and ReLU."""
    layers: list = []
    for i in (1, 2):
        layers.append((f"conv{i}", nn.Conv(features, 3, use_bias=not batch_norm, w_init="he")))
        if batch_norm:
            layers.append((f"bn{i}", nn.BatchNorm()))
        layers.append((f"relu{i}", nn.Relu()))
    return nn.serial(*layers)


def _level(d: int, depth: int, base: int, batch_norm: bool) -> nn.Layer:
    features = base * 2 ** d
    if d == depth:
        return _conv_block(features, batch_norm)
    lower = nn.serial(("pool", nn.MaxPool(2)),
                      (f"level{d + 1}", _level(d + 1, depth, base, batch_norm)),
                      ("up", nn.ConvTranspose(features, 2, 2, w_init="he")))
    return nn.serial(("encode", _conv_block(features, batch_norm)),
                     ("skip", nn.parallel(("copy", nn.Identity()), ("lower", lower))),
                     ("decode", _conv_block(features, batch_norm)))


def unet(out_channels: int, depth: int = 3, base_filters: int = 16, *,
         batch_norm: bool = False) -> nn.Layer:
    """U-Net: `(B, H, W, C)` -> `(B, H, W, out_channels)` per-pixel logits (segmentation, or a
    reconstruction / denoised image).

    `depth` poolings (the paper: 4) with filters base_filters * 2**d at level d (the paper: 64,
    doubling to 1024 at the bottom); each up-convolution halves the channels before the
    concatenation. Unlike the paper's unpadded convolutions (which need cropping and shrink
    572 to 388), the 3x3 convolutions are 'SAME', so the output has the input's height and
    width and no cropping is needed; H and W must then be divisible by 2**depth, checked by
    `init`. A final 1x1 convolution gives `out_channels`. `batch_norm=True` adds BatchNorm after
    every 3x3 convolution (bias-free), a common modern addition.
    """
    for name, value, low in (("out_channels", out_channels, 1), ("depth", depth, 1),
                             ("base_filters", base_filters, 1)):
        if not (isinstance(value, int) and value >= low):
            raise ValueError(f"unet: expected {name} to be an int >= {low}, got {value!r}")
    body = nn.serial(("level0", _level(0, depth, base_filters, batch_norm)),
                     ("output", nn.Conv(out_channels, 1)))
    factor = 2 ** depth

    def init(key, input_shape):
        shape = tuple(int(d) for d in input_shape)
        if len(shape) != 4:
            raise ValueError(f"unet: expected input_shape (batch, height, width, channels), got "
                             f"{shape}")
        if shape[1] % factor or shape[2] % factor:
            raise ValueError(f"unet: expected input_shape with height and width divisible by "
                             f"2**depth = {factor} (depth={depth}), got {shape} (height "
                             f"{shape[1]}, width {shape[2]}); pad or crop the images, or use a "
                             f"smaller depth")
        return body.init(key, shape)

    return nn.Layer(init, body.apply, body.kind, body.children)
