"""`fit`'s rolled chunks on an epoch of a prime number of batches: one shorter call at the end.

    python experiments/benchmarks/fit_tail.py            # about 1 minute on 2 cores
    python experiments/benchmarks/fit_tail.py --quick    # seconds (the test)

60,000 examples in batches of 64 are 937 batches, a prime. Until 2026-12-06 `fit` cut K to the
largest divisor of the batches per epoch, so an MLP got K = 1 there instead of 64. Now rolled
chunks keep K = 64 and end each epoch with one call of the remaining 41 steps (`chunk_plan` in
`jdl/train/_chunking.py`). Rows, each timed over `--epochs` epochs after a compiling epoch, all
rows interleaved `--repeats` times (median steps/s):
- k1_prime:         937 batches with K = 1 (what the divisor rule gave);
- default_prime:    937 batches with fit's defaults (K = 64 rolled + a 41-step tail);
- default_multiple: 960 batches with fit's defaults (K = 64, no tail), for scale.
(`--quick`: 67 and 64 batches of a tiny MLP.)
The MLP is 784-500-500-10 with SGD momentum 0.9 on random data, as in `fit_rule.py`.
"""
from __future__ import annotations

import argparse
import statistics
import time

import jax
import numpy as np
import optax


def main(argv=None) -> dict:
    from jdl import losses, nn, train

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    width, batches = (16, {"prime": 67, "multiple": 64}) if args.quick else (
        500, {"prime": 937, "multiple": 960})
    if args.quick:
        args.epochs, args.repeats = 1, 1
    model = nn.serial(nn.Flatten(), nn.Dense(width), nn.Relu(), nn.Dense(width), nn.Relu(), nn.Dense(10))
    optimizer = optax.sgd(0.05, momentum=0.9)
    step = train.make_train_step(model, optimizer, losses.softmax_cross_entropy)
    rng = np.random.default_rng(0)
    rows = {"k1_prime": ("prime", {"steps_per_call": 1, "unroll": False}),
            "default_prime": ("prime", {}), "default_multiple": ("multiple", {})}
    data = {name: (rng.random((64 * n, 28, 28, 1), np.float32), rng.integers(0, 10, 64 * n).astype(np.int32))
            for name, n in batches.items()}
    states, rates = {}, {row: [] for row in rows}
    for row, (size, kwargs) in rows.items():   # compile each row's programs
        ts = train.init_train_state(model, optimizer, jax.random.key(0), (1, 28, 28, 1))
        states[row], _ = train.fit(ts, step, data[size], epochs=1, batch_size=64, verbose=0, **kwargs)
    for _ in range(args.repeats):
        for row, (size, kwargs) in rows.items():
            start = time.perf_counter()
            states[row], _ = train.fit(states[row], step, data[size], epochs=args.epochs, batch_size=64,
                                       verbose=0, **kwargs)
            jax.block_until_ready(states[row])
            rates[row].append(args.epochs * batches[size] / (time.perf_counter() - start))
    x, y = data["prime"]
    rule = train.chunking_rule(step, states["default_prime"], (x[:64], y[:64]),
                               num_batches=batches["prime"])
    medians = {row: statistics.median(r) for row, r in rates.items()}
    for row in rows:
        print(f"{row:16s} {medians[row]:7.1f} steps/s  runs {[round(r, 1) for r in rates[row]]}")
    print(f"default_prime / k1_prime: {medians['default_prime'] / medians['k1_prime']:.2f}x; the rule "
          f"chose K = {rule['steps_per_call']} with a tail of {rule['tail_steps']} for "
          f"{batches['prime']} batches (JAX {jax.__version__})")
    return {"steps_per_s": medians, "runs": rates, "rule": rule}


if __name__ == "__main__":
    main()
