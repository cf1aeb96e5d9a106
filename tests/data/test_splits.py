"""split / train_val_split / shuffle: sizes, disjointness, coverage, determinism, errors."""
import jax
import numpy as np
import pytest

from jdl.data import permutation, shuffle, split, train_val_split

N = 100


@pytest.fixture
def data():
    x = np.arange(N * 2).reshape(N, 2)
    y = np.arange(N)  # y = example id, so parts can be checked by their labels
    return x, y


def test_consecutive_split_is_deck000_protocol(data):
    x, y = data
    (xa, ya), (xb, yb) = split(x, y, (70, 20))  # cf. MNIST 50k / 10k of 60k
    np.testing.assert_array_equal(ya, np.arange(70))
    np.testing.assert_array_equal(yb, np.arange(70, 90))
    np.testing.assert_array_equal(xa, x[:70])
    np.testing.assert_array_equal(xb, x[70:90])


def test_shuffled_split_disjoint_and_deterministic(data):
    x, y = data
    parts = split(x, y, (50, 30, 20), seed=3)
    assert [len(p[0]) for p in parts] == [50, 30, 20]
    ids = np.concatenate([p[1] for p in parts])
    assert sorted(ids.tolist()) == list(range(N))  # disjoint and covering
    assert not np.array_equal(ids, np.arange(N))  # actually shuffled
    for px, py in parts:
        np.testing.assert_array_equal(px, x[py])  # x and y stay paired
    again = split(x, y, (50, 30, 20), seed=3)
    for a, b in zip(parts, again):
        np.testing.assert_array_equal(a[1], b[1])
    other = split(x, y, (50, 30, 20), seed=4)
    assert not np.array_equal(other[0][1], parts[0][1])


def test_fractions(data):
    x, y = data
    parts = split(x, y, (0.7, 0.2, 0.1))
    assert [len(p[1]) for p in parts] == [70, 20, 10]
    parts = split(x[:7], y[:7], (0.5, 0.5))  # round(3.5) = 4 boundary: nothing lost
    assert [len(p[1]) for p in parts] == [4, 3]
    assert [len(p[1]) for p in split(x, y, (0.29, 0.71))] == [29, 71]
    assert [len(p[0]) for p in split(x, None, (0.25,))] == [25]
    assert split(x, None, (0.25,))[0][1] is None


def test_split_errors(data):
    x, y = data
    with pytest.raises(ValueError, match=r"`sizes` \(60, 50\) sum to 110, more than the 100 examples"):
        split(x, y, (60, 50))
    with pytest.raises(ValueError, match=r"sum to at most 1, got \(0\.6, 0\.5\)"):
        split(x, y, (0.6, 0.5))
    with pytest.raises(ValueError, match=r"`sizes` must be >= 0"):
        split(x, y, (-1, 5))
    with pytest.raises(ValueError, match=r"all ints \(counts\) or all floats"):
        split(x, y, (50, 0.5))
    with pytest.raises(ValueError, match=r"`x` and `y` must have the same length, got 100 and 99"):
        split(x, y[:-1], (10,))
    with pytest.raises(ValueError, match=r"non-empty sequence"):
        split(x, y, 10)


def test_train_val_split(data):
    x, y = data
    (xt, yt), (xv, yv) = train_val_split(x, y, 10)
    assert len(yt) == 90 and len(yv) == 10
    assert set(yt.tolist()).isdisjoint(yv.tolist())
    (_, yt2), (_, yv2) = train_val_split(x, y, 10)
    np.testing.assert_array_equal(yv, yv2)  # seed=0 by default
    (_, yt3), (_, yv3) = train_val_split(x, y, 0.25, seed=None)
    np.testing.assert_array_equal(yv3, np.arange(75, 100))  # last examples held out
    with pytest.raises(ValueError, match=r"`val_size` must be in 0\.\.100.*got 101"):
        train_val_split(x, y, 101)
    with pytest.raises(ValueError, match=r"fractional `val_size` must be in \[0, 1\], got 1\.5"):
        train_val_split(x, y, 1.5)


def test_seeds_shuffle_and_jax_keys(data):
    x, y = data
    xs, ys = shuffle(x, y, seed=0)
    np.testing.assert_array_equal(xs, x[ys])
    assert sorted(ys.tolist()) == list(range(N))
    np.testing.assert_array_equal(permutation(N, 0), ys)
    np.testing.assert_array_equal(permutation(N, (0, 1)), permutation(N, (0, 1)))
    assert not np.array_equal(permutation(N, (0, 1)), permutation(N, (0, 2)))
    key = jax.random.key(7)
    np.testing.assert_array_equal(permutation(N, key), permutation(N, jax.random.key(7)))
    np.testing.assert_array_equal(permutation(N, key), permutation(N, jax.random.PRNGKey(7)))
    assert not np.array_equal(permutation(N, key), permutation(N, jax.random.key(8)))
    with pytest.raises(TypeError, match=r"`seed` must be an int.*got str"):
        permutation(N, "abc")
