"""Paths over nested-dict params: name tensors as "features/conv1/w" (docs/design.md, section 1).

    paths(params)                      -> ["dense_0/b", "dense_0/w", "dense_1/b", "dense_1/w"]
    mask(params, "*/w")                -> same structure, True on the weight matrices
    mask(params, ["dense_0/*"])        -> True on every tensor of dense_0
    mask(params, lambda path, leaf: leaf.ndim > 1)
    weights_only(params)               -> True on leaves named "w" (not biases, not BN scales)

A selector (`Selector`) is a glob pattern, a sequence of patterns (a leaf is selected when
any matches), or a predicate `(path, leaf) -> bool`. Patterns use `fnmatch.fnmatchcase`:
`*` matches any run of characters *including* "/", so "*/w" selects a "w" at any depth and
"dense_0/*" everything below dense_0. Boolean trees from `mask` are what Optax expects as a
`mask` (`optax.add_decayed_weights`, `optax.masked`); `weights_only` is itself a valid Optax
mask function, and is accepted wherever a selector is. Paths are computed from the tree
structure only, so all of this is static under `jit` / `grad`.
"""
from __future__ import annotations

import fnmatch
from typing import Any, Callable, Sequence, Union

import jax

Predicate = Callable[[str, Any], bool]
Selector = Union[str, Sequence[str], Predicate]

__all__ = ["Selector", "path_str", "paths", "mask", "select", "weights_only", "is_weight",
           "check_matches"]


def _key_str(k: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def path_str(key_path: Sequence[Any]) -> str:
    """A `jax.tree_util` key path as "a/b/w" (dict keys, attribute names and indices)."""
    return "/".join(_key_str(k) for k in key_path)


def paths(tree: Any) -> list[str]:
    """The path of every leaf of `tree`, in `jax.tree.leaves` order, e.g. ["dense_0/b", ...]."""
    return [path_str(p) for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def select(selector: Selector, *, name: str = "selector") -> Predicate:
    """Turn a selector into a predicate `(path, leaf) -> bool` (`weights_only` -> `is_weight`).

    Raises a `TypeError` naming `name` when `selector` is neither a pattern, a sequence of
    patterns nor a callable.
    """
    if selector is weights_only:
        return is_weight
    if callable(selector):
        return selector
    if isinstance(selector, str):
        patterns: tuple[str, ...] = (selector,)
    else:
        try:
            patterns = tuple(selector)
        except TypeError:
            patterns = (None,)  # type: ignore[assignment]
        if not all(isinstance(p, str) for p in patterns):
            raise TypeError(f"{name}: expected a glob pattern, a sequence of patterns or a "
                            f"predicate (path, leaf) -> bool, got {selector!r}")
    return lambda path, leaf: any(fnmatch.fnmatchcase(path, p) for p in patterns)


def mask(tree: Any, selector: Selector) -> Any:
    """A tree of the structure of `tree` with `True` on the selected leaves, `False` elsewhere.

    `selector`: a glob pattern ("*/w"), a sequence of patterns (any match selects) or a
    predicate `(path, leaf) -> bool`.
    """
    pred = select(selector, name="mask")
    return jax.tree_util.tree_map_with_path(lambda p, leaf: bool(pred(path_str(p), leaf)), tree)


def is_weight(path: str, leaf: Any = None) -> bool:
    """The predicate behind `weights_only`: the last path component is "w"."""
    return path.rsplit("/", 1)[-1] == "w"


def weights_only(tree: Any) -> Any:
    """`True` on leaves named "w" (Dense / Conv kernels), `False` on biases "b", batch-norm
    "scale"/"bias" and everything else: "only weights are penalized, biases are not" (*Engineering
    Deep Learning*). Usable directly as an Optax mask function, and wherever jdl expects a selector
    (it stands for the predicate `is_weight`)."""
    return mask(tree, is_weight)


def check_matches(tree: Any, selector: Selector, *, name: str) -> list[str]:
    """The selected paths of `tree`; raise `ValueError` naming `name` when there is none
    (a typo such as "dense0/*" would otherwise silently select nothing)."""
    pred = select(selector, name=name)
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    chosen = [path_str(p) for p, leaf in flat if pred(path_str(p), leaf)]
    if not chosen:
        available = [path_str(p) for p, _ in flat]
        shown = ", ".join(available[:12]) + (", ..." if len(available) > 12 else "")
        what = getattr(selector, "__name__", None) if callable(selector) else None
        what = what or repr(selector)
        raise ValueError(f"{name}: expected {what} to select at least one parameter, got "
                         f"none; the parameter paths are [{shown}]")
    return chosen
