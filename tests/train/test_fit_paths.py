"""fit's execution paths agree: per-step calls, K-step unrolled chunks, a whole epoch in a rolled scan."""
import jax
import numpy as np
import optax

from jdl import losses, models, nn, train


def run(model, steps_per_call, unroll, x, y):
    optimizer = optax.sgd(0.05, momentum=0.9)
    ts = train.init_train_state(model, optimizer, jax.random.key(3), (1, *x.shape[1:]))
    step = train.make_train_step(model, optimizer, losses.softmax_cross_entropy)
    ts, history = train.fit(ts, step, (x, y), epochs=2, batch_size=8, verbose=0,
                            steps_per_call=steps_per_call, unroll=unroll)
    return ts, history


def test_step_chunk_and_scan_epoch_paths_agree():
    # a conv model with batch norm and dropout, so the scan path is exercised on convolutions
    model = nn.serial(nn.Conv(4, 3), nn.BatchNorm(), nn.Relu(), nn.MaxPool(2), nn.Flatten(),
                      nn.Dropout(0.3), nn.Dense(3))
    x = np.asarray(jax.random.normal(jax.random.key(0), (48, 6, 6, 1)))
    y = np.asarray(jax.random.randint(jax.random.key(1), (48,), 0, 3))
    reference, ref_history = run(model, 1, True, x, y)
    for steps_per_call, unroll in ((3, True), (6, False)):  # 6 batches per epoch: a whole epoch
        ts, history = run(model, steps_per_call, unroll, x, y)
        for a, b in zip(jax.tree.leaves(ts.params) + jax.tree.leaves(ts.state),
                        jax.tree.leaves(reference.params) + jax.tree.leaves(reference.state)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(history["loss"], ref_history["loss"], rtol=1e-5)
        assert int(ts.step) == 12


def test_mlp_scan_epoch_learns():
    x = np.asarray(jax.random.normal(jax.random.key(0), (256, 4)))
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
    ts, history = run(models.mlp([16, 2], "tanh"), 32, False, x, y)
    assert history["loss"][-1] < history["loss"][0]


def test_rolled_chunks_with_a_tail_equal_one_step_per_call():
    """7 batches per epoch in rolled chunks of 4: one call of 4 steps and a tail call of 3; the
    same steps as the one-step loop, in the same order, with the same epoch means."""
    x = np.asarray(jax.random.normal(jax.random.key(0), (60, 5)))
    y = (x[:, 0] > 0).astype(np.int32)
    model = models.mlp([8, 2], "tanh")
    reference, ref_history = run(model, 1, True, x, y)
    ts, history = run(model, 4, False, x, y)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                 ts.params, reference.params)
    np.testing.assert_allclose(history["loss"], ref_history["loss"], rtol=1e-5)
    assert int(ts.step) == 14


def test_population_chunks_with_a_tail_equal_lone_runs():
    x = np.asarray(jax.random.normal(jax.random.key(0), (60, 5)))
    y = (x[:, 0] > 0).astype(np.int32)
    model, optimizer = models.mlp([8, 2], "tanh"), optax.sgd(0.05, momentum=0.9)
    step = train.make_train_step(model, optimizer, losses.softmax_cross_entropy)
    keys = jax.random.split(jax.random.key(3), 2)
    pop = train.init_population(model, optimizer, keys, (1, 5))
    pop, _ = train.fit_population(pop, step, (x, y), epochs=2, batch_size=8, verbose=0,
                                  steps_per_call=4, unroll=False)
    for i in range(2):
        ts = train.init_train_state(model, optimizer, keys[i], (1, 5))
        ts, _ = train.fit(ts, step, (x, y), epochs=2, batch_size=8, verbose=0, steps_per_call=1)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a[i], b, rtol=1e-5, atol=1e-6),
                     pop.params, ts.params)
