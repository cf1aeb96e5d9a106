"""GoogLeNet / Inception v1 (Szegedy et al. 2014, "Going deeper with convolutions"; Salakhutdinov).

The Inception module runs four branches on the same input and stacks their feature maps:

    y = concat_channels[ relu(conv1x1(x)),
                         relu(conv3x3(relu(conv1x1_reduce(x)))),
                         relu(conv5x5(relu(conv1x1_reduce(x)))),
                         relu(conv1x1_proj(maxpool3x3_s1(x))) ]

The 1x1 "reduce" convolutions shrink the channels before the expensive 3x3 and 5x5 ones, which
is how a 22-layer network gets by with ~7M parameters (AlexNet: 61M). Salakhutdinov shows it as a
"24 layer model"; the paper counts 22 layers with parameters (27 with the pooling layers).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jdl import nn
from jdl.models._resnet import _check_input_size

# Szegedy et al. 2014, Table 1: name -> (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj)
_TABLE: dict[str, tuple[int, int, int, int, int, int]] = {
    "inception3a": (64, 96, 128, 16, 32, 32),
    "inception3b": (128, 128, 192, 32, 96, 64),
    "inception4a": (192, 96, 208, 16, 48, 64),
    "inception4b": (160, 112, 224, 24, 64, 64),
    "inception4c": (128, 128, 256, 24, 64, 64),
    "inception4d": (112, 144, 288, 32, 64, 64),
    "inception4e": (256, 160, 320, 32, 128, 128),
    "inception5a": (256, 160, 320, 32, 128, 128),
    "inception5b": (384, 192, 384, 48, 128, 128),
}
# Max pools (3x3, stride 2) come after these modules; "SAME" padding gives torchvision's
# ceil_mode sizes 56 -> 28 -> 14 -> 7 at 224x224 (the same windows, too).
_POOL_AFTER = {"inception3b": "pool3", "inception4e": "pool4"}
_AUX_AFTER = {"inception4a": "aux1", "inception4d": "aux2"}


def _conv(features: int, kernel: int, stride: int = 1, padding: nn.Padding = "SAME", *,
          batch_norm: bool = False) -> nn.Layer:
    """conv - ReLU (paper), or bias-free conv - BN - ReLU (`batch_norm`; torchvision's BasicConv2d)."""
    conv = nn.Conv(features, kernel, stride, padding, use_bias=not batch_norm, w_init="he")
    if batch_norm:
        return nn.serial(("conv", conv), ("bn", nn.BatchNorm(eps=1e-3)), ("relu", nn.Relu()))
    return nn.serial(("conv", conv), ("relu", nn.Relu()))


def inception(c1: int, c3_reduce: int, c3: int, c5_reduce: int, c5: int, pool_proj: int, *,
              batch_norm: bool = False) -> nn.Layer:
    """The Inception module (paper Fig. 2b): four branches on the same input, concatenated.

    `(B, H, W, C)` -> `(B, H, W, c1 + c3 + c5 + pool_proj)`. Branches: "branch1" 1x1 `c1`;
    "branch3" 1x1 `c3_reduce` then 3x3 `c3`; "branch5" 1x1 `c5_reduce` then 5x5 `c5`;
    "pool" 3x3/1 max pool then 1x1 `pool_proj`. Every convolution is followed by a ReLU (and
    preceded-by-BN-and-bias-free with `batch_norm=True`; the published net has no BN).

    Parameters without BN: C (c1 + c3_reduce + c5_reduce + pool_proj) + 9 c3_reduce c3
    + 25 c5_reduce c5 weights, plus one bias per output channel of every conv; e.g. 3a on 192
    channels: 163,328 weights + 368 biases (Table 1: "159K", with K = 1024).
    """
    return nn.parallel(
        ("branch1", _conv(c1, 1, batch_norm=batch_norm)),
        ("branch3", nn.serial(("reduce", _conv(c3_reduce, 1, batch_norm=batch_norm)),
                              ("conv", _conv(c3, 3, batch_norm=batch_norm)))),
        ("branch5", nn.serial(("reduce", _conv(c5_reduce, 1, batch_norm=batch_norm)),
                              ("conv", _conv(c5, 5, batch_norm=batch_norm)))),
        ("pool", nn.serial(("pool", nn.MaxPool(3, 1, "SAME")),
                           ("proj", _conv(pool_proj, 1, batch_norm=batch_norm)))),
    )


def _aux_pool() -> nn.Layer:
    """5x5/3 average pooling (14x14 -> 4x4 at 224x224); maps smaller than 5x5 are averaged to 1x1."""
    pool = nn.AvgPool(5, 3)

    def small(shape) -> bool:
        return min(shape[1:3]) < 5

    def init(key, input_shape):
        shape = tuple(input_shape)
        if len(shape) == 4 and small(shape):
            return (shape[0], 1, 1, shape[3]), {}, {}
        return pool.init(key, shape)

    def apply(params, state, x, *, key=None, train=False):
        if small(x.shape):
            return jnp.mean(x, axis=(1, 2), keepdims=True), state
        return pool.apply(params, state, x)

    return nn.Layer(init, apply, "aux_pool")


def _aux_head(num_classes: int, *, batch_norm: bool) -> nn.Layer:
    """Auxiliary classifier (paper section 5): avgpool 5x5/3, 1x1 conv 128 - ReLU, FC 1024 - ReLU,
    dropout 0.7, linear `num_classes`. 3,188,840 parameters on inception4a (512 channels) at
    1000 classes, 3,190,888 on inception4d (528)."""
    return nn.serial(("pool", _aux_pool()), ("conv", _conv(128, 1, batch_norm=batch_norm)),
                     ("flatten", nn.Flatten()), ("fc1", nn.Dense(1024, w_init="he")),
                     ("relu", nn.Relu()), ("dropout", nn.Dropout(0.7)),
                     ("fc2", nn.Dense(num_classes)))


def _side_branch(head: nn.Layer) -> nn.Layer:
    """A side branch: passes its input through unchanged and holds `head` as child "head".

    Its params/state are `{"head": ...}`; the head runs only when reached with
    `nn.cut(model, "<name>/head")`, so the main output and its cost are those of the trunk.
    """

    def init(key, input_shape):
        _, params, state = head.init(jax.random.fold_in(key, 0), input_shape)  # as combinators do
        return (tuple(input_shape), {"head": params} if params else {},
                {"head": state} if state else {})

    def apply(params, state, x, *, key=None, train=False):
        return x, state

    return nn.Layer(init, apply, "side_branch", (("head", head),))


def googlenet(num_classes: int = 1000, *, aux_heads: bool = False, input_size: int | None = 224,
              dropout: float = 0.4, batch_norm: bool = False) -> nn.Layer:
    """GoogLeNet of Szegedy et al. 2014, Table 1: 22 weighted layers, 9 Inception modules.

    At 224x224x3:  conv1 7x7/2 64 (112x112) - pool1 3x3/2 (56) - conv2_reduce 1x1 64 -
    conv2 3x3 192 - pool2 (28) - inception3a, 3b (28x28x480) - pool3 (14) - inception4a..4e
    (14x14x832) - pool4 (7) - inception5a, 5b (7x7x1024) - global average pool - dropout 0.4 -
    fc `num_classes` (logits; apply a softmax in the loss). The local response normalization
    layers of the paper are left out (no parameters; torchvision leaves them out too).

    Parameters at 1000 classes, no aux heads (counted in the tests):
      - `batch_norm=False` (the paper: conv biases, no BN): 6,998,552. Paper Table 1 sums to
        6,797.7K with K = 1024 (its conv2 "112K" is 114,688 weights and its linear "1000K" is
        1,024,000), i.e. 6,960,845: within 0.6%. The often-quoted "6.8M" is that sum read in
        thousands.
      - `batch_norm=True` (bias-free convs + BN, eps 1e-3): 7,005,832 = torchvision's
        6,624,904 + 380,928, because torchvision's "5x5" branch is a 3x3 conv (a known bug,
        pytorch/vision#906): 16 fewer weights per c5_reduce x c5 pair. Here the 5x5 is 5x5.

    Auxiliary heads (`aux_heads=True`, paper section 5): +6,379,728 parameters (+6,379,984 with
    BN; torchvision's 13,004,888 with aux heads is matched the same way). The model's output
    stays one array (the main logits) so losses, metrics and `fit` work unchanged, and
    inference costs nothing extra (the paper discards the heads at test time). The heads'
    parameters live in the same tree, under "aux1" (after inception4a) and "aux2" (after
    inception4d), as side branches that pass the trunk's features through. Their logits come
    from cutting the model: `aux1, aux2 = googlenet_aux_heads(model)` are
    `nn.cut(model, "aux1/head")` and `nn.cut(model, "aux2/head")`, Layers that take the *full*
    params and state. The paper's training loss is `ce(model) + 0.3 * (ce(aux1) + ce(aux2))` in
    a custom objective. Each cut re-runs the trunk up to its branch point; inside one `jit`,
    XLA's common-subexpression elimination merges those repeated forward prefixes (checked on
    XLA:CPU: a model plus a cut of it compile to the model's convolutions alone), while the
    backward pass through the shared trunk is partly repeated per head.

    Args:
      num_classes: logits of the main (and auxiliary) classifiers.
      aux_heads: add the two auxiliary classifiers' parameters (see above).
      input_size: the square image side `init` accepts; None accepts any size. The network is
        fully convolutional up to a global average pool, so any size >= 1 works (32x32 gives
        1x1 maps after pool4).
      dropout: drop rate before the final classifier (0.4 in the paper).
      batch_norm: BN after every convolution (torchvision's variant; not in the paper).

    Paths: `conv1/conv/w`, `inception4a/branch5/conv/conv/w`, `aux1/head/fc2/w`, `fc/w`.
    """
    layers: list[tuple[str, nn.Layer]] = [
        ("conv1", _conv(64, 7, 2, padding=3, batch_norm=batch_norm)),
        ("pool1", nn.MaxPool(3, 2, "SAME")),
        ("conv2_reduce", _conv(64, 1, batch_norm=batch_norm)),
        ("conv2", _conv(192, 3, batch_norm=batch_norm)),
        ("pool2", nn.MaxPool(3, 2, "SAME")),
    ]
    for name, widths in _TABLE.items():
        layers.append((name, inception(*widths, batch_norm=batch_norm)))
        if aux_heads and name in _AUX_AFTER:
            head = _aux_head(num_classes, batch_norm=batch_norm)
            layers.append((_AUX_AFTER[name], _side_branch(head)))
        if name in _POOL_AFTER:
            layers.append((_POOL_AFTER[name], nn.MaxPool(3, 2, "SAME")))
    layers += [("avgpool", nn.GlobalAvgPool()), ("dropout", nn.Dropout(dropout)),
               ("fc", nn.Dense(num_classes))]
    return _check_input_size(nn.serial(*layers), input_size, "googlenet")


def googlenet_aux_heads(model: nn.Layer) -> tuple[nn.Layer, nn.Layer]:
    """The auxiliary classifiers of `googlenet(aux_heads=True)` as Layers on the full params.

    Returns `(aux1, aux2)` = `(nn.cut(model, "aux1/head"), nn.cut(model, "aux2/head"))`: each
    maps the image `(B, H, W, 3)` to `(B, num_classes)` logits, taking the whole model's params
    and state (and returning the whole state with the entries that ran updated) and deriving
    the same keys as the full model.
    """
    names = [name for name, _ in model.children]
    if "aux1" not in names or "aux2" not in names:
        raise ValueError(f"googlenet_aux_heads: expected a model from googlenet(aux_heads=True) "
                         f"with children 'aux1' and 'aux2', got children {names}")
    return nn.cut(model, "aux1/head"), nn.cut(model, "aux2/head")
