"""IDX files: the format of MNIST and Fashion-MNIST (docs/curriculum.md, chapter 5: Loo's MNIST
protocol).

Layout (all integers big-endian):

    bytes 0-1   0x00 0x00
    byte  2     dtype code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions d (1..255)
    4 * d bytes the sizes n_1 .. n_d as uint32
    payload     n_1 * ... * n_d items of the dtype, big-endian, C order

A file may be gzip-compressed; `read_idx` recognises gzip by its magic bytes 1f 8b, not by its name.
"""
from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from jdl.io import atomic_write

__all__ = ["read_idx", "write_idx", "IDX_DTYPES"]

#: dtype code -> big-endian numpy dtype of the payload.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES_TEXT = "{" + ", ".join(f"0x{c:02X} ({d.newbyteorder('=').name})" for c, d in IDX_DTYPES.items()) + "}"
_GZIP_MAGIC = b"\x1f\x8b"


def _hex(data: bytes) -> str:
    return " ".join(f"{b:02x}" for b in data) if data else "(none)"


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when they start with the gzip magic 1f 8b."""
    data = path.read_bytes()
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise ValueError(
            f"{path}: expected a complete gzip stream (file starts with gzip magic 1f 8b), "
            f"got a truncated or corrupt one ({len(data)} compressed bytes): {err}"
        ) from err


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a native-endian array of shape (n_1, ..., n_d).

    Raises `ValueError` naming the file, what was expected and what was found, for a bad magic
    number, an unknown dtype code, a short header, a truncated gzip stream, or a payload that is
    shorter or longer than prod(n_i) * itemsize bytes.
    """
    path = Path(path)
    data = _read_bytes(path)
    head = data[:4]
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in IDX_DTYPES:
        raise ValueError(
            f"{path}: expected IDX magic 0x0000 followed by a dtype code in {_CODES_TEXT}, "
            f"got bytes {_hex(head)}"
        )
    dtype = IDX_DTYPES[head[2]]
    ndim = head[3]
    if ndim == 0:
        raise ValueError(f"{path}: expected 1..255 dimensions in IDX header byte 3, got 0")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(
            f"{path}: expected {header_len} header bytes for {ndim} dimensions, got {len(data)} bytes"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    expected = math.prod(shape) * dtype.itemsize
    received = len(data) - header_len
    if received < expected:
        raise ValueError(
            f"{path}: truncated IDX payload: header declares shape {shape} of {dtype.name}, "
            f"expected {expected} bytes, got {received} bytes"
        )
    if received > expected:
        raise ValueError(
            f"{path}: IDX payload has trailing data: header declares shape {shape} of {dtype.name}, "
            f"expected {expected} bytes, got {received} bytes ({received - expected} extra)"
        )
    array = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=header_len)
    return array.reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def _dtype_code(array: np.ndarray) -> int:
    for code, dtype in IDX_DTYPES.items():
        if array.dtype.kind == dtype.kind and array.dtype.itemsize == dtype.itemsize:
            return code
    supported = ", ".join(d.newbyteorder("=").name for d in IDX_DTYPES.values())
    raise ValueError(
        f"write_idx: `array` must have dtype in {{{supported}}}, got {array.dtype} "
        f"(cast it first, e.g. array.astype(np.int32))"
    )


def write_idx(path: str | os.PathLike, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write `array` (1..255 dims, a dtype of `IDX_DTYPES`) as an IDX file; returns the path.

    Gzip when `compress` is True, or when it is None and the name ends in ".gz". The write is
    atomic: a temporary file in the same directory is written, fsynced and `os.replace`d onto
    `path`, so `path` never holds a half-written file. A new file gets mode 0o644; an
    existing file keeps its mode.
    """
    path = Path(path)
    array = np.asarray(array)
    code = _dtype_code(array)
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx: `array` must have 1..255 dimensions, got shape {array.shape}")
    if any(n >= 2**32 for n in array.shape):
        raise ValueError(f"write_idx: `array` dimensions must be < 2**32, got shape {array.shape}")
    if compress is None:
        compress = path.name.endswith(".gz")
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    with atomic_write(path) as f:
        if compress:
            # filename="" and mtime=0: the same array always gives the same bytes.
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as gz:
                gz.write(header)
                gz.write(payload)
        else:
            f.write(header)
            f.write(payload)
    return path
