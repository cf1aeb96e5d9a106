"""sha256 manifests for checkpoint step directories.

Orbax writes a step atomically but does not checksum it: a flipped bit in a data file
restores silently as a wrong number. After Orbax has finished a step, jdl hashes every file
of the step directory into `<step>/jdl_manifest.json` (written atomically, last, so a step
with a manifest is a complete step) and checks the hashes before any restore.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from jdl.io import write_json

MANIFEST = "jdl_manifest.json"
FORMAT = "jdl-checkpoint"
VERSION = 1


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _files(step_dir: Path) -> list[str]:
    """Every regular file under `step_dir` except the manifest, as sorted relative posix paths."""
    out = []
    for root, _, names in os.walk(step_dir):
        for name in names:
            rel = (Path(root) / name).relative_to(step_dir).as_posix()
            if rel != MANIFEST:
                out.append(rel)
    return sorted(out)


def write_manifest(step_dir: Path, step: int, metrics: dict[str, float], tree: dict) -> None:
    """Hash every file of the finished step directory and write the manifest atomically."""
    files = {rel: sha256_file(step_dir / rel) for rel in _files(step_dir)}
    write_json(step_dir / MANIFEST, {"format": FORMAT, "version": VERSION, "step": step,
                                     "metrics": metrics, "tree": tree, "files": files})


def read_manifest(step_dir: Path) -> dict[str, Any]:
    """The parsed manifest of a step; ValueError if it is missing, unreadable or foreign."""
    path = step_dir / MANIFEST
    if not path.is_file():
        raise ValueError(f"checkpoint {step_dir}: no {MANIFEST}; the save did not finish "
                         f"(expected a manifest written after the data)")
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
        ok = (manifest["format"], manifest["version"]) == (FORMAT, VERSION)
        ok = ok and all(isinstance(manifest[k], dict) for k in ("metrics", "tree", "files"))
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"checkpoint manifest {path} is unreadable: {e}") from None
    if not ok:
        raise ValueError(f"checkpoint manifest {path}: expected format {FORMAT!r} version "
                         f"{VERSION}, received {manifest.get('format')!r} version "
                         f"{manifest.get('version')!r}")
    return manifest


def verify(step_dir: Path) -> dict[str, Any]:
    """Check every file of a step against its manifest; returns the manifest.

    Raises ValueError naming the file when a checksum differs, a listed file is missing, or
    a file appears that the manifest does not list.
    """
    manifest = read_manifest(step_dir)
    expected: dict[str, str] = manifest["files"]
    present = set(_files(step_dir))
    for rel in sorted(expected):
        if rel not in present:
            raise ValueError(f"checkpoint file {step_dir / rel} is missing "
                             f"(listed in {MANIFEST} with sha256 {expected[rel]})")
        got = sha256_file(step_dir / rel)
        if got != expected[rel]:
            raise ValueError(f"checkpoint file {step_dir / rel} is corrupted: its sha256 checksum "
                             f"differs from {MANIFEST} (expected {expected[rel]}, received {got})")
    extra = sorted(present - set(expected))
    if extra:
        raise ValueError(f"checkpoint {step_dir}: files not listed in {MANIFEST}: {extra}")
    return manifest
