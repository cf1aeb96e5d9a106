"""IDX reader/writer against hand-built files (header packed with struct, payload from numpy)."""
import gzip
import os
import struct

import numpy as np
import pytest

from jdl.data import read_idx, write_idx


def idx_bytes(code: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    """An IDX file built by hand: 0 0 code ndim, big-endian uint32 sizes, payload."""
    return struct.pack(">BBBB", 0, 0, code, len(shape)) + struct.pack(f">{len(shape)}I", *shape) + payload


@pytest.fixture
def images():
    return np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 7


def test_reads_raw_uint8_by_hand(tmp_path, images):
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(idx_bytes(0x08, (2, 3, 4), images.tobytes()))
    out = read_idx(path)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, images)


def test_reads_gzip_by_magic_not_name(tmp_path, images):
    path = tmp_path / "no-gz-suffix"  # gzip detected from bytes 1f 8b, not from ".gz"
    path.write_bytes(gzip.compress(idx_bytes(0x08, (2, 3, 4), images.tobytes())))
    np.testing.assert_array_equal(read_idx(path), images)
    raw_named_gz = tmp_path / "raw.gz"  # and an uncompressed file named .gz still reads
    raw_named_gz.write_bytes(idx_bytes(0x08, (2, 3, 4), images.tobytes()))
    np.testing.assert_array_equal(read_idx(str(raw_named_gz)), images)


@pytest.mark.parametrize("code, dtype", [(0x09, ">i1"), (0x0B, ">i2"), (0x0C, ">i4"), (0x0D, ">f4"), (0x0E, ">f8")])
def test_reads_big_endian_dtypes_to_native(tmp_path, code, dtype):
    values = np.array([[-3, 0, 1], [2, 100, -128]]).astype(dtype)
    path = tmp_path / "x.idx"
    path.write_bytes(idx_bytes(code, (2, 3), values.tobytes()))
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype).newbyteorder("=") and out.dtype.isnative
    np.testing.assert_array_equal(out, values)
    out[0, 0] = 5  # a writable copy, not a view of the file buffer


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_write_read_round_trip(tmp_path, dtype, name):
    rng = np.random.default_rng(0)
    array = (rng.normal(size=(3, 5, 2)) * 50).astype(dtype)
    path = write_idx(tmp_path / name, array)
    assert path.read_bytes()[:2] == (b"\x1f\x8b" if name.endswith(".gz") else b"\x00\x00")
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.shape == array.shape
    np.testing.assert_array_equal(out, array)


def test_write_matches_hand_built_bytes(tmp_path, images):
    path = write_idx(tmp_path / "x", images)
    assert path.read_bytes() == idx_bytes(0x08, (2, 3, 4), images.tobytes())
    labels = np.array([1, -2, 70000], dtype=np.int32)
    path = write_idx(tmp_path / "y", labels, compress=True)
    assert gzip.decompress(path.read_bytes()) == idx_bytes(0x0C, (3,), labels.astype(">i4").tobytes())
    assert write_idx(tmp_path / "z.gz", labels, compress=False).read_bytes()[:2] == b"\x00\x00"


def test_write_is_atomic_and_deterministic(tmp_path, images):
    a = write_idx(tmp_path / "a.gz", images).read_bytes()
    b = write_idx(tmp_path / "a.gz", images).read_bytes()  # overwrite in place
    assert a == b  # gzip mtime fixed
    assert sorted(os.listdir(tmp_path)) == ["a.gz"]  # no temporary left behind
    with pytest.raises(ValueError, match=r"`array` must have dtype in .*got int64"):
        write_idx(tmp_path / "a.gz", images.astype(np.int64))
    assert sorted(os.listdir(tmp_path)) == ["a.gz"]
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), images)


def test_write_rejects_scalars(tmp_path):
    with pytest.raises(ValueError, match=r"1\.\.255 dimensions, got shape \(\)"):
        write_idx(tmp_path / "s", np.uint8(3))


def test_truncated_payload(tmp_path, images):
    path = tmp_path / "short"
    path.write_bytes(idx_bytes(0x08, (2, 3, 4), images.tobytes()[:-5]))
    with pytest.raises(ValueError, match=r"short: truncated IDX payload.*expected 24 bytes, got 19 bytes"):
        read_idx(path)


def test_truncated_payload_in_gzip(tmp_path):
    path = tmp_path / "short.gz"
    path.write_bytes(gzip.compress(idx_bytes(0x0C, (4,), b"\x00" * 12)))
    with pytest.raises(ValueError, match=r"short\.gz: truncated.*expected 16 bytes, got 12 bytes"):
        read_idx(path)


def test_truncated_gzip_stream(tmp_path, images):
    data = gzip.compress(idx_bytes(0x08, (2, 3, 4), images.tobytes()))
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.gz: expected a complete gzip stream.*truncated or corrupt"):
        read_idx(path)


def test_trailing_bytes(tmp_path, images):
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(0x08, (2, 3, 4), images.tobytes() + b"\x01\x02"))
    with pytest.raises(ValueError, match=r"long: IDX payload has trailing data.*expected 24 bytes, got 26 bytes \(2 extra\)"):
        read_idx(path)


def test_wrong_magic(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\x12\x34\x56\x78" + b"\x00" * 8)
    with pytest.raises(ValueError, match=r"bad: expected IDX magic 0x0000 followed by a dtype code in .*got bytes 12 34 56 78"):
        read_idx(path)


def test_wrong_dtype_code(tmp_path):
    path = tmp_path / "code"
    path.write_bytes(idx_bytes(0x0A, (1,), b"\x00"))
    with pytest.raises(ValueError, match=r"0x08 \(uint8\).*0x0E \(float64\)\}, got bytes 00 00 0a 01"):
        read_idx(path)


def test_short_header(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty: expected IDX magic.*got bytes \(none\)"):
        read_idx(tmp_path / "empty")
    (tmp_path / "dims").write_bytes(struct.pack(">BBBB", 0, 0, 8, 3) + b"\x00\x00\x00\x02")
    with pytest.raises(ValueError, match=r"dims: expected 16 header bytes for 3 dimensions, got 8 bytes"):
        read_idx(tmp_path / "dims")
    (tmp_path / "zero").write_bytes(struct.pack(">BBBB", 0, 0, 8, 0))
    with pytest.raises(ValueError, match=r"zero: expected 1\.\.255 dimensions.*got 0"):
        read_idx(tmp_path / "zero")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")
