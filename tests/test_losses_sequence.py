"""losses.sequence_softmax_cross_entropy: a hand computation, optax, the (logits, lengths)
pair, the padding mask, NaN under jit, clear errors, and `fit` behind a recurrent model."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jdl import losses, nn, train

RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(3, 4, 5)).astype(np.float32)
TARGETS = np.array([[2, 4, 1, 0], [3, 0, 0, 0], [1, 1, 2, 3]], np.int32)  # 0 pads the ends


def _by_hand(logits, targets, padding_id=0):
    out = []
    for z, y in zip(logits.astype(np.float64), targets):
        steps = [np.log(np.sum(np.exp(z[t]))) - z[t, y[t]] for t in range(len(y))
                 if padding_id is None or y[t] != padding_id]
        out.append(np.mean(steps) if steps else 0.0)
    return np.array(out)


def test_against_a_hand_computation_and_optax():
    got = losses.sequence_softmax_cross_entropy(LOGITS, TARGETS)
    assert got.shape == (3,)
    np.testing.assert_allclose(got, _by_hand(LOGITS, TARGETS), rtol=1e-5)
    per_step = optax.losses.softmax_cross_entropy_with_integer_labels(LOGITS, TARGETS)
    mask = TARGETS != 0
    np.testing.assert_allclose(got, (per_step * mask).sum(1) / mask.sum(1), rtol=1e-5)
    # the second sequence: one real step, so its loss is that step's cross-entropy
    z = LOGITS[1, 0].astype(np.float64)
    np.testing.assert_allclose(got[1], np.log(np.exp(z).sum()) - z[3], rtol=1e-5)


def test_padding_id_none_and_another_padding_id():
    every = losses.sequence_softmax_cross_entropy(LOGITS, TARGETS, padding_id=None)
    np.testing.assert_allclose(every, _by_hand(LOGITS, TARGETS, None), rtol=1e-5)
    other = losses.sequence_softmax_cross_entropy(LOGITS, TARGETS, padding_id=1)
    np.testing.assert_allclose(other, _by_hand(LOGITS, TARGETS, 1), rtol=1e-5)


def test_padded_steps_change_nothing_and_a_row_of_padding_gives_zero():
    changed = LOGITS.copy()
    changed[TARGETS == 0] = 100.0 * RNG.normal(size=changed[TARGETS == 0].shape)
    np.testing.assert_allclose(losses.sequence_softmax_cross_entropy(changed, TARGETS),
                               losses.sequence_softmax_cross_entropy(LOGITS, TARGETS), rtol=1e-6)
    empty = np.zeros((1, 4), np.int32)
    assert float(losses.sequence_softmax_cross_entropy(LOGITS[:1], empty)[0]) == 0.0
    grad = jax.grad(lambda z: losses.sequence_softmax_cross_entropy(z, TARGETS).sum())(LOGITS)
    assert np.all(np.asarray(grad)[TARGETS == 0] == 0.0)


def test_the_pair_from_a_recurrent_model_is_accepted():
    lengths = jnp.array([3, 1, 4])
    pair = losses.sequence_softmax_cross_entropy((LOGITS, lengths), TARGETS)
    np.testing.assert_array_equal(pair, losses.sequence_softmax_cross_entropy(LOGITS, TARGETS))
    assert losses.get("sequence_softmax_cross_entropy") is losses.sequence_softmax_cross_entropy


def test_out_of_range_targets_raise_when_concrete_and_are_nan_when_traced():
    bad = TARGETS.copy()
    bad[0, 1] = 7
    with pytest.raises(ValueError, match=r"targets: expected ids in \[0, 5\)"):
        losses.sequence_softmax_cross_entropy(LOGITS, bad)
    got = jax.jit(losses.sequence_softmax_cross_entropy)(LOGITS, bad)
    assert np.isnan(got[0]) and np.all(np.isfinite(got[1:]))
    padded_minus_one = np.where(TARGETS == 0, -1, TARGETS)   # -1 pads: not checked, masked
    np.testing.assert_allclose(
        losses.sequence_softmax_cross_entropy(LOGITS, padded_minus_one, padding_id=-1),
        losses.sequence_softmax_cross_entropy(LOGITS, TARGETS), rtol=1e-6)


@pytest.mark.parametrize("outputs, targets, error, match", [
    (LOGITS[0], TARGETS, ValueError, r"outputs: expected logits of shape \(batch, time, vocab\)"),
    (LOGITS, TARGETS[:, :3], ValueError, r"targets: expected shape \(3, 4\)"),
    (LOGITS, TARGETS[..., None], ValueError, r"targets: expected shape"),
    (LOGITS, TARGETS.astype(np.float32), TypeError, "targets: expected integer ids"),
    ((LOGITS, None, None), TARGETS, TypeError, "outputs: expected logits .* or the pair"),
])
def test_errors_name_the_argument(outputs, targets, error, match):
    with pytest.raises(error, match=match):
        losses.sequence_softmax_cross_entropy(outputs, targets)


def test_padding_id_must_be_an_int():
    with pytest.raises(TypeError, match="padding_id: expected an int or None"):
        losses.sequence_softmax_cross_entropy(LOGITS, TARGETS, padding_id=0.5)


def test_fit_after_a_recurrent_model_with_a_dense_head():
    vocab = 6
    model = nn.serial(nn.Embedding(vocab, 4, padding_id=0),
                      nn.RNN(nn.GRUCell(8), return_sequences=True), nn.on_values(nn.Dense(vocab)))
    ids = np.array([[1, 2, 3, 4, 5, 0], [2, 3, 4, 5, 0, 0]] * 8, np.int32)
    inputs, targets = ids[:, :-1], ids[:, 1:]          # each target is the next input
    ts = train.init_train_state(model, optax.adam(0.05), jax.random.key(0), inputs.shape)
    step = train.make_train_step(model, optax.adam(0.05), losses.sequence_softmax_cross_entropy)
    ts, history = train.fit(ts, step, (inputs, targets), epochs=3, batch_size=16, verbose=0,
                            steps_per_call=1)
    assert history["loss"][-1] < history["loss"][0] < np.log(vocab) + 0.5
