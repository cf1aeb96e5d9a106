"""ResNet (He, Zhang, Ren & Sun 2016, "Deep residual learning for image recognition";
Salakhutdinov).

Salakhutdinov: "really, really deep convnets do not train well" (a 56-layer *plain* net has a
higher training error on CIFAR-10 than a 20-layer one); the fix is a "pass through" around each
pair of layers, so a block only learns the residual F:

    y = relu(F(x) + shortcut(x)),   F = the block's convolutions, shortcut = identity or projection

Two families, both built from one table:

- ImageNet ResNets `resnet(depth)` for depth 18/34/50/101/152 (paper Table 1), in the
  **V1.5** form of torchvision and NVIDIA: the bottleneck's stride sits on its 3x3 convolution,
  not on the first 1x1 as in the paper (V1). Same parameter count, ~0.5% better top-1.
- CIFAR ResNets `cifar_resnet(depth)` (paper section 4.2, depth = 6n + 2) and their *plain*
  counterparts (`plain=True`): the networks of the degradation experiment (paper Fig. 6).
"""
from __future__ import annotations

from typing import Callable, Sequence

import jax.numpy as jnp

from jdl import nn

# depth -> (block, blocks per stage); paper Table 1, torchvision, flax examples/imagenet.
_STAGES: dict[int, tuple[str, tuple[int, ...]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
# torchvision `ResNet*_Weights.IMAGENET1K_V1.meta["num_params"]` (1000 classes); tested.
PUBLISHED_PARAMS: dict[int, int] = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032,
                                    101: 44_549_160, 152: 60_192_808}
_WIDTHS = (64, 128, 256, 512)
_EXPANSION = {"basic": 1, "bottleneck": 4}


def _conv_bn(features: int, kernel: int, stride: int = 1, *, zero_scale: bool = False
             ) -> list[tuple[str, nn.Layer]]:
    """conv (no bias: BN's beta replaces it) then BN; PyTorch padding k // 2, so shapes match
    torchvision at every input size (odd ones included)."""
    conv = nn.Conv(features, kernel, stride, padding=kernel // 2, use_bias=False, w_init="he")
    return [("conv", conv), ("bn", _zero_scale(nn.BatchNorm()) if zero_scale else nn.BatchNorm())]


def _zero_scale(bn: nn.Layer) -> nn.Layer:
    """BatchNorm whose scale gamma starts at 0: the block starts as the identity (Goyal et al. 2017)."""

    def init(key, input_shape):
        shape, params, state = bn.init(key, input_shape)
        return shape, {**params, "scale": jnp.zeros_like(params["scale"])}, state

    return nn.Layer(init, bn.apply, bn.kind)


def _unit(name: str, features: int, kernel: int, stride: int = 1, *, relu: bool = True,
          zero_scale: bool = False) -> tuple[str, nn.Layer]:
    layers = _conv_bn(features, kernel, stride, zero_scale=zero_scale)
    return name, nn.serial(*layers, *([("relu", nn.Relu())] if relu else []))


def _block(main: nn.Layer, shortcut: nn.Layer | None, *, plain: bool = False) -> nn.Layer:
    """relu(main(x) + shortcut(x)); with `plain` just relu(main(x)) (no skip connection)."""
    if plain:
        return nn.serial(("main", main), ("relu", nn.Relu()))
    return nn.serial(("residual", nn.residual(main, shortcut)), ("relu", nn.Relu()))


def basic_block(features: int, stride: int = 1, *, projection: bool = False,
                zero_init_residual: bool = False) -> nn.Layer:
    """Basic block (ResNet-18/34, CIFAR): relu(BN(conv3x3(relu(BN(conv3x3_s(x))))) + shortcut(x)).

    `(B, H, W, C)` -> `(B, ceil(H / s), ceil(W / s), features)`. `projection=True` uses the
    paper's option B shortcut BN(conv1x1_s(x)) (needed when the shape changes); otherwise the
    identity. Params `{"residual": {"main": {"conv1", "conv2"}, "shortcut": ...}}`.
    """
    main = nn.serial(_unit("conv1", features, 3, stride),
                     _unit("conv2", features, 3, relu=False, zero_scale=zero_init_residual))
    shortcut = nn.serial(*_conv_bn(features, 1, stride)) if projection else None
    return _block(main, shortcut)


def bottleneck_block(width: int, stride: int = 1, *, projection: bool = False,
                     zero_init_residual: bool = False) -> nn.Layer:
    """Bottleneck block, V1.5 (ResNet-50/101/152): 1x1 `width`, 3x3/s `width`, 1x1 4 `width`.

    relu(BN(conv1x1(relu(BN(conv3x3_s(relu(BN(conv1x1(x)))))))) + shortcut(x)), output
    `(B, ceil(H / s), ceil(W / s), 4 width)`. V1.5: the stride is on the 3x3 (torchvision,
    NVIDIA); the paper's V1 strides the first 1x1, which skips 3 of every 4 pixels.
    """
    main = nn.serial(_unit("conv1", width, 1), _unit("conv2", width, 3, stride),
                     _unit("conv3", 4 * width, 1, relu=False, zero_scale=zero_init_residual))
    shortcut = nn.serial(*_conv_bn(4 * width, 1, stride)) if projection else None
    return _block(main, shortcut)


def _check_input_size(model: nn.Layer, input_size: int | None, name: str) -> nn.Layer:
    """Wrap `model.init` to check that the image is `input_size` x `input_size` (None: any size)."""
    if input_size is None:
        return model
    if not isinstance(input_size, int) or input_size <= 0:
        raise ValueError(f"{name}: expected input_size to be a positive int or None, "
                         f"got {input_size!r}")

    def init(key, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 4 or shape[1:3] != (input_size, input_size):
            raise ValueError(f"{name}: expected input of shape (batch, {input_size}, {input_size}, "
                             f"channels) for input_size={input_size}, got {shape}; pass "
                             f"input_size={shape[1] if len(shape) == 4 else None} "
                             f"(or None for any size)")
        return model.init(key, input_shape)

    return nn.Layer(init, model.apply, model.kind, model.children)


def resnet(depth: int, num_classes: int = 1000, *, input_size: int | None = 224,
           zero_init_residual: bool = False) -> nn.Layer:
    """ImageNet ResNet V1.5 of `depth` 18, 34, 50, 101 or 152 (paper Table 1;
    Salakhutdinov, Table 4).

    stem:   conv 7x7/2 64 - BN - ReLU - maxpool 3x3/2          (B, 224, 224, 3) -> (B, 56, 56, 64)
    stage k = 1..4: blocks of width 64, 128, 256, 512 (x4 for bottlenecks); the first block of
            stages 2-4 has stride 2 -> (B, 28, 28, .), (B, 14, 14, .), (B, 7, 7, 512 or 2048)
    head:   global average pool - Dense `num_classes`

    Every convolution is bias-free and followed by BN; the shortcut is the identity, or the
    projection BN(conv1x1_s(x)) where the shape changes (option B). "V1.5": the bottleneck's
    stride is on its 3x3 conv (torchvision, NVIDIA; flax's example calls it "V1" but does the
    same). Padding is PyTorch's k // 2, so torchvision weights keep their meaning. Convolutions
    use He initialization (fan-in); the head is LeCun normal.

    Parameters at 1000 classes (torchvision `num_params`, matched exactly): ResNet-18
    11,689,512; -34 21,797,672; -50 25,557,032; -101 44,549,160; -152 60,192,808.

    Args:
      depth: a key of the stage table: 18, 34, 50, 101 or 152.
      num_classes: logits of the head.
      input_size: the square image side `init` accepts (a check against feeding 32x32 images
        to a 224 model by mistake); the network is fully convolutional with global pooling, so
        any size works: pass the one you use, or None to accept any.
      zero_init_residual: start the last BN scale of each block at 0, so every block starts as
        the identity (Goyal et al. 2017, "ImageNet in 1 hour"; torchvision's option of that name).

    Params/state paths: `stem/conv/w`, `stage2/block1/residual/main/conv2/bn/scale`,
    `stage2/block1/residual/shortcut/conv/w`, `head/fc/w`; cut with `nn.cut(model, "stage3")`.
    """
    if depth not in _STAGES:
        raise ValueError(f"resnet: expected depth in {tuple(_STAGES)}, got {depth!r}; for the CIFAR "
                         f"ResNets (depth 6n + 2) use cifar_resnet")
    kind, counts = _STAGES[depth]
    make = basic_block if kind == "basic" else bottleneck_block
    stem = nn.serial(*_conv_bn(64, 7, 2), ("relu", nn.Relu()), ("pool", nn.MaxPool(3, 2, padding=1)))
    stages, channels = [], 64
    for k, (width, n) in enumerate(zip(_WIDTHS, counts), start=1):
        blocks = []
        for i in range(n):
            stride = 2 if (i == 0 and k > 1) else 1
            out = width * _EXPANSION[kind]
            projection = stride != 1 or channels != out
            blocks.append((f"block{i + 1}", make(width, stride, projection=projection,
                                                 zero_init_residual=zero_init_residual)))
            channels = out
        stages.append((f"stage{k}", nn.serial(*blocks)))
    head = nn.serial(("pool", nn.GlobalAvgPool()), ("fc", nn.Dense(num_classes)))
    model = nn.serial(("stem", stem), *stages, ("head", head))
    return _check_input_size(model, input_size, f"resnet{depth}")


def _resnet_variant(depth: int) -> Callable[..., nn.Layer]:
    def model(num_classes: int = 1000, *, input_size: int | None = 224,
              zero_init_residual: bool = False) -> nn.Layer:
        return resnet(depth, num_classes, input_size=input_size,
                      zero_init_residual=zero_init_residual)

    kind, counts = _STAGES[depth]
    model.__name__ = model.__qualname__ = f"resnet{depth}"
    model.__doc__ = (f"ResNet-{depth} V1.5 ({kind} blocks {counts}): `resnet({depth}, ...)`; "
                     f"{PUBLISHED_PARAMS[depth]:,} parameters at 1000 classes (torchvision).")
    return model


resnet18 = _resnet_variant(18)
resnet34 = _resnet_variant(34)
resnet50 = _resnet_variant(50)
resnet101 = _resnet_variant(101)
resnet152 = _resnet_variant(152)


# ----------------------------------------------------------------------------- CIFAR family
def _option_a_shortcut(features: int, stride: int) -> nn.Layer:
    """Option A: x[:, ::s, ::s, :] with zero channels appended up to `features`; no parameters."""

    def init(key, input_shape):
        b, h, w, c = input_shape
        if c > features:
            raise ValueError(f"shortcut: expected at most {features} input channels, got {c}")
        return (b, -(-h // stride), -(-w // stride), features), {}, {}

    def apply(params, state, x, *, key=None, train=False):
        x = x[:, ::stride, ::stride, :]
        return jnp.pad(x, ((0, 0), (0, 0), (0, 0), (0, features - x.shape[-1]))), state

    return nn.Layer(init, apply, "zero_pad_shortcut")


def cifar_resnet(depth: int, num_classes: int = 10, *, plain: bool = False,
                 shortcut: str = "A", widths: Sequence[int] = (16, 32, 64)) -> nn.Layer:
    """CIFAR-10 ResNet of He et al. 2016 section 4.2 (and its plain twin): depth = 6n + 2.

    conv 3x3 16 - BN - ReLU, then 3 stages of n basic blocks with 16, 32, 64 filters on maps
    of 32x32, 16x16, 8x8 (the first block of stages 2-3 has stride 2), global average pool,
    Dense `num_classes`: 6n + 2 weighted layers. Any input size works (28x28x1 Fashion-MNIST:
    28 -> 14 -> 7).

    Shortcuts: option A by default, as in the paper's CIFAR experiments: the identity, and where
    the shape changes, x subsampled by 2 with zero channels appended (no parameters).
    `shortcut="B"` uses the projection BN(conv1x1_s(x)) there instead. `plain=True` drops the
    shortcuts (relu(F(x)) per block): the plain-20/32/44/56 nets of Salakhutdinov's "deep plain
    nets degrade" (paper Fig. 6 left). With option A a plain net has exactly the parameters of its
    ResNet, since the shortcuts have none.

    `widths` are the filters of the stem and stage 1, of stage 2 and of stage 3: the paper's
    (16, 32, 64) by default. Narrower nets keep the depth and the structure at a fraction of
    the cost: (8, 16, 32) has about 1/4 of the parameters and multiply-adds (e.g. to run the
    degradation experiment on a CPU); the option A shortcut pads with zero channels whatever
    the widths.

    Parameters at 10 classes (paper Table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M):
    ResNet-20 269,722; -32 464,154; -44 658,586; -56 853,018; -110 1,727,962.
    """
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"cifar_resnet: expected depth = 6n + 2 with n >= 1 (20, 32, 44, 56, 110, "
                         f"1202 in the paper), got {depth!r}")
    if shortcut not in ("A", "B"):
        raise ValueError(f"cifar_resnet: expected shortcut 'A' (zero padding) or 'B' (projection), "
                         f"got {shortcut!r}")
    widths = tuple(widths) if isinstance(widths, (tuple, list)) else widths
    if (not isinstance(widths, tuple) or len(widths) != 3
            or not all(isinstance(w, int) and w > 0 for w in widths)):
        raise ValueError(f"cifar_resnet: expected widths to be three positive ints (the filters of "
                         f"stages 1, 2, 3; the paper's (16, 32, 64)), got {widths!r}")
    n = (depth - 2) // 6
    stem = _unit("stem", widths[0], 3)[1]                    # conv 3x3 widths[0] - BN - ReLU
    stages, channels = [], widths[0]
    for k, width in enumerate(widths, start=1):
        blocks = []
        for i in range(n):
            stride = 2 if (i == 0 and k > 1) else 1
            main = nn.serial(_unit("conv1", width, 3, stride), _unit("conv2", width, 3, relu=False))
            if stride == 1 and channels == width:
                skip = None
            elif shortcut == "A":
                skip = _option_a_shortcut(width, stride)
            else:
                skip = nn.serial(*_conv_bn(width, 1, stride))
            blocks.append((f"block{i + 1}", _block(main, skip, plain=plain)))
            channels = width
        stages.append((f"stage{k}", nn.serial(*blocks)))
    head = nn.serial(("pool", nn.GlobalAvgPool()), ("fc", nn.Dense(num_classes)))
    return nn.serial(("stem", stem), *stages, ("head", head))


_CIFAR_PARAMS = {20: "269,722 (0.27M)", 32: "464,154 (0.46M)", 44: "658,586 (0.66M)",
                 56: "853,018 (0.85M)", 110: "1,727,962 (1.7M)"}


def _cifar_variant(depth: int, plain: bool) -> Callable[..., nn.Layer]:
    def model(num_classes: int = 10, *, widths: Sequence[int] = (16, 32, 64)) -> nn.Layer:
        return cifar_resnet(depth, num_classes, plain=plain, widths=widths)

    name = f"{'plain' if plain else 'resnet'}{depth}"
    model.__name__ = model.__qualname__ = name
    what = "plain (no shortcuts)" if plain else "option A shortcuts"
    model.__doc__ = (f"CIFAR {name}: `cifar_resnet({depth}, num_classes, plain={plain})`, {what}; "
                     f"{_CIFAR_PARAMS[depth]} parameters at 10 classes and the default "
                     f"widths (16, 32, 64).")
    return model


resnet20, resnet32, resnet44, resnet56, resnet110 = (_cifar_variant(d, False) for d in _CIFAR_PARAMS)
plain20, plain32, plain44, plain56, plain110 = (_cifar_variant(d, True) for d in _CIFAR_PARAMS)
