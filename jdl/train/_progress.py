"""A dependency-free text progress bar for `fit` (one line per epoch, redrawn in place).

It is drawn where a redrawn line shows as one line: on a terminal, and in Jupyter (and the
notebook front ends built on its kernel, such as VS Code's), whose output area honours the
carriage return `\r` of a stream. Elsewhere (a log file, CI) it stays silent and the epoch lines
are the record, unchanged.
"""
from __future__ import annotations

import sys
import time

import numpy as np


def redraws_in_place(stream) -> bool:
    """True on a terminal and for a Jupyter kernel's output stream (where `\r` redraws)."""
    if getattr(stream, "isatty", lambda: False)():
        return True
    return type(stream).__module__.startswith("ipykernel.")


class ProgressBar:
    """Draws `epoch 3/10 [=====>    ] 120/429 loss 0.4123` on stderr at most every `interval` s."""

    def __init__(self, epoch: int, epochs: int, total: int, *, enabled: bool = True,
                 interval: float = 0.25, width: int = 24, stream=None):
        self.epoch, self.epochs, self.total = epoch, epochs, total
        self.interval, self.width = interval, width
        self.stream = stream or sys.stderr
        self.enabled = enabled and redraws_in_place(self.stream)
        self.last = 0.0

    def due(self) -> bool:
        """True when a redraw is due (the caller then fetches the loss: one device sync)."""
        return self.enabled and time.perf_counter() - self.last >= self.interval

    def update(self, done: int, loss: float | None = None) -> None:
        if not self.enabled:
            return
        self.last = time.perf_counter()
        filled = int(self.width * done / max(self.total, 1))
        bar = "=" * filled + (">" if filled < self.width else "") + " " * (self.width - filled - 1)
        text = f"\repoch {self.epoch}/{self.epochs} [{bar[:self.width]}] {done}/{self.total}"
        if loss is not None:
            text += f" loss {loss:.4f}"
        self.stream.write(text)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * (self.width + 60) + "\r")
            self.stream.flush()


def format_epoch(number: int, epochs: int, logs: dict) -> str:
    """`epoch 3/10  loss 0.4123  val_loss 0.3811  (2.1 s)`; a population shows min..max."""
    shown = [f"{name} {value:.4f}" if np.ndim(value) == 0
             else f"{name} {np.min(value):.4f}..{np.max(value):.4f}"
             for name, value in logs.items() if name not in ("epoch_time", "active", "finite")]
    if "active" in logs:
        shown.append(f"active {int(np.sum(logs['active']))}/{len(logs['active'])}")
    if "finite" in logs and not np.all(logs["finite"]):
        shown.append(f"not finite {int(np.sum(~logs['finite']))}")
    return f"epoch {number}/{epochs}  {'  '.join(shown)}  ({logs['epoch_time']:.1f} s)"
