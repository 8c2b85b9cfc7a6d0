"""The PyTorch Tensor API that teaching code uses, checked against PyTorch: forward values, gradients (with a float64
gradcheck along a random projection) and the errors for bad arguments."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_edu as tg

from strategies import arrays, shapes

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.ops


def both(array, requires_grad=True):
    return (tg.tensor(array, dtype=tg.float64, requires_grad=requires_grad),
            torch.tensor(array, dtype=torch.float64, requires_grad=requires_grad))


def check(op, array, seed=0, check_grad=True):
    """op(tensor) with each library: same values; same gradient for a random projection; and a gradcheck."""
    ours, theirs = both(array)
    a, b = op(tg, ours), op(torch, theirs)
    np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-12)
    if check_grad:
        v = np.random.default_rng(seed).standard_normal(tuple(b.shape))
        a.backward(tg.tensor(v))
        b.backward(torch.tensor(v))
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12, atol=1e-12)
        assert tg.gradcheck(lambda x: op(tg, x), (tg.tensor(array, dtype=tg.float64, requires_grad=True),))


@given(x=arrays(shapes(min_rank=2, max_rank=4)), diagonal=st.integers(-3, 3))
def test_tril_triu(x, diagonal):
    check(lambda L, t: t.tril(diagonal), x)
    check(lambda L, t: L.triu(t, diagonal=diagonal), x)


@given(x=arrays(shapes(min_rank=1, max_rank=3)), data=st.data())
def test_cumsum(x, data):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    check(lambda L, t: t.cumsum(dim), x)
    check(lambda L, t: L.cumsum(t, dim=dim), x)


@given(x=arrays(shapes(min_rank=1, max_rank=3)), data=st.data())
def test_gather_and_scatter(x, data):
    dim = data.draw(st.integers(0, x.ndim - 1))
    index_shape = tuple(data.draw(st.integers(1, n)) if d != dim else data.draw(st.integers(1, 4))
                        for d, n in enumerate(x.shape))
    index = data.draw(hnp.arrays(np.int64, index_shape, elements=st.integers(0, x.shape[dim] - 1)))
    check(lambda L, t: t.gather(dim, L.tensor(index)), x)
    # scatter: unique targets along dim so that "last write wins" cannot differ between libraries
    unique = np.argsort(np.random.default_rng(0).random(x.shape), axis=dim)
    unique = unique[tuple(slice(0, n) for n in index_shape)] if index_shape[dim] <= x.shape[dim] else None
    if unique is not None:
        src = np.random.default_rng(1).standard_normal(index_shape)
        ours, theirs = both(src)
        check(lambda L, t: t.scatter(dim, L.tensor(unique), ours if L is tg else theirs), x)
        check(lambda L, t: t.scatter(dim, L.tensor(unique), value=2.5), x)


@given(x=arrays(shapes(min_rank=1, max_rank=3)), data=st.data(), descending=st.booleans())
def test_sort_argsort_topk(x, data, descending):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    x = x + np.arange(x.size).reshape(x.shape) * 1e-3          # no ties: the order is the same in both libraries
    check(lambda L, t: t.sort(dim, descending=descending).values, x)
    assert tg.tensor(x).argsort(dim, descending=descending).tolist() == \
        torch.tensor(x).argsort(dim, descending=descending).tolist()
    k = data.draw(st.integers(0, x.shape[dim]))
    check(lambda L, t: t.topk(k, dim, largest=not descending).values, x)
    assert tg.tensor(x).topk(k, dim).indices.tolist() == torch.tensor(x).topk(k, dim).indices.tolist()


def test_stable_sort_keeps_the_order_of_ties():
    x = [2.0, 1.0, 2.0, 1.0, 3.0]
    for descending in (False, True):
        assert tg.tensor(x).sort(descending=descending, stable=True).indices.tolist() == \
            torch.tensor(x).sort(descending=descending, stable=True).indices.tolist()


def test_shape_helpers():
    x = np.arange(24.0).reshape(2, 3, 4)
    check(lambda L, t: t[0].t(), x)
    check(lambda L, t: t.narrow(2, 1, 2), x)
    check(lambda L, t: t.narrow(-1, -3, 3), x)
    check(lambda L, t: t.view(6, 4).view_as(t.reshape(4, 6)), x)
    check(lambda L, t: t.transpose(0, 2).contiguous(), x)
    with pytest.raises(RuntimeError, match="<= 2 dimensions"):
        tg.tensor(x).t()
    with pytest.raises(IndexError, match="narrow"):
        tg.tensor(x).narrow(1, 2, 5)


def test_function_forms_are_the_methods():
    x = np.random.default_rng(0).standard_normal((3, 4))
    for name, args in [("exp", ()), ("sigmoid", ()), ("tanh", ()), ("sum", (1,)), ("mean", (0,)),
                       ("softmax", (1,)), ("log_softmax", (-1,)), ("amax", (1,)), ("transpose", (0, 1)),
                       ("clamp", (-0.5, 0.5)), ("flatten", ()), ("unsqueeze", (1,))]:
        check(lambda L, t: getattr(L, name)(t, *args), x)
    np.testing.assert_allclose(tg.matmul(tg.tensor(x), tg.tensor(x.T)).numpy(), x @ x.T)
    with pytest.raises(TypeError, match="argument 'input' must be a Tensor"):
        tg.exp([1.0, 2.0])


def test_comparison_methods_and_new_factories():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])
    for name in ("eq", "ne", "lt", "le", "gt", "ge"):
        assert getattr(tg.tensor(a), name)(tg.tensor(b)).tolist() == getattr(torch.tensor(a), name)(
            torch.tensor(b)).tolist()
    t = tg.tensor(a, dtype=tg.float64)
    for ours, theirs in [(t.new_zeros(2, 3), torch.zeros(2, 3)), (t.new_ones((2,)), torch.ones(2)),
                         (t.new_full((2, 2), 7), torch.full((2, 2), 7.0)), (t.new_tensor([1, 2]), torch.tensor([1, 2]))]:
        assert ours.tolist() == theirs.tolist() and ours.dtype == tg.float64 and ours.device == t.device
    assert t.type() == "tinygrad_edu.DoubleTensor" and t.type(tg.float32).dtype == tg.float32
    assert t.type("torch.LongTensor").dtype == tg.int64


def test_numbers_formatting_and_indices():
    loss = tg.tensor(0.123456)
    assert f"{loss:.4f}" == f"{torch.tensor(0.123456):.4f}" == "0.1235"
    assert [10, 20, 30][tg.tensor(1)] == 20
    with pytest.raises(TypeError, match="single element"):
        [1, 2][tg.tensor([0, 1])]
    with pytest.raises(TypeError, match="unsupported format"):
        f"{tg.ones(2):.2f}"
    stacked = tg.tensor([tg.tensor(1.5), tg.tensor(2.5)])
    assert stacked.tolist() == torch.tensor([torch.tensor(1.5), torch.tensor(2.5)]).tolist()


def test_devices():
    assert tg.ones(2).device == "cpu" and str(tg.ones(2).device) == "cpu" and not tg.ones(2).is_cuda
    assert tg.device("cpu") == tg.ones(1).device and repr(tg.device("cpu")) == repr(torch.device("cpu"))
    chosen = tg.device("cuda" if tg.cuda.is_available() else "cpu")
    assert tg.zeros(2, device=chosen).device == chosen
    assert tg.device("cuda:0") == tg.device("cuda", 0) == "cuda"
    assert tg.accelerator.is_available() == tg.cuda.is_available()
    with pytest.raises(ValueError, match="unknown device type"):
        tg.device("tpu")


def test_from_numpy_shares_memory():
    a = np.zeros(3)
    t = tg.from_numpy(a)
    a[1] = 5.0
    t[2] = 7.0
    assert t.tolist() == [0.0, 5.0, 7.0] and a.tolist() == [0.0, 5.0, 7.0]
    with pytest.raises(TypeError, match="cannot be shared"):
        tg.from_numpy(np.zeros(3, dtype=np.int32))


def test_multinomial_draws_by_probability():
    tg.manual_seed(0)
    probs = tg.tensor([[0.0, 0.2, 0.8], [1.0, 0.0, 0.0]])
    draws = probs.multinomial(4000, replacement=True)
    assert draws.shape == (2, 4000) and draws.dtype == tg.int64
    counts = np.bincount(draws[0].numpy(), minlength=3) / 4000
    np.testing.assert_allclose(counts, [0.0, 0.2, 0.8], atol=0.03)
    assert (draws[1].numpy() == 0).all()
    no_repeat = tg.tensor([1.0, 1.0, 1.0]).multinomial(3)
    assert sorted(no_repeat.tolist()) == [0, 1, 2]
    with pytest.raises(RuntimeError, match="without replacement"):
        tg.tensor([1.0, 0.0]).multinomial(2)
