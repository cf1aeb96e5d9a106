"""`jdl.checkpoint`: save, verify and restore training runs and weights, without pickle.

Run checkpoints (Orbax, one directory per step, last-N + best kept, sha256-verified):

    ckpt = jdl.checkpoint.CheckpointManager("runs/a", keep=3, best_metric="val_loss")
    ckpt.save(ts, metrics={"val_loss": 0.31})           # step = ts.step
    ts = ckpt.restore(ts)                                # resume from the latest step
    # or one-shot: save(dir, ts, ...), restore(dir, ts), restore_best(dir, ts, "val_loss"),
    # latest_step(dir), all_steps(dir), best_step(dir, "val_loss"), verify(dir, step)

Single-file weights (flax msgpack payload behind a checksummed header):

    jdl.checkpoint.save_weights("cnn.jdlw", ts.params)
    params = jdl.checkpoint.load_weights("cnn.jdlw", target=ts.params)

Typed PRNG keys are stored as `jax.random.key_data` and rebuilt from the target's key type.
See docs/checkpoints.md.
"""
from jdl.checkpoint._manager import CheckpointManager as CheckpointManager
from jdl.checkpoint._manager import all_steps as all_steps
from jdl.checkpoint._manager import best_step as best_step
from jdl.checkpoint._manager import latest_step as latest_step
from jdl.checkpoint._manager import restore as restore
from jdl.checkpoint._manager import restore_best as restore_best
from jdl.checkpoint._manager import save as save
from jdl.checkpoint._manager import verify as verify
from jdl.checkpoint._weights import load_weights as load_weights
from jdl.checkpoint._weights import save_weights as save_weights

__all__ = ["CheckpointManager", "save", "restore", "restore_best", "latest_step", "all_steps",
           "best_step", "verify", "save_weights", "load_weights"]
