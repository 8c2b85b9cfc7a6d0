"""Graded: max-pool-backward (10 points). Each window's gradient goes to its first maximum; overlaps add up."""
import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from grading import assert_close, check_gradients

pytestmark = pytest.mark.assignment("max-pool-backward")


def _pool_gradient_by_definition(x, g, kernel, stride, padding):
    """One window at a time: find the window's maximum (padding never wins; np.argmax picks the first in
    row-major order on ties) and add that window's output gradient to the input element it came from."""
    n, c, h, w = x.shape
    dx = np.zeros_like(x)
    for b, ch, y, xx in np.ndindex(*g.shape):
        top, left = y * stride[0] - padding[0], xx * stride[1] - padding[1]
        best, where = -np.inf, None
        for i in range(kernel[0]):
            for j in range(kernel[1]):
                r, s = top + i, left + j
                if 0 <= r < h and 0 <= s < w and x[b, ch, r, s] > best:   # strictly greater: the first one stays
                    best, where = x[b, ch, r, s], (r, s)
        dx[b, ch, where[0], where[1]] += g[b, ch, y, xx]
    return dx


def _pool_and_backward(x, g_seed, kernel, stride=None, padding=0):
    tx = tg.tensor(x, requires_grad=True)
    y = F.max_pool2d(tx, kernel, stride, padding)
    g = np.random.default_rng(g_seed).standard_normal(tuple(y.shape))
    y.backward(tg.tensor(g))
    return tx.grad, g


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _check(name, x, seed, kernel, stride=None, padding=0):
    grad, g = _pool_and_backward(x, seed, kernel, stride, padding)
    kernel2 = _pair(kernel)
    stride2 = kernel2 if stride is None else _pair(stride)
    expected = _pool_gradient_by_definition(x, g, kernel2, stride2, _pair(padding))
    assert_close(grad, expected, name)


@pytest.mark.points(2)
def test_non_overlapping_windows():
    rng = np.random.default_rng(1)
    _check("2x2 windows, stride 2, on a 4x6 input", rng.standard_normal((2, 3, 4, 6)), 11, 2)
    _check("2x3 windows, stride (2, 3), rows and columns left over", rng.standard_normal((1, 2, 5, 7)), 12, (2, 3))
    _check("3x2 windows with a gap between them (stride 3, 4)", rng.standard_normal((2, 1, 7, 9)), 13, (3, 2),
           (3, 4))


@pytest.mark.points(2)
def test_overlapping_windows_add_up():
    rng = np.random.default_rng(2)
    _check("3x3 windows, stride 2", rng.standard_normal((2, 2, 7, 7)), 21, 3, 2)
    _check("3x2 windows, stride 1", rng.standard_normal((1, 3, 5, 6)), 22, (3, 2), 1)
    # one large element that is the maximum of every window: it receives the sum of all output gradients
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 2] = 5.0
    grad, g = _pool_and_backward(x, 23, 3, 1)
    assert_close(grad[0, 0, 1, 2], g.sum(), "the shared maximum collects every window's gradient")


@pytest.mark.points(2)
def test_padding_is_never_the_maximum():
    rng = np.random.default_rng(3)
    _check("3x3 windows, stride 2, padding 1, negative inputs", -np.abs(rng.standard_normal((2, 2, 5, 6))), 31,
           3, 2, 1)
    _check("2x2 windows, stride 1, padding 1", rng.standard_normal((1, 2, 4, 5)), 32, 2, 1, 1)


@pytest.mark.points(2)
def test_ties_go_to_the_first_maximum():
    # the whole input equal: every window's gradient goes to its top-left element
    x = np.ones((1, 1, 4, 4))
    grad, g = _pool_and_backward(x, 41, 2)
    expected = np.zeros((1, 1, 4, 4))
    expected[0, 0, ::2, ::2] = g[0, 0]
    assert_close(grad, expected, "constant input, 2x2 windows: the top-left element of each window")
    # ties later in the window than the first element, in several places
    x = np.array([[[[0., 3., 3., 1.],
                    [1., 2., 0., 3.],
                    [2., 2., 5., 4.],
                    [2., 1., 5., 5.]]]])
    grad, g = _pool_and_backward(x, 42, 2)
    expected = np.zeros_like(x)
    expected[0, 0, 0, 1], expected[0, 0, 0, 2] = g[0, 0, 0, 0], g[0, 0, 0, 1]
    expected[0, 0, 2, 0], expected[0, 0, 2, 2] = g[0, 0, 1, 0], g[0, 0, 1, 1]
    assert_close(grad, expected, "ties in 2x2 windows: the first maximum in row-major order")
    # many ties with overlapping windows and padding
    x = np.random.default_rng(43).integers(0, 3, size=(2, 2, 5, 6)).astype(float)
    grad, g = _pool_and_backward(x, 44, 3, 2, 1)
    expected = _pool_gradient_by_definition(x, g, (3, 3), (2, 2), (1, 1))
    assert_close(grad, expected, "integer inputs with many ties, 3x3 windows, stride 2, padding 1")


@pytest.mark.points(2)
def test_gradients_match_finite_differences():
    # a permutation of distinct values, well separated: no ties, so max pooling is differentiable here
    x = np.random.default_rng(5).permutation(2 * 2 * 5 * 5).reshape(2, 2, 5, 5) / 10.0
    check_gradients("max_pool2d 3x3, stride 2, padding 1", lambda t: F.max_pool2d(t, 3, 2, 1), x)
    x = np.random.default_rng(6).permutation(1 * 3 * 4 * 6).reshape(1, 3, 4, 6) / 10.0
    check_gradients("max_pool2d 2x2, stride 2", lambda t: F.max_pool2d(t, 2), x)
