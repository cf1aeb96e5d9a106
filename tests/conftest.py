"""Test-suite setup: 8 simulated CPU devices (set before JAX starts) and a key fixture."""
import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def key():
    """A fresh typed PRNG key per test."""
    return jax.random.key(0)
