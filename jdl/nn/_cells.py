"""Recurrent cells (*Engineering Deep Learning*, section "Recurrent Networks").

A cell computes one time step, `(carry, x_t) -> (carry, y_t)`, and is usable on its own (a
language model sampled token by token) or inside `RNN` / `Bidirectional`, which run it over a
sequence with `lax.scan`. The lecture writes every gate as one affine map of the concatenation
[a_{t-1}, x_t]; W [a, x] = a W_h + x W_x, so each cell stores the two halves separately:

    params = {"wx": (in, k*F), "wh": (F, k*F), "b": (k*F,)}     F = features, k = blocks

with the k gate blocks side by side in a documented order. The split lets `RNN` compute the
input half of every time step in ONE matrix product before the scan (`input_projection`, as
cuDNN and PyTorch do); only `carry @ wh` stays inside the loop (`step_projected`).

Initialization: Glorot-uniform `wx` and orthogonal `wh`, both per gate block (each block is a
(in, F) or (F, F) Dense kernel), zero biases; the LSTM's forget-gate bias starts at 1.0
(Jozefowicz et al. 2015), so the cell remembers by default early in training.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from jdl import initializers
from jdl.nn._layer import per_channel

Carry = Any  # an array (batch, F), or the LSTM's pair (c, a)


class Cell(NamedTuple):
    """A recurrent cell: pure functions, like `Layer`.

    Attributes:
      init: `init(key, input_features) -> params`.
      initial_carry: `initial_carry(batch_size, dtype=float32) -> carry` (zeros).
      input_projection: `input_projection(params, xs) -> x W_x + b`, `xs (..., in)` ->
        `(..., k*F)`: the input half of every gate, for any number of leading axes.
      step_projected: `step_projected(params, carry, p_t) -> (carry, y_t)` on the projected
        input `p_t (batch, k*F)` of one step.
      features: F, the size of `y_t` and of each carry array.
      kind: `"simple_rnn"`, `"gru"` or `"lstm"` (names the layers built from the cell).
    """

    init: Callable[[Array, int], dict]
    initial_carry: Callable[..., Carry]
    input_projection: Callable[[dict, Array], Array]
    step_projected: Callable[[dict, Carry, Array], tuple[Carry, Array]]
    features: int
    kind: str

    def step(self, params: dict, carry: Carry, x_t: Array) -> tuple[Carry, Array]:
        """One time step on the raw input `x_t (batch, in)`: `(carry, y_t)`."""
        return self.step_projected(params, carry, self.input_projection(params, x_t))


def _check_features(features: Any, kind: str) -> int:
    if not isinstance(features, int) or isinstance(features, bool) or features <= 0:
        raise ValueError(f"{kind}: expected features to be a positive int, got {features!r}")
    return features


def _build(kind: str, features: int, blocks: int, step_projected: Callable, *, w_init: Any,
           recurrent_init: Any, bias: Callable[[int], Array], lstm: bool = False) -> Cell:
    """The shared parts of every cell: parameter layout, projection, carry."""
    w_init = initializers.get(w_init)
    recurrent_init = (jax.nn.initializers.orthogonal() if recurrent_init is None
                      else initializers.get(recurrent_init))

    def init(key: Array, input_features: int) -> dict:
        if not isinstance(input_features, int) or input_features <= 0:
            raise ValueError(f"{kind}: expected input_features to be a positive int, got "
                             f"{input_features!r}")
        kx, kh = jax.random.split(key)
        wx = [w_init(k, (input_features, features), jnp.float32)
              for k in jax.random.split(kx, blocks)]
        wh = [recurrent_init(k, (features, features), jnp.float32)
              for k in jax.random.split(kh, blocks)]
        return {"wx": jnp.concatenate(wx, axis=1), "wh": jnp.concatenate(wh, axis=1),
                "b": bias(features)}

    def initial_carry(batch_size: int, dtype=jnp.float32) -> Carry:
        zeros = jnp.zeros((batch_size, features), dtype)
        return (zeros, zeros) if lstm else zeros

    def input_projection(params: dict, xs: Array) -> Array:
        wx = params["wx"]
        if xs.shape[-1] != wx.shape[0]:
            raise ValueError(f"{kind}: x: expected {wx.shape[0]} input features on the last axis "
                             f"(params['wx'] is {wx.shape}), got shape {xs.shape}")
        y = jnp.dot(xs, wx.astype(xs.dtype))
        return y + per_channel(params["b"].astype(y.dtype), y.ndim)

    return Cell(init, initial_carry, input_projection, step_projected, features, kind)


def _recurrent(params: dict, h: Array, lo: int, hi: int) -> Array:
    """h @ wh[:, lo:hi]: the carry's contribution to the gate blocks lo..hi."""
    return jnp.dot(h, params["wh"][:, lo:hi].astype(h.dtype))


