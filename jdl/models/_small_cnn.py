"""A small CNN for Fashion-MNIST: the network `make demo` trains (docs/curriculum.md,
chapters 6-7)."""
from __future__ import annotations

from typing import Sequence

from jdl import nn


def fashion_cnn(num_classes: int = 10, *, widths: Sequence[int] = (32, 64), dense: int = 128,
                dropout: float = 0.25) -> nn.Layer:
    """conv3x3-BN-ReLU-maxpool2 per width, then Dense `dense`, ReLU, Dropout, Dense `num_classes`.

    With the defaults on (B, 28, 28, 1): (B,14,14,32) -> (B,7,7,64) -> 3136 -> 128 -> 10 logits;
    421,834 parameters (320 + 64 + 18,496 + 128 + 401,536 + 1,290) and BN running statistics
    in `state`. Convolutions use He initialization (they feed ReLUs); 2x2 max pooling takes the
    fast reshape path (see `jdl.nn.MaxPool`).
    """
    blocks = []
    for i, width in enumerate(widths, start=1):
        blocks.append((f"block{i}", nn.serial(
            ("conv", nn.Conv(width, 3, w_init="he")), ("bn", nn.BatchNorm()),
            ("relu", nn.Relu()), ("pool", nn.MaxPool(2)))))
    head = nn.serial(("flatten", nn.Flatten()), ("fc", nn.Dense(dense, w_init="he")),
                     ("relu", nn.Relu()), ("dropout", nn.Dropout(dropout)),
                     ("logits", nn.Dense(num_classes)))
    return nn.serial(("features", nn.serial(*blocks)), ("classifier", head))
