"""Fixtures shared by the experiment tests: load a script from experiments/, read strict JSON,
and a small synthetic Fashion-MNIST in the real IDX format for every `--quick` run.

Why synthetic: the quick runs test the scripts' plumbing, not Fashion-MNIST, and must pass on
a machine without Debian's `dataset-fashion-mnist` (a fresh CI box) and give the same numbers
on every machine. The four files are written once per test session (per xdist worker) with
`jdl.data.write_idx` and found through `$JDL_DATA_DIR`, exactly as a user's copy would be.
"""
import importlib.util
import json
import os
import pathlib

import numpy as np
import pytest

from jdl.data import write_idx

SYNTHETIC_SIZES = {"train": 3000, "t10k": 1000}  # quick modes read at most 800 / 300 of these

EXPERIMENTS = pathlib.Path(__file__).resolve().parents[2] / "experiments"


def _load_script(name, monkeypatch):
    """Import experiments/<name>.py as a module (the scripts import `_common`, so its folder
    goes on sys.path through `monkeypatch`, undone after the test)."""
    monkeypatch.syspath_prepend(str(EXPERIMENTS))
    spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _strict_json(path):
    """json.loads that refuses NaN / Infinity (the scripts must write valid JSON)."""
    def refuse(constant):
        raise AssertionError(f"{path} holds {constant}: not strict JSON")
    return json.loads(pathlib.Path(path).read_text(), parse_constant=refuse)


@pytest.fixture(scope="session")
def load_script():
    return _load_script


@pytest.fixture(scope="session")
def strict_json():
    return _strict_json


def synthetic_fashion_mnist(directory: pathlib.Path, *, seed: int = 0) -> pathlib.Path:
    """Write `train-*` and `t10k-*` IDX files (uint8 28x28 images, uint8 labels 0..9) that a
    small MLP or CNN learns in a few epochs: each class is a fixed pattern of three Gaussian
    blobs, each image that pattern shifted by up to 3 pixels, scaled in brightness and noised."""
    rng = np.random.default_rng(seed)
    grid = np.arange(28, dtype=np.float32)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    centres = rng.uniform(6, 22, size=(10, 3, 2))
    widths = rng.uniform(2.0, 5.0, size=(10, 3))
    prototypes = np.zeros((10, 28, 28), np.float32)
    for c in range(10):
        for (cy, cx), w in zip(centres[c], widths[c]):
            prototypes[c] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * w * w))
    prototypes = 230.0 * prototypes / prototypes.max(axis=(1, 2), keepdims=True)
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in SYNTHETIC_SIZES.items():
        labels = rng.integers(0, 10, n).astype(np.uint8)
        shifts = rng.integers(-3, 4, size=(n, 2))
        images = np.stack([np.roll(prototypes[c], tuple(s), axis=(0, 1))
                           for c, s in zip(labels, shifts)])
        images = images * rng.uniform(0.5, 1.1, size=(n, 1, 1)) + rng.normal(0, 70, (n, 28, 28))
        write_idx(directory / f"{split}-images-idx3-ubyte",
                  np.clip(np.rint(images), 0, 255).astype(np.uint8))
        write_idx(directory / f"{split}-labels-idx1-ubyte", labels)
    return directory


@pytest.fixture(scope="session", autouse=True)
def synthetic_data_dir(tmp_path_factory):
    """$JDL_DATA_DIR pointing at a synthetic Fashion-MNIST for the whole session (subprocesses
    started by the tests inherit it)."""
    root = tmp_path_factory.mktemp("jdl-data")
    synthetic_fashion_mnist(root / "fashion-mnist")
    old = os.environ.get("JDL_DATA_DIR")
    os.environ["JDL_DATA_DIR"] = str(root)
    yield root
    if old is None:
        os.environ.pop("JDL_DATA_DIR", None)
    else:
        os.environ["JDL_DATA_DIR"] = old
