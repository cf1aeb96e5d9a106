"""jdl: a functional deep-learning library on JAX.

Models are pure `init` / `apply` pairs over parameter pytrees (`jdl.nn`), trained by jitted
steps that combine Optax optimizers with explicit dropout keys and batch-norm state
(`jdl.train`). See README.md for the map of the package.
"""
__version__ = "0.1.0"
