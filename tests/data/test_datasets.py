"""load / find / available on fake IDX directories built in tmp_path, plus digits and (if installed) Fashion-MNIST."""
import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from jdl.data import CLASS_NAMES, _datasets, available, find, load

FASHION = Path("/usr/share/datasets/fashion-mnist")


def write_hand_idx(path: Path, array: np.ndarray, gz: bool) -> None:
    """uint8 IDX file with a hand-packed header (independent of write_idx)."""
    data = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


def make_mnist_dir(directory: Path, n_train=20, n_test=10, gz=True, seed=0):
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {}
    suffix = ".gz" if gz else ""
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, size=n, dtype=np.uint8)
        write_hand_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", x, gz)
        write_hand_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", y, gz)
        arrays[split] = (x, y)
    return arrays


@pytest.fixture
def no_system(monkeypatch, tmp_path):
    """Hide /usr/share/datasets and $JDL_DATA_DIR so tests see only their own files."""
    monkeypatch.setattr(_datasets, "SYSTEM_DATA_DIR", tmp_path / "system")
    monkeypatch.delenv("JDL_DATA_DIR", raising=False)


def check(ds, arrays):
    assert set(ds) == {"train", "test"}
    for split, (x, y) in arrays.items():
        xl, yl = ds[split]
        assert xl.shape == (*x.shape, 1) and xl.dtype == np.uint8
        assert yl.shape == y.shape and yl.dtype == np.int32
        np.testing.assert_array_equal(xl[..., 0], x)
        np.testing.assert_array_equal(yl, y)


@pytest.mark.parametrize("gz", [True, False])
def test_load_from_data_dir(tmp_path, no_system, gz):
    arrays = make_mnist_dir(tmp_path / "fm", gz=gz)
    check(load("fashion_mnist", data_dir=tmp_path / "fm"), arrays)
    check(load("fashion-mnist", data_dir=str(tmp_path / "fm")), arrays)
    assert find("fashion_mnist", data_dir=tmp_path / "fm") == tmp_path / "fm"


def test_data_dir_subdirectory(tmp_path, no_system):
    arrays = make_mnist_dir(tmp_path / "root" / "mnist")
    check(load("mnist", data_dir=tmp_path / "root"), arrays)


def test_env_var_name_subdir_then_root(tmp_path, no_system, monkeypatch):
    monkeypatch.setenv("JDL_DATA_DIR", str(tmp_path / "env"))
    assert not available("fashion_mnist")
    root = make_mnist_dir(tmp_path / "env", seed=1)
    check(load("fashion_mnist"), root)
    sub = make_mnist_dir(tmp_path / "env" / "fashion-mnist", seed=2)  # <dir> wins over the root
    check(load("fashion_mnist"), sub)
    assert find("fashion-mnist") == tmp_path / "env" / "fashion-mnist"


def test_system_dir_is_searched_last(tmp_path, no_system, monkeypatch):
    system = make_mnist_dir(tmp_path / "system" / "fashion-mnist", seed=3)
    check(load("fashion_mnist"), system)
    env = make_mnist_dir(tmp_path / "env" / "fashion-mnist", seed=4)
    monkeypatch.setenv("JDL_DATA_DIR", str(tmp_path / "env"))
    check(load("fashion_mnist"), env)


def test_missing_dataset_lists_searched_dirs(tmp_path, no_system, monkeypatch):
    monkeypatch.setenv("JDL_DATA_DIR", str(tmp_path / "env"))
    (tmp_path / "env").mkdir()
    write_hand_idx(tmp_path / "env" / "train-images-idx3-ubyte.gz", np.zeros((1, 28, 28), np.uint8), True)
    assert not available("fashion_mnist") and find("fashion_mnist") is None
    with pytest.raises(FileNotFoundError) as err:
        load("fashion_mnist")
    msg = str(err.value)
    for d in (tmp_path / "env" / "fashion-mnist", tmp_path / "env", tmp_path / "system" / "fashion-mnist"):
        assert f"  {d} (" in msg
    assert "missing train-labels-idx1-ubyte, t10k-images-idx3-ubyte" in msg  # the partial directory
    assert "apt-get install dataset-fashion-mnist" in msg and "$JDL_DATA_DIR/fashion-mnist" in msg


def test_explicit_data_dir_does_not_fall_back(tmp_path, no_system):
    make_mnist_dir(tmp_path / "system" / "fashion-mnist")
    with pytest.raises(FileNotFoundError, match="empty"):
        load("fashion_mnist", data_dir=tmp_path / "empty")


def test_length_mismatch(tmp_path, no_system):
    make_mnist_dir(tmp_path / "fm")
    write_hand_idx(tmp_path / "fm" / "t10k-labels-idx1-ubyte.gz", np.zeros(9, np.uint8), True)
    with pytest.raises(ValueError, match=r"test images and labels disagree in length: 10 images .* 9 labels"):
        load("fashion_mnist", data_dir=tmp_path / "fm")


def test_label_out_of_range(tmp_path, no_system):
    make_mnist_dir(tmp_path / "fm")
    write_hand_idx(tmp_path / "fm" / "t10k-labels-idx1-ubyte.gz", np.full(10, 10, np.uint8), True)
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz: expected labels in 0\.\.9, got values in 10\.\.10"):
        load("fashion_mnist", data_dir=tmp_path / "fm")


def test_unknown_name():
    with pytest.raises(ValueError, match=r"`name` must be one of .*got 'cifar'"):
        load("cifar")


def test_digits():
    ds = load("digits")
    (xtr, ytr), (xte, yte) = ds["train"], ds["test"]
    assert xtr.shape == (1497, 8, 8, 1) and xte.shape == (300, 8, 8, 1)
    assert xtr.dtype == xte.dtype == np.uint8 and ytr.dtype == yte.dtype == np.int32
    assert xtr.max() == 255 and xtr.min() == 0
    assert set(np.unique(ytr)) == set(range(10)) == set(np.unique(yte))
    assert np.all(np.abs(np.bincount(yte) - 30) <= 1)  # stratified
    from sklearn.datasets import load_digits

    ref = load_digits()
    expected = (ref.images.astype(int) * 255 // 16).astype(np.uint8)
    got = np.concatenate([xtr, xte])[..., 0]  # a partition of the 1797 images (as a multiset)
    assert sorted(r.tobytes() for r in got) == sorted(r.tobytes() for r in expected)
    again = load("digits")  # deterministic
    np.testing.assert_array_equal(again["test"][0], xte)
    np.testing.assert_array_equal(again["test"][1], yte)
    assert available("digits") and find("digits").is_file()


def test_class_names():
    assert len(CLASS_NAMES["fashion_mnist"]) == 10 and CLASS_NAMES["fashion_mnist"][9] == "Ankle boot"
    assert CLASS_NAMES["mnist"] == tuple("0123456789")


@pytest.mark.skipif(not FASHION.is_dir(), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist(monkeypatch):
    monkeypatch.delenv("JDL_DATA_DIR", raising=False)
    ds = load("fashion_mnist")
    (xtr, ytr), (xte, yte) = ds["train"], ds["test"]
    assert xtr.shape == (60000, 28, 28, 1) and xte.shape == (10000, 28, 28, 1)
    assert xtr.dtype == np.uint8 and ytr.dtype == np.int32
    np.testing.assert_array_equal(np.bincount(ytr), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(yte), [1000] * 10)
