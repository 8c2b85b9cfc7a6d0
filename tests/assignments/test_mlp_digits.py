"""Graded: mlp-digits (10 points). The fused Linear op (y = x W^T + b) forward and backward, and an MLP on digits."""
import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn as nn
import tinygrad_edu.nn.functional as F
from grading import assert_close, check_gradients, observe, observe_at_least

pytestmark = pytest.mark.assignment("mlp-digits")


def _arrays(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in shapes]


def _affine(x, w, b=None):
    """y[..., o] = sum_i x[..., i] w[o, i] (+ b[o]), written as an explicit contraction."""
    y = np.einsum("...i,oi->...o", x, w)
    return y if b is None else y + b


@pytest.mark.points(2)
def test_forward_values():
    x, w, b = _arrays(1, (5, 3), (4, 3), (4,))
    assert_close(F.linear(tg.tensor(x), tg.tensor(w), tg.tensor(b)), _affine(x, w, b), "linear (5, 3) -> (5, 4)")
    assert_close(F.linear(tg.tensor(x), tg.tensor(w)), _affine(x, w), "linear without bias")
    # one row by hand: y_o = sum_i x_i w_oi + b_o
    row = [sum(x[0, i] * w[o, i] for i in range(3)) + b[o] for o in range(4)]
    assert_close(F.linear(tg.tensor(x[:1]), tg.tensor(w), tg.tensor(b)), np.array([row]), "linear of one row")


@pytest.mark.points(1)
def test_forward_with_batch_dims():
    x, w, b = _arrays(2, (2, 3, 5), (4, 5), (4,))
    y = F.linear(tg.tensor(x), tg.tensor(w), tg.tensor(b))
    assert_close(y, _affine(x, w, b), "linear of a (2, 3, 5) input")
    x1, = _arrays(3, (5,))
    assert_close(F.linear(tg.tensor(x1), tg.tensor(w)), _affine(x1, w), "linear of a (5,) input, no bias")


@pytest.mark.points(2)
def test_gradients_with_bias():
    check_gradients("linear (6, 3) x (2, 3) + (2,)", F.linear, *_arrays(4, (6, 3), (2, 3), (2,)))
    check_gradients("linear (2, 3, 4) x (5, 4) + (5,)", F.linear, *_arrays(5, (2, 3, 4), (5, 4), (5,)))


@pytest.mark.points(1)
def test_gradients_without_bias():
    check_gradients("linear (4, 3) x (2, 3)", F.linear, *_arrays(6, (4, 3), (2, 3)))
    check_gradients("linear (2, 2, 3) x (4, 3)", F.linear, *_arrays(7, (2, 2, 3), (4, 3)))


@pytest.mark.points(1)
def test_nn_linear_gradient_formulas():
    x, g = _arrays(8, (7, 3), (7, 2))
    tg.manual_seed(0)
    layer = nn.Linear(3, 2).double()
    w, b = layer.weight.numpy().copy(), layer.bias.numpy().copy()
    xt = tg.tensor(x)                       # no gradient wanted for the input
    y = layer(xt)
    assert_close(y, _affine(x, w, b), "nn.Linear forward")
    y.backward(tg.tensor(g))
    observe("input gradient is None", float(xt.grad is None))
    assert_close(layer.weight.grad, np.einsum("no,ni->oi", g, x), "dW = sum over rows of g_n x_n^T")
    assert_close(layer.bias.grad, g.sum(axis=0), "db = sum over rows of g")


@pytest.mark.points(3)
def test_mlp_learns_the_digits():
    images, labels = tg.data.digits()                   # (1797, 1, 8, 8) in [0, 1], (1797,)
    x_all, y_all = images.numpy().reshape(len(labels), 64), labels.numpy()
    order = np.random.default_rng(0).permutation(len(y_all))
    train, test = order[:1500], order[1500:]

    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    optimizer = tg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(1)
    for _ in range(10):
        shuffled = rng.permutation(train)
        for start in range(0, len(shuffled), 32):
            batch = shuffled[start:start + 32]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(tg.tensor(x_all[batch])), tg.tensor(y_all[batch]))
            loss.backward()
            optimizer.step()
    with tg.no_grad():
        predicted = model(tg.tensor(x_all[test])).numpy().argmax(axis=1)
    observe_at_least("test accuracy", float((predicted == y_all[test]).mean()), 0.95)
