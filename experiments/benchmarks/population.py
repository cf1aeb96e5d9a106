"""Populations: N small MLPs (64-64-10 on 64 or 784 input features, Adam via `optax.inject_hyperparams`, per-member learning
rates, batch 32, random data on the device, the batch shared by all members) trained

- together: `jdl.train.init_population` + `make_population_step` (one vmapped, jitted call per step);
  rows with `devices=D` first spread the members over D simulated CPU devices (`shard_population`;
  run.py sets `--xla_force_host_platform_device_count=D` for that row's process);
- one after another: the same N members (`member(pop, i)`), each trained `steps` steps with the
  same jitted single step (`make_train_step`, donated).

Figure: total member-steps/s (N * steps / seconds), best of `repeats`; the ratio is together /
one after another. Repeats continue training (this is a throughput benchmark).
"""
from __future__ import annotations

import time

import numpy as np

import bench_common as bc


def run_row(case: str, row: str, quick: bool, data_dir: str) -> dict:
    import jax
    import jax.numpy as jnp
    import optax

    from jdl import losses, models, train

    cfg = bc.settings("population", quick)
    fields = dict(field.split("=") for field in row.split())
    d, n, devices = int(fields["in"]), int(fields["N"]), int(fields.get("devices", 1))
    if devices > 1 and jax.default_backend() != "cpu":
        return {"status": "skipped", "note": "simulated devices are a CPU-only setting"}
    if len(jax.devices()) < devices:
        raise ValueError(f"row {row!r}: expected {devices} devices, JAX sees {len(jax.devices())} "
                         f"(set XLA_FLAGS=--xla_force_host_platform_device_count={devices})")
    steps, repeats = cfg["steps"], cfg["repeats"]
    rng = np.random.default_rng(0)
    batches = [(jax.device_put(rng.random((cfg["batch"], d), dtype=np.float32)),
                jax.device_put(rng.integers(0, 10, cfg["batch"], dtype=np.int32)))
               for _ in range(cfg["n_batches"])]
    t0 = time.perf_counter()
    model = models.mlp(list(cfg["sizes"]))
    tx = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)
    lrs = jnp.geomspace(3e-4, 3e-3, n) if n > 1 else jnp.array([1e-3])
    pop = train.init_population(model, tx, jax.random.split(jax.random.key(0), n), (1, d),
                                hyperparams={"learning_rate": lrs})
    plain = train.make_train_step(model, tx, losses.softmax_cross_entropy, jit=False)
    single = jax.jit(plain, donate_argnums=0)
    pop_step = train.make_population_step(plain)
    members = [train.member(pop, i) for i in range(n)]
    pop_batches = batches
    if devices > 1:
        pop = train.shard_population(pop, devices)
        pop_batches = train.replicate(batches, train.population_mesh(pop))

    def timed(fn):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        return time.perf_counter() - t

    # compile (first call, synced), then the timed repeats
    def first_single():
        members[0], logs = single(members[0], batches[0])
        return logs
    compile_single = timed(first_single)

    def sequential():
        for i in range(n):
            for s in range(steps):
                members[i], logs = single(members[i], batches[s % len(batches)])
        return members

    def first_pop():
        nonlocal pop
        pop, logs = pop_step(pop, pop_batches[0])
        return logs
    compile_pop = timed(first_pop)

    def together():
        nonlocal pop
        for s in range(steps):
            pop, logs = pop_step(pop, pop_batches[s % len(batches)])
        return pop

    seq_rates, pop_rates = [], []
    for _ in range(repeats):   # interleaved, so a slow spell of the machine hits both alike
        seq_rates.append(n * steps / timed(sequential))
        pop_rates.append(n * steps / timed(together))
    return dict(members=n, inputs=d, devices=devices, steps=steps, repeats=repeats, batch=cfg["batch"], sizes=list(cfg["sizes"]),
                population_member_steps_per_s=max(pop_rates), sequential_member_steps_per_s=max(seq_rates),
                ratio=max(pop_rates) / max(seq_rates), population_rates=pop_rates,
                sequential_rates=seq_rates, compile_population_s=compile_pop,
                compile_single_s=compile_single, total_s=time.perf_counter() - t0,
                timing=f"{steps} steps per member, best of {repeats}")
