"""GoogLeNet and ResNet: published parameter counts, hand-computed blocks, jitted forward and step.

Big networks are only *traced* (`jax.eval_shape` of `init`): no 60M-parameter arrays, no
compilation. Compiled work is kept to small inputs (32x32, 28x28x1).
"""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import lax

from jdl import losses, nn
from jdl.models import (basic_block, bottleneck_block, cifar_resnet, googlenet,
                        googlenet_aux_heads, inception, plain20, plain56, resnet, resnet18,
                        resnet20, resnet50, resnet56, resnet110)
from jdl.train import TrainState, make_train_step

KEY = jax.random.key(0)


def _shapes(model, shape):
    """(output_shape, params, state) of `model.init` with ShapeDtypeStruct leaves: nothing allocated."""
    box = {}

    def init(key):
        out, params, state = model.init(key, shape)
        box["out"] = out
        return params, state

    params, state = jax.eval_shape(init, KEY)
    return box["out"], params, state


def _count(tree) -> int:
    return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(tree))


def _images(shape, seed=1):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


def _numpy_init(model, shape, seed=0):
    """`init`'s output shape and trees, with values drawn by NumPy instead of `jax.random`.

    XLA:CPU compiles every `jax.random.normal` call site of a new shape, which takes seconds
    each on a busy 2-core machine and dominates a big model's `init` in a test; the forward
    checks only need plausible values: He-scaled weights, BN scale and running var near 1,
    small biases and running means.
    """
    out, params, state = _shapes(model, shape)
    rng = np.random.default_rng(seed)

    def fill(path, a):
        name = path[-1].key
        if name == "w":
            std = np.sqrt(2.0 / np.prod(a.shape[:-1]))
        elif name in ("scale", "var"):
            return jnp.asarray(1.0 + 0.2 * rng.random(a.shape), jnp.float32)
        else:                                       # conv/dense bias, BN bias, running mean
            std = 0.1
        return jnp.asarray(rng.normal(0.0, std, a.shape), jnp.float32)

    return out, jax.tree.map_with_path(fill, params), jax.tree.map_with_path(fill, state)


# ----------------------------------------------------------------------------- ResNet, ImageNet
# torchvision ResNet*_Weights.IMAGENET1K_V1.meta["num_params"]
TORCHVISION = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160, 152: 60_192_808}


@pytest.mark.parametrize("depth", sorted(TORCHVISION))
def test_resnet_parameter_count_matches_torchvision(depth):
    out, params, state = _shapes(resnet(depth), (1, 224, 224, 3))
    assert out == (1, 1000)
    n = _count(params)
    assert abs(n - TORCHVISION[depth]) <= 0.01 * TORCHVISION[depth]
    assert n == TORCHVISION[depth]                  # in fact exact: same layers as torchvision
    assert _count(state) == 2 * sum(p["scale"].shape[0] for p in _bn_params(params))


def _bn_params(tree):
    if isinstance(tree, dict) and set(tree) == {"scale", "bias"}:
        return [tree]
    return [p for v in tree.values() if isinstance(v, dict) for p in _bn_params(v)]


def test_resnet18_by_hand():
    """Stem, four stages of two basic blocks, three projections, fc: 11,689,512."""
    bn = lambda c: 2 * c  # noqa: E731  (scale, bias)
    stem = 7 * 7 * 3 * 64 + bn(64)
    block = lambda cin, c: 9 * cin * c + bn(c) + 9 * c * c + bn(c)  # noqa: E731
    proj = lambda cin, c: cin * c + bn(c)  # noqa: E731
    stages = (2 * block(64, 64)
              + block(64, 128) + proj(64, 128) + block(128, 128)
              + block(128, 256) + proj(128, 256) + block(256, 256)
              + block(256, 512) + proj(256, 512) + block(512, 512))
    fc = 512 * 1000 + 1000
    assert stem + stages + fc == 11_689_512
    _, params, _ = _shapes(resnet18(), (1, 224, 224, 3))
    assert _count(params["stem"]) == stem and _count(params["head"]) == fc
    assert params["stage2"]["block1"]["residual"]["shortcut"]["conv"]["w"].shape == (1, 1, 64, 128)
    assert "shortcut" not in params["stage2"]["block2"]["residual"]          # identity
    assert "b" not in params["stem"]["conv"]                                 # no bias before BN


