"""`jdl.checkpoint`: Orbax run checkpoints (keep-N, best, sha256 manifest) and weight files."""
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import optax
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jdl import losses, models
from jdl.checkpoint import CheckpointManager, load_weights, save_weights
from jdl.train import TrainState, init_train_state, make_train_step

SHAPE = (1, 28, 28, 1)


def save(directory, ts, **kw):
    """One save through a manager that is closed afterwards (what a script's last save does)."""
    with CheckpointManager(directory) as manager:
        return manager.save(ts, **kw)


def _as_data(tree):
    """Typed keys -> key_data, so chex can compare trees holding keys."""
    return jax.tree.map(lambda x: jax.random.key_data(x)
                        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x, tree)


def _flip(path: Path, offset: int, mask: int = 0x01) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= mask
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def run():
    """A fashion_cnn TrainState after two Adam steps on random data, its (undonated) step,
    the batch, and a jitted init. Everything is committed to device 0, like restored arrays,
    so the step compiles once."""
    model, opt = models.fashion_cnn(), optax.adam(1e-3)
    step = jax.jit(make_train_step(model, opt, losses.softmax_cross_entropy, jit=False))
    init = jax.jit(lambda k: init_train_state(model, opt, k, SHAPE))
    ts = jax.device_put(init(jax.random.key(0)), jax.devices()[0])
    kx, ky = jax.random.split(jax.random.key(42))
    batch = (jax.random.normal(kx, (8, 28, 28, 1)), jax.random.randint(ky, (8,), 0, 10))
    for _ in range(2):
        ts, _ = step(ts, batch)
    return ts, step, batch, init


def _fresh_target(init):
    """A different (untrained, other-seed) TrainState with the same structure."""
    return init(jax.random.key(7))


def _small(v: float) -> TrainState:
    params = {"w": jnp.full((2, 3), v, jnp.float32), "b": jnp.zeros((3,))}
    opt_state = optax.sgd(0.1, momentum=0.9).init(params)
    return TrainState(params, {}, opt_state, jnp.int32(v), jax.random.key(int(v)))


def test_trainstate_roundtrip_and_resume(tmp_path, run):
    ts, step, batch, init = run
    assert save(tmp_path, ts, metrics={"loss": 1.0}) == 2
    assert CheckpointManager(tmp_path).latest_step() == 2
    target = jax.eval_shape(lambda: _fresh_target(init))        # abstract target works
    back = CheckpointManager(tmp_path).restore(target)
    chex.assert_trees_all_equal(_as_data(back), _as_data(ts))
    assert type(back) is TrainState and type(back.opt_state[0]) is optax.ScaleByAdamState
    assert type(back.opt_state[1]) is optax.EmptyState
    assert back.key.dtype == ts.key.dtype and back.step.dtype == jnp.int32
    # a concrete target (other values) works too, and training continues identically
    back2 = CheckpointManager(tmp_path).restore(_fresh_target(init), step=2)
    (ts_a, m_a), (ts_b, m_b) = step(ts, batch), step(back2, batch)
    chex.assert_trees_all_equal(_as_data(ts_a), _as_data(ts_b))
    chex.assert_trees_all_equal(m_a, m_b)


def test_keep_last_n(tmp_path):
    with CheckpointManager(tmp_path, keep=2) as ckpt:
        for s in range(1, 5):
            ckpt.save(_small(s))
        assert ckpt.all_steps() == [3, 4]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.isdigit()) == ["3", "4"]
    back = CheckpointManager(tmp_path).restore(_small(0), step=3)
    chex.assert_trees_all_equal(_as_data(back), _as_data(_small(3)))


