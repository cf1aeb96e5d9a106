"""The rows of the recurrent benchmark: one LSTM training step, four ways.

Every row trains the same network, an LSTM (hidden H, 28 input features) over T steps whose
last output feeds Dense(10), with softmax cross-entropy and Adam (lr 1e-3), on batches of 64:

- `jdl`:        `serial(RNN(LSTMCell(H), unroll=u), Dense(10))` and `train.make_train_step`
                (on the CPU the input projection runs inside the scan, one product per step);
- `jdl-ahead`:  the same with `project_ahead=True`: all steps' input projections in one matrix
                product before the scan (cuDNN's and PyTorch's form);
- `flax-linen`: `nn.RNN(nn.OptimizedLSTMCell(H))` + `nn.Dense`, a jitted step with donation;
- `pure-jax`:   the LSTM written by hand: the input projection of all steps in one matrix
                product, then `lax.scan` over time (the form of the `jdl-ahead` row);
- `pytorch`:    `torch.nn.LSTM(28, H, batch_first=True)` + `nn.Linear`, eager, 2 threads.

`make_stepper(row, T, H, unroll)` returns `(step, batches, sync)`: `step(batch)` runs one
training step, `sync(out)` waits for it. The JAX rows import JAX lazily so that the PyTorch row
can run in an interpreter without it.
"""
from __future__ import annotations

import numpy as np

FEATURES, BATCH, CLASSES, N_BATCHES = 28, 64, 10, 8


def batches(T: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(BATCH, T, FEATURES)).astype(np.float32),
             rng.integers(0, CLASSES, BATCH).astype(np.int32)) for _ in range(N_BATCHES)]


def _jdl(T: int, H: int, unroll: int, project_ahead: bool | None = None):
    import jax
    import optax
    from jdl import losses, nn, train

    model = nn.serial(nn.RNN(nn.LSTMCell(H), unroll=unroll, project_ahead=project_ahead),
                      nn.Dense(CLASSES))
    optimizer = optax.adam(1e-3)
    state = [train.init_train_state(model, optimizer, jax.random.key(0), (1, T, FEATURES))]
    step_fn = train.make_train_step(model, optimizer, losses.softmax_cross_entropy)

    def step(batch):
        state[0], logs = step_fn(state[0], batch)
        return logs["loss"]
    return step, lambda out: jax.block_until_ready(out)


def _flax(T: int, H: int, unroll: int):
    import jax
    import optax
    from flax import linen

    class Model(linen.Module):
        @linen.compact
        def __call__(self, x):
            h = linen.RNN(linen.OptimizedLSTMCell(H), unroll=unroll)(x)
            return linen.Dense(CLASSES)(h[:, -1])

    model, optimizer = Model(), optax.adam(1e-3)
    params = model.init(jax.random.key(0), np.zeros((1, T, FEATURES), np.float32))
    return _jax_stepper(lambda p, x: model.apply(p, x), params, optimizer)


def _pure_jax(T: int, H: int, unroll: int):
    import jax
    import jax.numpy as jnp
    import optax

    k = jax.random.split(jax.random.key(0), 3)
    params = {"wx": jax.nn.initializers.glorot_uniform()(k[0], (FEATURES, 4 * H)),
              "wh": jax.nn.initializers.orthogonal()(k[1], (H, 4 * H)),
              "b": jnp.zeros(4 * H), "w": jax.nn.initializers.glorot_uniform()(k[2], (H, CLASSES)),
              "c": jnp.zeros(CLASSES)}

    def forward(p, x):
        projected = jnp.einsum("btf,fg->tbg", x, p["wx"]) + p["b"][None, None]  # (T, B, 4H)

        def cell(carry, z):
            c, h = carry
            i, f, g, o = jnp.split(z + h @ p["wh"], 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            return (c, jax.nn.sigmoid(o) * jnp.tanh(c)), None

        zeros = jnp.zeros((x.shape[0], H), x.dtype)
        (_, h), _ = jax.lax.scan(cell, (zeros, zeros), projected, unroll=unroll)
        return h @ p["w"] + p["c"][None]

    return _jax_stepper(forward, params, optax.adam(1e-3))


def _jax_stepper(forward, params, optimizer):
    import functools

    import jax
    import optax

    def loss(p, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(forward(p, x), y).mean()

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def train_step(p, opt_state, x, y):
        value, grads = jax.value_and_grad(loss)(p, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state, value

    state = [params, optimizer.init(params)]

    def step(batch):
        state[0], state[1], value = train_step(state[0], state[1], *batch)
        return value
    return step, lambda out: jax.block_until_ready(out)


def _pytorch(T: int, H: int, unroll: int):
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    lstm, head = torch.nn.LSTM(FEATURES, H, batch_first=True), torch.nn.Linear(H, CLASSES)
    optimizer = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(batch):
        x, y = torch.from_numpy(batch[0]), torch.from_numpy(batch[1].astype(np.int64))
        optimizer.zero_grad(set_to_none=True)
        out, _ = lstm(x)
        loss = loss_fn(head(out[:, -1]), y)
        loss.backward()
        optimizer.step()
        return loss
    return step, lambda out: out.item()


def _jdl_ahead(T: int, H: int, unroll: int):
    return _jdl(T, H, unroll, project_ahead=True)


ROWS = {"jdl": _jdl, "jdl-ahead": _jdl_ahead, "flax-linen": _flax, "pure-jax": _pure_jax, "pytorch": _pytorch}


def make_stepper(row: str, T: int, H: int, unroll: int = 1):
    """`(step, sync)` for one row of the benchmark (module docstring)."""
    if row not in ROWS:
        raise ValueError(f"row: expected one of {sorted(ROWS)}, got {row!r}")
    return ROWS[row](T, H, unroll)
