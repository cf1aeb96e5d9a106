"""Atomic file writes: a file is either the old one or the complete new one, never half-written.

Used for IDX files, metrics JSON, pictures and weight files. The pattern: write a temporary
file in the same directory, flush and fsync it, `os.replace` it onto the target (atomic on
POSIX), then fsync the directory so the rename itself survives a crash.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, *, mode: int | None = None) -> Iterator[IO[bytes]]:
    """`with atomic_write(p) as f: f.write(...)` writes `p` atomically (binary mode).

    The parent directory is created if needed. A new file gets `mode` (default 0o644); an
    existing file keeps its mode. On any exception the temporary file is removed and `path` is
    left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable where the platform allows it
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write `obj` as indented JSON, atomically; returns the path."""
    data = json.dumps(obj, indent=2, sort_keys=True).encode() + b"\n"
    with atomic_write(path) as f:
        f.write(data)
    return Path(path)
