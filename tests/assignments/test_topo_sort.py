"""Graded: topo-sort (10 points). The backward pass: topological order, gradients summed over consumers and calls."""
import numpy as np
import pytest

import tinygrad_edu as tg
from grading import assert_close, observe

pytestmark = pytest.mark.assignment("topo-sort")


def _leaf(seed, shape):
    return tg.tensor(np.random.default_rng(seed).uniform(0.2, 1.5, shape), requires_grad=True)


@pytest.mark.points(1)
def test_leaf_used_twice_in_one_op():
    x = _leaf(1, (2, 3))
    (x * x).sum().backward()
    assert_close(x.grad, 2 * x.numpy(), "d sum(x*x)/dx")

    y = _leaf(2, (4,))
    g = np.array([0.5, -1.0, 2.0, 3.5])
    (y + y).backward(tg.tensor(g))
    assert_close(y.grad, 2 * g, "d (y+y)/dy along g")


@pytest.mark.points(2)
def test_leaf_consumed_by_several_ops():
    # f = 2 exp(x) + tanh(x) + x^3 (x^3 as x*x*x): dx = 2 exp(x) + 1 - tanh(x)^2 + 3 x^2
    x = _leaf(3, (3, 2))
    f = x.exp() * 2 + x.tanh() + x * x * x
    g = np.random.default_rng(4).standard_normal((3, 2))
    f.backward(tg.tensor(g))
    v = x.numpy()
    assert_close(x.grad, g * (2 * np.exp(v) + 1 / np.cosh(v) ** 2 + 3 * v ** 2), "df/dx with x in four ops")


@pytest.mark.points(2)
def test_intermediate_node_with_several_consumers():
    # h = tanh(x) and k = exp(x) each feed two ops: their nodes may run only once both consumers have added their
    # share. The add hands one gradient array to h and to k; adding into it in place would change both.
    v = np.random.default_rng(5).uniform(-1.0, 1.0, (2, 3))
    g = np.random.default_rng(6).standard_normal((2, 3))
    h, k, dh, dk = np.tanh(v), np.exp(v), 1 - np.tanh(v) ** 2, np.exp(v)
    expected = g * ((k + 1) * dh + (h + 1) * dk)            # y = h k + (h + k), in both orders
    for name, build in (("(h + k) + h*k", lambda h, k: (h + k) + h * k),
                        ("k*h + (h + k)", lambda h, k: k * h + (h + k))):
        x = tg.tensor(v, requires_grad=True)
        build(x.tanh(), x.exp()).backward(tg.tensor(g))
        assert_close(x.grad, expected, f"dy/dx for y = {name}")

    # a longer diamond: h -> (h*h, exp(h)) -> sum -> times h again
    x = tg.tensor(v, requires_grad=True)
    h = x.tanh()
    y = (h * h + h.exp()) * h
    y.backward(tg.tensor(g))
    hv = np.tanh(v)
    assert_close(x.grad, g * (3 * hv ** 2 + np.exp(hv) * (hv + 1)) * dh, "dy/dx for y = (h*h + exp(h)) * h")


@pytest.mark.points(2)
def test_gradients_accumulate_across_backward_calls():
    a, b = _leaf(7, (3,)), _leaf(8, (3,))
    g = np.array([1.0, -2.0, 0.25])
    (a + b).backward(tg.tensor(g))          # the add hands the very same gradient array to a and to b
    observe("a.grad and b.grad share memory", float(np.shares_memory(a.grad.numpy(), b.grad.numpy())))
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy()), "a.grad and b.grad must be separate arrays"
    assert_close(a.grad, g, "a.grad after the first backward")

    (a * 3).backward(tg.tensor(g))          # a second graph: its gradient adds to a.grad and leaves b alone
    assert_close(a.grad, 4 * g, "a.grad after the second backward")
    assert_close(b.grad, g, "b.grad after the second backward")

    # backward from a leaf itself: its .grad is a copy of the gradient given, not that very array
    c = _leaf(9, (3,))
    given = tg.tensor(g.copy())
    c.backward(given)
    given.array[...] *= 3.0                  # changing the given array afterwards must not change c.grad
    assert_close(c.grad, g, "c.grad after a backward from the leaf c")
    c.backward(given)
    assert_close(c.grad, 4 * g, "c.grad after a second backward from c")


@pytest.mark.points(2)
def test_chain_5000_ops_deep():
    # 1,250 levels of y <- y/2 + tanh(y)/2, four ops each: far deeper than Python's recursion limit
    v = np.array([0.9, -0.4, 0.1])
    x = tg.tensor(v, requires_grad=True)
    y = x
    for _ in range(1250):
        y = y * 0.5 + y.tanh() * 0.5
    y.sum().backward()
    value, derivative = v.copy(), np.ones(3)
    for _ in range(1250):
        derivative *= 0.5 + 0.5 / np.cosh(value) ** 2
        value = 0.5 * value + 0.5 * np.tanh(value)
    assert_close(y, value, "y after 1,250 levels")
    assert_close(x.grad, derivative, "dy/dx through 5,000 ops", rtol=1e-8)


@pytest.mark.points(1)
def test_toposort_puts_each_node_after_its_consumers():
    from tinygrad_edu.autograd import _toposort
    x, w = _leaf(10, (3,)), _leaf(11, (3,))
    h = (x * w).tanh()
    k = h.exp() + h
    y = (k * h + x).sum() * 2
    order = _toposort(y.grad_fn)

    # every node reachable from y's node, found here by a plain search
    nodes, todo = {y.grad_fn}, [y.grad_fn]
    while todo:
        for t in todo.pop().inputs:
            if t.grad_fn is not None and t.grad_fn not in nodes:
                nodes.add(t.grad_fn)
                todo.append(t.grad_fn)
    position = {node: i for i, node in enumerate(order)}
    observe("nodes listed", len(order))
    observe("distinct nodes listed", len(position))
    observe("reachable nodes missing", len(nodes - set(position)))
    observe("position of y's node", position.get(y.grad_fn, -1))
    late = sum(1 for consumer in order for t in consumer.inputs
               if t.grad_fn is not None and position.get(t.grad_fn, -1) < position[consumer])
    observe("nodes listed before one of their consumers", late)
    assert len(order) == len(position) == len(nodes), f"{len(order)} listed, {len(nodes)} reachable nodes"
    assert position[y.grad_fn] == 0, "y's own node must come first"
    assert late == 0, f"{late} node(s) come before a node that consumes their output"
