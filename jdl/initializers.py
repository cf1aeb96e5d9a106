"""Weight initializers (Loo, Senk, *Engineering Deep Learning*; docs/curriculum.md, chapter 4).

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

import math

import jax
import jax.numpy as jnp
from jax.nn import initializers as _jinit

__all__ = ["zeros", "ones", "constant", "normal", "uniform", "he", "he_uniform", "glorot",
           "glorot_normal", "lecun", "variance_scaling", "get"]

Initializer = _jinit.Initializer

zeros = _jinit.zeros
ones = _jinit.ones
constant = _jinit.constant               # constant(c)(key, shape)


# Why the random initializers below are written here instead of taken from jax.nn: they draw
# a flat vector and reshape it. On XLA:CPU (jax 0.10, threefry partitionable) compiling a
# random draw of a 4-D shape took 2-6 s against ~0.5 s for the same number of values in 1-D,
# so every Conv layer's init cost seconds. The distributions are jax.nn's exactly; the values
# for a given key differ from jax.nn's.
def _fans(shape) -> tuple[float, float]:
    """(fan_in, fan_out) as jax.nn.initializers: kernels (..., in, out), receptive field first."""
    if len(shape) < 1:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def _flat(draw):
    """Wrap `draw(key, n, dtype, shape) -> (n,)` into an initializer `(key, shape, dtype)`."""

    def init(key, shape, dtype=jnp.float32):
        shape = tuple(int(d) for d in shape)
        return draw(key, math.prod(shape), dtype, shape).reshape(shape)

    return init


def variance_scaling(scale: float, mode: str, distribution: str) -> Initializer:
    """Var(w) = scale / fan, fan by `mode` ("fan_in", "fan_out", "fan_avg"); `distribution` is
    "normal", "truncated_normal" (cut at 2 sd, rescaled) or "uniform" (jax.nn semantics)."""
    if mode not in ("fan_in", "fan_out", "fan_avg"):
        raise ValueError(f"variance_scaling: expected mode fan_in, fan_out or fan_avg, got {mode!r}")
    if distribution not in ("normal", "truncated_normal", "uniform"):
        raise ValueError(f"variance_scaling: expected distribution normal, truncated_normal or "
                         f"uniform, got {distribution!r}")

    def draw(key, n, dtype, shape):
        fan_in, fan_out = _fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        variance = scale / max(1.0, fan)
        if distribution == "normal":
            return jax.random.normal(key, (n,), dtype) * jnp.sqrt(variance).astype(dtype)
        if distribution == "truncated_normal":  # std of N(0,1) cut at +-2 is 0.87962566
            std = jnp.sqrt(variance) / 0.87962566103423978
            return jax.random.truncated_normal(key, -2.0, 2.0, (n,), dtype) * std.astype(dtype)
        limit = jnp.sqrt(3 * variance).astype(dtype)
        return jax.random.uniform(key, (n,), dtype, -limit, limit)

    return _flat(draw)


def normal(stddev: float = 1e-2) -> Initializer:
    """N(0, stddev^2)."""
    return _flat(lambda key, n, dtype, shape: jax.random.normal(key, (n,), dtype) * stddev)


he = variance_scaling(2.0, "fan_in", "normal")  # untruncated N(0, 2/fan_in)
he_uniform = variance_scaling(2.0, "fan_in", "uniform")
glorot = variance_scaling(1.0, "fan_avg", "uniform")
glorot_normal = variance_scaling(1.0, "fan_avg", "truncated_normal")
lecun = variance_scaling(1.0, "fan_in", "truncated_normal")


def uniform(b: float = 0.05) -> Initializer:
    """U[-b, b]: the decks' symmetric uniform initializer (`jax.nn.initializers.uniform` is U[0, b))."""
    return _flat(lambda key, n, dtype, shape: jax.random.uniform(key, (n,), dtype, -b, b))


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
