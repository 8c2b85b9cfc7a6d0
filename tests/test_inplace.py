"""In-place operations and `.data`, against PyTorch: the same program, run with each library, gives the same values
and gradients, or fails with the same kind of error (leaf changed in place, saved tensor modified)."""
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_edu as tg

from strategies import arrays, shapes

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.autograd


def run(program, lib):
    """Run `program(lib, x, w)` with x (2, 3) and w (3,) float64 leaves; returns its loss, x.grad, w.grad and x."""
    x = lib.tensor(np.arange(1.0, 7.0).reshape(2, 3) / 4, dtype=lib.float64, requires_grad=True)
    w = lib.tensor(np.array([0.5, -1.0, 2.0]), dtype=lib.float64, requires_grad=True)
    loss = program(lib, x, w)
    loss.backward()
    grads = [None if t.grad is None else t.grad.numpy().copy() for t in (x, w)]
    return loss.item(), grads


def same_as_torch(program):
    ours, theirs = run(program, tg), run(program, torch)
    assert ours[0] == pytest.approx(theirs[0], rel=1e-12)
    for got, want in zip(ours[1], theirs[1]):
        assert (got is None) == (want is None)
        if got is not None:
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


PROGRAMS = {
    "+= on a graph tensor": lambda L, x, w: _then(x * 2, lambda y: y.__iadd__(w), lambda y: (y * y).sum()),
    "-= *= /= in a row": lambda L, x, w: _then(x * 1, lambda y: (y.__isub__(w), y.__imul__(w), y.__itruediv__(3)),
                                                lambda y: (y ** 2).sum()),
    "add_ with alpha, sub_": lambda L, x, w: _then(x + 0, lambda y: (y.add_(w, alpha=2), y.sub_(x, alpha=0.5)),
                                                   lambda y: (y * x).sum()),
    "mul_ by a tensor that needs grad": lambda L, x, w: _then(x.exp(), lambda y: (y * 1).mul_(w),
                                                               lambda y: y.sum()),
    "mul_ then div_ by tensors": lambda L, x, w: _then(x * 3, lambda y: (y.mul_(w), y.div_(w + 3)),
                                                       lambda y: (y * y).sum()),
    "clamp_": lambda L, x, w: _then(x * 4 - 3, lambda y: y.clamp_(-1.0, 2.0), lambda y: (y * y).sum()),
    "masked_fill_": lambda L, x, w: _then(x * w, lambda y: y.masked_fill_(y < 0, 0.0), lambda y: (y * 3).sum()),
    "zero_ and fill_ cut the gradient": lambda L, x, w: _then(x * 2, lambda y: y[0].zero_(),
                                                              lambda y: (y * x).sum()),
    "copy_ sends the gradient to the source": lambda L, x, w: _then(x * 1, lambda y: y.copy_(w * 3),
                                                                    lambda y: (y * x).sum()),
    "setitem, basic index": lambda L, x, w: _then(x * 2, lambda y: y.__setitem__((0, slice(1, 3)), w[:2]),
                                                  lambda y: (y * y).sum()),
    "setitem, integer array index": lambda L, x, w: _then(
        x * 2, lambda y: y.__setitem__((L.tensor([1, 0]), L.tensor([2, 0])), w[1:] * 5), lambda y: (y * y).sum()),
    "setitem, bool mask and a number": lambda L, x, w: _then(x - 0.8, lambda y: y.__setitem__(y > 0, 1.5),
                                                             lambda y: (y * x).sum()),
    "x[0] += w (a view, written back)": lambda L, x, w: _then(x * 1.5, lambda y: _view_iadd(y, w),
                                                              lambda y: (y ** 2).sum()),
    "a view changed in place changes its base": lambda L, x, w: _then(x * 1.5, lambda y: y[1].mul_(w),
                                                                      lambda y: (y ** 2).sum()),
    "view of a view, and a transposed view": lambda L, x, w: _then(
        x * 1, lambda y: (y[0][1:].mul_(3), y.transpose(0, 1)[2].add_(w[:2])), lambda y: (y * y).sum()),
    "a reshaped view": lambda L, x, w: _then(x * 1, lambda y: y.reshape(6)[2:4].copy_(w[:2] * 2),
                                             lambda y: (y * y).sum()),
    "an earlier consumer keeps the old history": lambda L, x, w: _earlier_consumer(x, w),
    "no_grad update of a weight": lambda L, x, w: _no_grad_step(L, x, w),
    ".data update of a weight": lambda L, x, w: _data_step(x, w),
}


def _then(y, change, loss):
    change(y)
    return loss(y)


def _view_iadd(y, w):
    y[0] += w


def _earlier_consumer(x, w):
    y = x * 2
    s = y.sum()            # sees y before the change; Sum saves nothing, so this is allowed
    y *= 3
    return s + (y * w).sum()


