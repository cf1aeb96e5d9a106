"""Shape layers: Flatten and Reshape (the batch axis is always kept)."""
from __future__ import annotations

import math
from typing import Sequence

from jdl.nn._layer import Layer, as_shape, check_rank


def Flatten() -> Layer:
    """`(B, d1, ..., dn)` -> `(B, d1 * ... * dn)`: the bridge from conv features to dense layers."""

    def init(key, input_shape):
        shape = as_shape(input_shape, "Flatten")
        check_rank("Flatten", shape, min_rank=1, layout="(batch, ...)")
        return (shape[0], math.prod(shape[1:])), {}, {}

    def apply(params, state, x, *, key=None, train=False):
        return x.reshape(x.shape[0], -1), state

    return Layer(init, apply, "flatten")


def Reshape(shape: Sequence[int]) -> Layer:
    """`(B, ...)` -> `(B, *shape)`; `shape` excludes the batch axis and may hold one -1."""
    target = tuple(int(d) for d in shape)
    if sum(d == -1 for d in target) > 1 or any(d == 0 or d < -1 for d in target):
        raise ValueError(f"Reshape: expected positive sizes and at most one -1, got {target}")

    def resolve(in_shape):
        size = math.prod(in_shape[1:])
        known = math.prod(d for d in target if d != -1)
        if -1 in target:
            if size % known:
                raise ValueError(f"Reshape: cannot reshape {in_shape} (size {size} per example) to "
                                 f"{target}: {size} is not divisible by {known}")
            return tuple(size // known if d == -1 else d for d in target)
        if known != size:
            raise ValueError(f"Reshape: expected {known} values per example to reshape to "
                             f"{target}, got input {in_shape} with {size}")
        return target

    def init(key, input_shape):
        in_shape = as_shape(input_shape, "Reshape")
        check_rank("Reshape", in_shape, min_rank=1, layout="(batch, ...)")
        return (in_shape[0], *resolve(in_shape)), {}, {}

    def apply(params, state, x, *, key=None, train=False):
        return x.reshape(x.shape[0], *resolve(x.shape)), state

    return Layer(init, apply, "reshape")
