"""Test-suite setup: 8 simulated CPU devices (set before JAX starts), implicit rank promotion
turned into an error (NumPy would silently broadcast a (B,) array against a (B, 1) one, a
classic source of wrong numbers), the versions in the report header, and a key fixture."""
import os
import shutil
import sys
import tempfile

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("MPLBACKEND", "Agg")
# One compilation cache for the session, shared by the xdist workers (they inherit the
# variable from the controller, which imports this file first) and removed at the end: many
# tests build the same small models as new Python objects, which miss JAX's in-memory caches
# but compile to the same XLA program. Every run starts empty, so the suite's time on a fresh
# clone is what CI measures; set JAX_COMPILATION_CACHE_DIR yourself to keep one across runs.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jdl-test-xla-cache-")
    os.environ["JDL_TEST_CACHE_OWNED"] = os.environ["JAX_COMPILATION_CACHE_DIR"]
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")


def pytest_unconfigure(config):
    """The controller (not an xdist worker) removes the session's compilation cache."""
    owned = os.environ.get("JDL_TEST_CACHE_OWNED")
    if owned and not hasattr(config, "workerinput"):
        shutil.rmtree(owned, ignore_errors=True)


def pytest_report_header(config):
    import flax
    import optax

    return (f"jdl on Python {sys.version.split()[0]}, JAX {jax.__version__}, "
            f"Flax {flax.__version__}, Optax {optax.__version__}")


@pytest.fixture
def key():
    """A fresh typed PRNG key per test."""
    return jax.random.key(0)