def test_best_by_metric_is_kept_beside_the_latest(tmp_path):
    losses_ = [0.5, 0.2, 0.4, 0.3]
    with CheckpointManager(tmp_path, keep=1, best_metric="val_loss") as ckpt:
        for s, v in enumerate(losses_, start=1):
            ckpt.save(_small(s), metrics={"val_loss": v, "acc": 1 - v})
        assert ckpt.all_steps() == [2, 4] and ckpt.best_step() == 2
        assert ckpt.metrics(2) == {"val_loss": 0.2, "acc": 0.8}
        best = ckpt.restore_best(_small(0))
        with pytest.raises(ValueError, match="best_metric 'val_loss'"):
            ckpt.save(_small(5), metrics={"acc": 0.9})
    chex.assert_trees_all_equal(_as_data(best), _as_data(_small(2)))
    assert CheckpointManager(tmp_path, best_metric="acc", best_mode="max").best_step() == 2
    back = CheckpointManager(tmp_path, best_metric="val_loss").restore_best(_small(0))
    assert int(back.step) == 2


def test_every_file_of_a_step_is_checksummed(tmp_path, run):
    ts, _, _, init = run
    save(tmp_path, ts)
    step_dir = tmp_path / "2"
    files = [p for p in step_dir.rglob("*") if p.is_file() and p.name != "jdl_manifest.json"]
    data_files = [p for p in files if p.stat().st_size > 100_000]
    assert data_files, "expected the parameters in a large Orbax data file"
    target = _fresh_target(init)
    for path in files:
        offset = path.stat().st_size // 2
        _flip(path, offset)
        with pytest.raises(ValueError, match=f"{path.name}.*sha256 checksum differs"):
            CheckpointManager(tmp_path).restore(target)
        _flip(path, offset)                             # flip back: valid again
    CheckpointManager(tmp_path).verify(2)
    (step_dir / "default" / "stray").write_bytes(b"x")
    with pytest.raises(ValueError, match="not listed"):
        CheckpointManager(tmp_path).restore(target)


def test_restore_errors(tmp_path):
    assert CheckpointManager(tmp_path).latest_step() is None
    assert CheckpointManager(tmp_path / "absent").latest_step() is None
    with pytest.raises(FileNotFoundError, match="no complete checkpoint"):
        CheckpointManager(tmp_path).restore(_small(0))
    save(tmp_path, _small(1))
    with pytest.raises(FileNotFoundError, match="step 9 is not in"):
        CheckpointManager(tmp_path).restore(_small(0), step=9)
    wrong = _small(0)._replace(params={"w": jnp.zeros((3, 3)), "b": jnp.zeros((3,))})
    with pytest.raises(ValueError, match=r"params/w: expected shape \(3, 3\) float32, "
                                         r"received shape \(2, 3\) float32"):
        CheckpointManager(tmp_path).restore(wrong)
    with pytest.raises(ValueError, match="already saved"):
        save(tmp_path, _small(1))
    save(tmp_path, _small(1)._replace(params={"w": jnp.ones((2, 3)),
                                                         "b": jnp.ones((3,))}), overwrite=True)
    assert float(CheckpointManager(tmp_path).restore(_small(0)).params["b"][0]) == 1.0


def test_interrupted_saves_are_ignored(tmp_path):
    save(tmp_path, _small(1))
    save(tmp_path, _small(3))
    (tmp_path / "3" / "jdl_manifest.json").unlink()       # crashed before the manifest
    leftover = tmp_path / "5.orbax-checkpoint-tmp-1234567"  # crashed inside Orbax
    (leftover / "default").mkdir(parents=True)
    (leftover / "default" / "junk").write_bytes(b"partial")
    manager = CheckpointManager(tmp_path)
    assert manager.all_steps() == [1] and manager.latest_step() == 1
    chex.assert_trees_all_equal(_as_data(CheckpointManager(tmp_path).restore(_small(0))),
                                _as_data(_small(1)))
    with pytest.raises(ValueError, match="did not finish"):
        CheckpointManager(tmp_path).restore(_small(0), step=3)
    save(tmp_path, _small(3))                  # redo step 3: replaces the leftover
    assert CheckpointManager(tmp_path).all_steps() == [1, 3]
    assert not leftover.exists()                          # Orbax cleans tmp dirs on open


