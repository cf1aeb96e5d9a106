"""`cifar_resnet(..., widths=)`: narrower CIFAR ResNets and plain nets (shapes only)."""
import jax
import numpy as np
import pytest

from jdl import nn
from jdl.models import cifar_resnet, plain56, resnet20


def _shapes(model, shape):
    box = {}

    def init(key):
        out, params, state = model.init(key, shape)
        box["out"] = out
        return params, state

    params, state = jax.eval_shape(init, jax.random.key(0))
    return box["out"], params, state


def _count(tree) -> int:
    return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(tree))


def _by_hand(depth, widths, channels=3, classes=10):
    """He et al. 2016 section 4.2 with filters `widths`: bias-free conv + BN (scale, bias)."""
    conv_bn = lambda cin, c: 9 * cin * c + 2 * c  # noqa: E731
    n = (depth - 2) // 6
    w1, w2, w3 = widths
    total = conv_bn(channels, w1) + n * 2 * conv_bn(w1, w1)
    for cin, c in ((w1, w2), (w2, w3)):
        total += conv_bn(cin, c) + conv_bn(c, c) + (n - 1) * 2 * conv_bn(c, c)
    return total + w3 * classes + classes


def test_default_widths_are_the_papers():
    assert _by_hand(20, (16, 32, 64)) == 269_722 == _count(_shapes(resnet20(), (1, 32, 32, 3))[1])
    assert _count(_shapes(cifar_resnet(56, widths=(16, 32, 64)), (1, 32, 32, 3))[1]) == 853_018


@pytest.mark.parametrize("depth", [20, 56])
@pytest.mark.parametrize("plain", [False, True])
def test_narrow_widths_by_hand(depth, plain):
    model = cifar_resnet(depth, plain=plain, widths=(8, 16, 32))
    out, params, state = _shapes(model, (2, 28, 28, 1))
    assert out == (2, 10)
    assert _count(params) == _by_hand(depth, (8, 16, 32), channels=1)
    assert params["stem"]["conv"]["w"].shape == (3, 3, 1, 8)
    assert _shapes(nn.cut(model, "stage1"), (2, 28, 28, 1))[0] == (2, 28, 28, 8)
    assert _shapes(nn.cut(model, "stage3"), (2, 28, 28, 1))[0] == (2, 7, 7, 32)
    # about a quarter of the paper's parameters (the stem and the head scale linearly)
    ratio = _count(params) / _by_hand(depth, (16, 32, 64), channels=1)
    assert 0.25 < ratio < 0.27


def test_named_variants_pass_widths():
    out, params, _ = _shapes(plain56(widths=(4, 8, 16)), (1, 28, 28, 1))
    assert out == (1, 10) and _count(params) == _by_hand(56, (4, 8, 16), channels=1)
    assert "block1" in params["stage2"] and "residual" not in params["stage2"]["block1"]  # plain
    assert _count(_shapes(resnet20(5, widths=[8, 16, 32]), (1, 28, 28, 1))[1]) == _by_hand(
        20, (8, 16, 32), channels=1, classes=5)               # a list works like a tuple


def test_option_b_projection_uses_the_widths():
    params = _shapes(cifar_resnet(20, shortcut="B", widths=(8, 16, 32)), (1, 28, 28, 1))[1]
    assert params["stage2"]["block1"]["residual"]["shortcut"]["conv"]["w"].shape == (1, 1, 8, 16)
    assert params["stage3"]["block1"]["residual"]["shortcut"]["conv"]["w"].shape == (1, 1, 16, 32)


@pytest.mark.parametrize("widths", [(16, 32), (16, 32, 64, 128), (16, 0, 64), (16, 32.0, 64), 16])
def test_invalid_widths(widths):
    with pytest.raises(ValueError, match=r"cifar_resnet: expected widths to be three positive "
                                         r"ints .*\(16, 32, 64\)\), got"):
        cifar_resnet(20, widths=widths)
