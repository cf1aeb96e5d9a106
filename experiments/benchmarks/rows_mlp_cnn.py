"""The MLP and CNN cases: one row = one framework/path, run inside its own process.

MLP: 784-500-500-10 ReLU, SGD momentum 0.9 lr 0.05, batch 128.
CNN: the `jdl.models.fashion_cnn()` architecture with dropout 0.5 (as in the baseline
measurements; docs/benchmarks.md), Adam 1e-3, batch 128.
"""
from __future__ import annotations

import time

import bench_common as bc

ROWS = ("pure-jax", "jdl-step", "jdl-chunk", "jdl-scan-epoch", "flax-nnx", "pytorch")
DROPOUT = 0.5


def _jdl_row(case: str, row: str, cfg: dict, data) -> dict:
    import jax
    import optax

    from jdl import losses, metrics, models, train

    x, y, xt, yt = data
    if case == "mlp":
        model, tx = models.mlp([500, 500, 10]), optax.sgd(0.05, momentum=0.9)
    else:
        model, tx = models.fashion_cnn(dropout=DROPOUT), optax.adam(1e-3)
    t0 = time.perf_counter()
    ts = train.init_train_state(model, tx, jax.random.key(0), (1, *x.shape[1:]))
    # the train step reports the loss only (as the other rows do); eval reports accuracy
    step = train.make_train_step(model, tx, losses.softmax_cross_entropy)
    eval_step = train.make_eval_step(model, losses.softmax_cross_entropy,
                                     metrics={"accuracy": metrics.accuracy})
    scan = row == "jdl-scan-epoch"
    epochs = cfg["scan_epochs"] if scan else cfg["epochs"]
    nb = len(x) // cfg["batch"]
    kwargs = {"jdl-step": dict(steps_per_call=1), "jdl-chunk": {},
              "jdl-scan-epoch": dict(steps_per_call=nb, unroll=False)}[row]
    t_fit = time.perf_counter()
    ts, history = train.fit(ts, step, (x, y), epochs=epochs, batch_size=cfg["batch"], verbose=0,
                            **kwargs)
    train_s = time.perf_counter() - t_fit
    times = history["epoch_time"]
    rate = bc.epoch_rate(nb, times)
    acc = train.evaluate(ts, eval_step, (xt, yt))["accuracy"]
    if row == "jdl-chunk":   # fit's defaults: say what its rule chose
        rule = train.chunking_rule(step, ts, (x[:cfg["batch"]], y[:cfg["batch"]]), num_batches=nb)
        chosen = f"defaults: steps_per_call={rule['steps_per_call']}, unroll={rule['unroll']}"
        chosen += f", tail={rule['tail_steps']}" if rule["tail_steps"] else ""
    else:
        chosen = f"steps_per_call={nb if scan else 1}{', unroll=False' if scan else ''}"
    return dict(steps=nb * epochs, steps_per_epoch=nb, epochs=epochs, timing="epoch",
                steps_per_s=rate, epoch_steps_per_s=rate,
                compile_s=(times[0] - nb / rate) if len(times) > 1 else None,
                epoch_times=times, train_s=train_s, test_accuracy=acc,
                total_s=time.perf_counter() - t0,
                note=f"fit({chosen}); "
                     "steps/s = steps per epoch / epoch time; compile = first-epoch excess")


def _loop_row(case: str, row: str, cfg: dict, data) -> dict:
    x, y, xt, yt = data
    t0 = time.perf_counter()
    if row == "pure-jax":
        import jax

        import pure_jax
        trainer, to_batch, sync = pure_jax.make_trainer(case), None, jax.block_until_ready
        note = "jax.jit step (not donated), reshape max-pool"
    elif row == "flax-nnx":
        import jax

        import flax_nnx
        trainer, to_batch, sync = flax_nnx.Trainer(case), None, jax.block_until_ready
        note = "nnx.jit + nnx.Optimizer; nnx.max_pool (reduce_window)"
    else:
        import torch_rows
        trainer, to_batch, sync = torch_rows.Trainer(case), torch_rows.Trainer.to_batch, torch_rows.Trainer.sync
        x, xt = torch_rows.nchw(x), torch_rows.nchw(xt)
        note = "CPU eager, torch.set_num_threads(2)"
    result = bc.run_loop(trainer, sync, x, y, batch=cfg["batch"], epochs=cfg["epochs"],
                         warmup=cfg["warmup"], to_batch=to_batch)
    result.update(test_accuracy=trainer.accuracy(xt, yt), total_s=time.perf_counter() - t0,
                  timing="10-step windows", note=note)
    return result


def run_row(case: str, row: str, quick: bool, data_dir: str) -> dict:
    cfg = bc.settings(case, quick)
    t0 = time.perf_counter()
    data = bc.load_data(data_dir, bc.n_train_for(cfg, scan=row == "jdl-scan-epoch"), cfg["n_test"])
    data_load_s = time.perf_counter() - t0
    result = (_jdl_row if row.startswith("jdl-") else _loop_row)(case, row, cfg, data)
    result.update(data_load_s=data_load_s, batch=cfg["batch"], n_train=len(data[0]),
                  n_test=len(data[2]))
    if row == "jdl-scan-epoch" and case == "cnn":
        result["note"] += ("; only a few dozen steps: a rolled scan runs convolutions ~10x "
                           "slower on XLA:CPU (jax-ml/jax#12868)")
    return result
