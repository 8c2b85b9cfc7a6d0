"""gradcheck itself: it must pass correct ops, catch wrong backwards (even ones `.sum()` cannot see),
report where and by how much, and refuse inputs too imprecise for finite differences."""
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_edu as tg

from strategies import arrays, operands, shapes, smooth

pytestmark = pytest.mark.gradcheck

REPORT = re.compile(
    r"input (?P<input>\d+) is wrong at index (?P<index>\([0-9, ]*\)): numerical (?P<numerical>\S+), "
    r"analytic (?P<analytic>\S+), relative error (?P<relative>\S+) ")


def parse(message):
    m = REPORT.search(message)
    assert m, f"gradcheck's message does not name input, index, both values and the relative error: {message}"
    return (int(m["input"]), tuple(int(v) for v in re.findall(r"-?\d+", m["index"])), float(m["numerical"]),
            float(m["analytic"]), float(m["relative"]))


# ---- ops with deliberately wrong backwards ---------------------------------------------------
class Square(tg.Function):
    """y = x^2, with the backward missing its factor 2 (a scale error)."""
    def forward(self, x):
        self.save_for_backward(x)
        return x * x

    def backward(self, g):
        x, = self.saved
        return g * x


class SoftmaxCentredBackward(tg.Function):
    """Softmax over the last dim whose backward is y * (g - mean(g)) instead of y * (g - sum(g * y)).

    For g = ones (what `.sum().backward()` sends) both are 0, the true gradient of sum(softmax) = 1,
    so the error is invisible to `.sum()`; a random output projection exposes it.
    """
    def forward(self, x):
        e = self.xp.exp(x - x.max(axis=-1, keepdims=True))
        y = e / e.sum(axis=-1, keepdims=True)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        y, = self.saved
        return y * (g - g.mean(axis=-1, keepdims=True))


class Softmax(SoftmaxCentredBackward):
    """The same softmax with the correct backward: dx = y * (g - sum(g * y))."""
    def backward(self, g):
        y, = self.saved
        return y * (g - (g * y).sum(axis=-1, keepdims=True))


class WrongSecondInput(tg.Function):
    """z = a * b, correct for a but with b's gradient sign-flipped."""
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, g):
        a, b = self.saved
        return g * b, -g * a


def _np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# ---- passes correct ops ----------------------------------------------------------------------
@given(x=operands(shapes(min_rank=1, max_rank=3)))
def test_returns_true_on_correct_ops(x):
    leaf = x.leaf()
    assert tg.gradcheck(lambda t: (x.take(t) * 2).tanh() + x.take(t).exp(), (leaf,)) is True
    assert tg.gradcheck(lambda t: x.take(t).softmax(-1), leaf) is True
    assert tg.gradcheck(lambda t: Softmax.apply(x.take(t)), (leaf,)) is True


def test_correct_custom_function_matches_numpy():
    tg.manual_seed(0)
    x = tg.randn(3, 4, dtype=tg.float64, requires_grad=True)
    y = Softmax.apply(x)
    np.testing.assert_allclose(y.numpy(), _np_softmax(x.numpy()), rtol=1e-12)
    assert tg.gradcheck(Softmax.apply, (x,))


def test_leaves_the_inputs_untouched():
    tg.manual_seed(1)
    x = tg.randn(2, 3, dtype=tg.float64, requires_grad=True)
    before = x.numpy().copy()
    assert tg.gradcheck(lambda t: (t * t).sum(0), (x,))
    np.testing.assert_array_equal(x.numpy(), before)
    assert x.grad is None


def test_non_tensor_and_constant_inputs_are_passed_through():
    tg.manual_seed(2)
    x = tg.randn(3, dtype=tg.float64, requires_grad=True)
    c = tg.randn(3, dtype=tg.float64)  # does not require grad: not checked
    assert tg.gradcheck(lambda t, k, u: (t * k + u).exp(), (x, 2.5, c))


def test_a_function_independent_of_the_input_has_zero_gradient():
    x = tg.tensor(np.ones(3), requires_grad=True)
    assert tg.gradcheck(lambda t: tg.tensor(np.arange(3.0)), (x,))


# ---- catches wrong backwards -----------------------------------------------------------------
def test_catches_an_error_invisible_to_sum():
    tg.manual_seed(3)
    x = tg.randn(2, 4, dtype=tg.float64, requires_grad=True)
    # .sum() cannot see the bug: the wrong backward gives the right (zero) gradient for g = ones
    SoftmaxCentredBackward.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.zeros((2, 4)), atol=1e-12)
    # ... and finite differences of .sum() agree with it, so a sum-based check would pass
    assert tg.gradcheck(lambda t: SoftmaxCentredBackward.apply(t).sum(), (x,))
    # the random projection does not
    with pytest.raises(tg.GradcheckError) as info:
        tg.gradcheck(SoftmaxCentredBackward.apply, (x,))
    i, index, numerical, analytic, relative = parse(str(info.value))
    assert i == 0 and len(index) == 2 and all(0 <= k < s for k, s in zip(index, x.shape))
    assert relative == pytest.approx(abs(numerical - analytic) / max(abs(numerical), abs(analytic)), rel=1e-2)


@given(x=arrays(st.tuples(st.integers(1, 3), st.integers(1, 3)), smooth(0.2, 2.0)))
def test_catches_a_scale_error_and_reports_it(x):
    leaf = tg.tensor(x, requires_grad=True)
    with pytest.raises(tg.GradcheckError) as info:
        tg.gradcheck(Square.apply, (leaf,))
    message = str(info.value)
    i, index, numerical, analytic, relative = parse(message)
    assert i == 0
    assert len(index) == 2 and all(0 <= k < s for k, s in zip(index, x.shape))
    # the true derivative of v * x^2 is 2 v x, the wrong one v x: their ratio is 2 at every element
    assert numerical == pytest.approx(2 * analytic, rel=1e-3)
    assert relative == pytest.approx(0.5, rel=1e-3)
    assert "atol" in message and "rtol" in message


def test_names_the_position_of_the_wrong_input():
    tg.manual_seed(4)
    a = tg.randn(3, dtype=tg.float64, requires_grad=True)
    b = tg.randn(3, dtype=tg.float64, requires_grad=True)
    with pytest.raises(tg.GradcheckError) as info:
        tg.gradcheck(lambda x, scale, y: WrongSecondInput.apply(x, y) * scale, (a, 2.0, b))
    i, index, numerical, analytic, relative = parse(str(info.value))
    assert i == 2  # the position in the inputs tuple, counting the non-tensor in between
    assert numerical == pytest.approx(-analytic, rel=1e-4)
    assert relative == pytest.approx(2.0, rel=1e-4)  # |n - (-n)| / |n|


def test_tolerances_are_respected():
    x = tg.tensor(np.full(3, 1.0), requires_grad=True)
    with pytest.raises(tg.GradcheckError):
        tg.gradcheck(Square.apply, (x,))
    # a relative tolerance above the 50% error lets it through
    assert tg.gradcheck(Square.apply, (x,), rtol=0.6)


# ---- refuses what it cannot check ------------------------------------------------------------
def test_refuses_float32_inputs():
    x = tg.randn(3, requires_grad=True)
    assert x.dtype == tg.float32
    with pytest.raises(TypeError) as info:
        tg.gradcheck(lambda t: t * 2, (x,))
    message = str(info.value)
    assert "input 0" in message and "float32" in message and "float64" in message


def test_refuses_when_nothing_requires_grad():
    x = tg.tensor(np.ones(3))
    with pytest.raises(ValueError, match="requires grad"):
        tg.gradcheck(lambda t: t * 2, (x,))
