"""AlexNet, ZFNet and VGG: published parameter counts (shapes only, nothing allocated), deck 001's
ablations, small jitted forward passes, one train step, and the errors."""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jdl import losses, nn
from jdl.models import alexnet, vgg, vgg11, vgg13, vgg16, vgg19, zfnet
from jdl.summary import summary
from jdl.train import TrainState, make_train_step

KEY = jax.random.key(0)


def _count(model, input_shape):
    """Parameters from `jax.eval_shape(model.init, ...)`: 138M parameters cost nothing."""
    _, params, _ = jax.eval_shape(partial(model.init, input_shape=input_shape), KEY)
    return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))


def _numpy_init(model, input_shape, seed=0):
    """`(output_shape, params, state)` with He-scaled numpy weights in the shapes `init` declares.

    Compiling `init` (threefry random bits for every tensor) takes ~2 s per tensor on a loaded
    2-core machine, while the forward pass compiles in well under a second: the tests that run a
    model draw their weights with numpy instead.
    """
    box, rng = {}, np.random.default_rng(seed)

    def init(key):
        box["out"], params, state = model.init(key, input_shape)
        return params, state

    def fill(path, leaf):
        name = path[-1].key
        if name == "w":
            return jnp.asarray(rng.normal(size=leaf.shape) * np.sqrt(2 / np.prod(leaf.shape[:-1])),
                               jnp.float32)
        return (jnp.ones if name in ("scale", "var") else jnp.zeros)(leaf.shape, leaf.dtype)

    params, state = jax.tree_util.tree_map_with_path(fill, jax.eval_shape(init, KEY))
    return box["out"], params, state


def _counts_by_layer(model, input_shape):
    _, params, _ = jax.eval_shape(partial(model.init, input_shape=input_shape), KEY)
    return {name: sum(int(np.prod(p.shape)) for p in jax.tree.leaves(sub))
            for name, sub in params.items()}


# ----------------------------------------------------------------------- AlexNet / ZFNet
ALEXNET_LAYERS = {                                   # Krizhevsky et al. 2012, two towers
    "conv1": 11 * 11 * 3 * 96 + 96,                  # 34,944
    "conv2": 5 * 5 * 48 * 256 + 256,                 # 307,456: each tower sees 48 maps
    "conv3": 3 * 3 * 256 * 384 + 384,                # 885,120: sees both towers
    "conv4": 3 * 3 * 192 * 384 + 384,                # 663,936
    "conv5": 3 * 3 * 192 * 256 + 256,                # 442,624
    "fc6": 6 * 6 * 256 * 4096 + 4096,                # 37,752,832
    "fc7": 4096 * 4096 + 4096,                       # 16,781,312
    "fc8": 4096 * 1000 + 1000,                       # 4,097,000
}


def test_alexnet_parameter_count_two_towers():
    assert sum(ALEXNET_LAYERS.values()) == 60_965_224           # Caffe bvlc_alexnet
    assert _counts_by_layer(alexnet(), (1, 227, 227, 3)) == ALEXNET_LAYERS
    # torchvision's geometry: 224 with conv1 padded by 2 gives the same 55x55 map
    assert _count(alexnet(input_size=224), (1, 224, 224, 3)) == 60_965_224
    assert abs(60_965_224 - 61.0e6) / 61.0e6 < 0.01              # "~61M", within 1%


def test_alexnet_single_tower_and_torchvision_variant():
    extra = 5 * 5 * 48 * 256 + 3 * 3 * 192 * 384 + 3 * 3 * 192 * 256   # ungrouped weights double
    assert _count(alexnet(groups=1), (1, 227, 227, 3)) == 60_965_224 + extra == 62_378_344
    torchvision = alexnet(input_size=224, groups=1, lrn=False, widths=(64, 192, 384, 256, 256))
    assert _count(torchvision, (1, 224, 224, 3)) == 61_100_840   # AlexNet_Weights num_params
    macs = summary(torchvision, (1, 224, 224, 3)).total_macs
    assert abs(macs / 1e9 - 0.71) < 0.01                         # torchvision "GFLOPS": 0.71


