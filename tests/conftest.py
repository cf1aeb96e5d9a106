"""Test-suite setup: 8 simulated CPU devices (set before JAX starts), implicit rank promotion
turned into an error (NumPy would silently broadcast a (B,) array against a (B, 1) one, a
classic source of wrong numbers), the versions in the report header, and a key fixture."""
import os
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")


def pytest_report_header(config):
    import flax
    import optax

    return (f"jdl on Python {sys.version.split()[0]}, JAX {jax.__version__}, "
            f"Flax {flax.__version__}, Optax {optax.__version__}")


@pytest.fixture
def key():
    """A fresh typed PRNG key per test."""
    return jax.random.key(0)
