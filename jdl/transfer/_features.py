"""Feature extraction at a named layer and a head on top (Senk: fc6/fc7 features)."""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jdl import compile_cache, nn
from jdl.nn import Layer
from jdl.train import TrainState

# ---- feature extraction ---------------------------------------------------------------------

def _check_layer(fn: str, model: Any) -> None:
    if not isinstance(model, Layer):
        raise TypeError(f"{fn}: expected model to be a jdl.nn.Layer, got {type(model).__name__}")


def _build_cut(model: Layer, path: str, flatten: bool) -> Callable:
    cut = nn.cut(model, path)

    @jax.jit
    def run(params, state, x):
        y, _ = cut.apply(params, state, x, train=False)
        return y.reshape(y.shape[0], -1) if flatten else y

    return run


def feature_extractor(model: Layer, params: Any, state: Any, path: str, *,
                      flatten: bool = True) -> Callable[[Any], jax.Array]:
    """A jitted function `x -> features`: the output of the child at `path` in evaluation mode.

    Senk's "extract features (from the fc6 or fc7 layer) using your own data". Built on
    `jdl.nn.cut(model, path)`, which runs the model from its input up to and including the
    named child, with `train=False` (dropout off, batch norm on its running statistics):

        x: (B, *input)  ->  h_path(x): (B, *s)   ->  (B, prod(s)) with flatten=True

    `params` and `state` are the *full* trained model's (e.g. `ts.params`, `ts.state`). They
    are passed to the compiled function as arguments, not baked in as constants, so a 60M
    parameter network compiles quickly and is not copied into the program. One compile per
    input shape (cached per model object, path and `flatten`). `flatten=False` keeps feature
    maps as (B, H, W, C).
    """
    _check_layer("feature_extractor", model)
    if isinstance(params, TrainState):
        raise TypeError("feature_extractor: expected the model's params and state, got a "
                        "TrainState; pass ts.params, ts.state")
    nn.cut(model, path)  # raises now for a path that names no child
    run = compile_cache.cached(("feature_extractor", model, path, bool(flatten)),
                               lambda: _build_cut(model, path, bool(flatten)))

    def extract(x: Any) -> jax.Array:
        return run(params, state, x)

    extract.__doc__ = f"features of {path!r} (train=False{', flattened' if flatten else ''})"
    return extract


def extract_features(model: Layer, params: Any, state: Any, path: str, x: Any, *,
                     batch_size: int = 1000, flatten: bool = True) -> np.ndarray:
    """Features of `path` for a whole dataset, in batches: `(N, *input) -> (N, D)` NumPy array.

    Runs `feature_extractor(model, params, state, path, flatten=flatten)` on consecutive
    batches of `x` (NumPy or jax, host or device). The last batch is zero-padded to
    `batch_size` (as `jdl.train.predict` does), so the extractor compiles once; padded rows are
    dropped (evaluation mode treats every example on its own, so they do not change the real
    ones). Each batch's result is copied to host memory while the next one runs, so device
    memory holds about two batches whatever N is: 60,000 Fashion-MNIST images or AlexNet fc7
    features of a large set (N x 4096 x 4 bytes) never sit on the accelerator at once.
    The result is a host array: feed it to `jdl.train.fit` like any dataset.
    """
    if not hasattr(x, "shape"):
        x = np.asarray(x)
    n = len(x)
    if n == 0:
        raise ValueError("extract_features: expected at least one example, got x of length 0")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size <= 0:
        raise ValueError(f"extract_features: expected batch_size to be a positive int, got "
                         f"{batch_size!r}")
    bs = min(int(batch_size), n)
    fn = feature_extractor(model, params, state, path, flatten=flatten)
    out: np.ndarray | None = None
    pending: tuple[int, int, jax.Array] | None = None  # one batch in flight

    def collect(start: int, m: int, y: jax.Array) -> None:
        nonlocal out
        host = np.asarray(y)[:m]
        if out is None:
            out = np.empty((n,) + host.shape[1:], host.dtype)
        out[start:start + m] = host

    for start in range(0, n, bs):
        xb = x[start:start + bs]
        m = len(xb)
        if m < bs:
            xb = jnp.asarray(xb)
            xb = jnp.pad(xb, [(0, bs - m)] + [(0, 0)] * (xb.ndim - 1))
        y = fn(xb)
        if pending is not None:
            collect(*pending)
        pending = (start, m, y)
    collect(*pending)
    return out


def attach_head(model: Layer, path: str, head: Layer, *, flatten: bool = True,
                base_train: bool = True) -> Layer:
    """One model from a pretrained body cut at `path` and a new head: `head(h_path(x))`.

    `serial(("base", cut), ["flatten",] ("head", head))`: the classifier trained on extracted
    features becomes the top of a network that can then be fine-tuned end to end (Senk:
    feature extraction first, fine-tuning next). `flatten=True` puts a Flatten between them,
    matching `extract_features(..., flatten=True)`, so a head trained on those features plugs
    in unchanged.

    Params: `{"base": <the full model's params that the cut uses>, "head": <head params>}`
    (state likewise). The base keeps its paths under "base/" ("base/features/block1/conv/w");
    layers after the cut (the old classifier) are left out, so they get neither optimizer
    state nor weight decay. Fill it from pretrained trees with `init_transfer_state(...,
    {"base": params, "head": head_params}, {"base": state, "head": head_state})`.

    `base_train=False` runs the base in evaluation mode even while the model trains
    (`nn.eval_mode`): its batch norms normalize with, and keep, their pretrained running
    statistics and its dropout is off; the Keras transfer idiom `base_model(x,
    training=False)`. Use it when the base is frozen (`fine_tune_optimizer(frozen="base/*")`)
    or fine-tuned on a small dataset whose batches would wash out the pretrained statistics.
    """
    _check_layer("attach_head", model)
    _check_layer("attach_head", head)
    cut = nn.cut(model, path)

    def init(key, input_shape):
        shape, params, state = cut.init(key, input_shape)
        return shape, nn.cut_subtree(model, path, params), nn.cut_subtree(model, path, state)

    base = Layer(init, cut.apply, cut.kind)
    if not base_train:
        base = nn.eval_mode(base)
    children = [("base", base)] + ([("flatten", nn.Flatten())] if flatten else [])
    return nn.serial(*children, ("head", head))