def test_weights_roundtrip(tmp_path, run):
    ts, _, _, init = run
    path = save_weights(tmp_path / "cnn.jdlw", ts)
    assert path.read_bytes()[:4] == b"JDLW" and b"pickle" not in path.read_bytes()[:200]
    back = load_weights(path, _fresh_target(init))
    chex.assert_trees_all_equal(_as_data(back), _as_data(ts))
    assert type(back.opt_state[0]) is optax.ScaleByAdamState and back.key.dtype == ts.key.dtype
    assert isinstance(back.params["classifier"]["fc"]["w"], jax.Array)
    params = load_weights(save_weights(tmp_path / "p.jdlw", ts.params), ts.params)
    chex.assert_trees_all_equal(params, ts.params)
    # a bit flip inside the (large) array payload is caught by the checksum
    _flip(path, path.stat().st_size // 2)
    with pytest.raises(ValueError, match=r"cnn\.jdlw.*sha256 checksum of the payload differs"):
        load_weights(path, ts)


def test_weights_any_changed_byte_or_truncation_raises(tmp_path):
    tree = {"w": jnp.arange(6.0).reshape(2, 3), "step": jnp.int32(3), "key": jax.random.key(1)}
    path = save_weights(tmp_path / "w.jdlw", tree)
    good = path.read_bytes()
    chex.assert_trees_all_equal(_as_data(load_weights(path, tree)), _as_data(tree))
    for offset in range(len(good)):
        for mask in (0x01, 0x80):
            path.write_bytes(good[:offset] + bytes([good[offset] ^ mask]) + good[offset + 1:])
            with pytest.raises(ValueError, match=r"load_weights\(.*w\.jdlw\)"):
                load_weights(path, tree)
    for cut in (0, 3, 8, 20, len(good) - 40, len(good) - 1):
        path.write_bytes(good[:cut])
        with pytest.raises(ValueError, match="magic|truncated|not valid JSON"):
            load_weights(path, tree)
    path.write_bytes(good + b"\0")
    with pytest.raises(ValueError, match="expected .* payload bytes, received"):
        load_weights(path, tree)


def test_weights_structure_mismatch_lists_paths(tmp_path):
    tree = {"dense": {"w": jnp.ones((4, 2)), "b": jnp.ones((2,))}}
    path = save_weights(tmp_path / "w.jdlw", tree)
    other = {"dense": {"w": jnp.ones((4, 3)), "b": jnp.ones((2,), jnp.int32)}, "extra": jnp.ones(1)}
    with pytest.raises(ValueError, match="3 mismatching paths") as err:
        load_weights(path, other)
    msg = str(err.value)
    assert "dense/w: expected shape (4, 3) float32, received shape (4, 2) float32" in msg
    assert "dense/b: expected shape (2,) int32, received shape (2,) float32" in msg
    assert "extra: missing from the file" in msg


def test_sharded_trees_come_back_on_the_target_sharding(tmp_path):
    mesh = jax.make_mesh((jax.device_count(),), ("batch",))
    rows, cols = NamedSharding(mesh, P("batch")), NamedSharding(mesh, P())
    n = jax.device_count()
    tree = {"w": jax.device_put(jnp.arange(2.0 * n).reshape(n, 2), rows),
            "keys": jax.device_put(jax.random.split(jax.random.key(0), n), rows),
            "b": jax.device_put(jnp.ones(3), cols)}
    save(tmp_path / "run", tree, step=1)
    weights = save_weights(tmp_path / "w.jdlw", tree)
    for back in (CheckpointManager(tmp_path / "run").restore(tree), load_weights(weights, tree)):
        chex.assert_trees_all_equal(_as_data(back), _as_data(tree))
        assert all(back[k].sharding == tree[k].sharding for k in tree)
        assert back["keys"].dtype == tree["keys"].dtype
