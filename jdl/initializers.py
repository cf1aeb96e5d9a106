"""Weight initializers of CURRICULUM chapter 4 (decks 000, 003, 004).

Each is a `jax.nn.initializers` initializer: a function `init(key, shape, dtype) -> array`.
Fan-in and fan-out follow JAX's convention: for a Dense kernel `(in, out)` fan_in = in; for a
convolution kernel `(kh, kw, c_in, c_out)` fan_in = kh * kw * c_in (the receptive field).

  zeros / constant(c)   every weight equal: fails by symmetry (all hidden units stay identical)
  normal(sigma)         w ~ N(0, sigma^2)
  uniform(b)            w ~ U[-b, b]             (jax.nn's `uniform` is U[0, scale): not the decks')
  he                    w ~ N(0, 2 / fan_in)     (He et al. 2015, for ReLU; truncated=False)
  glorot                w ~ U[-sqrt(6/(fan_in+fan_out)), +...]  (Glorot & Bengio 2010, "Xavier")
  lecun                 w ~ N(0, 1 / fan_in)     (LeCun 1998; the Flax default; truncated normal)
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.nn import initializers as _jinit

__all__ = ["zeros", "ones", "constant", "normal", "uniform", "he", "he_uniform", "glorot",
           "glorot_normal", "lecun", "get"]

Initializer = _jinit.Initializer

zeros = _jinit.zeros
ones = _jinit.ones
constant = _jinit.constant               # constant(c)(key, shape)
normal = _jinit.normal                   # normal(stddev=sigma)
he = _jinit.variance_scaling(2.0, "fan_in", "normal")  # untruncated N(0, 2/fan_in)
he_uniform = _jinit.he_uniform()
glorot = _jinit.glorot_uniform()
glorot_normal = _jinit.glorot_normal()
lecun = _jinit.lecun_normal()


def uniform(b: float = 0.05) -> Initializer:
    """U[-b, b]: the decks' symmetric uniform initializer (`jax.nn.initializers.uniform` is U[0, b))."""

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, minval=-b, maxval=b)

    return init


_BY_NAME = {"zeros": zeros, "ones": ones, "he": he, "he_normal": he, "he_uniform": he_uniform,
            "glorot": glorot, "xavier": glorot, "glorot_uniform": glorot,
            "glorot_normal": glorot_normal, "lecun": lecun, "lecun_normal": lecun}


def get(init: str | Initializer) -> Initializer:
    """Return the initializer called `init` (a name above), or the initializer itself."""
    if callable(init):
        return init
    try:
        return _BY_NAME[init]
    except KeyError:
        raise ValueError(f"initializer: expected a callable or one of {sorted(_BY_NAME)}, "
                         f"got {init!r}") from None
