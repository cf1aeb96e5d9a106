"""experiments/soak_resume.py --quick: `fit` with checkpoint_dir= killed with SIGKILL at random
moments and resumed ends bit for bit where an uninterrupted run ends; every saved checkpoint
passes its sha256 check after every kill. (The full soak, 20 kills, is in docs/training.md.)"""
import pytest


@pytest.mark.timeout(400)
def test_killed_and_resumed_fit_equals_uninterrupted(tmp_path, monkeypatch, load_script,
                                                     strict_json):
    module = load_script("soak_resume", monkeypatch)
    returned = module.main(["--quick", "--out", str(tmp_path)])
    m = strict_json(tmp_path / "metrics.json")
    assert m["kills"] == returned["kills"] == 1
    assert m["last_round_equal"] is True
    assert m["workers"] >= m["kills"] + m["rounds_completed"]
    assert 0 <= m["kills_during_write"] <= m["kills"]
    assert m["reference_train_seconds"] > 0
    assert not (tmp_path / "soak_checkpoints").exists()


def test_inspect_after_kill_refuses_a_silently_changed_checkpoint(tmp_path, monkeypatch,
                                                                  load_script):
    """A saved step whose bytes changed after the write is refused, not trusted."""
    import jax
    import numpy as np

    from jdl import checkpoint

    module = load_script("soak_resume", monkeypatch)
    with checkpoint.CheckpointManager(tmp_path / "ckpt") as manager:
        manager.save({"w": np.arange(64, dtype=np.float32), "step": jax.numpy.int32(3)}, step=3)
    (tmp_path / "ckpt" / "3.orbax-checkpoint-tmp-1").mkdir()      # an interrupted write
    found = module.inspect_after_kill(tmp_path / "ckpt")
    assert found == {"saved_steps": [3], "leftovers": ["3.orbax-checkpoint-tmp-1"]}
    data_files = [p for p in (tmp_path / "ckpt" / "3").rglob("*") if p.is_file()
                  and p.name != "jdl_manifest.json" and p.stat().st_size > 0]
    victim = max(data_files, key=lambda p: p.stat().st_size)
    blob = bytearray(victim.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    victim.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="sha256|manifest|changed"):
        module.inspect_after_kill(tmp_path / "ckpt")
