"""Kill a `fit` run (SIGKILL after an epoch's checkpoint) and resume it: the final parameters
equal those of an uninterrupted run, bit for bit (CPU)."""
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

SCRIPT = textwrap.dedent('''
    import os, signal, sys
    import jax, numpy as np, optax
    from jdl import losses, models, train

    checkpoint_dir, out, kill_at_step = sys.argv[1] or None, sys.argv[2], int(sys.argv[3])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 5)).astype(np.float32)
    y = (x[:, 0] - x[:, 1] > 0).astype(np.int32)
    model = models.mlp([16, 2], dropout=0.2)  # dropout: the resumed keys must match too
    optimizer = optax.adam(1e-2)
    ts = train.init_train_state(model, optimizer, jax.random.key(0), (1, 5))
    step = train.make_train_step(model, optimizer, losses.softmax_cross_entropy)

    class Kill(train.Callback):
        def on_epoch_end(self, epoch, logs, ts):
            if kill_at_step and int(ts.step) >= kill_at_step:
                os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, like a crash

    ts, history = train.fit(ts, step, (x, y), epochs=5, batch_size=16, verbose=0,
                            checkpoint_dir=checkpoint_dir, callbacks=[Kill()])
    np.savez(out, *[np.asarray(leaf) for leaf in jax.tree.leaves((ts.params, ts.opt_state))])
    print("epochs run:", len(history["loss"]))
''')


def run(tmp_path, checkpoint_dir, out, kill_at_step):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one device
    return subprocess.run([sys.executable, str(script), str(checkpoint_dir or ""), str(out),
                           str(kill_at_step)], capture_output=True, text=True, timeout=240, env=env)


@pytest.mark.timeout(300)
def test_killed_and_resumed_fit_equals_uninterrupted(tmp_path):
    full = run(tmp_path, None, tmp_path / "full.npz", 0)
    assert full.returncode == 0, full.stderr
    ckpt = tmp_path / "ckpt"
    killed = run(tmp_path, ckpt, tmp_path / "never.npz", 2 * 6)  # 6 steps per epoch: after epoch 2
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "never.npz").exists()
    resumed = run(tmp_path, ckpt, tmp_path / "resumed.npz", 0)
    assert resumed.returncode == 0, resumed.stderr
    assert "epochs run: 3" in resumed.stdout  # epochs 3, 4, 5 only
    a, b = np.load(tmp_path / "full.npz"), np.load(tmp_path / "resumed.npz")
    assert len(a.files) == len(b.files) > 0
    for name in a.files:
        np.testing.assert_array_equal(a[name], b[name])
