"""Graded: matmul-backward (10 points). dA = dC B^T, dB = A^T dC, with numpy's matmul broadcasting."""
import numpy as np
import pytest

import tinygrad_edu as tg
from grading import assert_close, check_gradients

pytestmark = pytest.mark.assignment("matmul-backward")


def _operands(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in shapes]


@pytest.mark.points(3)
def test_matrix_times_matrix():
    check_gradients("(3, 4) @ (4, 5)", lambda a, b: a @ b, *_operands(1, (3, 4), (4, 5)))


@pytest.mark.points(2)
def test_batched_and_broadcast_batch_dims():
    check_gradients("(2, 3, 4) @ (2, 4, 5)", lambda a, b: a @ b, *_operands(2, (2, 3, 4), (2, 4, 5)))
    check_gradients("(2, 1, 3, 4) @ (3, 4, 2): B broadcast over a batch dim", lambda a, b: a @ b,
                    *_operands(3, (2, 1, 3, 4), (3, 4, 2)))


@pytest.mark.points(2)
def test_vector_operands():
    check_gradients("(4,) @ (4, 3)", lambda a, b: a @ b, *_operands(4, (4,), (4, 3)))
    check_gradients("(2, 3, 4) @ (4,)", lambda a, b: a @ b, *_operands(5, (2, 3, 4), (4,)))
    check_gradients("(4,) @ (4,)", lambda a, b: a @ b, *_operands(6, (4,), (4,)))


@pytest.mark.points(2)
def test_gradient_values_by_formula():
    a, b, g = _operands(7, (3, 4), (4, 2), (3, 2))
    ta, tb = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
    (ta @ tb).backward(tg.tensor(g))
    assert_close(ta.grad, g @ b.T, "dA = dC B^T")
    assert_close(tb.grad, a.T @ g, "dB = A^T dC")


@pytest.mark.points(1)
def test_only_the_inputs_that_need_it_get_a_gradient():
    a, b = _operands(8, (3, 4), (4, 2))
    ta, tb = tg.tensor(a, requires_grad=True), tg.tensor(b)
    (ta @ tb).sum().backward()
    assert tb.grad is None
    assert_close(ta.grad, np.ones((3, 2)) @ b.T, "dA when B needs no gradient")
