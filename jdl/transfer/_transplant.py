"""Copy pretrained tensors into a freshly initialized model (a new head, the same body)."""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jdl.nn import Layer
from jdl.paths import Selector, check_matches, path_str, select
from jdl.train import TrainState, init_train_state
from jdl.transfer._features import _check_layer

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

    The step before fine-tuning (Senk, "fine-tune the network on your own data"): build the
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
