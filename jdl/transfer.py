"""Transfer learning: feature extraction and fine-tuning (deck 003, CURRICULUM ch. 8).

Deck 003's two recipes, on a model trained by jdl (or loaded from a jdl weights file):

1. **Feature extraction.** Run the pretrained network up to a named layer (AlexNet's fc6 or
   fc7) on your own data and train a new classifier on those features:

       feats = transfer.extract_features(base, params, state, "fc7", x)       # (N, 4096)
       head_ts = train.init_train_state(models.logistic_regression(5), opt, key, feats[:1].shape)
       head_ts, _ = train.fit(head_ts, step, (feats, y), epochs=20, batch_size=128)

2. **Fine-tuning.** Start a new model (same body, new head) from the pretrained tensors and
   train it on your data, with the early layers frozen and the pretrained ones at a smaller
   learning rate than the new head:

       opt = transfer.fine_tune_optimizer(optax.adam(1e-3), frozen=["conv1/*", "conv2/*"],
                                          head="fc8/*", pretrained_lr_scale=0.1)
       ts, report = transfer.init_transfer_state(new_model, opt, key, (1, 227, 227, 3),
                                                 params, state, exclude="fc8/*")

Everything is addressed by parameter path ("features/block1/conv/w", see `jdl.paths`) and is
built from existing pieces: `jdl.nn.cut` (the feature extractor), `jdl.regularizers.freeze`
(optax.multi_transform + set_to_zero, *not* optax.masked, which passes raw gradients through
on unmasked leaves), `optax.scale` semantics for the pretrained learning rate, and
`jdl.checkpoint.save_weights` / `load_weights` (checksummed single file) for the weights.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jdl import nn
from jdl.nn import Layer
from jdl.paths import Selector, check_matches, path_str, select
from jdl.regularizers import freeze
from jdl.train import TrainState, init_train_state

__all__ = ["feature_extractor", "extract_features", "attach_head", "transplant",
           "TransplantReport", "init_transfer_state", "fine_tune_optimizer", "fine_tune_groups",
           "save_pretrained", "load_pretrained"]

_NUMBER = (int, float)


# ---- feature extraction ---------------------------------------------------------------------

def _check_layer(fn: str, model: Any) -> None:
    if not isinstance(model, Layer):
        raise TypeError(f"{fn}: expected model to be a jdl.nn.Layer, got {type(model).__name__}")


@functools.lru_cache(maxsize=32)  # the same model, path and flatten reuse one compiled program
def _compiled_cut(model: Layer, path: str, flatten: bool) -> Callable:
    cut = nn.cut(model, path)  # raises now for a path that names no child

    @jax.jit
    def run(params, state, x):
        y, _ = cut.apply(params, state, x, train=False)
        return y.reshape(y.shape[0], -1) if flatten else y

    return run


def feature_extractor(model: Layer, params: Any, state: Any, path: str, *,
                      flatten: bool = True) -> Callable[[Any], jax.Array]:
    """A jitted function `x -> features`: the output of the child at `path` in evaluation mode.

    Deck 003's "extract features (from the fc6 or fc7 layer) using your own data". Built on
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
    try:
        hash(model)
        compiled = _compiled_cut
    except TypeError:  # a hand-made Layer with unhashable fields: compile without the cache
        compiled = _compiled_cut.__wrapped__
    run = compiled(model, path, bool(flatten))

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


def _cut_tree(model: Layer, parts: list[str], tree: Any) -> Any:
    """The part of a full model's params (or state) that `nn.cut(model, path)` reads.

    Mirrors `jdl.nn._cut`: in a `serial` the children before the named one run too; in the
    other combinators (parallel, residual) only the named child does.
    """
    names = [n for n, _ in model.children]
    if parts[0] not in names:
        raise ValueError(f"cut: no child {parts[0]!r}; the {model.kind} there has children "
                         f"{names}")
    i = names.index(parts[0])
    name, child = model.children[i]
    out = {}
    if model.kind == "serial":
        out.update({n: tree[n] for n, _ in model.children[:i] if n in tree})
    if name in tree:
        sub = tree[name] if len(parts) == 1 else _cut_tree(child, parts[1:], tree[name])
        if sub:
            out[name] = sub
    return out


