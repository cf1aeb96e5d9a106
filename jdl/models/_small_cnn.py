"""A small CNN for Fashion-MNIST: the network `make demo` trains (docs/curriculum.md,
chapters 6-7)."""
from __future__ import annotations

from typing import Sequence

from jdl import nn


def fashion_cnn(num_classes: int = 10, *, widths: Sequence[int] = (32, 64), dense: int = 128,
                dropout: float = 0.25) -> nn.Layer:
    """conv3x3-BN-ReLU-maxpool2 per width, then Dense `dense`, ReLU, Dropout, Dense `num_classes`.

    With the defaults on (B, 28, 28, 1): (B,14,14,32) -> (B,7,7,64) -> 3136 -> 128 -> 10 logits;
    421,738 parameters (288 + 64 + 18,432 + 128 + 401,536 + 1,290) and BN running statistics
    in `state`. Convolutions use He initialization (they feed ReLUs) and no bias: batch norm
    subtracts the batch mean, so a bias before it is cancelled (Ioffe & Szegedy 2015, sec. 3.2)
    and would only cost a pass over the activations (0.91x the step time without it on a 2-core
    CPU, docs/benchmarks.md); BN's beta is the block's bias. 2x2 max pooling takes the fast
    reshape path (see `jdl.nn.MaxPool`). Until 2026-12-06 the convolutions had a bias (421,834
    parameters): checkpoints from then carry `features/block*/conv/b`, which the model no longer has.
    """
    blocks = []
    for i, width in enumerate(widths, start=1):
        blocks.append((f"block{i}", nn.serial(
            ("conv", nn.Conv(width, 3, w_init="he", use_bias=False)), ("bn", nn.BatchNorm()),
            ("relu", nn.Relu()), ("pool", nn.MaxPool(2)))))
    head = nn.serial(("flatten", nn.Flatten()), ("fc", nn.Dense(dense, w_init="he")),
                     ("relu", nn.Relu()), ("dropout", nn.Dropout(dropout)),
                     ("logits", nn.Dense(num_classes)))
    return nn.serial(("features", nn.serial(*blocks)), ("classifier", head))
