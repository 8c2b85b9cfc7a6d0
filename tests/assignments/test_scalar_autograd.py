"""Graded: scalar-autograd (10 points). Lesson 1's Value: the chain rule of *, **k, tanh, exp, log and backward()."""
import math

import pytest

from grading import assert_close, load_lesson, observe

pytestmark = pytest.mark.assignment("scalar-autograd")


def _sech2(u):
    return 1 / math.cosh(u) ** 2


@pytest.fixture(scope="module")
def Value():
    return load_lesson("01_scalar_autograd").Value


@pytest.mark.points(2)
def test_product_with_a_node_used_twice(Value):
    # f = a * a * b, so df/da = 2ab and df/db = a^2 (a feeds the same product twice: its two shares must add up)
    a, b = Value(1.5), Value(-0.75)
    f = a * a * b
    f.backward()
    assert_close(f.data, 1.5 ** 2 * -0.75, "f = a*a*b")
    assert_close(a.grad, 2 * 1.5 * -0.75, "df/da of a*a*b")
    assert_close(b.grad, 1.5 ** 2, "df/db of a*a*b")

    # g = x*y + x*z: x reaches the output through two different products
    x, y, z = Value(0.4), Value(2.5), Value(-1.25)
    g = x * y + x * z
    g.backward()
    assert_close(x.grad, 2.5 + -1.25, "dg/dx of x*y + x*z")
    assert_close(y.grad, 0.4, "dg/dy of x*y + x*z")
    assert_close(z.grad, 0.4, "dg/dz of x*y + x*z")


@pytest.mark.points(2)
def test_constant_powers(Value):
    # integer, negative and fractional exponents, each compared with k a^(k-1)
    for k in (3, -2, 0.5, 2.5):
        a = Value(1.7)
        y = a ** k
        y.backward()
        assert_close(a.grad, k * math.pow(1.7, k - 1), f"d(a**{k})/da")
    # a^3 * a^-1.5 = a^1.5 with a used in both factors
    a = Value(2.2)
    y = (a ** 3) * (a ** -1.5)
    y.backward()
    assert_close(a.grad, 1.5 * math.sqrt(2.2), "d(a**3 * a**-1.5)/da")
    # division is built from ** -1: d(x / y)/dy = -x / y^2
    x, w = Value(3.0), Value(-0.8)
    q = x / w
    q.backward()
    assert_close(x.grad, 1 / -0.8, "d(x/y)/dx")
    assert_close(w.grad, -3.0 / 0.64, "d(x/y)/dy")


@pytest.mark.points(1)
def test_tanh(Value):
    # h = tanh(a*b) + tanh(a): dh/da = sech^2(ab) b + sech^2(a)
    a, b = Value(0.6), Value(-1.3)
    h = (a * b).tanh() + a.tanh()
    h.backward()
    assert_close(h.data, math.tanh(0.6 * -1.3) + math.tanh(0.6), "tanh(a*b) + tanh(a)")
    assert_close(a.grad, _sech2(0.6 * -1.3) * -1.3 + _sech2(0.6), "dh/da of tanh(a*b) + tanh(a)")
    assert_close(b.grad, _sech2(0.6 * -1.3) * 0.6, "dh/db of tanh(a*b) + tanh(a)")


@pytest.mark.points(2)
def test_exp_and_log(Value):
    # u = exp(a) * log(a): du/da = exp(a) (log(a) + 1/a)
    a = Value(1.8)
    u = a.exp() * a.log()
    u.backward()
    assert_close(a.grad, math.exp(1.8) * (math.log(1.8) + 1 / 1.8), "d(exp(a) log(a))/da")

    # softplus: log(1 + e^z), derivative the logistic sigmoid 1 / (1 + e^-z)
    z = Value(-0.9)
    s = (z.exp() + 1).log()
    s.backward()
    assert_close(s.data, math.log1p(math.exp(-0.9)), "softplus(z)")
    assert_close(z.grad, 1 / (1 + math.exp(0.9)), "d softplus(z)/dz")

    # log(exp(c) * exp(c)) = 2c, through a node used twice
    c = Value(0.35)
    e = c.exp()
    w = (e * e).log()
    w.backward()
    assert_close(c.grad, 2.0, "d log(exp(c) exp(c))/dc")


@pytest.mark.points(1)
def test_diamond_graph_runs_each_backward_once(Value):
    # w = log(x) -> (p = 2w, q = exp(tanh(w))) -> r = p * q -> s = tanh(r): two paths of different lengths meet
    # again at w, which must wait for the longer one before it passes its gradient on to x
    x = Value(1.35)
    w = x.log()
    p, q = w * 2, w.tanh().exp()
    r = p * q
    s = r.tanh()
    s.backward()
    w_value = math.log(1.35)
    q_value = math.exp(math.tanh(w_value))
    r_value = 2 * w_value * q_value
    dr = 1 - math.tanh(r_value) ** 2
    dw = dr * (2 * q_value + 2 * w_value * q_value * (1 - math.tanh(w_value) ** 2))
    observe("ds/ds after backward", s.grad)
    assert_close(r.grad, dr, "ds/dr")
    assert_close(p.grad, dr * q_value, "ds/dp")
    assert_close(q.grad, dr * 2 * w_value, "ds/dq")
    assert_close(w.grad, dw, "ds/dw through both paths")
    assert_close(x.grad, dw / 1.35, "ds/dx")


@pytest.mark.points(2)
def test_deep_chain_in_topological_order(Value):
    # 200 levels of y <- y/2 + tanh(y)/2: each y feeds two branches of different lengths, so a node that runs
    # its _backward before both branches have added their share passes on a partial gradient
    x = Value(0.8)
    y = x
    for _ in range(200):
        y = y * 0.5 + y.tanh() * 0.5
    y.backward()

    value, derivative = 0.8, 1.0         # forward and chain rule by hand, level by level
    for _ in range(200):
        derivative *= 0.5 * (1 - math.tanh(value) ** 2) + 0.5
        value = 0.5 * math.tanh(value) + 0.5 * value
    assert_close(y.data, value, "y after 200 levels")
    assert_close(x.grad, derivative, "dy/dx through 200 levels", rtol=1e-9)
