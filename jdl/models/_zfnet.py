"""ZFNet (Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014, arXiv
1311.2901, Fig. 3; Salakhutdinov): AlexNet with a smaller first layer, found by visualising it.

On a 224x224x3 input (one tower, dense connections everywhere):

    layer  output      params
    conv1  110x110x96      14,208   7x7 stride 2 (pad 1), ReLU, max-pool 3/2 -> 55x55, LRN
    conv2  26x26x256      614,656   5x5 stride 2, ReLU, max-pool 3/2 -> 13x13, LRN
    conv3  13x13x384      885,120   3x3 pad 1, ReLU
    conv4  13x13x384    1,327,488   3x3 pad 1, ReLU
    conv5  13x13x256      884,992   3x3 pad 1, ReLU, max-pool 3/2 -> 6x6x256 = 9216
    fc6    4096        37,752,832   ReLU, dropout
    fc7    4096        16,781,312   ReLU, dropout
    fc8    1000         4,097,000   logits
    total              62,357,608   (counted by hand from Fig. 3; the paper gives no total)

The paper's 110 -> 55 and 26 -> 13 poolings are Caffe's ceil-mode pooling; here they pad the
bottom/right by one row and column of -inf, which gives the same maps.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from jdl import nn
from jdl.models._alexnet import _check_widths, eight_layer_convnet

_MIN_INPUT = 63  # conv1 30 -> pool1 15 -> conv2 6 -> pool2 3 -> pool5 1


def zfnet(num_classes: int = 1000, *, input_size: int = 224, lrn: bool = True,
          dropout: float = 0.5, widths: Sequence[int] = (96, 256, 384, 384, 256),
          fc_width: int = 4096, drop_layers: Iterable[int] = ()) -> nn.Layer:
    """ZFNet: `(B, input_size, input_size, 3)` -> `(B, num_classes)` logits (see the module table).

    Args:
      num_classes: output logits (fc8).
      input_size: 224 (the paper); any size >= 63 works (fc6 then reads a smaller pool5 map).
      lrn: the paper's "contrast normalization across feature maps" after pool1 and pool2; the
        paper gives no constants, so AlexNet's `LocalResponseNorm()` is used.
      dropout: drop rate after fc6 and fc7 (0.5 in the paper).
      widths: conv1..conv5 filters (Table 3 also tries 512, 1024, 512 for conv3..conv5);
        fc_width: units of fc6 and fc7 (Table 3: 2048, 8192).
      drop_layers: layers among 3..7 to remove, as in Table 3 (see `alexnet`).

    Returns:
      A flat `serial` named conv1, relu1, pool1, norm1, ..., fc8 (see `alexnet`).

    Reference parameter count: 62,357,608 at 224x224 with 1000 classes.
    """
    widths = _check_widths("zfnet", widths, 1)
    if not isinstance(input_size, int) or input_size < _MIN_INPUT:
        raise ValueError(f"zfnet: expected input_size >= {_MIN_INPUT} (pool5 must be at least "
                         f"1x1), got {input_size!r}")
    ceil_mode = ((0, 1), (0, 1))
    convs = [(widths[0], 7, 2, 1, 1), (widths[1], 5, 2, "VALID", 1), (widths[2], 3, 1, 1, 1),
             (widths[3], 3, 1, 1, 1), (widths[4], 3, 1, 1, 1)]
    pools = {1: ceil_mode, 2: ceil_mode, 5: "VALID"}
    return eight_layer_convnet("zfnet", num_classes, input_size, convs, pools, lrn=lrn,
                               norm_before_pool=False, dropout=dropout, fc_width=fc_width,
                               drop_layers=drop_layers)
