"""batches / num_batches: coverage once per epoch, shapes, remainder, shuffle determinism, errors."""
import math

import jax
import numpy as np
import pytest

from jdl.data import batches, num_batches


@pytest.fixture
def data():
    n = 23
    return np.arange(n * 4, dtype=np.float32).reshape(n, 2, 2, 1), np.arange(n)


@pytest.mark.parametrize("batch_size", [1, 5, 23, 50])
@pytest.mark.parametrize("shuffle", [False, True])
def test_every_example_once(data, batch_size, shuffle):
    x, y = data
    key = jax.random.key(1) if shuffle else None
    out = list(batches(x, y, batch_size=batch_size, key=key))
    assert len(out) == num_batches(len(x), batch_size) == math.ceil(len(x) / batch_size)
    ids = np.concatenate([yb for _, yb in out])
    assert sorted(ids.tolist()) == list(range(len(x)))
    for xb, yb in out:
        assert xb.shape[1:] == (2, 2, 1) and len(xb) == len(yb) <= batch_size
        np.testing.assert_array_equal(xb, x[yb])
    assert [len(yb) for _, yb in out[:-1]] == [batch_size] * (len(out) - 1)


def test_order_without_shuffle(data):
    x, y = data
    ids = np.concatenate([yb for _, yb in batches(x, y, batch_size=4)])
    np.testing.assert_array_equal(ids, y)


def test_drop_remainder(data):
    x, y = data
    out = list(batches(x, y, batch_size=5, drop_remainder=True))
    assert len(out) == num_batches(23, 5, drop_remainder=True) == 4
    assert all(xb.shape == (5, 2, 2, 1) for xb, _ in out)
    assert list(batches(x, y, batch_size=50, drop_remainder=True)) == []


def test_x_only(data):
    x, _ = data
    out = list(batches(x, batch_size=10))
    assert [b.shape[0] for b in out] == [10, 10, 3]
    np.testing.assert_array_equal(np.concatenate(out), x)


def test_shuffle_is_fits_permutation_of_the_epoch(data):
    """key + epoch give jax.random.permutation(fold_in(fold_in(key, 1), epoch), n): the rule
    `fit` uses, written out here by hand."""
    x, y = data

    def order(key, epoch):
        return np.concatenate([yb for _, yb in batches(x, y, batch_size=4, key=key, epoch=epoch)])

    key = jax.random.key(5)
    by_hand = jax.random.permutation(jax.random.fold_in(jax.random.fold_in(key, 1), 3), len(y))
    np.testing.assert_array_equal(order(key, 3), np.asarray(by_hand))
    np.testing.assert_array_equal(order(key, 3), order(key, 3))
    assert not np.array_equal(order(key, 3), order(key, 4))
    assert not np.array_equal(order(key, 0), y)
    with pytest.raises(TypeError, match=r"key: expected one typed PRNG key"):
        batches(x, y, batch_size=4, key=5)


def test_errors(data):
    x, y = data
    with pytest.raises(ValueError, match=r"batches: `batch_size` must be a positive int, got 0"):
        batches(x, y, batch_size=0)  # raised at the call, not at the first next()
    with pytest.raises(ValueError, match=r"`batch_size` must be a positive int, got 2\.5"):
        batches(x, y, batch_size=2.5)
    with pytest.raises(ValueError, match=r"`x` and `y` must have the same length, got 23 and 22"):
        batches(x, y[:-1], batch_size=4)
    with pytest.raises(ValueError, match=r"num_batches: `batch_size` must be a positive int, got -1"):
        num_batches(10, -1)
    with pytest.raises(ValueError, match=r"num_batches: `n` must be an int >= 0, got -3"):
        num_batches(-3, 2)
    assert num_batches(0, 4) == 0 and list(batches(x[:0], y[:0], batch_size=4)) == []
