"""Tests for jdl.metrics against hand-computed values and numpy / jax.lax.top_k references."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jdl import losses as L
from jdl import metrics as M

# 4 examples, 3 classes; the last row ties classes 0 and 1 (argmax picks 0)
SCORES = np.array([[0.1, 0.9, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 5.0], [1.0, 1.0, 0.0]],
                  np.float32)
LABELS = np.array([1, 1, 2, 1])


def close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_accuracy_by_hand_per_example():
    acc = M.accuracy(SCORES, LABELS)
    assert acc.shape == (4,) and acc.dtype == jnp.float32
    close(acc, [1.0, 0.0, 1.0, 0.0])  # row 3: tie -> class 0 != 1
    close(jnp.mean(acc), 0.5)
    close(M.error_rate(SCORES, LABELS), [0.0, 1.0, 0.0, 1.0])
    assert M.sparse_categorical_accuracy is M.accuracy


def test_accuracy_with_one_hot_targets_and_probabilities():
    oh = np.eye(3, dtype=np.float32)[LABELS]
    close(M.accuracy(SCORES, oh), [1.0, 0.0, 1.0, 0.0])
    probs = np.exp(SCORES) / np.exp(SCORES).sum(-1, keepdims=True)
    close(M.accuracy(probs, LABELS), [1.0, 0.0, 1.0, 0.0])


def test_accuracy_masked_mean_via_reduce():
    acc = M.accuracy(SCORES, LABELS)
    close(L.reduce(acc, weights=np.array([1.0, 1.0, 1.0, 0.0])), 2.0 / 3.0)


def test_binary_accuracy_logits_probs_signs_and_multilabel():
    logits = np.array([2.0, -1.0, 0.5, -3.0], np.float32)
    close(M.binary_accuracy(logits, np.array([1.0, 0.0, 0.0, 1.0])), [1.0, 1.0, 0.0, 0.0])
    close(M.binary_accuracy(logits, np.array([1, -1, -1, 1])), [1.0, 1.0, 0.0, 0.0])
    probs = np.array([0.9, 0.2, 0.6, 0.05], np.float32)
    close(M.binary_accuracy(probs, np.array([1.0, 0.0, 0.0, 1.0]), threshold=0.5),
          [1.0, 1.0, 0.0, 0.0])
    multi = np.array([[1.0, -1.0, 1.0, 1.0]], np.float32)
    close(M.binary_accuracy(multi, np.array([[1.0, 0.0, 0.0, 0.0]])), [0.5])
    with pytest.raises(ValueError, match=r"targets: expected shape \(4,\).*got \(4, 1\)"):
        M.binary_accuracy(logits, np.zeros((4, 1)))


def test_top_k_by_hand_and_ties():
    s = np.array([[0.1, 0.5, 0.2, 0.9]], np.float32)  # class 2 is third best
    y = np.array([2])
    close([M.top_k_accuracy(s, y, k)[0] for k in (1, 2, 3, 4)], [0.0, 0.0, 1.0, 1.0])
    # ties: [1, 1, 1, 0] with label 2 -> rank 2 (classes 0 and 1 come first, lowest index wins)
    t = np.array([[1.0, 1.0, 1.0, 0.0]], np.float32)
    close([M.top_k_accuracy(t, y, k)[0] for k in (1, 2, 3)], [0.0, 0.0, 1.0])
    close(M.top_k_accuracy(t, np.array([0]), 1), [1.0])


def test_top_k_matches_lax_top_k_membership_and_top1_is_accuracy():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 4, size=(64, 6)).astype(np.float32)  # many ties
    y = rng.integers(0, 6, size=64)
    for k in (1, 3, 5):
        _, idx = jax.lax.top_k(jnp.asarray(s), k)
        ref = np.any(np.asarray(idx) == y[:, None], axis=-1).astype(np.float32)
        close(M.top_k_accuracy(s, y, k), ref)
        close(M.top_k_error(s, y, k), 1.0 - ref)
    close(M.top_k_accuracy(s, y, 1), M.accuracy(s, y))


def test_top_k_validates_k():
    with pytest.raises(ValueError, match=r"k: expected an int in \[1, 3\].*got 0"):
        M.top_k_accuracy(SCORES, LABELS, 0)
    with pytest.raises(ValueError, match=r"k: expected an int in \[1, 3\].*got 5"):
        M.top_k_error(SCORES, LABELS, 5)


def test_label_validation_and_nan_under_jit():
    with pytest.raises(TypeError, match="labels: expected an integer dtype"):
        M.accuracy(SCORES, LABELS.astype(np.float32))
    with pytest.raises(ValueError, match=r"labels: expected class indices in \[0, 3\), "
                                         r"got min -1, max 3"):
        M.accuracy(SCORES, np.array([0, -1, 3, 1]))
    with pytest.raises(ValueError, match=r"labels: expected shape \(4,\).*got \(3,\)"):
        M.top_k_accuracy(SCORES, LABELS[:3], 1)
    out = np.asarray(jax.jit(M.accuracy)(SCORES, jnp.array([1, -1, 3, 1])))
    assert np.isnan(out[1]) and np.isnan(out[2])
    close(out[[0, 3]], [1.0, 0.0])
    out = np.asarray(jax.jit(M.top_k_accuracy, static_argnums=2)(SCORES, jnp.array([1, 7, 2, 1]),
                                                                    2))
    assert np.isnan(out[1])
    close(out[[0, 2, 3]], [1.0, 1.0, 1.0])


def test_confusion_matrix_by_hand():
    labels = np.array([0, 1, 2, 2, 1])
    preds = np.array([0, 2, 2, 1, 1])
    want = np.array([[1, 0, 0],
                     [0, 1, 1],
                     [0, 1, 1]])
    cm = M.confusion_matrix(preds, labels, num_classes=3)
    assert cm.shape == (3, 3) and cm.dtype == jnp.int32
    close(cm, want)
    # from scores (argmax) and under jit
    scores = np.eye(3, dtype=np.float32)[preds] * 2.0 - 1.0
    close(M.confusion_matrix(scores, labels), want)
    close(jax.jit(M.confusion_matrix, static_argnums=2)(scores, labels, 3), want)
    # weights (padding mask) drop the last example (true 1, predicted 1)
    close(M.confusion_matrix(preds, labels, 3, weights=np.array([1, 1, 1, 1, 0.0])),
          want - np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]]))


def test_confusion_matrix_validation():
    labels = np.array([0, 1, 3])
    with pytest.raises(ValueError, match=r"labels: expected class indices in \[0, 3\), "
                                         r"got min 0, max 3"):
        M.confusion_matrix(np.array([0, 1, 2]), labels, 3)
    with pytest.raises(ValueError, match=r"predictions: expected class indices in \[0, 3\)"):
        M.confusion_matrix(np.array([0, 1, -1]), np.array([0, 1, 2]), 3)
    with pytest.raises(ValueError, match="num_classes: required"):
        M.confusion_matrix(np.array([0, 1, 2]), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"num_classes: expected 3 .*got 4"):
        M.confusion_matrix(SCORES, LABELS, 4)
    with pytest.raises(TypeError, match="labels: expected an integer dtype"):
        M.confusion_matrix(SCORES, LABELS.astype(np.float32))


def test_get_by_name():
    assert M.get("sparse_categorical_accuracy") is M.accuracy
    f = M.get("top_2_error")
    close(f(SCORES, LABELS), 1.0 - M.top_k_accuracy(SCORES, LABELS, 2))
    with pytest.raises(ValueError, match="metric: expected a callable"):
        M.get("top_k_error")


def test_all_is_explicit_and_resolves():
    for name in M.__all__:
        assert callable(getattr(M, name))