def test_resnet50_is_v1_5_stride_on_the_3x3():
    model = resnet50()
    shape = (1, 224, 224, 3)
    first = "stage2/block1/residual/main"
    assert _shapes(nn.cut(model, "stage1"), shape)[0] == (1, 56, 56, 256)
    assert _shapes(nn.cut(model, f"{first}/conv1"), shape)[0] == (1, 56, 56, 128)  # 1x1: stride 1
    assert _shapes(nn.cut(model, f"{first}/conv2"), shape)[0] == (1, 28, 28, 128)  # 3x3: stride 2
    assert _shapes(nn.cut(model, "stage4"), shape)[0] == (1, 7, 7, 2048)
    _, params, _ = _shapes(model, shape)
    assert params["stage1"]["block1"]["residual"]["shortcut"]["conv"]["w"].shape == (1, 1, 64, 256)


def test_resnet18_forward_under_jit_small_input():
    model = resnet18(10, input_size=32)
    out, params, state = _numpy_init(model, (2, 32, 32, 3))
    assert out == (2, 10)
    x = _images((2, 32, 32, 3))
    y, new_state = jax.jit(partial(model.apply, train=False))(params, state, x)
    assert y.shape == (2, 10) and bool(jnp.all(jnp.isfinite(y)))
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    # 32 -> 16 (conv1) -> 8 (pool) -> 8, 4, 2, 1 (stages)
    assert _shapes(nn.cut(model, "stage4"), (2, 32, 32, 3))[0] == (2, 1, 1, 512)


def test_zero_init_residual_starts_blocks_as_identity():
    x = _images((2, 5, 5, 8))
    blocks = {"basic": basic_block(8, zero_init_residual=True),
              "bottleneck": bottleneck_block(2, zero_init_residual=True)}

    @jax.jit
    def run(key):                               # the real `init`, one compilation for both
        inits = {k: b.init(key, x.shape)[1:] for k, b in blocks.items()}
        return inits, {k: b.apply(*inits[k], x)[0] for k, b in blocks.items()}

    # an "rbg" key: XLA:CPU compiles its random bits several times faster than threefry's
    inits, ys = run(jax.random.key(0, impl="rbg"))
    assert not np.any(inits["basic"][0]["residual"]["main"]["conv2"]["bn"]["scale"])
    assert not np.any(inits["bottleneck"][0]["residual"]["main"]["conv3"]["bn"]["scale"])
    np.testing.assert_array_equal(inits["bottleneck"][0]["residual"]["main"]["conv2"]["bn"]["scale"],
                                  np.ones(2))          # only the last BN of the block
    np.testing.assert_allclose(ys["basic"], jax.nn.relu(x), rtol=1e-6)
    np.testing.assert_allclose(ys["bottleneck"], jax.nn.relu(x), rtol=1e-6)