def test_alexnet_ablations_deck_001():
    full = _count(alexnet(), (1, 227, 227, 3))
    no_fc7 = _count(alexnet(drop_layers=(7,)), (1, 227, 227, 3))
    assert full - no_fc7 == ALEXNET_LAYERS["fc7"] == 16_781_312      # "Drop ~16 million"
    no_3467 = _count(alexnet(drop_layers=(3, 4, 6, 7)), (1, 227, 227, 3))
    # conv5 now reads conv2's 256 maps (groups 2: 128 per tower); fc8 reads 9216 features
    expected = (ALEXNET_LAYERS["conv3"] + ALEXNET_LAYERS["conv4"]
                + ALEXNET_LAYERS["conv5"] - (3 * 3 * 128 * 256 + 256)
                + ALEXNET_LAYERS["fc6"] + ALEXNET_LAYERS["fc7"]
                + ALEXNET_LAYERS["fc8"] - (9216 * 1000 + 1000))
    assert full - no_3467 == expected == 51_110_656                  # "Drop ~50 million"
    assert abs(full - no_3467 - 50e6) / 50e6 < 0.03
    names = [name for name, _ in alexnet(drop_layers=(3, 4, 6, 7)).children]
    assert "conv3" not in names and "fc6" not in names and "pool5" in names


def test_zfnet_parameter_count_and_geometry():
    model = zfnet()
    expected = {"conv1": 7 * 7 * 3 * 96 + 96, "conv2": 5 * 5 * 96 * 256 + 256,
                "conv3": 3 * 3 * 256 * 384 + 384, "conv4": 3 * 3 * 384 * 384 + 384,
                "conv5": 3 * 3 * 384 * 256 + 256, "fc6": 6 * 6 * 256 * 4096 + 4096,
                "fc7": 4096 * 4096 + 4096, "fc8": 4096 * 1000 + 1000}
    assert _counts_by_layer(model, (1, 224, 224, 3)) == expected
    assert sum(expected.values()) == 62_357_608
    s = summary(model, (1, 224, 224, 3))
    sides = {p: s[p].output_shape[1] for p in ("conv1", "pool1", "conv2", "pool2", "conv5", "pool5")}
    assert sides == {"conv1": 110, "pool1": 55, "conv2": 26, "pool2": 13, "conv5": 13, "pool5": 6}
    assert s["pool5"].output_shape == (1, 6, 6, 256)             # Zeiler & Fergus Fig. 3


SMALL_ALEX = dict(input_size=67, widths=(8, 16, 16, 16, 8), fc_width=32)


def test_alexnet_small_forward_jit_and_cut(key):
    model = alexnet(10, **SMALL_ALEX)                 # 67 -> 15 -> 7 -> 7 -> 3 -> 3 -> 1
    out, params, state = _numpy_init(model, (2, 67, 67, 3))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 67, 67, 3)), jnp.float32)

    @jax.jit
    def run(params, x, key):
        y, new_state = model.apply(params, state, x)
        features, _ = nn.cut(model, "relu7").apply(params, state, x)  # the "fc7 features"
        y_train, _ = model.apply(params, state, x, key=key, train=True)  # dropout active
        return y, new_state, features, y_train

    y, new_state, features, y_train = run(params, x, key)
    assert out == y.shape == (2, 10) and bool(jnp.all(jnp.isfinite(y)))
    assert state == new_state == {}
    assert features.shape == (2, 32) and bool(jnp.all(features >= 0))
    assert summary(model, (2, 67, 67, 3))["pool5"].output_shape == (2, 1, 1, 8)
    assert not np.allclose(y_train, y)


def test_zfnet_smallest_input():
    model = zfnet(5, input_size=63, widths=(4, 8, 8, 8, 8), fc_width=16, lrn=False)
    s = summary(model, (1, 63, 63, 3))                # 63 -> 30 -> 15 -> 6 -> 3 -> 1
    assert s["pool5"].output_shape == (1, 1, 1, 8) and s.output_shape == (1, 5)
    assert "norm1" not in [r.path for r in s]


def _one_step(model, input_shape, key):
    optimizer = optax.sgd(0.01, momentum=0.9)
    _, params, state = _numpy_init(model, input_shape)
    ts = TrainState(params, state, jax.jit(optimizer.init)(params), jnp.zeros((), jnp.int32), key)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, *input_shape[1:])), jnp.float32)
    y = jnp.array([0, 1, 2, 3])
    step = make_train_step(model, optimizer, losses.softmax_cross_entropy)
    before = jax.tree.map(np.asarray, ts.params)
    ts, logs = step(ts, (x, y))
    assert np.isfinite(float(logs["loss"])) and int(ts.step) == 1
    changed = jax.tree.map(lambda a, b: not np.allclose(a, b), before, ts.params)
    return ts, changed


def test_alexnet_one_train_step(key):
    ts, changed = _one_step(alexnet(4, **SMALL_ALEX), (1, 67, 67, 3), key)
    assert changed["conv1"]["w"] and changed["fc8"]["b"]


