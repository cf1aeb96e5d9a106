"""Fine-tuning optimizers: frozen, smaller-learning-rate (pretrained) and full (head) groups."""
from __future__ import annotations

from typing import Any, Callable

import jax
import optax

from jdl.paths import Selector, check_matches, path_str, select
from jdl.regularizers import freeze

_NUMBER = (int, float)
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
    the full learning rate (Senk, "fine-tuning"; docs/curriculum.md, chapter 8).

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
        fixed, e.g. `["features/block1/*"]` (Senk: freeze the early layers, whose features
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
