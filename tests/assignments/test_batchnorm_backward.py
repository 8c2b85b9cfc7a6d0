"""Graded: batchnorm-backward (10 points). Batch norm (training) and layer norm gradients: dx, dweight, dbias."""
import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from grading import assert_close, check_gradients

pytestmark = pytest.mark.assignment("batchnorm-backward")


def _operands(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in shapes]


def _train(x, weight=None, bias=None):
    return F.batch_norm(x, None, None, weight, bias, training=True)


@pytest.mark.points(2)
def test_batch_norm_2d_input_with_weight_and_bias():
    x, w, b = _operands(1, (6, 4), (4,), (4,))
    x = 3 * x + 1     # statistics far from 0 and 1
    check_gradients("batch_norm (6, 4), weight and bias", _train, x, w, b)


@pytest.mark.points(2)
def test_batch_norm_4d_input_with_weight_and_bias():
    x, w, b = _operands(2, (3, 2, 3, 4), (2,), (2,))
    check_gradients("batch_norm (3, 2, 3, 4), weight and bias", _train, x, w, b)


@pytest.mark.points(2)
def test_batch_norm_without_affine_or_with_only_one_part():
    x2, x4, w, b = _operands(3, (5, 3), (2, 3, 2, 3), (3,), (3,))
    check_gradients("batch_norm (5, 3), no weight or bias", lambda x: _train(x), x2)
    check_gradients("batch_norm (2, 3, 2, 3), no weight or bias", lambda x: _train(x), x4)
    check_gradients("batch_norm (2, 3, 2, 3), weight only", lambda x, w: _train(x, w), x4, w)
    check_gradients("batch_norm (5, 3), bias only", lambda x, b: _train(x, None, b), x2, b)


@pytest.mark.points(2)
def test_layer_norm_gradients():
    x, w, b = _operands(4, (3, 5), (5,), (5,))
    check_gradients("layer_norm over the last dim, weight and bias",
                    lambda x, w, b: F.layer_norm(x, (5,), w, b), x, w, b)
    x, w, b = _operands(5, (2, 3, 4), (3, 4), (3, 4))
    check_gradients("layer_norm over the last two dims, weight and bias",
                    lambda x, w, b: F.layer_norm(x, (3, 4), w, b), x, w, b)
    check_gradients("layer_norm over the last two dims, no affine", lambda x: F.layer_norm(x, (3, 4)), x)


@pytest.mark.points(2)
def test_gradients_by_formula():
    # y = xhat * weight + bias per channel c of a (N, C, H, W) batch: with the m = N*H*W values of a channel,
    #   dbias_c = sum dy,   dweight_c = sum dy * xhat,
    #   dx = weight_c / (m * sigma_c) * (m dy - sum dy - xhat * sum dy * xhat)
    x, w, b, g = _operands(6, (4, 3, 2, 2), (3,), (3,), (4, 3, 2, 2))
    tx, tw, tb = (tg.tensor(a, requires_grad=True) for a in (x, w, b))
    _train(tx, tw, tb).backward(tg.tensor(g))
    axes, m = (0, 2, 3), 4 * 2 * 2
    sigma = np.sqrt(x.var(axis=axes, keepdims=True) + 1e-5)
    xhat = (x - x.mean(axis=axes, keepdims=True)) / sigma
    sum_g, sum_g_xhat = g.sum(axis=axes, keepdims=True), (g * xhat).sum(axis=axes, keepdims=True)
    assert_close(tb.grad, sum_g.reshape(3), "dbias = sum of dy over batch and space", rtol=1e-9)
    assert_close(tw.grad, sum_g_xhat.reshape(3), "dweight = sum of dy * xhat", rtol=1e-9)
    expected_dx = w.reshape(1, 3, 1, 1) / (m * sigma) * (m * g - sum_g - xhat * sum_g_xhat)
    assert_close(tx.grad, expected_dx, "dx of batch_norm", rtol=1e-9)
