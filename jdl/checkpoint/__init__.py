"""`jdl.checkpoint`: save, verify and restore training runs and weights, without pickle.

Run checkpoints (Orbax, one directory per step, last-N + best kept, sha256-verified):

    ckpt = jdl.checkpoint.CheckpointManager("runs/a", keep=3, best_metric="val_loss")
    ckpt.save(ts, metrics={"val_loss": 0.31})           # step = ts.step
    ts = ckpt.restore(ts)                                # resume from the latest step
    ckpt.latest_step(), ckpt.all_steps(), ckpt.best_step(), ckpt.verify(step)
    ts = ckpt.restore_best(ts)

One way for each job: a run directory through `CheckpointManager`'s methods, and a single
file of weights through `save_weights` / `load_weights` (flax msgpack payload behind a
checksummed header; `jdl.transfer.load_pretrained` reads such a file into a model's tree):

    jdl.checkpoint.save_weights("cnn.jdlw", ts.params)
    params = jdl.checkpoint.load_weights("cnn.jdlw", target=ts.params)

Typed PRNG keys are stored as `jax.random.key_data` and rebuilt from the target's key type.
See docs/checkpoints.md.
"""
from jdl.checkpoint._manager import CheckpointManager as CheckpointManager
from jdl.checkpoint._weights import load_weights as load_weights
from jdl.checkpoint._weights import save_weights as save_weights

__all__ = ["CheckpointManager", "save_weights", "load_weights"]
