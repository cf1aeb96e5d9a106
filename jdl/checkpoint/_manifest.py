"""sha256 manifests for checkpoint step directories.

Orbax writes a step atomically but does not checksum it: a flipped bit in a data file
restores silently as a wrong number. After Orbax has finished a step, jdl hashes every file
of the step directory into `<step>/jdl_manifest.json` (written atomically, last, so a step
with a manifest is a complete step) and checks the hashes before any restore. The manifest
carries the sha256 of its own content too (`self_sha256`, from version 2), so a changed byte in
it (a saved metric, the step, the tree) is refused rather than read as another value; version 1
manifests, written before that field existed, are still read.
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
VERSION = 2
READABLE_VERSIONS = (1, 2)
SELF_DIGEST = "self_sha256"


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


def _content_digest(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest's fields other than the digest itself, as canonical JSON."""
    fields = {k: v for k, v in manifest.items() if k != SELF_DIGEST}
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def write_manifest(step_dir: Path, step: int, metrics: dict[str, float], tree: dict) -> None:
    """Hash every file of the finished step directory and write the manifest atomically."""
    files = {rel: sha256_file(step_dir / rel) for rel in _files(step_dir)}
    manifest = {"format": FORMAT, "version": VERSION, "step": step, "metrics": metrics,
                "tree": tree, "files": files}
    write_json(step_dir / MANIFEST, {**manifest, SELF_DIGEST: _content_digest(manifest)})


def read_manifest(step_dir: Path) -> dict[str, Any]:
    """The parsed manifest of a step; ValueError if it is missing, unreadable or foreign."""
    path = step_dir / MANIFEST
    if not path.is_file():
        raise ValueError(f"checkpoint {step_dir}: no {MANIFEST}; the save did not finish "
                         f"(expected a manifest written after the data)")
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
        ok = manifest["format"] == FORMAT and manifest["version"] in READABLE_VERSIONS
        ok = ok and all(isinstance(manifest[k], dict) for k in ("metrics", "tree", "files"))
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"checkpoint manifest {path} is unreadable: {e}") from None
    if not ok:
        raise ValueError(f"checkpoint manifest {path}: expected format {FORMAT!r} version in "
                         f"{READABLE_VERSIONS}, received {manifest.get('format')!r} version "
                         f"{manifest.get('version')!r}")
    if manifest["version"] >= 2 and manifest.get(SELF_DIGEST) != _content_digest(manifest):
        raise ValueError(f"checkpoint manifest {path} is corrupted: the sha256 of its content "
                         f"differs from its {SELF_DIGEST} (expected {manifest.get(SELF_DIGEST)}, "
                         f"received {_content_digest(manifest)})")
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
