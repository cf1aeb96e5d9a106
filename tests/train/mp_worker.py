"""One process of the 2-process jax.distributed test (tests/train/test_distributed.py)."""
import argparse

from jdl.train import _distributed

parser = _distributed.add_distributed_arguments(argparse.ArgumentParser())
parser.add_argument("--out", required=True)
args = parser.parse_args()
joined = _distributed.initialize_from_args(args, local_device_count=2)

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from jdl import losses, models, train  # noqa: E402

rng = np.random.default_rng(0)
x = rng.normal(size=(64, 5)).astype(np.float32)
y = (x[:, 0] > 0).astype(np.int32)
model = models.mlp([8, 2], dropout=0.2, batch_norm=True)
optimizer = optax.sgd(0.1, momentum=0.9)
ts = train.init_train_state(model, optimizer, jax.random.key(0), (1, 5))
step = train.make_train_step(model, optimizer, losses.softmax_cross_entropy)
devices = jax.device_count() if joined else None
ts, history = train.fit(ts, step, (x, y), epochs=2, batch_size=16, verbose=0, devices=devices,
                        steps_per_call=2)   # chunks of two steps: half the compile time of four
np.savez(args.out, *[np.asarray(a) for a in jax.tree.leaves(train.local((ts.params, ts.state)))])
print(f"process {jax.process_index()} of {jax.process_count()}, {jax.device_count()} devices, "
      f"losses {history['loss']}", flush=True)
if joined:
    jax.distributed.shutdown()
