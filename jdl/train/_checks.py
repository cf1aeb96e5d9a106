"""Input checks shared by `fit`, `fit_population`, `evaluate` and `predict`: each error names
the argument, what was expected and what was received."""
from __future__ import annotations

import jax
import numpy as np

from jdl import compile_cache


def check_pair(data, name: str) -> tuple:
    """`data` as `(x, y)` with as many examples in x as in y."""
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise ValueError(f"{name}: expected a pair (x, y), got {type(data).__name__}")
    x, y = data
    if len(x) != len(y):
        raise ValueError(f"{name}: expected x and y with the same number of examples, got "
                         f"{len(x)} and {len(y)}")
    return x, y


def check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return int(value)


def check_training_inputs(train_data, batch_size, val_data, eval_step, steps_per_call, *,
                          epochs, unroll=None) -> tuple:
    """The checks every training loop makes: returns `(x, y, batch_size, steps_per_call,
    unroll)` (None for either means "the default rule decides")."""
    if unroll is not None and not isinstance(unroll, bool):
        raise ValueError(f"unroll: expected True, False or None (the default rule), got {unroll!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs: expected an int >= 0, got {epochs!r}")
    x, y = check_pair(train_data, "train_data")
    n = len(x)
    if n == 0:
        raise ValueError("train_data: expected at least one example, got an empty dataset")
    batch_size = check_positive_int(batch_size, "batch_size")
    if batch_size > n:
        raise ValueError(f"batch_size: expected at most the number of training examples ({n}), "
                         f"got {batch_size}")
    if val_data is not None:
        check_pair(val_data, "val_data")
        if eval_step is None:
            raise ValueError("eval_step: expected an eval step (make_eval_step(...)) when val_data "
                             "is given, got None")
    if steps_per_call is not None:
        steps_per_call = check_positive_int(steps_per_call, "steps_per_call")
    return x, y, batch_size, steps_per_call, unroll


def _shapes(tree) -> dict[str, tuple]:
    return {jax.tree_util.keystr(p, simple=True, separator="/"): tuple(np.shape(leaf))
            for p, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _expected_shapes(model, shape: tuple) -> tuple[dict, dict]:
    def build():
        params, state = jax.eval_shape(lambda k: model.init(k, shape)[1:], jax.random.key(0))
        return _shapes(params), _shapes(state)
    return compile_cache.cached(("param_shapes", model, shape), build)


def check_model_fits(model, ts, x, limit: int = 4) -> None:
    """Raise ValueError when `x` is not an input `model` accepts, or when `ts.params` /
    `ts.state` are not the trees `model.init` makes for inputs shaped like `x` (a TrainState of
    another model): paths and shapes must agree, dtypes may differ."""
    shape = (1, *np.shape(x)[1:])
    try:
        expected = _expected_shapes(model, shape)
    except (ValueError, TypeError) as e:
        raise ValueError(f"x: expected inputs that {model.kind} accepts, got shape "
                         f"{np.shape(x)}: {e}") from None
    for name, want, tree in zip(("ts.params", "ts.state"), expected, (ts.params, ts.state)):
        got = _shapes(tree)
        diffs = [f"{p}: expected {want.get(p, 'no such path')}, got {got.get(p, 'nothing')}"
                 for p in sorted(set(want) | set(got)) if want.get(p) != got.get(p)]
        if diffs:
            more = f"; and {len(diffs) - limit} more" if len(diffs) > limit else ""
            raise ValueError(f"{name}: expected the tree {model.kind}.init makes for x of shape "
                             f"{np.shape(x)}, got a tree that differs at {len(diffs)} path(s): "
                             f"{'; '.join(diffs[:limit])}{more} (a TrainState of another model, "
                             f"or x of another shape?)")