def attach_head(model: Layer, path: str, head: Layer, *, flatten: bool = True) -> Layer:
    """One model from a pretrained body cut at `path` and a new head: `head(h_path(x))`.

    `serial(("base", cut), ["flatten",] ("head", head))`: the classifier trained on extracted
    features becomes the top of a network that can then be fine-tuned end to end (deck 003:
    feature extraction first, fine-tuning next). `flatten=True` puts a Flatten between them,
    matching `extract_features(..., flatten=True)`, so a head trained on those features plugs
    in unchanged.

    Params: `{"base": <the full model's params that the cut uses>, "head": <head params>}`
    (state likewise). The base keeps its paths under "base/" ("base/features/block1/conv/w");
    layers after the cut (the old classifier) are left out, so they get neither optimizer
    state nor weight decay. Fill it from pretrained trees with `init_transfer_state(...,
    {"base": params, "head": head_params}, {"base": state, "head": head_state})`.
    """
    _check_layer("attach_head", model)
    _check_layer("attach_head", head)
    parts = [p for p in path.split("/") if p]
    cut = nn.cut(model, path)

    def init(key, input_shape):
        shape, params, state = cut.init(key, input_shape)
        return shape, _cut_tree(model, parts, params), _cut_tree(model, parts, state)

    base = Layer(init, cut.apply, cut.kind)
    children = [("base", base)] + ([("flatten", nn.Flatten())] if flatten else [])
    return nn.serial(*children, ("head", head))


# ---- copying pretrained tensors -------------------------------------------------------------

class TransplantReport(NamedTuple):
    """What `transplant` did, by path.

    Attributes:
      copied: paths of the new tree that now hold the pretrained tensor.
      kept: paths of the new tree left as initialised (not selected, excluded, or missing).
      missing: selected paths of the new tree that the pretrained tree lacks (part of `kept`).
      unused: paths of the pretrained tree that were not copied anywhere.
    """

    copied: tuple[str, ...]
    kept: tuple[str, ...]
    missing: tuple[str, ...]
    unused: tuple[str, ...]

    def __str__(self) -> str:
        def show(items: Sequence[str]) -> str:
            return ", ".join(items[:8]) + (", ..." if len(items) > 8 else "")

        lines = [f"copied {len(self.copied)} pretrained tensors",
                 f"kept {len(self.kept)} new: [{show(self.kept)}]"]
        if self.missing:
            lines.append(f"missing from pretrained {len(self.missing)}: [{show(self.missing)}]")
        lines.append(f"unused pretrained {len(self.unused)}: [{show(self.unused)}]")
        return "; ".join(lines)


def _transplant(pretrained: Any, new: Any, include: Selector, exclude: Selector | None,
                strict: bool, fn: str, check: bool) -> tuple[Any, TransplantReport]:
    inc = select(include, name=f"{fn}: include")
    exc = (lambda p, leaf: False) if exclude is None else select(exclude, name=f"{fn}: exclude")
    if check:
        check_matches(new, include, name=f"{fn}: include")
        if exclude is not None:  # a typo in exclude would copy the head it meant to keep
            check_matches(new, exclude, name=f"{fn}: exclude")
    source = {path_str(p): leaf for p, leaf in jax.tree_util.tree_flatten_with_path(pretrained)[0]}
    flat, treedef = jax.tree_util.tree_flatten_with_path(new)
    leaves, copied, kept, missing, wrong = [], [], [], [], []
    for key_path, leaf in flat:
        path = path_str(key_path)
        if not inc(path, leaf) or exc(path, leaf):
            kept.append(path)
            leaves.append(leaf)
        elif path not in source:
            kept.append(path)
            missing.append(path)
            leaves.append(leaf)
        elif np.shape(source[path]) != np.shape(leaf):
            wrong.append(f"{path}: pretrained shape {tuple(np.shape(source[path]))}, new model "
                         f"shape {tuple(np.shape(leaf))}")
            leaves.append(leaf)
        else:
            # a copy (jnp.array copies): donating the new TrainState to a train step must not
            # delete the caller's pretrained arrays. Cast to the new model's dtype.
            leaves.append(jnp.array(source[path], dtype=jnp.result_type(leaf)))
            copied.append(path)
    if wrong:
        raise ValueError(f"{fn}: expected each selected pretrained tensor to have the new model's "
                         f"shape, got {len(wrong)} mismatch(es):\n  " + "\n  ".join(wrong)
                         + "\nA new head (e.g. 10 -> 5 classes) must be left out: pass "
                           "exclude=<its paths> (such as 'classifier/logits/*') so it keeps "
                           "its fresh initialization.")
    if strict and missing:
        raise ValueError(f"{fn}: strict=True: expected every selected path of the new model in "
                         f"the pretrained tree, got {len(missing)} missing: {missing[:12]}")
    if check and flat and not copied:
        raise ValueError(f"{fn}: copied nothing: no selected path of the new model is in the "
                         f"pretrained tree (pretrained paths: {sorted(source)[:8]}; new paths: "
                         f"{[path_str(p) for p, _ in flat][:8]}). Pass params trees (ts.params), "
                         f"not a TrainState or a {{'params': ...}} wrapper.")
    done = set(copied)
    unused = tuple(p for p in source if p not in done)
    report = TransplantReport(tuple(copied), tuple(kept), tuple(missing), unused)
    return jax.tree_util.tree_unflatten(treedef, leaves), report


