"""Two local CPU processes joined by jax.distributed train identically, and equal one process."""
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

WORKER = pathlib.Path(__file__).with_name("mp_worker.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(240)
def test_two_processes_train_identically(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    coordinator = f"127.0.0.1:{free_port()}"
    procs = [subprocess.Popen([sys.executable, str(WORKER), "--coordinator", coordinator,
                               "--num-processes", "2", "--process-id", str(i),
                               "--out", str(tmp_path / f"p{i}.npz")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
             for i in range(2)]
    outputs = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=200)[0])
    finally:
        for p in procs:
            p.kill()
    for i, (p, out) in enumerate(zip(procs, outputs)):
        assert p.returncode == 0, out
        assert f"process {i} of 2, 4 devices" in out
    single = subprocess.run([sys.executable, str(WORKER), "--out", str(tmp_path / "one.npz")],
                            capture_output=True, text=True, timeout=200, env=env)
    assert single.returncode == 0, single.stderr
    p0, p1, one = (np.load(tmp_path / f) for f in ("p0.npz", "p1.npz", "one.npz"))
    for name in p0.files:
        np.testing.assert_array_equal(p0[name], p1[name])  # identical on both processes
        np.testing.assert_allclose(p0[name], one[name], rtol=1e-5, atol=1e-6)  # = one process
