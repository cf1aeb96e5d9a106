"""A dependency-free text progress bar for `fit` (one line per epoch, redrawn in place)."""
from __future__ import annotations

import sys
import time


class ProgressBar:
    """Draws `epoch 3/10 [=====>    ] 120/429 loss 0.4123` on stderr at most every `interval` s."""

    def __init__(self, epoch: int, epochs: int, total: int, *, enabled: bool = True,
                 interval: float = 0.25, width: int = 24, stream=None):
        self.epoch, self.epochs, self.total = epoch, epochs, total
        self.interval, self.width = interval, width
        self.stream = stream or sys.stderr
        # A redrawn line only makes sense on a terminal; in logs the epoch lines suffice.
        self.enabled = enabled and getattr(self.stream, "isatty", lambda: False)()
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