# ----------------------------------------------------------------------------- residual blocks by hand
def _conv_ref(x, w, stride=1, pad=1):
    return lax.conv_general_dilated(x, w, (stride, stride), ((pad, pad), (pad, pad)),
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _bn_eval_ref(z, p, s, eps=1e-5):
    """BN in eval mode: (z - running mean) / sqrt(running var + eps) * scale + bias."""
    c = lambda v: v.reshape((1,) * (z.ndim - 1) + (-1,))  # noqa: E731  (explicit broadcast)
    return (z - c(s["mean"])) / jnp.sqrt(c(s["var"]) + eps) * c(p["scale"]) + c(p["bias"])


def test_basic_block_equals_relu_of_main_plus_x():
    block = basic_block(8)
    x = _images((2, 6, 6, 8))
    out, params, state = _numpy_init(block, x.shape)
    assert out == x.shape
    y, _ = jax.jit(block.apply)(params, state, x)
    m, sm = params["residual"]["main"], state["residual"]["main"]
    # with the block's own main branch ...
    main_layer = dict(dict(block.children)["residual"].children)["main"]
    f, _ = jax.jit(main_layer.apply)(m, sm, x)
    np.testing.assert_allclose(y, jax.nn.relu(f + x), rtol=1e-6)

    @jax.jit
    def by_hand(m, sm, x):                      # relu(BN(conv3x3(relu(BN(conv3x3(x))))) + x)
        h = jax.nn.relu(_bn_eval_ref(_conv_ref(x, m["conv1"]["conv"]["w"]), m["conv1"]["bn"],
                                     sm["conv1"]["bn"]))
        return jax.nn.relu(_bn_eval_ref(_conv_ref(h, m["conv2"]["conv"]["w"]), m["conv2"]["bn"],
                                        sm["conv2"]["bn"]) + x)

    np.testing.assert_allclose(y, by_hand(m, sm, x), rtol=1e-5, atol=1e-5)


def test_cifar_option_a_shortcut_and_plain_block_by_hand():
    """Stage 2's first block, 16 -> 32 channels, stride 2, on a 7x7 map (odd: 7 -> 4)."""
    res, plain = cifar_resnet(20), cifar_resnet(20, plain=True)
    x = _images((2, 7, 7, 16))
    r_block = dict(dict(res.children)["stage2"].children)["block1"]
    p_block = dict(dict(plain.children)["stage2"].children)["block1"]
    out, params, state = _numpy_init(r_block, x.shape)
    assert out == (2, 4, 4, 32)
    assert "shortcut" not in params["residual"]                   # option A: no parameters
    m, sm = params["residual"]["main"], state["residual"]["main"]
    h = jax.nn.relu(_bn_eval_ref(_conv_ref(x, m["conv1"]["conv"]["w"], stride=2), m["conv1"]["bn"],
                                 sm["conv1"]["bn"]))
    f = _bn_eval_ref(_conv_ref(h, m["conv2"]["conv"]["w"]), m["conv2"]["bn"], sm["conv2"]["bn"])
    shortcut = jnp.concatenate([x[:, ::2, ::2, :], jnp.zeros((2, 4, 4, 16))], axis=-1)

    @jax.jit
    def run(m, sm, x):
        return (r_block.apply({"residual": {"main": m}}, {"residual": {"main": sm}}, x)[0],
                p_block.apply({"main": m}, {"main": sm}, x)[0])

    y, y_plain = run(m, sm, x)
    np.testing.assert_allclose(y, jax.nn.relu(f + shortcut), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y_plain, jax.nn.relu(f), rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- ResNet, CIFAR
def _cifar_by_hand(n: int, classes: int = 10) -> int:
    """He et al. 2016 section 4.2: conv 16, 3 stages x n blocks of two 3x3 convs, fc."""
    conv_bn = lambda cin, c: 9 * cin * c + 2 * c  # noqa: E731
    stem = conv_bn(3, 16)
    stage1 = n * 2 * conv_bn(16, 16)
    stage2 = conv_bn(16, 32) + conv_bn(32, 32) + (n - 1) * 2 * conv_bn(32, 32)
    stage3 = conv_bn(32, 64) + conv_bn(64, 64) + (n - 1) * 2 * conv_bn(64, 64)
    return stem + stage1 + stage2 + stage3 + 64 * classes + classes


# paper Table 6 "# params"
PAPER_CIFAR = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7}


@pytest.mark.parametrize("depth", sorted(PAPER_CIFAR))
def test_cifar_resnet_parameter_counts_vs_paper(depth):
    out, params, state = _shapes(cifar_resnet(depth), (1, 32, 32, 3))
    n = _count(params)
    assert out == (1, 10)
    assert n == _cifar_by_hand((depth - 2) // 6)
    digits = 1 if depth == 110 else 2
    assert round(n / 1e6, digits) == PAPER_CIFAR[depth]
    # plain nets: the same layers without the (parameter-free, option A) shortcuts
    assert _count(_shapes(cifar_resnet(depth, plain=True), (1, 32, 32, 3))[1]) == n


def test_cifar_named_variants_and_option_b():
    assert _count(_shapes(resnet20(), (1, 32, 32, 3))[1]) == 269_722
    assert _count(_shapes(resnet56(), (1, 32, 32, 3))[1]) == 853_018
    assert _count(_shapes(resnet110(), (1, 32, 32, 3))[1]) == 1_727_962
    assert _count(_shapes(plain20(), (1, 32, 32, 3))[1]) == 269_722
    assert _count(_shapes(plain56(), (1, 32, 32, 3))[1]) == 853_018
    # option B: two projections (16 -> 32, 32 -> 64), each a 1x1 conv and a BN
    b = _count(_shapes(cifar_resnet(20, shortcut="B"), (1, 32, 32, 3))[1])
    assert b == 269_722 + (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)
    assert resnet20.__name__ == "resnet20" and "269,722" in resnet20.__doc__
    # any input size: Fashion-MNIST 28x28x1 -> 28, 14, 7
    model = cifar_resnet(20)
    assert _shapes(model, (1, 28, 28, 1))[0] == (1, 10)
    assert _shapes(nn.cut(model, "stage3"), (1, 28, 28, 1))[0] == (1, 7, 7, 64)


def test_resnet20_one_train_step_on_fashion_mnist_shapes():
    model, opt = resnet20(), optax.sgd(0.1)
    _, params, state = _numpy_init(model, (1, 28, 28, 1))
    ts = TrainState(params, state, opt.init(params), jnp.zeros((), jnp.int32), KEY)
    params0, state0 = jax.tree.map(np.array, (ts.params, ts.state))
    step = make_train_step(model, opt, losses.softmax_cross_entropy)
    x = _images((4, 28, 28, 1))
    y = jnp.arange(4) % 10
    ts, logs = step(ts, (x, y))
    assert np.isfinite(float(logs["loss"])) and int(ts.step) == 1
    # every BN's running statistics moved (train=True) ...
    assert all(not np.allclose(a, b) for a, b in zip(jax.tree.leaves(state0),
                                                     jax.tree.leaves(ts.state)))
    # ... by r <- 0.9 r + 0.1 batch_stat: the stem's, with its conv's batch mean by hand
    z = _conv_ref(x, params0["stem"]["conv"]["w"])
    np.testing.assert_allclose(ts.state["stem"]["bn"]["mean"],
                               0.9 * state0["stem"]["bn"]["mean"] + 0.1 * np.mean(z, (0, 1, 2)),
                               rtol=1e-4, atol=1e-6)
    assert all(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(params0),
                                                        jax.tree.leaves(ts.params)))


# ----------------------------------------------------------------------------- GoogLeNet
# Szegedy et al. 2014 Table 1: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj)
TABLE1 = [(64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64), (192, 96, 208, 16, 48, 64),
          (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64), (112, 144, 288, 32, 64, 64),
          (256, 160, 320, 32, 128, 128), (256, 160, 320, 32, 128, 128),
          (384, 192, 384, 48, 128, 128)]


def _googlenet_by_hand(batch_norm: bool, k5: int = 5) -> int:
    """Weights of Table 1 plus, per conv, a bias (paper) or BN scale and bias (torchvision)."""
    per_channel = 2 if batch_norm else 1
    total = 7 * 7 * 3 * 64 + 64 * 64 + 9 * 64 * 192 + per_channel * (64 + 64 + 192)
    cin = 192
    for c1, r3, c3, r5, c5, pp in TABLE1:
        total += cin * (c1 + r3 + r5 + pp) + 9 * r3 * c3 + k5 * k5 * r5 * c5
        total += per_channel * (c1 + r3 + c3 + r5 + c5 + pp)
        cin = c1 + c3 + c5 + pp
    assert cin == 1024
    return total + 1024 * 1000 + 1000


def test_googlenet_parameter_count_vs_paper():
    out, params, state = _shapes(googlenet(), (1, 224, 224, 3))
    n = _count(params)
    assert out == (1, 1000) and state == {}
    assert n == _googlenet_by_hand(batch_norm=False) == 6_998_552
    # Table 1's params column: 2.7K + 112K + 159K + 380K + 364K + 437K + 463K + 580K + 840K +
    # 1072K + 1388K + 1000K = 6797.7K, in units of 1024 (conv2: 112K = 114,688 weights)
    paper = 6797.7 * 1024
    assert abs(n - paper) / paper < 0.01
    assert 64 * 64 + 9 * 64 * 192 == 112 * 1024
    assert _count(params["inception3a"]) - 368 == 163_328             # 159.5K: Table 1 "159K"


def test_googlenet_batch_norm_count_vs_torchvision():
    """torchvision (BN, no aux): 6,624,904 with its "5x5" branch built as 3x3 (vision#906)."""
    _, params, state = _shapes(googlenet(batch_norm=True), (1, 224, 224, 3))
    n = _count(params)
    assert _googlenet_by_hand(batch_norm=True, k5=3) == 6_624_904
    fix = sum((25 - 9) * r5 * c5 for _, _, _, r5, c5, _ in TABLE1)
    assert fix == 380_928
    assert n == 6_624_904 + fix == _googlenet_by_hand(batch_norm=True)
    assert _count(state) == n - _conv_weights(params) - 1_025_000   # mean, var per BN scale, bias
    # with aux heads: torchvision's 13,004,888 (same 5x5 correction)
    _, aux_params, _ = _shapes(googlenet(batch_norm=True, aux_heads=True), (1, 224, 224, 3))
    assert _count(aux_params) == 13_004_888 + fix


def _conv_weights(tree) -> int:
    return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(tree) if a.ndim == 4)


