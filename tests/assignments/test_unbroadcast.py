"""Graded: unbroadcast (10 points). Gradients summed back over the axes broadcasting added or stretched."""
import numpy as np
import pytest

from grading import assert_close, check_gradients
from tinygrad_edu.broadcast import unbroadcast

pytestmark = pytest.mark.assignment("unbroadcast")


def _grad(seed, shape):
    return np.random.default_rng(seed).standard_normal(shape)


def _total_over(g, axes):
    """Sum g over `axes` one axis at a time, keeping them as size 1 (written out, not with keepdims)."""
    for axis in axes:
        g = g.sum(axis=axis)[(slice(None),) * axis + (None,)]
    return g


@pytest.mark.points(1)
def test_same_shape_returns_the_values_unchanged():
    for seed, shape in ((1, (3, 4)), (2, (2, 1, 3)), (3, (5,))):
        g = _grad(seed, shape)
        assert_close(unbroadcast(g, shape), g.copy(), f"unbroadcast to the same shape {shape}", rtol=0, atol=0)


@pytest.mark.points(2)
def test_leading_dims_added():
    g = _grad(4, (2, 3, 4))
    assert_close(unbroadcast(g, (3, 4)), g[0] + g[1], "(2, 3, 4) -> (3, 4)")
    expected = np.array([sum(g[i, j, k] for i in range(2) for j in range(3)) for k in range(4)])
    assert_close(unbroadcast(g, (4,)), expected, "(2, 3, 4) -> (4,)")


@pytest.mark.points(2)
def test_size_one_dims_stretched():
    g = _grad(5, (3, 4))
    assert_close(unbroadcast(g, (3, 1)), g @ np.ones((4, 1)), "(3, 4) -> (3, 1)")
    assert_close(unbroadcast(g, (1, 4)), np.ones((1, 3)) @ g, "(3, 4) -> (1, 4)")
    assert_close(unbroadcast(g, (1, 1)), np.full((1, 1), g.sum()), "(3, 4) -> (1, 1)")
    g3 = _grad(6, (2, 3, 4))
    assert_close(unbroadcast(g3, (2, 1, 4)), _total_over(g3, [1]), "(2, 3, 4) -> (2, 1, 4)")
    # an axis that was already 1 in the gradient stays as it is
    g4 = _grad(7, (2, 1, 5))
    assert_close(unbroadcast(g4, (1, 1, 5)), _total_over(g4, [0]), "(2, 1, 5) -> (1, 1, 5)")


@pytest.mark.points(2)
def test_leading_and_size_one_dims_at_once():
    g = _grad(8, (2, 3, 4, 5))
    expected = _total_over(g, [0, 2]).reshape(3, 1, 5)       # drop axis 0, keep axis 2 as size 1
    assert_close(unbroadcast(g, (3, 1, 5)), expected, "(2, 3, 4, 5) -> (3, 1, 5)")
    assert_close(unbroadcast(g, (1, 5)), _total_over(g, [0, 1, 2]).reshape(1, 5), "(2, 3, 4, 5) -> (1, 5)")
    assert_close(unbroadcast(g, (4, 1)), _total_over(g, [0, 1, 3]).reshape(4, 1), "(2, 3, 4, 5) -> (4, 1)")


@pytest.mark.points(1)
def test_to_a_scalar_shape():
    g = _grad(9, (2, 3))
    assert_close(unbroadcast(g, ()), np.float64(sum(g.ravel().tolist())), "(2, 3) -> ()")
    assert_close(unbroadcast(g[:1, :1], ()), g[0, 0], "(1, 1) -> ()")


@pytest.mark.points(2)
def test_through_add_mul_and_matmul_backward():
    rng = np.random.default_rng(10)
    check_gradients("(2, 3, 4) + (3, 1)", lambda a, b: a + b, rng.standard_normal((2, 3, 4)),
                    rng.standard_normal((3, 1)))
    check_gradients("(1, 4) * (3, 1)", lambda a, b: a * b, rng.standard_normal((1, 4)), rng.standard_normal((3, 1)))
    check_gradients("(2, 1, 3) * () scalar", lambda a, b: a * b, rng.standard_normal((2, 1, 3)),
                    rng.standard_normal(()))
    check_gradients("(2, 1, 3, 4) @ (3, 4, 2)", lambda a, b: a @ b, rng.standard_normal((2, 1, 3, 4)),
                    rng.standard_normal((3, 4, 2)))
