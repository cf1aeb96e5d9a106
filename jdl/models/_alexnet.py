"""AlexNet (Krizhevsky, Sutskever, Hinton, NIPS 2012; Salakhutdinov), with the lecture's ablations.

The eight learned layers, on a 227x227x3 input (the paper's "224" does not divide: (224 - 11) / 4
+ 1 is not an integer; Caffe and most re-implementations use 227, torchvision pads conv1 by 2):

    layer  output      params (groups=2)
    conv1  55x55x96        34,944   11x11 stride 4, ReLU, LRN, max-pool 3/2 -> 27x27x96
    conv2  27x27x256      307,456   5x5 pad 2, groups 2, ReLU, LRN, max-pool 3/2 -> 13x13x256
    conv3  13x13x384      885,120   3x3 pad 1, connected to both towers, ReLU
    conv4  13x13x384      663,936   3x3 pad 1, groups 2, ReLU
    conv5  13x13x256      442,624   3x3 pad 1, groups 2, ReLU, max-pool 3/2 -> 6x6x256 = 9216
    fc6    4096        37,752,832   ReLU, dropout
    fc7    4096        16,781,312   ReLU, dropout
    fc8    1000         4,097,000   logits
    total              60,965,224   (Caffe's bvlc_alexnet; "60 million parameters" in the paper)

The single-tower variant (`groups=1`, every layer sees all channels) has 62,378,344;
torchvision's variant (`widths=(64, 192, 384, 256, 256)`, `groups=1`, no LRN, 224 input) has
61,100,840.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from jdl import nn

_REMOVABLE = (3, 4, 5, 6, 7)


def _check_widths(name: str, widths: Sequence[int], groups: int) -> tuple[int, ...]:
    widths = tuple(widths)
    if len(widths) != 5 or not all(isinstance(w, int) and w > 0 for w in widths):
        raise ValueError(f"{name}: expected widths to be 5 positive ints (conv1..conv5), got {widths!r}")
    if groups not in (1, 2):
        raise ValueError(f"{name}: expected groups 1 (one tower) or 2 (the paper's two towers), "
                         f"got {groups!r}")
    if groups == 2 and any(w % 2 for w in widths):
        raise ValueError(f"{name}: groups=2 splits every layer into two towers, so the widths must "
                         f"be even, got {widths}")
    return widths


def _check_drop(name: str, drop_layers: Iterable[int]) -> frozenset[int]:
    drop = frozenset(drop_layers)
    if not drop <= set(_REMOVABLE):
        raise ValueError(f"{name}: expected drop_layers to be a subset of {_REMOVABLE} (layers 1, 2 "
                         f"set the geometry, 8 is the output), got {tuple(sorted(drop))}")
    return drop


def eight_layer_convnet(name: str, num_classes: int, input_size: int, convs, pools, *,
                        lrn: bool, norm_before_pool: bool, dropout: float, fc_width: int,
                        drop_layers: Iterable[int]) -> nn.Layer:
    """The AlexNet/ZFNet skeleton: 5 conv layers, 3 max-pools, 3 fully connected layers.

    `convs[i] = (features, kernel, stride, padding, groups)` for conv{i+1}; `pools` maps a conv
    index (1, 2, 5) to the max-pool's padding after it. Layers in `drop_layers` (among 3..7) are
    left out, the following layer then reads the previous one's output (Zeiler & Fergus 2013,
    Table 3); pooling and normalization stay. The result is a flat `serial` with children conv1,
    relu1, norm1, pool1, ..., flatten, fc6, relu6, drop6, fc7, relu7, drop7, fc8 (absent ones
    omitted); its `init` checks that the input is `(B, input_size, input_size, C)`. Convolutions
    and fc6/fc7 use He initialization (the paper: N(0, 0.01), biases 1 in some layers).
    """
    drop = _check_drop(name, drop_layers)
    if not isinstance(num_classes, int) or num_classes <= 0:
        raise ValueError(f"{name}: expected num_classes to be a positive int, got {num_classes!r}")
    if not isinstance(fc_width, int) or fc_width <= 0:
        raise ValueError(f"{name}: expected fc_width to be a positive int, got {fc_width!r}")
    layers: list[tuple[str, nn.Layer]] = []
    for i, (features, kernel, stride, padding, groups) in enumerate(convs, start=1):
        if i not in drop:  # a removed conv5 keeps pool5: the geometry stays the same
            layers += [(f"conv{i}", nn.Conv(features, kernel, stride, padding, groups=groups,
                                            w_init="he")),
                       (f"relu{i}", nn.Relu())]
        norm = [(f"norm{i}", nn.LocalResponseNorm())] if lrn and i in (1, 2) else []
        pool = [(f"pool{i}", nn.MaxPool(3, 2, pools[i]))] if i in pools else []
        layers += norm + pool if norm_before_pool else pool + norm
    layers.append(("flatten", nn.Flatten()))
    for i in (6, 7):
        if i not in drop:
            layers += [(f"fc{i}", nn.Dense(fc_width, w_init="he")), (f"relu{i}", nn.Relu())]
            if dropout:
                layers.append((f"drop{i}", nn.Dropout(dropout)))
    layers.append(("fc8", nn.Dense(num_classes)))
    model = nn.serial(*layers)

    def init(key, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 4 or shape[1:3] != (input_size, input_size):
            raise ValueError(f"{name}: built for input_size={input_size}, expected an input of "
                             f"shape (batch, {input_size}, {input_size}, channels), got {shape}; "
                             f"pass input_size={shape[1] if len(shape) == 4 else '...'} to build "
                             f"it for that size")
        return model.init(key, shape)

    return model._replace(init=init)


def _min_alexnet_input(conv1_padding: int) -> int:
    """Smallest input whose pool5 map is at least 1x1 (15 after conv1: 15 -> 7 -> 3 -> 1)."""
    return 4 * 14 + 11 - 2 * conv1_padding


def alexnet(num_classes: int = 1000, *, input_size: int = 227, groups: int = 2, lrn: bool = True,
            dropout: float = 0.5, widths: Sequence[int] = (96, 256, 384, 384, 256),
            fc_width: int = 4096, drop_layers: Iterable[int] = ()) -> nn.Layer:
    """AlexNet: `(B, input_size, input_size, 3)` -> `(B, num_classes)` logits (see the module table).

    Args:
      num_classes: output logits (fc8).
      input_size: 227 (the paper's geometry, conv1 unpadded) or 224 (conv1 padded by 2, as
        torchvision: the same 55x55 map and the same parameters). Other sizes >= 67 keep conv1
        unpadded; fc6's input is then pool5's (h, w, 256) map (1x1 at 67), so small inputs work.
      groups: 2 for the paper's two GPU towers (conv2, conv4, conv5 each see half the channels;
        conv1, conv3 and the dense layers see all), 1 for the single-tower network.
      lrn: local response normalization after conv1 and conv2 (before pooling, as the paper and
        Caffe); `False` as in torchvision.
      dropout: drop rate after fc6 and fc7 (0 for none).
      widths: conv1..conv5 filters; fc_width: units of fc6 and fc7 (Zeiler & Fergus also try
        2048 and 8192).
      drop_layers: layers to remove, among 3, 4, 5 (conv) and 6, 7 (fc), for the ablations of
        Salakhutdinov / Zeiler & Fergus 2013 Table 3: removing fc7 drops 16,781,312 parameters
        ("~16 million"); removing 3, 4, 6 and 7 drops 51,110,656 ("~50 million": conv5 then reads
        conv2's 256 maps and fc8 reads the 9216 flattened features).

    Returns:
      A flat `serial` named conv1, relu1, norm1, pool1, ..., flatten, fc6, relu6, drop6, fc7, ...,
      fc8, so `nn.cut(model, "relu7")` gives the 4096-d "fc7 features" (Senk).

    References: Krizhevsky, Sutskever, Hinton, "ImageNet Classification with Deep Convolutional
    Neural Networks", NIPS 2012. Parameters: 60,965,224 (groups=2), 62,378,344 (groups=1).
    """
    widths = _check_widths("alexnet", widths, groups)
    pad1 = 2 if input_size == 224 else 0
    if not isinstance(input_size, int) or input_size < _min_alexnet_input(pad1):
        raise ValueError(f"alexnet: expected input_size >= {_min_alexnet_input(0)} (pool5 must be "
                         f"at least 1x1), got {input_size!r}")
    convs = [(widths[0], 11, 4, pad1, 1), (widths[1], 5, 1, 2, groups), (widths[2], 3, 1, 1, 1),
             (widths[3], 3, 1, 1, groups), (widths[4], 3, 1, 1, groups)]
    pools = {1: "VALID", 2: "VALID", 5: "VALID"}
    return eight_layer_convnet("alexnet", num_classes, input_size, convs, pools, lrn=lrn,
                               norm_before_pool=True, dropout=dropout, fc_width=fc_width,
                               drop_layers=drop_layers)
