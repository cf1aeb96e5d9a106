"""The progress bar of `fit`: drawn on terminals and in Jupyter, silent in logs."""
import io
import sys

import pytest

from jdl.train._progress import ProgressBar, redraws_in_place


def _stream_of_module(module: str, *, tty: bool = False):
    """A text stream whose class lives in `module` (as ipykernel's OutStream does)."""
    cls = type("OutStream", (io.StringIO,), {"isatty": lambda self: tty})
    cls.__module__ = module
    return cls()


@pytest.mark.parametrize("module,tty,drawn", [
    ("ipykernel.iostream", False, True),    # Jupyter: the output area honours "\r"
    ("io", True, True),                     # a terminal
    ("io", False, False),                   # a log file or a pipe
])
def test_where_the_bar_is_drawn(module, tty, drawn):
    stream = _stream_of_module(module, tty=tty)
    assert redraws_in_place(stream) is drawn
    bar = ProgressBar(2, 5, 100, stream=stream, interval=0.0)
    assert bar.due() is drawn
    bar.update(40, 0.5)
    bar.close()
    text = stream.getvalue()
    if drawn:
        assert text.startswith("\repoch 2/5 [") and "40/100 loss 0.5000" in text
    else:
        assert text == ""


def test_a_disabled_bar_writes_nothing_even_in_jupyter():
    stream = _stream_of_module("ipykernel.iostream")
    bar = ProgressBar(1, 1, 10, stream=stream, enabled=False)
    assert not bar.due()
    bar.update(5, 1.0)
    bar.close()
    assert stream.getvalue() == ""


def test_fit_draws_the_bar_in_a_notebook(monkeypatch):
    """verbose=1 in Jupyter: the bar is redrawn during the epoch, and the epoch line is logged."""
    import jax
    import numpy as np
    import optax

    from jdl import losses, models, train

    stream = _stream_of_module("ipykernel.iostream")
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr("jdl.train._progress.ProgressBar.due", lambda self: self.enabled)
    model = models.mlp([4, 2])
    ts = train.init_train_state(model, optax.sgd(0.1), jax.random.key(0), (1, 3))
    step = train.make_train_step(model, optax.sgd(0.1), losses.softmax_cross_entropy)
    x = np.ones((32, 3), np.float32)
    y = np.zeros(32, np.int32)
    lines = []
    train.fit(ts, step, (x, y), epochs=1, batch_size=8, verbose=1, log=lines.append)
    assert "epoch 1/1 [" in stream.getvalue() and "4/4" in stream.getvalue()
    assert len(lines) == 1 and lines[0].startswith("epoch 1/1  loss ")
