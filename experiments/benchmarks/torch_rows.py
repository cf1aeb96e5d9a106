"""PyTorch CPU eager (`torch.set_num_threads(2)`), PyTorch's default initializers.

BN `momentum=0.1` is the Flax/jdl momentum 0.9; eps 1e-5. Images go NCHW (transposed once).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

torch.set_num_threads(2)


def mlp(sizes=(500, 500, 10)):
    return nn.Sequential(nn.Flatten(), nn.Linear(784, sizes[0]), nn.ReLU(),
                         nn.Linear(sizes[0], sizes[1]), nn.ReLU(), nn.Linear(sizes[1], sizes[2]))


def cnn(dropout=0.5):
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32, momentum=0.1, eps=1e-5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64, momentum=0.1, eps=1e-5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(7 * 7 * 64, 128), nn.ReLU(), nn.Dropout(dropout), nn.Linear(128, 10))


def nchw(x: np.ndarray) -> np.ndarray:
    """NHWC -> contiguous NCHW (the MLP flattens either way)."""
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if x.ndim == 4 else x


class Trainer:
    def __init__(self, case: str, seed: int = 0, sizes=(64, 64, 10)):
        torch.manual_seed(seed)
        if case == "mlp":
            self.model = mlp()
            self.opt = torch.optim.SGD(self.model.parameters(), lr=0.05, momentum=0.9)
        else:
            self.model = cnn() if case == "cnn" else mlp(sizes)
            self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
        self.loss_fn = nn.CrossEntropyLoss()
        self.model.train()

    def __call__(self, x, y):
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        self.opt.step()
        return loss

    @staticmethod
    def to_batch(x, y):
        return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))

    @staticmethod
    def sync(loss):
        loss.item()

    def accuracy(self, x, y, batch=1000):
        self.model.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(x), batch):
                pred = self.model(torch.from_numpy(x[i:i + batch])).argmax(-1).numpy()
                correct += int((pred == y[i:i + batch]).sum())
        self.model.train()
        return correct / len(x)
