"""Golden runs: `fit` and `fit_population` give bit-identical parameters across refactors.

A BN + dropout CNN trained by `fit` for 2 epochs (K = 4 steps per call, shuffling, validation,
early stopping with restore) and a 3-member population with per-member learning rates and
patience, each reduced to a sha256 digest of every parameter, state and step byte. The
digests in `golden/digests.json` were first recorded before the epoch engine was rewritten,
and the engine reproduced them exactly. They were recorded anew (and the other environments'
entries dropped, to be recorded again there) on 2026-12-06, when Conv's filter gradient became
matrix products on the CPU: a deliberate change of float summation order in a layer, checked
against flax.linen to 1e-5 in tests/nn/test_conv_grad.py, not a change of the engine.

XLA's floating-point results depend on the JAX release and on the CPU's vector instructions,
so a digest is recorded per (JAX version, machine, AVX-512 or not); on an environment with no
recorded digest the test says so and skips. `JDL_RECORD_GOLDEN=1` records the current
environment's digests (do it only with an engine known to be right).

The runs use `on_nonfinite="ignore"`: the digests predate the non-finite-loss guard, and
"ignore" compiles the program the engine compiled then. The guarded default moves the last
bits (XLA fuses the select with the update), so tests/train/test_safety.py compares it with
"ignore" to float tolerance instead.
"""
import hashlib
import json
import os
import pathlib
import platform

import jax
import numpy as np
import optax
import pytest

from jdl import losses, metrics, models, train

DIGESTS = pathlib.Path(__file__).parent / "golden" / "digests.json"


def environment() -> str:
    try:
        avx512 = "avx512f" in pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        avx512 = False
    return f"jax-{jax.__version__}/{platform.machine()}/{'avx512' if avx512 else 'no-avx512'}"


def digest(ts: train.TrainState) -> str:
    h = hashlib.sha256()
    for leaf in jax.tree.leaves((ts.params, ts.state, ts.step)):
        h.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
    return h.hexdigest()


def data(n: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 12, 12, 1)).astype(np.float32)
    y = (x[:, :6].mean((1, 2, 3)) > x[:, 6:].mean((1, 2, 3))).astype(np.int32)
    return x, y


def fit_run() -> str:
    model = models.fashion_cnn(2, widths=(4, 8), dense=16, dropout=0.25)
    optimizer = optax.adam(3e-3)
    train_step, eval_step = train.make_steps(model, optimizer, losses.softmax_cross_entropy,
                                             metrics={"accuracy": metrics.accuracy})
    ts = train.init_train_state(model, optimizer, jax.random.key(7), (1, 12, 12, 1))
    ts, _ = train.fit(ts, train_step, data(160, 0), epochs=2, batch_size=16, steps_per_call=4,
                      val_data=data(40, 1), eval_step=eval_step, eval_batch_size=32,
                      callbacks=[train.EarlyStopping("val_accuracy", patience=1)], verbose=0,
                      on_nonfinite="ignore")
    return digest(ts)


def population_run() -> str:
    model = models.fashion_cnn(2, widths=(4,), dense=8, dropout=0.25)
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1, momentum=0.9)
    train_step, eval_step = train.make_steps(model, optimizer, losses.softmax_cross_entropy)
    pop = train.init_population(model, optimizer, jax.random.split(jax.random.key(5), 3),
                                (1, 12, 12, 1),
                                hyperparams={"learning_rate": np.array([0.01, 0.1, 5.0], np.float32)})
    pop, _ = train.fit_population(pop, train_step, data(96, 2), epochs=3, batch_size=16,
                                  steps_per_call=2, val_data=data(24, 3), eval_step=eval_step,
                                  patience=1, verbose=0, on_nonfinite="ignore")
    return digest(pop)


RUNS = {"fit": fit_run, "fit_population": population_run}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_golden_run_is_bit_identical(name):
    got = RUNS[name]()
    recorded = json.loads(DIGESTS.read_text()) if DIGESTS.exists() else {}
    env = environment()
    if os.environ.get("JDL_RECORD_GOLDEN") == "1":
        recorded.setdefault(env, {})[name] = got
        DIGESTS.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    if name not in recorded.get(env, {}):
        pytest.skip(f"no golden digest recorded for {env} (recorded: {sorted(recorded)})")
    assert got == recorded[env][name], f"{name} on {env}: the parameters changed bit for bit"
