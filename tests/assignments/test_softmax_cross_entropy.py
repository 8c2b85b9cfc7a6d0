"""Graded: softmax-cross-entropy (10 points). Softmax, log-softmax and fused cross-entropy: values, stability, grads."""
import math

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from grading import assert_close, check_gradients, observe
from tinygrad_edu.backends import get_backend

pytestmark = pytest.mark.assignment("softmax-cross-entropy")


def _logits(seed, shape, scale=2.0):
    return scale * np.random.default_rng(seed).standard_normal(shape)


def _probabilities(rows):
    """Softmax of each row by its definition, one row at a time with the math module (small logits only)."""
    out = np.empty_like(rows)
    for i, row in enumerate(rows):
        e = [math.exp(v) for v in row]
        out[i] = [v / math.fsum(e) for v in e]
    return out


def _cross_entropy_rows(logits, target, ignore_index=-100, label_smoothing=0.0):
    """Per-row loss and dloss/dlogits by the definitions: -(1-eps) log p_t - eps/C sum_c log p_c, p - q."""
    n, c = logits.shape
    p = _probabilities(logits)
    loss, grad = np.zeros(n), np.zeros((n, c))
    for i in range(n):
        if target[i] == ignore_index:
            continue
        q = np.full(c, label_smoothing / c)                 # the smoothed target distribution
        q[target[i]] += 1 - label_smoothing
        loss[i] = -sum(q[j] * math.log(p[i, j]) for j in range(c))
        grad[i] = p[i] - q
    return loss, grad


@pytest.mark.points(2)
def test_softmax_and_log_softmax_values():
    x = _logits(1, (4, 5))
    p = _probabilities(x)
    assert_close(F.softmax(tg.tensor(x), dim=1), p, "softmax along dim 1")
    assert_close(F.log_softmax(tg.tensor(x), dim=-1), np.log(p), "log_softmax along dim -1")
    y = _logits(2, (3, 4, 2))
    p0 = _probabilities(y.transpose(1, 2, 0).reshape(-1, 3)).reshape(4, 2, 3).transpose(2, 0, 1)
    assert_close(F.softmax(tg.tensor(y), dim=0), p0, "softmax along dim 0 of a 3-D tensor")
    assert_close(F.log_softmax(tg.tensor(y), dim=0), np.log(p0), "log_softmax along dim 0 of a 3-D tensor")


@pytest.mark.points(1)
def test_large_logits_do_not_overflow():
    small = np.array([[0.0, 1.0, 2.0], [-3.0, 0.5, 0.0]])
    big = small + np.array([[1000.0], [-1000.0]])             # softmax does not change when a row is shifted
    p = _probabilities(small)
    assert_close(F.softmax(tg.tensor(big), dim=1), p, "softmax of logits near +-1000")
    assert_close(F.log_softmax(tg.tensor(big), dim=1), np.log(p), "log_softmax of logits near +-1000")
    backend = get_backend("cpu")
    loss, grad = backend.cross_entropy(big, np.array([2, 0]), -100, 0.0)
    expected_loss, expected_grad = _cross_entropy_rows(small, [2, 0])
    assert_close(loss, expected_loss, "cross_entropy loss of logits near +-1000")
    assert_close(grad, expected_grad, "cross_entropy gradient of logits near +-1000")
    observe("all finite", float(np.isfinite(loss).all() and np.isfinite(grad).all()))


@pytest.mark.points(2)
def test_softmax_and_log_softmax_gradients():
    check_gradients("softmax along dim 1", lambda x: F.softmax(x, dim=1), _logits(3, (3, 5)))
    check_gradients("log_softmax along dim -1", lambda x: F.log_softmax(x, dim=-1), _logits(4, (3, 5)))
    check_gradients("softmax along dim 0 of (4, 2, 3)", lambda x: F.softmax(x, dim=0), _logits(5, (4, 2, 3)))
    check_gradients("log_softmax along dim 1 of (2, 4, 3)", lambda x: F.log_softmax(x, dim=1),
                    _logits(6, (2, 4, 3)))


@pytest.mark.points(2)
def test_backend_cross_entropy_rows_and_gradient():
    backend = get_backend("cpu")
    logits = _logits(7, (5, 4))
    target = np.array([3, 0, -100, 1, 2])
    loss, grad = backend.cross_entropy(logits, target, -100, 0.0)
    expected_loss, expected_grad = _cross_entropy_rows(logits, target)
    assert_close(loss, expected_loss, "per-row loss (row 2 ignored)")
    assert_close(grad, expected_grad, "dloss/dlogits (row 2 ignored)")

    target = np.array([1, 1, 3, 0, 0])
    loss, grad = backend.cross_entropy(logits, target, 0, 0.2)
    expected_loss, expected_grad = _cross_entropy_rows(logits, target, ignore_index=0, label_smoothing=0.2)
    assert_close(loss, expected_loss, "per-row loss, label_smoothing 0.2, ignore_index 0")
    assert_close(grad, expected_grad, "dloss/dlogits, label_smoothing 0.2, ignore_index 0")


@pytest.mark.points(2)
def test_functional_cross_entropy_reductions():
    logits = _logits(8, (6, 3))
    target = np.array([0, 2, 1, 7, 2, 7])                       # class 7 is ignore_index: rows 3 and 5 count not
    rows, _ = _cross_entropy_rows(logits, target, ignore_index=7, label_smoothing=0.1)
    x, t = tg.tensor(logits), tg.tensor(target)
    assert_close(F.cross_entropy(x, t, ignore_index=7, label_smoothing=0.1, reduction="none"), rows,
                 "reduction='none'")
    assert_close(F.cross_entropy(x, t, ignore_index=7, label_smoothing=0.1, reduction="sum"), rows.sum(),
                 "reduction='sum'")
    assert_close(F.cross_entropy(x, t, ignore_index=7, label_smoothing=0.1), rows.sum() / 4,
                 "reduction='mean' over the 4 rows not ignored")
    plain, _ = _cross_entropy_rows(logits[[0, 1, 2, 4]], [0, 2, 1, 2])
    assert_close(F.cross_entropy(tg.tensor(logits[[0, 1, 2, 4]]), tg.tensor([0, 2, 1, 2])), plain.mean(),
                 "mean cross-entropy, no smoothing")

    # logits (N, C, d): the class axis is axis 1
    logits3 = _logits(9, (2, 3, 4))
    target3 = np.array([[0, 1, 2, 1], [2, 2, 0, 1]])
    rows3, _ = _cross_entropy_rows(logits3.transpose(0, 2, 1).reshape(-1, 3), target3.ravel())
    assert_close(F.cross_entropy(tg.tensor(logits3), tg.tensor(target3), reduction="none"), rows3.reshape(2, 4),
                 "reduction='none' of (2, 3, 4) logits")


@pytest.mark.points(1)
def test_cross_entropy_gradients():
    target = tg.tensor(np.array([1, 0, 4, 4, 2]))
    check_gradients("cross_entropy, reduction='none'", lambda x: F.cross_entropy(x, target, reduction="none"),
                    _logits(10, (5, 5)))
    check_gradients("cross_entropy, mean, label_smoothing 0.3, ignore_index 4",
                    lambda x: F.cross_entropy(x, target, ignore_index=4, label_smoothing=0.3), _logits(11, (5, 5)))