def SimpleRNNCell(features: int, *, w_init: Any = "glorot", recurrent_init: Any = None) -> Cell:
    """The simple (Elman) RNN: a_t = tanh(W_a [a_{t-1}, x_t] + b_a).

    Carry and output: a_t (batch, F). Params `{"wx": (in, F), "wh": (F, F), "b": (F,)}`, i.e.
    W_a = [wh; wx] stacked on the input axis. Equal to Flax's `nn.SimpleCell` (kernels `i`,
    `h`, bias on `i`) and PyTorch's `nn.RNN(nonlinearity="tanh")` with b_ih + b_hh = b.
    """
    features = _check_features(features, "SimpleRNNCell")

    def step_projected(params, a, p):
        a = jnp.tanh(p + _recurrent(params, a, 0, features))
        return a, a

    return _build("simple_rnn", features, 1, step_projected, w_init=w_init,
                  recurrent_init=recurrent_init, bias=lambda f: jnp.zeros((f,), jnp.float32))


def GRUCell(features: int, *, form: str = "full", w_init: Any = "glorot",
            recurrent_init: Any = None) -> Cell:
    """The gated recurrent unit in the lecture's form (carry and output c_t = a_t, (batch, F)).

    form="full":
        Γr = σ(W_r [c_{t-1}, x_t] + b_r)                     (reset / relevance)
        Γu = σ(W_u [c_{t-1}, x_t] + b_u)                     (update)
        c~_t = tanh(W_c [Γr * c_{t-1}, x_t] + b_c)
        c_t = Γu * c~_t + (1 - Γu) * c_{t-1}
      gate blocks (r, u, c): params `{"wx": (in, 3F), "wh": (F, 3F), "b": (3F,)}`.
    form="simplified" (no reset gate): c~_t = tanh(W_c [c_{t-1}, x_t] + b_c), Γu and c_t as
      above; gate blocks (u, c): `wx (in, 2F)`, `wh (F, 2F)`, `b (2F,)`.

    The full form is Cho et al. 2014's. Flax's `nn.GRUCell` and PyTorch's `nn.GRU` (cuDNN's
    variant) differ in two ways: they apply the reset gate AFTER the matrix product,
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), and they keep the old state with z,
    h' = (1 - z) * n + z * h. The second is only a sign (z = 1 - Γu: negate W_u and b_u); the
    first is a different function unless Γr = 1. Keras' `GRU(reset_after=False)` places the
    reset gate as the lecture does (and keeps the old state with z too).
    """
    features = _check_features(features, "GRUCell")
    if form not in ("full", "simplified"):
        raise ValueError(f"GRUCell: expected form 'full' or 'simplified', got {form!r}")
    f = features

    def step_full(params, c, p):
        gates = jax.nn.sigmoid(p[:, :2 * f] + _recurrent(params, c, 0, 2 * f))
        r, u = gates[:, :f], gates[:, f:]
        candidate = jnp.tanh(p[:, 2 * f:] + _recurrent(params, r * c, 2 * f, 3 * f))
        c = u * candidate + (1 - u) * c
        return c, c

    def step_simplified(params, c, p):
        z = p + _recurrent(params, c, 0, 2 * f)
        u, candidate = jax.nn.sigmoid(z[:, :f]), jnp.tanh(z[:, f:])
        c = u * candidate + (1 - u) * c
        return c, c

    full = form == "full"
    return _build("gru", f, 3 if full else 2, step_full if full else step_simplified,
                  w_init=w_init, recurrent_init=recurrent_init,
                  bias=lambda n: jnp.zeros(((3 if full else 2) * n,), jnp.float32))


def LSTMCell(features: int, *, forget_bias: float = 1.0, w_init: Any = "glorot",
             recurrent_init: Any = None) -> Cell:
    """Long short-term memory (Hochreiter & Schmidhuber 1997), in the lecture's notation.

        c~_t = tanh(W_c [a_{t-1}, x_t] + b_c)
        Γu = σ(W_u [a_{t-1}, x_t] + b_u)   Γf = σ(W_f [...] + b_f)   Γo = σ(W_o [...] + b_o)
        c_t = Γu * c~_t + Γf * c_{t-1}
        a_t = Γo * tanh(c_t)

    Carry: the pair `(c, a)`, each (batch, F) (Flax's `(c, h)` order); output y_t = a_t.
    Gate blocks (u, f, c, o), PyTorch's (i, f, g, o) and Flax's (i, f, g, o) order:
    `wx (in, 4F)`, `wh (F, 4F)`, `b (4F,)`. Flax's `nn.LSTMCell` is the same function with
    kernels `ii, if, ig, io` = the blocks of wx, `hi, hf, hg, ho` = the blocks of wh and their
    biases = the blocks of b. `forget_bias` initializes b_f (1.0: Jozefowicz et al. 2015; Keras'
    `unit_forget_bias`); pass 0.0 for Flax's and PyTorch's all-zero biases.
    """
    features = _check_features(features, "LSTMCell")
    f = features

    def step_projected(params, carry, p):
        c, a = carry
        z = p + _recurrent(params, a, 0, 4 * f)
        u, forget, o = (jax.nn.sigmoid(z[:, i * f:(i + 1) * f]) for i in (0, 1, 3))
        c = u * jnp.tanh(z[:, 2 * f:3 * f]) + forget * c
        a = o * jnp.tanh(c)
        return (c, a), a

    def bias(n: int) -> Array:
        return jnp.zeros((4 * n,), jnp.float32).at[n:2 * n].set(float(forget_bias))

    return _build("lstm", f, 4, step_projected, w_init=w_init, recurrent_init=recurrent_init,
                  bias=bias, lstm=True)
