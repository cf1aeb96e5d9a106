"""Single-file weight export: a checksummed msgpack file, no pickle.

File layout (all integers little-endian):

    b"JDLW"                  4 bytes, magic
    header length n          4 bytes, uint32
    header                   n bytes, compact JSON: {"encoding": "flax-msgpack",
                             "format": "jdl-weights", "payload_bytes": int, "sha256": hex,
                             "version": 1}
    payload                  flax.serialization.msgpack_serialize(to_state_dict(tree))

The payload holds only dicts, strings, numbers and arrays as (shape, dtype name, raw bytes);
typed PRNG keys are stored as `jax.random.key_data`. Every field of the header is checked on
load, so a truncated file, trailing bytes or any changed byte raises ValueError.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import serialization

from jdl.io import atomic_write
from jdl.checkpoint._tree import abstract_storable, check_spec, data_to_keys, keys_to_data, spec

MAGIC = b"JDLW"
FORMAT, VERSION, ENCODING = "jdl-weights", 1, "flax-msgpack"
_HEADER_KEYS = {"encoding", "format", "payload_bytes", "sha256", "version"}


def save_weights(path: str | os.PathLike, tree: Any) -> Path:
    """Write a pytree of arrays (params, `{"params": ..., "state": ...}`, a TrainState) to
    one file, atomically; returns the path. Dict keys must be strings."""
    payload = serialization.msgpack_serialize(serialization.to_state_dict(keys_to_data(tree)))
    header = json.dumps({"encoding": ENCODING, "format": FORMAT, "payload_bytes": len(payload),
                         "sha256": hashlib.sha256(payload).hexdigest(), "version": VERSION},
                        sort_keys=True, separators=(",", ":")).encode("ascii")
    with atomic_write(path) as f:
        f.write(MAGIC + len(header).to_bytes(4, "little") + header + payload)
    return Path(path)


def load_weights(path: str | os.PathLike, target: Any) -> Any:
    """Read a file written by `save_weights` into the structure of `target`.

    `target` (arrays or ShapeDtypeStructs) fixes the tree, shapes, dtypes, NamedTuple types,
    typed keys and shardings of the result; leaves come back as jax arrays. Raises
    ValueError naming `path` for a file that is not a jdl weights file, is truncated or
    corrupted (sha256 mismatch), or whose tree differs from `target` (listing the paths).
    """
    data = Path(path).read_bytes()
    payload = _payload(path, data)
    state = serialization.msgpack_restore(payload)
    abstract = abstract_storable(target)
    check_spec(spec(abstract), spec(state), f"load_weights({path})")
    restored = serialization.from_state_dict(abstract, state)
    placed = jax.tree.map(
        lambda x, t: jax.device_put(np.asarray(x), t.sharding)
        if isinstance(t, jax.ShapeDtypeStruct) else x, restored, abstract)
    return data_to_keys(placed, target)


def _payload(path: str | os.PathLike, data: bytes) -> bytes:
    """Validate magic, header and checksum; return the payload bytes."""
    where = f"load_weights({path})"
    if data[:4] != MAGIC:
        raise ValueError(f"{where}: not a jdl weights file: expected magic {MAGIC!r}, "
                         f"received {data[:4]!r}")
    n = int.from_bytes(data[4:8], "little")
    if len(data) < 8 + n:
        raise ValueError(f"{where}: file truncated: expected a header of {n} bytes after "
                         f"byte 8, received a file of {len(data)} bytes")
    try:
        header = json.loads(data[8:8 + n].decode("ascii"))
    except ValueError as e:                      # UnicodeDecodeError is a ValueError
        raise ValueError(f"{where}: header is not valid JSON (corrupted file): {e}") from None
    if not isinstance(header, dict) or set(header) != _HEADER_KEYS:
        raise ValueError(f"{where}: header: expected the keys {sorted(_HEADER_KEYS)}, "
                         f"received {header!r}")
    received = (header["format"], header["version"], header["encoding"])
    if received != (FORMAT, VERSION, ENCODING) or type(header["version"]) is not int:
        raise ValueError(f"{where}: expected format {FORMAT!r} version {VERSION} encoding "
                         f"{ENCODING!r}, received {received}")
    payload = data[8 + n:]
    if len(payload) != header["payload_bytes"]:
        raise ValueError(f"{where}: file truncated or extended: expected "
                         f"{header['payload_bytes']} payload bytes, received {len(payload)}")
    digest = hashlib.sha256(payload).hexdigest()
    if digest != header["sha256"]:
        raise ValueError(f"{where}: corrupted: the sha256 checksum of the payload differs "
                         f"from the header (expected {header['sha256']}, received {digest})")
    return payload