def test_googlenet_aux_heads_paper_section_5():
    model = googlenet(aux_heads=True)
    _, params, _ = _shapes(model, (1, 224, 224, 3))
    aux1, aux2 = params["aux1"]["head"], params["aux2"]["head"]
    # avgpool 5x5/3: 14x14 -> 4x4; 1x1 conv 128; FC 1024; linear 1000
    assert aux1["conv"]["conv"]["w"].shape == (1, 1, 512, 128)
    assert aux2["conv"]["conv"]["w"].shape == (1, 1, 528, 128)
    assert aux1["fc1"]["w"].shape == (4 * 4 * 128, 1024) and aux1["fc2"]["w"].shape == (1024, 1000)
    assert _count(aux1) == 512 * 128 + 128 + 2048 * 1024 + 1024 + 1024 * 1000 + 1000 == 3_188_840
    assert _count(aux2) == 3_190_888
    assert _count(params) == 6_998_552 + 3_188_840 + 3_190_888
    # the heads are Layers on the full params: image -> (B, num_classes)
    head1, head2 = googlenet_aux_heads(model)
    x = jax.ShapeDtypeStruct((2, 224, 224, 3), jnp.float32)
    _, p, s = _shapes(model, (2, 224, 224, 3))
    assert jax.eval_shape(head1.apply, p, s, x)[0].shape == (2, 1000)
    assert jax.eval_shape(head2.apply, p, s, x)[0].shape == (2, 1000)
    assert jax.eval_shape(model.apply, p, s, x)[0].shape == (2, 1000)
    with pytest.raises(ValueError, match=r"googlenet_aux_heads: expected a model from "
                                         r"googlenet\(aux_heads=True\)"):
        googlenet_aux_heads(googlenet())