def transplant(pretrained: Any, new: Any, *, include: Selector = "*",
               exclude: Selector | None = None, strict: bool = False
               ) -> tuple[Any, TransplantReport]:
    """Copy pretrained tensors into a freshly initialised tree whose head differs.

    For every leaf of `new` whose path is selected by `include` and not by `exclude`, take the
    leaf of `pretrained` at the same path (a copy, cast to the new leaf's dtype); every other
    leaf of `new` is kept. Returns `(tree with new's structure, TransplantReport)`; print the
    report to see what was copied and what stays new. The usual call replaces a head:

        params, report = transplant(pre.params, fresh.params, exclude="output/*")  # 10 -> 5

    Works on any pair of trees with path names: params, batch-norm `state`, or
    `{"base": ..., "head": ...}` of `attach_head`. Like PyTorch's
    `load_state_dict(strict=False)`, paths absent from `pretrained` are kept new and listed as
    `missing` (`strict=True` makes them an error), and paths of `pretrained` that `new` lacks
    are listed as `unused`.

    Raises ValueError: when a selected path has a different shape in the two trees (all of
    them are named, with both shapes; exclude them to keep them new), when `include` or
    `exclude` selects nothing in `new` (a typo would otherwise copy a head you meant to
    replace), or when nothing at all is copied (e.g. a TrainState passed for params).
    """
    return _transplant(pretrained, new, include, exclude, strict, "transplant", check=True)


def init_transfer_state(model: Layer, optimizer: optax.GradientTransformation, key: jax.Array,
                        input_shape: Sequence[int], pretrained_params: Any,
                        pretrained_state: Any = None, *, include: Selector = "*",
                        exclude: Selector | None = None, strict: bool = False
                        ) -> tuple[TrainState, TransplantReport]:
    """`init_train_state` for a new model, then `transplant` the pretrained tensors into it.

    The step before fine-tuning (deck 003, "fine-tune the network on your own data"): build the
    new model (e.g. the same architecture with 5 classes), initialise it with `key`, copy every
    selected pretrained tensor of matching path and shape, and initialise `optimizer` on the
    result (fresh Adam moments, step 0). The new head stays at its initialization when
    excluded (`exclude="fc8/*"`).

    `pretrained_state` (batch-norm running statistics) is copied with the same `include` /
    `exclude`; it is required when the new model has state, since features computed with
    fresh statistics (mean 0, variance 1) would not be the pretrained ones: pass `{}` to keep
    the fresh statistics on purpose. The report's paths start with "params/" or "state/".
    """
    _check_layer("init_transfer_state", model)
    ts = init_train_state(model, optimizer, key, input_shape)
    params, rp = _transplant(pretrained_params, ts.params, include, exclude, strict,
                             "init_transfer_state", check=True)
    if pretrained_state is None:
        if jax.tree.leaves(ts.state):
            where = [path_str(p) for p, _ in jax.tree_util.tree_flatten_with_path(ts.state)[0]]
            raise ValueError(f"init_transfer_state: the new model has state (batch-norm running "
                             f"statistics at {where[:6]}); expected pretrained_state (e.g. the "
                             f"pretrained ts.state), got None. Pass pretrained_state={{}} to keep "
                             f"fresh statistics.")
        state, rs = ts.state, TransplantReport((), (), (), ())
    else:
        state, rs = _transplant(pretrained_state, ts.state, include, exclude, strict,
                                "init_transfer_state (state)", check=False)

    def merged(field: str) -> tuple[str, ...]:
        return (tuple(f"params/{p}" for p in getattr(rp, field))
                + tuple(f"state/{p}" for p in getattr(rs, field)))

    report = TransplantReport(*(merged(f) for f in TransplantReport._fields))
    return ts._replace(params=params, state=state, opt_state=optimizer.init(params)), report


