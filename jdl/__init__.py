"""jdl: a functional deep-learning library on JAX.

Models are pure `init` / `apply` pairs over parameter pytrees (`jdl.nn`, `jdl.models`), trained
by jitted steps that combine Optax optimizers with explicit dropout keys and batch-norm state
(`jdl.train`); `jdl.transfer` reuses them for feature extraction and fine-tuning. `jdl.viz`
(matplotlib) is imported on first use. See README.md for the map.
"""
from jdl import (activations, backprop, data, initializers, losses, metrics, models, nn, optimizers,
                 paths, regularizers, schedules, train, transfer)

__version__ = "0.1.0"

__all__ = ["activations", "backprop", "data", "initializers", "losses", "metrics", "models", "nn",
           "optimizers", "paths", "regularizers", "schedules", "train", "transfer", "__version__"]
