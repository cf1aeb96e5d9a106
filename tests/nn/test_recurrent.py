"""RNN, Bidirectional and scan_cell: masking of padded batches (forward, reverse, both), carries
in and out, errors that name the argument, and a small recurrent stack that trains."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jdl import losses, nn, train

B, T, IN, F = 3, 4, 2, 3
LENGTHS = jnp.array([4, 2, 1])
TOL = dict(rtol=1e-5, atol=1e-5)


def padded_batch(seed=0):
    """Random values everywhere, padding included, so that only masking can hide them."""
    return jax.random.normal(jax.random.key(seed), (B, T, IN))


def alone(fn, xs, b):
    """`fn` on sequence b cut to its real length, as a batch of one."""
    return fn(xs[b:b + 1, :int(LENGTHS[b])])


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("cell", [nn.GRUCell(F), nn.LSTMCell(F)], ids=["gru", "lstm"])
def test_padded_batch_equals_each_sequence_alone(cell, reverse):
    params, xs = cell.init(jax.random.key(1), IN), padded_batch()
    run = jax.jit(lambda x, lengths=None: nn.scan_cell(cell, params, x, lengths=lengths,
                                                       reverse=reverse))
    carry, ys = run(xs, LENGTHS)
    for b in range(B):
        n = int(LENGTHS[b])
        carry_b, ys_b = alone(run, xs, b)
        np.testing.assert_allclose(ys[b, :n], ys_b[0], **TOL)
        np.testing.assert_array_equal(ys[b, n:], 0.0)
        for got, want in zip(jax.tree.leaves(carry), jax.tree.leaves(carry_b)):
            np.testing.assert_allclose(got[b], want[0], **TOL)


def test_reverse_runs_backward_over_the_real_steps_only():
    cell = nn.GRUCell(F)
    params, xs = cell.init(jax.random.key(1), IN), padded_batch()
    carry, ys = nn.scan_cell(cell, params, xs, lengths=LENGTHS, reverse=True)
    real = xs[1:2, :2]  # length 2: the backward pass starts at step 1, not at the padding
    ref_carry, ref = nn.scan_cell(cell, params, real[:, ::-1])
    np.testing.assert_allclose(ys[1, :2], ref[0, ::-1], **TOL)
    np.testing.assert_allclose(carry[1], ref_carry[0], **TOL)


def test_rnn_layer_many_to_one_and_many_to_many():
    cell = nn.LSTMCell(F)
    seq, last = nn.RNN(cell, return_sequences=True), nn.RNN(cell)
    shape_seq, params, state = seq.init(jax.random.key(0), (B, T, IN))
    shape_last, params_last, _ = last.init(jax.random.key(0), (B, T, IN))
    assert shape_seq == (B, T, F) and shape_last == (B, F) and state == {}
    assert seq.kind == "lstm" and set(params) == {"wx", "wh", "b"}
    xs = padded_batch()
    (ys, lengths), _ = seq.apply(params, {}, (xs, LENGTHS))  # a pair in, a pair out
    np.testing.assert_array_equal(lengths, LENGTHS)
    y_last, _ = last.apply(params, {}, (xs, LENGTHS))
    np.testing.assert_allclose(y_last, ys[jnp.arange(B), LENGTHS - 1], **TOL)
    plain, _ = last.apply(params, {}, xs)  # no lengths: every step is real
    np.testing.assert_allclose(plain, seq.apply(params, {}, xs)[0][:, -1], **TOL)
    backward, _ = nn.RNN(cell, reverse=True).apply(params, {}, (xs, LENGTHS))
    ys_rev = nn.RNN(cell, reverse=True, return_sequences=True).apply(params, {}, (xs, LENGTHS))
    np.testing.assert_allclose(backward, ys_rev[0][0][:, 0], **TOL)  # reverse ends at step 0


def test_bidirectional_masked_equals_each_sequence_alone():
    layer = nn.Bidirectional(nn.GRUCell(F), nn.LSTMCell(2), return_sequences=True)
    shape, params, _ = layer.init(jax.random.key(0), (B, T, IN))
    assert shape == (B, T, F + 2) and set(params) == {"forward", "backward"}
    run = jax.jit(lambda x: layer.apply(params, {}, x)[0])
    xs = padded_batch()
    ys, lengths = run((xs, LENGTHS))
    for b in range(B):
        n = int(LENGTHS[b])
        np.testing.assert_allclose(ys[b, :n], alone(run, xs, b)[0], **TOL)
        np.testing.assert_array_equal(ys[b, n:], 0.0)
    fwd = nn.scan_cell(nn.GRUCell(F), params["forward"], xs, lengths=LENGTHS)[1]
    np.testing.assert_allclose(ys[..., :F], fwd, **TOL)
    last = nn.Bidirectional(nn.GRUCell(F), nn.LSTMCell(2))
    y, _ = last.apply(params, {}, (xs, LENGTHS))  # forward's last real step, backward's step 0
    np.testing.assert_allclose(y, jnp.concatenate([ys[jnp.arange(B), LENGTHS - 1, :F],
                                                   ys[:, 0, F:]], axis=-1), **TOL)
    summed = nn.Bidirectional(nn.GRUCell(F), merge="sum", return_sequences=True)
    _, p2, _ = summed.init(jax.random.key(0), (B, T, IN))
    y2 = summed.apply(p2, {}, xs)[0]
    assert y2.shape == (B, T, F)


def test_carry_in_and_out_continue_a_sequence_step_by_step():
    """What sampling a language model needs: the final carry of one call starts the next."""
    cell = nn.LSTMCell(F)
    params, xs = cell.init(jax.random.key(1), IN), padded_batch()
    carry, ys = nn.scan_cell(cell, params, xs)
    carry_a, ys_a = nn.scan_cell(cell, params, xs[:, :2])
    carry_b, ys_b = nn.scan_cell(cell, params, xs[:, 2:], carry=carry_a)
    np.testing.assert_allclose(jnp.concatenate([ys_a, ys_b], axis=1), ys, **TOL)
    step_carry = cell.initial_carry(B)
    for t in range(T):
        step_carry, y = cell.step(params, step_carry, xs[:, t])
    np.testing.assert_allclose(y, ys[:, -1], **TOL)
    for got, want in zip(carry_b + step_carry, carry + carry):
        np.testing.assert_allclose(got, want, **TOL)


def test_unroll_gives_the_same_numbers():
    cell = nn.GRUCell(F)
    params, xs = cell.init(jax.random.key(1), IN), padded_batch()
    ref = nn.scan_cell(cell, params, xs, lengths=LENGTHS)[1]
    for unroll in (2, True):
        got = nn.scan_cell(cell, params, xs, lengths=LENGTHS, unroll=unroll)[1]
        np.testing.assert_allclose(got, ref, **TOL)


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("cell", [nn.SimpleRNNCell(F), nn.GRUCell(F), nn.LSTMCell(F)],
                         ids=["simple", "gru", "lstm"])
def test_projecting_ahead_or_per_step_gives_the_same_numbers_and_gradients(cell, reverse):
    """The two places of the input projection (before the scan, or inside it) compute one
    function: outputs, final carries and parameter gradients agree to float rounding."""
    params, xs = cell.init(jax.random.key(1), IN), padded_batch()

    def run(p, ahead):
        carry, ys = nn.scan_cell(cell, p, xs, lengths=LENGTHS, reverse=reverse,
                                 project_ahead=ahead)
        return (ys ** 2).sum() + sum(jnp.sum(c ** 3) for c in jax.tree.leaves(carry)), (carry, ys)

    (loss_a, out_a), grads_a = jax.value_and_grad(run, has_aux=True)(params, True)
    (loss_s, out_s), grads_s = jax.value_and_grad(run, has_aux=True)(params, False)
    for got, want in zip(jax.tree.leaves((loss_s, out_s, grads_s)),
                         jax.tree.leaves((loss_a, out_a, grads_a))):
        np.testing.assert_allclose(got, want, **TOL)
    with pytest.raises(TypeError, match="project_ahead: expected True, False or None, got 'yes'"):
        nn.RNN(cell, project_ahead="yes")


@pytest.mark.parametrize("call,error,match", [
    (lambda c, p, x: nn.scan_cell(c, p, x[0]), ValueError,
     r"gru: expected an input of rank 3 \(batch, time, features\), got shape \(4, 2\)"),
    (lambda c, p, x: nn.scan_cell(c, p, x, lengths=jnp.array([[4], [2], [1]])), ValueError,
     r"lengths: expected shape \(batch,\) = \(3,\), got \(3, 1\)"),
    (lambda c, p, x: nn.scan_cell(c, p, x, lengths=jnp.array([4, 5, 1])), ValueError,
     r"lengths: expected values in \[0, time=4\], got min 1 and max 5"),
    (lambda c, p, x: nn.scan_cell(c, p, x, lengths=jnp.array([-1, 2, 1])), ValueError,
     r"lengths: expected values in \[0, time=4\], got min -1"),
    (lambda c, p, x: nn.scan_cell(c, p, x, lengths=jnp.array([4.0, 2, 1])), TypeError,
     r"lengths: expected an integer array"),
    (lambda c, p, x: nn.scan_cell(c, p, x, carry=jnp.zeros((3, 5))), ValueError,
     r"carry: expected \(3, 3\) \(cell.initial_carry\(3\)\), got \(3, 5\)"),
    (lambda c, p, x: nn.scan_cell(c, p, x[..., :1]), ValueError,
     r"x: expected 2 input features on the last axis"),
    (lambda c, p, x: nn.scan_cell(c, p, jnp.ones((3, 4, 2), jnp.int32)), TypeError,
     r"x: expected a floating dtype, got int32"),
    (lambda c, p, x: nn.RNN(c).apply(p, {}, (x, LENGTHS, LENGTHS)), TypeError,
     r"expected x to be an array or a pair \(values, lengths\), got a tuple of 3 items"),
    (lambda c, p, x: nn.RNN(c).init(jax.random.key(0), (3, 4)), ValueError,
     r"gru: expected an input of rank 3"),
])
def test_bad_inputs_name_the_argument(call, error, match):
    cell = nn.GRUCell(F)
    with pytest.raises(error, match=match):
        call(cell, cell.init(jax.random.key(0), IN), padded_batch())


def test_lstm_carry_mismatch_and_bad_layer_arguments():
    cell = nn.LSTMCell(F)
    with pytest.raises(ValueError, match=r"lstm: carry: expected \(\(3, 3\), \(3, 3\)\)"):
        nn.scan_cell(cell, cell.init(jax.random.key(0), IN), padded_batch(), carry=jnp.zeros((3, 3)))
    with pytest.raises(TypeError, match="RNN: expected cell to be a recurrent cell"):
        nn.RNN(nn.Dense(3))
    with pytest.raises(ValueError, match="RNN: expected unroll to be a positive int or True, got 0"):
        nn.RNN(cell, unroll=0)
    with pytest.raises(ValueError, match="Bidirectional: expected merge 'concat' or 'sum'"):
        nn.Bidirectional(cell, merge="mean")
    with pytest.raises(ValueError, match="merge='sum' needs cells of the same features, got 3 and 2"):
        nn.Bidirectional(cell, nn.GRUCell(2), merge="sum")


def test_empty_sequence_keeps_the_initial_carry():
    """A row of padding only (a padded last batch in evaluation) is a length of 0."""
    cell = nn.GRUCell(F)
    params, xs = cell.init(jax.random.key(1), IN), padded_batch()
    carry, ys = nn.scan_cell(cell, params, xs, lengths=jnp.array([4, 0, 1]))
    np.testing.assert_array_equal(carry[1], 0.0)
    np.testing.assert_array_equal(ys[1], 0.0)
    y, _ = nn.RNN(cell).apply(params, {}, (xs, jnp.array([4, 0, 1])))
    np.testing.assert_array_equal(y[1], 0.0)


def test_time_distributed_dense_and_dropout_on_rank_3():
    dense, drop = nn.Dense(5), nn.Dropout(0.5)
    shape, params, _ = dense.init(jax.random.key(0), (B, T, IN))
    xs = padded_batch()
    y, _ = dense.apply(params, {}, xs)
    assert shape == y.shape == (B, T, 5)
    for t in range(T):  # the same Dense at every step
        np.testing.assert_allclose(y[:, t], dense.apply(params, {}, xs[:, t])[0], **TOL)
    dropped, _ = drop.apply({}, {}, xs, key=jax.random.key(3), train=True)
    kept = dropped != 0
    assert dropped.shape == xs.shape and 0 < kept.mean() < 1
    np.testing.assert_allclose(dropped[kept], 2 * xs[kept], **TOL)
    (values, lengths), _ = nn.on_values(drop).apply({}, {}, (xs, LENGTHS), key=jax.random.key(3),
                                                    train=True)
    np.testing.assert_array_equal(values, dropped)
    np.testing.assert_array_equal(lengths, LENGTHS)
    np.testing.assert_array_equal(nn.drop_lengths().apply({}, {}, (xs, LENGTHS))[0], xs)


def test_embedding_rnn_dropout_rnn_dense_stack_trains():
    """Does token 3 occur in a sequence (ids 1..4, padded with 0 at the end)?"""
    model = nn.serial(nn.Embedding(5, 4, padding_id=0),
                      nn.RNN(nn.GRUCell(8), return_sequences=True), nn.on_values(nn.Dropout(0.1)),
                      nn.RNN(nn.LSTMCell(8)), nn.Dense(2))
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 5, size=(32, 6))
    lengths = rng.integers(1, 7, size=32)
    ids[np.arange(6)[None, :] >= lengths[:, None]] = 0
    labels = (ids == 3).any(axis=1).astype(np.int32)
    ts = train.init_train_state(model, optax.adam(0.05), jax.random.key(0), (32, 6))
    step = train.make_train_step(model, optax.adam(0.05), losses.softmax_cross_entropy)
    batch = (jnp.asarray(ids), jnp.asarray(labels))
    history = []
    for _ in range(25):
        ts, logs = step(ts, batch)
        history.append(float(logs["loss"]))
    assert history[-1] < 0.5 * history[0], history