def test_alexnet_errors():
    with pytest.raises(ValueError, match="groups 1 .* or 2 .*got 3"):
        alexnet(groups=3)
    with pytest.raises(ValueError, match="widths must be even"):
        alexnet(widths=(95, 256, 384, 384, 256))
    with pytest.raises(ValueError, match="widths to be 5 positive ints"):
        alexnet(widths=(96, 256))
    with pytest.raises(ValueError, match=r"drop_layers to be a subset of \(3, 4, 5, 6, 7\).*\(8,\)"):
        alexnet(drop_layers=(8,))
    with pytest.raises(ValueError, match="input_size >= 67"):
        alexnet(input_size=66)
    with pytest.raises(ValueError, match="input_size >= 63"):
        zfnet(input_size=62)
    with pytest.raises(ValueError, match=r"built for input_size=227.*got \(1, 224, 224, 3\)"):
        alexnet().init(KEY, (1, 224, 224, 3))
    with pytest.raises(ValueError, match="num_classes"):
        alexnet(0)


# ---------------------------------------------------------------------------------- VGG
VGG = {  # torchvision *_Weights.meta: num_params, GFLOPS (= multiply-adds) at 224
    11: (132_863_336, 132_868_840, 7.61), 13: (133_047_848, 133_053_736, 11.31),
    16: (138_357_544, 138_365_992, 15.47), 19: (143_667_240, 143_678_248, 19.63),
}


@pytest.mark.parametrize("depth", sorted(VGG))
def test_vgg_parameter_counts_and_macs(depth):
    plain, with_bn, gmacs = VGG[depth]
    assert _count(vgg(depth), (1, 224, 224, 3)) == plain
    assert _count(vgg(depth, batch_norm=True), (1, 224, 224, 3)) == with_bn
    assert abs(summary(vgg(depth), (1, 224, 224, 3)).total_macs / 1e9 - gmacs) < 0.01
    assert {16: vgg16, 11: vgg11, 13: vgg13, 19: vgg19}[depth].args == (depth,)


def test_vgg16_structure_by_hand():
    _, params, state = jax.eval_shape(partial(vgg16().init, input_shape=(1, 224, 224, 3)), KEY)
    convs = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
             (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    conv_params = sum(9 * a * b + b for a, b in convs)                   # 14,714,688
    fc = (7 * 7 * 512 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    assert conv_params + fc == 138_357_544
    assert set(params) == {"features", "classifier"} and state == {}
    assert [name for name, _ in vgg16().children] == ["features", "classifier"]
    assert [name for name, _ in vgg16().children[0][1].children][:5] == [
        "conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert params["features"]["conv5_3"]["w"].shape == (3, 3, 512, 512)
    assert params["classifier"]["fc6"]["w"].shape == (25088, 4096)
    assert set(params["classifier"]) == {"fc6", "fc7", "fc8"}


def test_vgg_small_input_forward_jit_and_cut():
    model = vgg(11, 10, input_size=32, classifier_width=64, base_width=8)
    out, params, state = _numpy_init(model, (2, 32, 32, 1))  # Fashion-MNIST padded to 32
    assert params["classifier"]["fc6"]["w"].shape == (64, 64)   # 1 x 1 x 64 after 5 pools
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 32, 32, 1)), jnp.float32)
    y, fc7, maps = jax.jit(lambda p, x: (model.apply(p, state, x)[0],
                                         nn.cut(model, "classifier/relu7").apply(p, state, x)[0],
                                         nn.cut(model, "features/pool3").apply(p, state, x)[0]))(
        params, x)
    assert out == y.shape == (2, 10) and bool(jnp.all(jnp.isfinite(y)))
    assert fc7.shape == (2, 64) and maps.shape == (2, 4, 4, 32)


def test_vgg_batch_norm_one_train_step(key):
    model = vgg(11, 4, batch_norm=True, input_size=32, classifier_width=32, base_width=4,
                dropout=0.0)
    ts, changed = _one_step(model, (1, 32, 32, 3), key)
    assert changed["features"]["conv1_1"]["w"] and changed["classifier"]["fc8"]["w"]
    bn = ts.state["features"]["bn1_1"]
    assert set(bn) == {"mean", "var"} and not np.allclose(bn["mean"], 0.0)   # statistics moved


def test_vgg_errors():
    with pytest.raises(ValueError, match=r"depth in \(11, 13, 16, 19\), got 12"):
        vgg(12)
    with pytest.raises(ValueError, match="input_size >= 32.*got 16"):
        vgg(16, input_size=16)
    with pytest.raises(ValueError, match="classifier_width to be a positive int, got 0"):
        vgg(16, classifier_width=0)
    with pytest.raises(ValueError, match=r"built for input_size=224.*got \(1, 32, 32, 3\)"):
        vgg16().init(KEY, (1, 32, 32, 3))
