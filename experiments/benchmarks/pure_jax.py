"""The floor: hand-written params dicts, a `jax.jit` step and Optax (no framework).

Same architectures and initializers as jdl's models (lecun-normal dense, He-normal for layers
that feed a ReLU in the CNN), NHWC convolutions, BN momentum 0.9 / eps 1e-5 (Flax convention),
max pooling by reshape (its gradient is 9-17x cheaper on XLA:CPU than `reduce_window`'s,
measured in docs/design.md).
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import optax
from jax import lax

lecun = jax.nn.initializers.lecun_normal()
he = jax.nn.initializers.he_normal()


def dense(key, n_in, n_out, init=lecun):
    return {"w": init(key, (n_in, n_out), jnp.float32), "b": jnp.zeros((n_out,), jnp.float32)}


def init_mlp(key, sizes=(784, 500, 500, 10)):
    keys = jax.random.split(key, len(sizes) - 1)
    return {f"dense_{i}": dense(k, a, b) for i, (k, a, b) in enumerate(zip(keys, sizes, sizes[1:]))}, {}


def apply_mlp(params, state, x, train, key):
    x = x.reshape(x.shape[0], -1)
    n = len(params)
    for i in range(n):
        x = x @ params[f"dense_{i}"]["w"] + params[f"dense_{i}"]["b"]
        if i < n - 1:
            x = jax.nn.relu(x)
    return x, state


def init_cnn(key, dropout=0.5):
    k = jax.random.split(key, 4)
    params = {
        "conv1": {"w": he(k[0], (3, 3, 1, 32), jnp.float32)},   # no bias before batch norm
        "bn1": {"scale": jnp.ones(32), "bias": jnp.zeros(32)},
        "conv2": {"w": he(k[1], (3, 3, 32, 64), jnp.float32)},
        "bn2": {"scale": jnp.ones(64), "bias": jnp.zeros(64)},
        "fc": dense(k[2], 7 * 7 * 64, 128, he),
        "out": dense(k[3], 128, 10),
    }
    state = {f"bn{i}": {"mean": jnp.zeros(c), "var": jnp.ones(c)} for i, c in ((1, 32), (2, 64))}
    return params, state


def _bn(p, s, x, train, momentum=0.9, eps=1e-5):
    if train:
        mean, var = x.mean((0, 1, 2)), x.var((0, 1, 2))
        s = {"mean": momentum * s["mean"] + (1 - momentum) * mean,
             "var": momentum * s["var"] + (1 - momentum) * var}
    else:
        mean, var = s["mean"], s["var"]
    return (x - mean) * lax.rsqrt(var + eps) * p["scale"] + p["bias"], s


def _pool2(x):
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def apply_cnn(params, state, x, train, key, dropout=0.5):
    new_state = {}
    for i in (1, 2):
        conv = params[f"conv{i}"]
        x = lax.conv_general_dilated(x, conv["w"], (1, 1), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
        x, new_state[f"bn{i}"] = _bn(params[f"bn{i}"], state[f"bn{i}"], x, train)
        x = _pool2(jax.nn.relu(x))
    x = x.reshape(x.shape[0], -1)
    x = jax.nn.relu(x @ params["fc"]["w"] + params["fc"]["b"])
    if train and dropout:
        keep = jax.random.bernoulli(key, 1.0 - dropout, x.shape)
        x = jnp.where(keep, x / (1.0 - dropout), 0.0)
    return x @ params["out"]["w"] + params["out"]["b"], new_state


def make_step(apply, tx, donate: bool = False):
    """jit((params, state, opt_state, step, key, x, y) -> (params, state, opt_state, step + 1, loss))."""

    def step(params, state, opt_state, count, key, x, y):
        def loss_fn(p):
            logits, new_state = apply(p, state, x, True, jax.random.fold_in(key, count))
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), new_state

        (loss, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), new_state, opt_state, count + 1, loss

    return jax.jit(step, donate_argnums=(0, 1, 2, 3) if donate else ())


class Trainer:
    """Holds the carry so a row's loop can call `loss = trainer(x, y)`."""

    def __init__(self, init, apply, tx, seed=0, donate=False):
        params, state = init(jax.random.key(seed))
        self.apply = apply
        self.carry = [params, state, tx.init(params), jnp.zeros((), jnp.int32)]
        self.key = jax.random.key(seed + 1)
        self.step = make_step(apply, tx, donate)

    def __call__(self, x, y):
        *self.carry, loss = self.step(*self.carry, self.key, x, y)
        return loss

    def accuracy(self, x, y, batch=1000):
        predict = jax.jit(lambda p, s, xb: jnp.argmax(self.apply(p, s, xb, False, None)[0], -1))
        correct = sum(int(jnp.sum(predict(self.carry[0], self.carry[1], x[i:i + batch]) == y[i:i + batch]))
                      for i in range(0, len(x), batch))
        return correct / len(x)


def make_trainer(case: str, seed: int = 0, donate: bool = False, sizes=None) -> Trainer:
    if case == "mlp":
        return Trainer(init_mlp, apply_mlp, optax.sgd(0.05, momentum=0.9), seed, donate)
    if case == "cnn":
        return Trainer(init_cnn, apply_cnn, optax.adam(1e-3), seed, donate)
    if case == "small":
        return Trainer(partial(init_mlp, sizes=(784, *sizes)), apply_mlp, optax.adam(1e-3), seed, donate)
    raise ValueError(case)