def test_inception_block_channels_and_values_by_hand():
    """Inception 3a on a (2, 6, 6, 192) input: 64 + 128 + 32 + 32 = 256 channels."""
    block = inception(64, 96, 128, 16, 32, 32)
    x = _images((2, 6, 6, 192))
    out, params, state = _numpy_init(block, x.shape)
    assert out == (2, 6, 6, 64 + 128 + 32 + 32) and state == {}
    y, _ = jax.jit(block.apply)(params, state, x)
    assert y.shape == out

    def unit(z, p, pad):
        return jax.nn.relu(_conv_ref(z, p["conv"]["w"], pad=pad) + p["conv"]["b"][None, None, None])

    @jax.jit
    def by_hand(params, x):
        pooled = lax.reduce_window(x, -jnp.inf, lax.max, (1, 3, 3, 1), (1, 1, 1, 1),
                                   ((0, 0), (1, 1), (1, 1), (0, 0)))
        return jnp.concatenate([
            unit(x, params["branch1"], 0),
            unit(unit(x, params["branch3"]["reduce"], 0), params["branch3"]["conv"], 1),
            unit(unit(x, params["branch5"]["reduce"], 0), params["branch5"]["conv"], 2),
            unit(pooled, params["pool"]["proj"], 0)], axis=-1)

    np.testing.assert_allclose(y, by_hand(params, x), rtol=1e-5, atol=1e-5)
    assert params["branch5"]["conv"]["conv"]["w"].shape == (5, 5, 16, 32)   # a real 5x5


