"""The small-model case, where per-step overhead dominates: MLP 784-64-64-10, batch 32, Adam 1e-3,
random data already on the device (8 batches, cycled), `steps` steps timed after a warm-up with one
sync at the end, best of `repeats` (as the earlier baseline measurements did; docs/benchmarks.md).
"""
from __future__ import annotations

import time

import numpy as np

import bench_common as bc

ROWS = ("pure-jax", "pure-jax-donated", "jdl-step", "flax-nnx", "pytorch")


def _batches(cfg, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.random((cfg["batch"], 784), dtype=np.float32),
             rng.integers(0, 10, cfg["batch"], dtype=np.int32)) for _ in range(cfg["n_batches"])]


def run_row(case: str, row: str, quick: bool, data_dir: str) -> dict:
    cfg = bc.settings("small", quick)
    host = _batches(cfg)
    t0 = time.perf_counter()
    if row == "pytorch":
        import torch_rows
        trainer = torch_rows.Trainer("small", sizes=cfg["sizes"])
        batches = [torch_rows.Trainer.to_batch(x, y) for x, y in host]
        step, sync, note = trainer, torch_rows.Trainer.sync, "CPU eager, torch.set_num_threads(2)"
    else:
        import jax

        batches = [tuple(jax.device_put(a) for a in b) for b in host]
        sync = jax.block_until_ready
        if row.startswith("pure-jax"):
            import pure_jax
            step = pure_jax.make_trainer("small", donate=row.endswith("donated"), sizes=cfg["sizes"])
            note = "jax.jit step" + (", params/opt state donated" if row.endswith("donated") else "")
        elif row == "flax-nnx":
            import flax_nnx
            step, note = flax_nnx.Trainer("small", sizes=cfg["sizes"]), "nnx.jit + nnx.Optimizer"
        elif row == "jdl-step":
            import optax

            from jdl import losses, models, train
            model, tx = models.mlp(list(cfg["sizes"])), optax.adam(1e-3)
            train_step = train.make_train_step(model, tx, losses.softmax_cross_entropy)
            holder = [train.init_train_state(model, tx, jax.random.key(0), (1, 784))]

            def step(x, y):
                holder[0], logs = train_step(holder[0], (x, y))
                return logs["loss"]
            note = "jdl.train.make_train_step (jitted, TrainState donated), called per step"
        else:
            raise ValueError(row)
    result = bc.time_fixed_steps(step, sync, batches, steps=cfg["steps"], repeats=cfg["repeats"],
                                 warmup=cfg["warmup"])
    result.update(total_s=time.perf_counter() - t0, batch=cfg["batch"], sizes=list(cfg["sizes"]),
                  timing=f"{cfg['steps']} steps, best of {cfg['repeats']}", note=note)
    return result
