"""LeNet-5 (LeCun et al. 1998, "Gradient-based learning applied to document recognition";
Loo, Salakhutdinov)."""
from __future__ import annotations

from typing import Callable

from jdl import nn


def lenet5(num_classes: int = 10, *, input_size: int = 32, activation: str | Callable = "tanh",
           pool: str = "avg") -> nn.Layer:
    """LeNet-5: C1 conv 5x5x6, S2 pool, C3 conv 5x5x16, S4 pool, C5 120, F6 84, output.

    On the paper's 32x32 input: C1 (28,28,6), S2 (14,14,6), C3 (10,10,16), S4 (5,5,16), C5 a
    5x5 convolution to (1,1,120) (here an equivalent Flatten + Dense 120), F6 84, then
    `num_classes` logits. With `input_size=28` (MNIST/Fashion-MNIST) C1 pads by 2 so the sizes
    are the same. Simplifications, as in every modern re-implementation: C3 connects to all six
    S2 maps (the paper's sparse table has 1,516 weights, not 2,416), pooling has no trainable
    coefficients, and the output is a Dense layer instead of RBF units.

    Parameters at 32x32 and 10 classes: 156 + 2,416 + 48,120 + 10,164 + 850 = 61,706 (~61.7k,
    the figure usually quoted).
    """
    if input_size not in (28, 32):
        raise ValueError(f"lenet5: expected input_size 28 or 32, got {input_size!r}")
    pool_layer = {"avg": nn.AvgPool, "max": nn.MaxPool}.get(pool)
    if pool_layer is None:
        raise ValueError(f"lenet5: expected pool 'avg' or 'max', got {pool!r}")
    act = lambda: nn.activation_layer(activation)  # noqa: E731
    return nn.serial(
        ("c1", nn.Conv(6, 5, padding=2 if input_size == 28 else "VALID")), ("act1", act()),
        ("s2", pool_layer(2)),
        ("c3", nn.Conv(16, 5, padding="VALID")), ("act3", act()),
        ("s4", pool_layer(2)),
        ("flatten", nn.Flatten()),
        ("c5", nn.Dense(120)), ("act5", act()),
        ("f6", nn.Dense(84)), ("act6", act()),
        ("output", nn.Dense(num_classes)),
    )