# ---- the fine-tuning optimizer --------------------------------------------------------------

FROZEN, SCALED, FULL = "frozen", "scaled", "full"


def _grouping(fn: str, frozen: Selector | None, pretrained: Selector | None,
              head: Selector | None) -> tuple[Callable[[str, Any], str], Callable[[Any], None]]:
    """`(label(path, leaf) -> "frozen" | "scaled" | "full", check(params))` for the selectors."""
    if pretrained is not None and head is not None:
        raise ValueError(f"{fn}: expected pretrained or head, not both (head selects the new "
                         f"tensors, everything else is pretrained)")
    is_frozen = (lambda p, leaf: False) if frozen is None else select(frozen, name=f"{fn}: frozen")
    if pretrained is not None:
        pre = select(pretrained, name=f"{fn}: pretrained")
        is_scaled = pre
    elif head is not None:
        new = select(head, name=f"{fn}: head")

        def is_scaled(p, leaf):
            return not new(p, leaf)
    else:
        def is_scaled(p, leaf):
            return False

    def label(path: str, leaf: Any) -> str:
        return FROZEN if is_frozen(path, leaf) else SCALED if is_scaled(path, leaf) else FULL

    def check(params: Any) -> None:
        if frozen is not None:
            check_matches(params, frozen, name=f"{fn}: frozen")
        if pretrained is not None:
            check_matches(params, pretrained, name=f"{fn}: pretrained")
        if head is not None:
            heads = check_matches(params, head, name=f"{fn}: head")
            if len(heads) == len(jax.tree.leaves(params)):
                raise ValueError(f"{fn}: head: expected {head!r} to leave some pretrained "
                                 f"parameters, got every parameter selected")

    return label, check


def fine_tune_groups(params: Any, *, frozen: Selector | None = None,
                     pretrained: Selector | None = None, head: Selector | None = None
                     ) -> dict[str, str]:
    """`{path: "frozen" | "scaled" | "full"}`: how `fine_tune_optimizer` with the same
    selectors treats each tensor (update 0, s * u, or u). Print it to check the patterns
    before training, as Keras users list `layer.trainable`. Raises like the optimizer's `init`.
    """
    label, check = _grouping("fine_tune_groups", frozen, pretrained, head)
    check(params)
    return {path_str(p): label(path_str(p), leaf)
            for p, leaf in jax.tree_util.tree_flatten_with_path(params)[0]}


def _scale_scaled(label: Callable[[str, Any], str], factor: float,
                  check: Callable[[Any], None]) -> optax.GradientTransformation:
    """Multiply the updates labelled "scaled" by `factor`; stateless (optax.scale by path)."""

    def init(params):
        check(params)
        return optax.EmptyState()

    def update(updates, state, params=None):
        del params
        if factor == 1.0:
            return updates, state
        scaled = jax.tree_util.tree_map_with_path(
            lambda p, u: u * factor if label(path_str(p), u) == SCALED else u, updates)
        return scaled, state

    return optax.GradientTransformation(init, update)


