"""VGG (Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", ICLR 2015, Table 1 configurations A, B, D, E; Salakhutdinov), built from one table.

Every convolution is 3x3, stride 1, pad 1 (+ ReLU); each block ends in a 2x2/2 max-pool, so a
224x224 input leaves 7x7x512 = 25,088 features for fc6 4096 - fc7 4096 - fc8 1000.

    depth  config  convs per block   parameters   (+ batch_norm)   multiply-adds (224)
    11     A       1, 1, 2, 2, 2    132,863,336   132,868,840       7.61 G
    13     B       2, 2, 2, 2, 2    133,047,848   133,053,736      11.31 G
    16     D       2, 2, 3, 3, 3    138,357,544   138,365,992      15.47 G
    19     E       2, 2, 4, 4, 4    143,667,240   143,678,248      19.63 G

These equal torchvision's `vgg11` ... `vgg19_bn` (`*_Weights.meta["num_params"]` and "GFLOPS"):
BN adds a scale and a bias per conv channel and the convolutions keep their bias, as there.
"""
from __future__ import annotations

from functools import partial

from jdl import nn

_BLOCKS: dict[int, tuple[int, ...]] = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2),
                                       16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
_WIDTHS = (64, 128, 256, 512, 512)


def _features(depth: int, batch_norm: bool, base_width: int) -> nn.Layer:
    """conv{b}_{i} [bn{b}_{i}] relu{b}_{i} for each conv of block b, then pool{b}."""
    features = []
    for b, (convs, width) in enumerate(zip(_BLOCKS[depth], _WIDTHS), start=1):
        for i in range(1, convs + 1):
            features.append((f"conv{b}_{i}", nn.Conv(width * base_width // 64, 3, w_init="he")))
            if batch_norm:
                features.append((f"bn{b}_{i}", nn.BatchNorm()))
            features.append((f"relu{b}_{i}", nn.Relu()))
        features.append((f"pool{b}", nn.MaxPool(2)))
    return nn.serial(*features)


def _classifier(num_classes: int, width: int, dropout: float) -> nn.Layer:
    """flatten, fc6, relu6, [drop6], fc7, relu7, [drop7], fc8."""
    classifier = [("flatten", nn.Flatten())]
    for i in (6, 7):
        classifier += [(f"fc{i}", nn.Dense(width, w_init="he")), (f"relu{i}", nn.Relu())]
        if dropout:
            classifier.append((f"drop{i}", nn.Dropout(dropout)))
    classifier.append(("fc8", nn.Dense(num_classes)))
    return nn.serial(*classifier)


def vgg(depth: int, num_classes: int = 1000, *, batch_norm: bool = False, input_size: int = 224,
        dropout: float = 0.5, classifier_width: int = 4096, base_width: int = 64) -> nn.Layer:
    """VGG-`depth`: `(B, input_size, input_size, C)` -> `(B, num_classes)` logits.

    features:   for block b = 1..5 and conv i: conv{b}_{i} (3x3, pad 1) [bn{b}_{i}] relu{b}_{i},
                then pool{b} (2x2 max, stride 2): input_size / 32 pixels remain.
    classifier: flatten, fc6, relu6, drop6, fc7, relu7, drop7, fc8.

    Args:
      depth: 11, 13, 16 or 19 (configurations A, B, D, E of the paper's Table 1).
      num_classes: output logits.
      batch_norm: insert BatchNorm between each convolution and its ReLU (torchvision's
        `vgg16_bn`; not in the paper).
      input_size: the square input side the network is built for; 224 in the paper. Any side
        >= 32 works: fc6 reads the (input_size // 32)^2 x 512 map (1 x 1 x 512 at 32x32, e.g.
        Fashion-MNIST padded to 32 or CIFAR-10).
      dropout: drop rate after fc6 and fc7 (0.5 in the paper; 0 for none).
      classifier_width: units of fc6 and fc7 (4096 in the paper; e.g. 256 for 32x32 inputs).
      base_width: filters of block 1; blocks 2..5 have 2, 4, 8, 8 times as many (64 in the
        paper, giving 64, 128, 256, 512, 512; 16 gives a quarter of the width and about
        1/16 of the convolution cost).

    Returns:
      `serial(("features", ...), ("classifier", ...))`; paths read `features/conv3_2/w`,
      `classifier/fc7/b`, and `nn.cut(model, "classifier/relu7")` gives fc7 features.
      Convolutions and fc6/fc7 use He initialization (the paper pre-trains A with N(0, 0.01)).

    Reference parameter counts (224, 1000 classes): see the module table; VGG-16 138,357,544.
    """
    if depth not in _BLOCKS:
        raise ValueError(f"vgg: expected depth in {tuple(_BLOCKS)}, got {depth!r}")
    for name, value in (("num_classes", num_classes), ("classifier_width", classifier_width),
                        ("base_width", base_width)):
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"vgg: expected {name} to be a positive int, got {value!r}")
    if not isinstance(input_size, int) or input_size < 32:
        raise ValueError(f"vgg: expected input_size >= 32 (five 2x2 poolings), got {input_size!r}")
    model = nn.serial(("features", _features(depth, batch_norm, base_width)),
                      ("classifier", _classifier(num_classes, classifier_width, dropout)))

    def init(key, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 4 or shape[1:3] != (input_size, input_size):
            raise ValueError(f"vgg: built for input_size={input_size}, expected an input of shape "
                             f"(batch, {input_size}, {input_size}, channels), got {shape}; pass "
                             f"input_size= the image side to build it for that size")
        return model.init(key, shape)

    return model._replace(init=init)


vgg11 = partial(vgg, 11)
vgg11.__doc__ = "VGG-11 (configuration A): 132,863,336 parameters at 224x224, 1000 classes."
vgg13 = partial(vgg, 13)
vgg13.__doc__ = "VGG-13 (configuration B): 133,047,848 parameters at 224x224, 1000 classes."
vgg16 = partial(vgg, 16)
vgg16.__doc__ = "VGG-16 (configuration D): 138,357,544 parameters at 224x224, 1000 classes."
vgg19 = partial(vgg, 19)
vgg19.__doc__ = "VGG-19 (configuration E): 143,667,240 parameters at 224x224, 1000 classes."
