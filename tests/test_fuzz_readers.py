"""Fuzzed readers (Hypothesis): truncated, extended and byte-flipped IDX files, weight files and
checkpoints give a clear ValueError naming the file, or exactly the saved values: never other
values. The one exception is measured and documented: an uncompressed IDX file has no checksum,
so a flipped payload byte is another valid file (one element differs), and so is the dtype code
0x08 (uint8) flipped to 0x09 (int8); the gzip files the datasets ship in carry a CRC-32."""
import gzip
import shutil
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from jdl import checkpoint, data

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
IMAGES = np.random.default_rng(0).integers(0, 256, size=(5, 4, 3), dtype=np.uint8)


@st.composite
def mutations(draw, size: int):
    """('truncate', n) keeps the first n bytes; ('extend', b) appends b; ('flip', i, m) XORs
    byte i with the nonzero mask m."""
    kind = draw(st.sampled_from(["truncate", "extend", "flip"]))
    if kind == "truncate":
        return kind, draw(st.integers(0, size - 1))
    if kind == "extend":
        return kind, draw(st.binary(min_size=1, max_size=16))
    return kind, draw(st.integers(0, size - 1)), draw(st.integers(1, 255))


def mutate(blob: bytes, mutation) -> bytes:
    if mutation[0] == "truncate":
        return blob[:mutation[1]]
    if mutation[0] == "extend":
        return blob + mutation[1]
    out = bytearray(blob)
    out[mutation[1]] ^= mutation[2]
    return bytes(out)


def read_or_error(read, path: Path):
    """read(path), or None after checking that the error is a ValueError naming the file."""
    try:
        return read(path)
    except ValueError as e:
        assert path.name in str(e), str(e)
        return None


def idx_bytes(tmp: Path, compress: bool) -> bytes:
    return data.write_idx(tmp / ("pristine.gz" if compress else "pristine"), IMAGES,
                          compress=compress).read_bytes()


@settings(max_examples=300, **SETTINGS)
@given(st.data())
def test_gzip_idx_is_read_exactly_or_refused(tmp_path, draws):
    blob = idx_bytes(tmp_path, compress=True)
    path = tmp_path / "images-idx3-ubyte.gz"
    path.write_bytes(mutate(blob, draws.draw(mutations(len(blob)))))
    got = read_or_error(data.read_idx, path)
    assert got is None or (got.dtype == IMAGES.dtype and np.array_equal(got, IMAGES))


@settings(max_examples=300, **SETTINGS)
@given(st.data())
def test_raw_idx_is_refused_unless_the_change_is_a_valid_file(tmp_path, draws):
    blob = idx_bytes(tmp_path, compress=False)
    header = 4 + 4 * IMAGES.ndim
    mutation = draws.draw(mutations(len(blob)))
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(mutate(blob, mutation))
    got = read_or_error(data.read_idx, path)
    if mutation[0] != "flip" or got is None:
        assert got is None, mutation          # every truncation and extension is refused
        return
    position, mask = mutation[1], mutation[2]
    if position >= header:                    # a payload byte: the one element differs
        changed = np.flatnonzero(got.reshape(-1) != IMAGES.reshape(-1))
        assert changed.tolist() == [position - header]
    else:                                     # a header byte: only uint8 <-> int8 reads
        assert (position, mask) == (2, 0x01) and np.array_equal(got, IMAGES.view(np.int8))


WEIGHTS = {"dense": {"w": jnp.arange(12.0).reshape(3, 4), "b": jnp.ones(4, jnp.bfloat16)},
           "count": jnp.int32(7), "key": jax.random.key(3)}


def same_tree(a, b) -> bool:
    a, b = checkpoint_data(a), checkpoint_data(b)
    return jax.tree.structure(a) == jax.tree.structure(b) and all(
        x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a),
                                                                    jax.tree.leaves(b)))


def checkpoint_data(tree):
    is_key = lambda x: jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)  # noqa: E731
    return jax.tree.map(lambda x: np.asarray(jax.random.key_data(x) if is_key(x) else x), tree)


@settings(max_examples=300, **SETTINGS)
@given(st.data())
def test_weight_files_are_read_exactly_or_refused(tmp_path, draws):
    blob = checkpoint.save_weights(tmp_path / "pristine.jdlw", WEIGHTS).read_bytes()
    path = tmp_path / "model.jdlw"
    path.write_bytes(mutate(blob, draws.draw(mutations(len(blob)))))
    got = read_or_error(lambda p: checkpoint.load_weights(p, WEIGHTS), path)
    assert got is None or same_tree(got, WEIGHTS)


def saved_checkpoint(root: Path) -> Path:
    with checkpoint.CheckpointManager(root / "pristine") as manager:
        manager.save(WEIGHTS, step=5, metrics={"val_loss": 0.25})
    return root / "pristine"


@settings(max_examples=60, **SETTINGS)
@given(st.data())
def test_checkpoints_restore_exactly_or_are_refused(tmp_path, draws):
    pristine = tmp_path / "pristine"
    if not pristine.exists():
        saved_checkpoint(tmp_path)
    files = sorted(p.relative_to(pristine) for p in pristine.rglob("*")
                   if p.is_file() and p.stat().st_size > 0)
    with tempfile.TemporaryDirectory(dir=tmp_path) as scratch:
        root = Path(scratch) / "ckpt"
        shutil.copytree(pristine, root)
        victim = root / draws.draw(st.sampled_from(files))
        blob = victim.read_bytes()
        victim.write_bytes(mutate(blob, draws.draw(mutations(len(blob)))))
        manager = checkpoint.CheckpointManager(root)
        try:
            got, metrics = manager.restore(WEIGHTS, step=5), manager.metrics(5)
        except ValueError as e:
            assert "ckpt" in str(e), str(e)
            return
        finally:
            manager.close()
        assert same_tree(got, WEIGHTS) and metrics == {"val_loss": 0.25}, victim


def test_the_gzip_the_datasets_ship_in_checks_a_crc(tmp_path):
    """Why the gzip property holds: a flipped byte inside the deflate stream fails its CRC-32."""
    blob = bytearray(gzip.compress(IMAGES.tobytes(), mtime=0))
    blob[len(blob) // 2] ^= 0x10
    path = tmp_path / "flipped.gz"
    path.write_bytes(bytes(blob))
    assert read_or_error(data.read_idx, path) is None
