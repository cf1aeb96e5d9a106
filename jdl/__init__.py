"""jdl: a functional deep-learning library on JAX.

Models are pure `init` / `apply` pairs over parameter pytrees (`jdl.nn`, `jdl.models`), trained
by jitted steps that combine Optax optimizers with explicit dropout keys and batch-norm state
(`jdl.train`); `jdl.transfer` reuses them for feature extraction and fine-tuning, and
`jdl.checkpoint` saves and restores them. `jdl.viz` (matplotlib) is imported on first use of
`jdl.viz`. See README.md for the map.
"""
import importlib

from jdl import (activations, backprop, checkpoint, checks, compile_cache, data, initializers,
                 io, losses, metrics, models, nn, optimizers, paths, regularizers, schedules,
                 summary, train, transfer)

__version__ = "0.1.0"

__all__ = ["activations", "backprop", "checkpoint", "checks", "compile_cache", "data",
           "initializers", "io", "losses", "metrics", "models", "nn", "optimizers", "paths",
           "regularizers", "schedules", "summary", "train", "transfer", "viz", "__version__"]


def __getattr__(name: str):
    """`jdl.viz` on first use: it imports matplotlib, which most training scripts never need."""
    if name == "viz":
        return importlib.import_module("jdl.viz")
    raise AttributeError(f"module 'jdl' has no attribute {name!r}")