def _no_grad_step(lib, x, w):
    with lib.no_grad():
        x -= 0.1 * w
        x *= 2
    return (x * w).sum()


def _data_step(x, w):
    x.data -= 0.1 * w.data
    x.data.mul_(2)
    return (x * w).sum()


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_in_place_programs_match_pytorch(name):
    same_as_torch(PROGRAMS[name])


ERRORS = {
    "a leaf that requires grad": (lambda L, x, w: x.add_(1), "leaf"),
    "a leaf's view": (lambda L, x, w: x[0].mul_(2), "leaf"),
    "an output that exp saved": (lambda L, x, w: _then(x.exp(), lambda y: y.__iadd__(1), lambda y: y.sum()),
                                 "modified by an inplace operation"),
    "an input that mul saved": (lambda L, x, w: _saved_input_changed(x, w), "modified by an inplace operation"),
    "a result type that does not fit": (lambda L, x, w: L.zeros(3, dtype=L.int64).add_(0.5), "can't be cast"),
    "a result shape that does not fit": (lambda L, x, w: (w * 1).add_(x), r"shape|size"),
}


def _saved_input_changed(x, w):
    y = x * 1
    z = y * w              # saves y
    y.add_(1)
    return z.sum()


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_the_same_programs_fail_as_in_pytorch(name):
    program, pattern = ERRORS[name]
    with pytest.raises(RuntimeError) as ours:
        run(program, tg)
    with pytest.raises(RuntimeError) as theirs:
        run(program, torch)
    assert re.search(pattern, str(ours.value)) and re.search(pattern, str(theirs.value))


def test_the_version_error_names_the_node_and_the_inplace_op():
    x = tg.randn(3, requires_grad=True)
    y = x.sigmoid()
    y.mul_(2)
    with pytest.raises(RuntimeError, match=r"SigmoidBackward.*modified by an inplace operation \(mul_\).*now at version 1"):
        y.sum().backward()


def test_data_shares_memory_and_has_no_history():
    p = tg.randn(4, requires_grad=True)
    d = p.data
    assert d.requires_grad is False and d.grad_fn is None and d.is_leaf
    d[0] = 5.0
    assert p[0].item() == 5.0
    p.data = tg.zeros(2)
    assert p.shape == (2,) and p.requires_grad
    with pytest.raises(TypeError, match="must be a Tensor"):
        p.data = np.zeros(2)


def test_version_counts_writes_and_views_share_it():
    x = tg.zeros(2, 3)
    v = x[0]
    assert x._version == v._version == 0
    v += 1
    x.mul_(2)
    x[1] = 3.0
    assert x._version == v._version == 3
    assert x.detach()._version == 3 and x.data._version == 0


def test_an_expanded_tensor_cannot_be_written_in_place():
    e = tg.ones(3).expand(2, 3)
    with pytest.raises(RuntimeError, match="share one memory location"):
        e.add_(1)


def test_optimizer_style_loops_train():
    """The idiom the teaching code uses everywhere: a manual SGD step under no_grad."""
    tg.manual_seed(0)
    w = tg.randn(3, 1, requires_grad=True)
    x = tg.randn(64, 3)
    y = x @ tg.tensor([[1.0], [-2.0], [0.5]])
    for _ in range(200):
        loss = ((x @ w - y) ** 2).mean()
        loss.backward()
        with tg.no_grad():
            w -= 0.1 * w.grad
            w.grad.zero_()
    np.testing.assert_allclose(w.numpy().ravel(), [1.0, -2.0, 0.5], atol=1e-3)


@given(shape=shapes(min_rank=1, max_rank=3, min_side=1), data=st.data())
def test_setitem_gradients_match_finite_differences(shape, data):
    """A random basic index set to a value that needs grad: float64 gradcheck of x -> (x with x[idx] = v)."""
    x = data.draw(arrays(st.just(shape)))
    index = tuple(slice(data.draw(st.integers(0, n - 1)), None) for n in shape)
    v_shape = tuple(len(range(*s.indices(n))) for s, n in zip(index, shape))
    v = data.draw(arrays(st.just(v_shape)))

    def program(a, b):
        y = a * 1
        y[index] = b
        return y * y
    assert tg.gradcheck(program, (tg.tensor(x, dtype=tg.float64, requires_grad=True),
                                  tg.tensor(v, dtype=tg.float64, requires_grad=True)))


@pytest.mark.parametrize("optimizer", ["SGD", "Adam", "RMSprop"])
def test_an_optimizer_step_invalidates_graphs_built_before_it(optimizer):
    """backward through a graph made before opt.step() would use the updated weights: refused, as in PyTorch."""
    for lib in (tg, torch):
        w = lib.nn.Parameter(lib.ones(3, dtype=lib.float64))
        loss = (w * w).sum()
        loss.backward(retain_graph=True)
        getattr(lib.optim, optimizer)([w], lr=0.1).step()
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            loss.backward()