def fine_tune_optimizer(optimizer: optax.GradientTransformation, *,
                        frozen: Selector | None = None, pretrained: Selector | None = None,
                        head: Selector | None = None, pretrained_lr_scale: float = 0.1
                        ) -> optax.GradientTransformation:
    """Fine-tuning optimizer: frozen layers fixed, pretrained layers slower, the new head at
    the full learning rate (deck 003 "fine-tuning"; CURRICULUM ch. 8).

    With u = the update `optimizer` computes for the trainable (non-frozen) parameters:

        frozen               w <- w              update exactly 0
        pretrained (scaled)  w <- w + s * u      s = pretrained_lr_scale
        head (full)          w <- w + u

    Built as `optax.chain(regularizers.freeze(optimizer, frozen), s on the pretrained
    leaves)`. `freeze` is `optax.multi_transform` with `set_to_zero` (not `optax.masked`,
    which would pass raw gradients through), so frozen tensors stay bit-identical and get no
    optimizer state. The optimizer sees all trainable leaves at once, so global-norm clipping
    and schedules behave as in ordinary training (separate optimizers per group, as
    `multi_transform({"pre": adam(1e-4), "head": adam(1e-3)})` would give, clip each group by
    its own norm). `fine_tune_groups(params, ...)` lists the group of every tensor.

    Scaling the *update* by s is a learning rate s * lr for the pretrained part: for SGD,
    momentum, Nesterov, RMSProp, Adagrad and Adam(W) the update is linear in a constant lr and
    the optimizer's state (velocity, moments) does not depend on it, so s * u is the update of
    the same optimizer with learning rate s * lr (up to float rounding; tested for SGD,
    momentum and Adam). Weight decay inside `optimizer` is scaled too, as a smaller lr scales
    AdamW's decay. Wrap the *whole* optimizer, decay included:
    `fine_tune_optimizer(weight_decay(adam(1e-3), 1e-4), frozen=...)`; decay added outside
    (`weight_decay(fine_tune_optimizer(...), ...)`) would move the frozen weights.

    Args:
      optimizer: any Optax GradientTransformation (for all trainable parameters).
      frozen: selector (glob pattern(s) or predicate, see `jdl.paths`) of the tensors to keep
        fixed, e.g. `["features/block1/*"]` (deck 003: freeze the early layers, whose features
        are generic). Frozen wins over `pretrained`. None: nothing frozen.
      pretrained: selector of the pretrained tensors to train at s * lr. Give this or `head`.
      head: selector of the new tensors trained at the full lr; everything else is
        pretrained. Convenient because a glob pattern cannot say "all but the head".
      pretrained_lr_scale: s >= 0 (0.1 by default, a common choice). Ignored when neither
        `pretrained` nor `head` is given (then this is `freeze` alone).

    Selectors that select nothing (a typo) raise ValueError at `optimizer.init(params)`.
    """
    fn = "fine_tune_optimizer"
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"{fn}: expected optimizer to be an optax.GradientTransformation, got "
                        f"{type(optimizer).__name__}")
    s = pretrained_lr_scale
    if isinstance(s, bool) or not isinstance(s, _NUMBER) or not s >= 0:
        raise ValueError(f"{fn}: expected pretrained_lr_scale to be a number >= 0, got {s!r}")
    label, check = _grouping(fn, frozen, pretrained, head)
    tx = optimizer if frozen is None else freeze(optimizer, frozen)
    if pretrained is None and head is None:
        return tx
    return optax.chain(tx, _scale_scaled(label, float(s), check))


# ---- weights from a local file --------------------------------------------------------------

def save_pretrained(path: str | os.PathLike, params: Any, state: Any = None) -> Path:
    """Write `{"params": params, "state": state}` to one checksummed file (no pickle).

    `jdl.checkpoint.save_weights` with the layout docs/checkpoints.md recommends, so
    `load_pretrained` (or `load_weights` with the same target) reads it back. `state=None`
    stores `{}` (a model without batch norm). Returns the path.
    """
    from jdl.checkpoint import save_weights  # imports flax / orbax only when asked for

    return save_weights(path, {"params": params, "state": {} if state is None else state})


def load_pretrained(path: str | os.PathLike, model: Layer, input_shape: Sequence[int]
                    ) -> tuple[Any, Any]:
    """`(params, state)` of `model` from a weights file written by `save_pretrained`.

    The target tree comes from `jax.eval_shape(model.init, ...)` for `input_shape` (batch axis
    included, any batch size): nothing is initialised or compiled, the file fixes every value.
    The file is verified (magic, header, sha256) and its tree must equal the model's exactly:
    a different architecture, head width or input size raises ValueError listing each
    mismatching path (`params/output/w: expected shape (84, 5) float32, received shape
    (84, 10) float32`). To reuse a file for a model with a different head, load it with the
    model it was saved from, then `transplant` / `init_transfer_state`.
    """
    _check_layer("load_pretrained", model)
    from jdl.checkpoint import load_weights

    shape = tuple(int(d) for d in input_shape)
    params, state = jax.eval_shape(lambda k: model.init(k, shape)[1:], jax.random.key(0))
    try:
        tree = load_weights(path, {"params": params, "state": state})
    except ValueError as e:
        e.add_note(f"load_pretrained: the target is {model!r} on input_shape {shape}; the file "
                   f"must hold {{'params': ..., 'state': ...}} of that model (save_pretrained)")
        raise
    return tree["params"], tree["state"]
