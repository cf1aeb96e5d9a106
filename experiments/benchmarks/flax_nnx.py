"""Flax NNX in its documented style: `nnx.Module`, `nnx.Optimizer(model, tx, wrt=nnx.Param)`,
a step under `nnx.jit` with `nnx.value_and_grad`; `model.train()` / `model.eval()` switch BN and
dropout. Flax's default initializers; `nnx.max_pool` (reduce_window) as its docs use.
"""
from __future__ import annotations

import jax.numpy as jnp
import optax
from flax import nnx


class MLP(nnx.Module):
    def __init__(self, sizes, *, rngs: nnx.Rngs):
        self.fc1 = nnx.Linear(784, sizes[0], rngs=rngs)
        self.fc2 = nnx.Linear(sizes[0], sizes[1], rngs=rngs)
        self.fc3 = nnx.Linear(sizes[1], sizes[2], rngs=rngs)

    def __call__(self, x):
        x = x.reshape(x.shape[0], -1)
        return self.fc3(nnx.relu(self.fc2(nnx.relu(self.fc1(x)))))


class CNN(nnx.Module):
    def __init__(self, *, dropout: float = 0.5, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(1, 32, (3, 3), padding="SAME", use_bias=False, rngs=rngs)
        self.bn1 = nnx.BatchNorm(32, momentum=0.9, epsilon=1e-5, rngs=rngs)
        self.conv2 = nnx.Conv(32, 64, (3, 3), padding="SAME", use_bias=False, rngs=rngs)
        self.bn2 = nnx.BatchNorm(64, momentum=0.9, epsilon=1e-5, rngs=rngs)
        self.fc = nnx.Linear(7 * 7 * 64, 128, rngs=rngs)
        self.dropout = nnx.Dropout(dropout, rngs=rngs)
        self.out = nnx.Linear(128, 10, rngs=rngs)

    def __call__(self, x):
        x = nnx.max_pool(nnx.relu(self.bn1(self.conv1(x))), (2, 2), (2, 2))
        x = nnx.max_pool(nnx.relu(self.bn2(self.conv2(x))), (2, 2), (2, 2))
        x = self.dropout(nnx.relu(self.fc(x.reshape(x.shape[0], -1))))
        return self.out(x)


@nnx.jit
def train_step(model, optimizer, x, y):
    def loss_fn(model):
        logits = model(x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss


@nnx.jit
def predict(model, x):
    return jnp.argmax(model(x), -1)


class Trainer:
    def __init__(self, case: str, seed: int = 0, sizes=(64, 64, 10)):
        rngs = nnx.Rngs(seed)
        if case == "mlp":
            self.model, tx = MLP((500, 500, 10), rngs=rngs), optax.sgd(0.05, momentum=0.9)
        elif case == "cnn":
            self.model, tx = CNN(rngs=rngs), optax.adam(1e-3)
        else:
            self.model, tx = MLP(sizes, rngs=rngs), optax.adam(1e-3)
        self.optimizer = nnx.Optimizer(self.model, tx, wrt=nnx.Param)
        self.model.train()

    def __call__(self, x, y):
        return train_step(self.model, self.optimizer, x, y)

    def accuracy(self, x, y, batch=1000):
        self.model.eval()
        correct = sum(int(jnp.sum(predict(self.model, x[i:i + batch]) == y[i:i + batch]))
                      for i in range(0, len(x), batch))
        self.model.train()
        return correct / len(x)