def test_googlenet_forward_small_input():
    """The whole net traced at 32x32 (compiling its 57 convolutions on CPU takes ~10 s; the
    Inception block above is compiled and checked by value)."""
    model = googlenet(10, input_size=32, batch_norm=True)
    out, params, state = _shapes(model, (2, 32, 32, 3))
    assert out == (2, 10)
    x = jax.ShapeDtypeStruct((2, 32, 32, 3), jnp.float32)
    y, new_state = jax.eval_shape(partial(model.apply, train=True), params, state, x,
                                  key=jax.random.key(2))
    assert y.shape == (2, 10) and y.dtype == jnp.float32
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    # 32 -> 16 (conv1) -> 8 (pool1) -> 4 (pool2) -> 2 (pool3) -> 1 (pool4)
    assert _shapes(nn.cut(model, "inception3b"), (2, 32, 32, 3))[0] == (2, 4, 4, 480)
    assert _shapes(nn.cut(model, "inception5b"), (2, 32, 32, 3))[0] == (2, 1, 1, 1024)
    with pytest.raises(ValueError, match=r"Dropout: train=True needs a random key"):
        jax.eval_shape(partial(model.apply, train=True), params, state, x)


# ----------------------------------------------------------------------------- errors
def test_invalid_arguments():
    with pytest.raises(ValueError, match=r"resnet: expected depth in \(18, 34, 50, 101, 152\), "
                                         r"got 20; for the CIFAR ResNets"):
        resnet(20)
    with pytest.raises(ValueError, match=r"cifar_resnet: expected depth = 6n \+ 2 .*got 18"):
        cifar_resnet(18)
    with pytest.raises(ValueError, match=r"cifar_resnet: expected depth = 6n \+ 2 .*got 2"):
        cifar_resnet(2)
    with pytest.raises(ValueError, match=r"cifar_resnet: expected shortcut 'A' .* got 'C'"):
        cifar_resnet(20, shortcut="C")
    with pytest.raises(ValueError, match=r"resnet18: expected input of shape \(batch, 224, 224, "
                                         r"channels\) for input_size=224, got \(1, 32, 32, 3\); "
                                         r"pass input_size=32"):
        resnet18().init(KEY, (1, 32, 32, 3))
    with pytest.raises(ValueError, match=r"googlenet: expected input_size to be a positive int "
                                         r"or None, got 0"):
        googlenet(input_size=0)
    assert resnet18(input_size=None).init is not None
