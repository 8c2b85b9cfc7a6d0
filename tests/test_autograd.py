"""The backward engine: accumulation, graph reuse, grad modes, graph bookkeeping, dtype rules, seeding."""
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_edu as tg

from strategies import arrays, shapes

pytestmark = pytest.mark.autograd


def leaf(values):
    return tg.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


# ---- accumulation ----------------------------------------------------------------------------
@given(x=arrays(shapes(min_rank=1, max_rank=2)))
def test_a_tensor_used_twice_gets_the_sum_of_both_paths(x):
    t = leaf(x)
    (t * t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), 2 * x, rtol=1e-12)
    u = leaf(x)
    (u + u + u.exp()).sum().backward()
    np.testing.assert_allclose(u.grad.numpy(), 2 + np.exp(x), rtol=1e-12)


@given(x=arrays(shapes(min_rank=1, max_rank=2)))
def test_diamond_graph(x):
    #      x
    #    /   \
    #  a=2x  b=exp(x)
    #    \   /
    #    c=a*b
    t = leaf(x)
    a = t * 2
    b = t.exp()
    (a * b).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), 2 * np.exp(x) + 2 * x * np.exp(x), rtol=1e-12)


def test_diamond_whose_branches_reconverge_through_shared_nodes():
    x = leaf([0.5, -1.0, 2.0])
    h = x.tanh()
    y = (h * h + h.sigmoid() * h).sum()
    y.backward()
    th = np.tanh(x.numpy())
    s = 1 / (1 + np.exp(-th))
    dh = 2 * th + s * (1 - s) * th + s
    np.testing.assert_allclose(x.grad.numpy(), dh * (1 - th ** 2), rtol=1e-12)


def test_leaf_grads_accumulate_across_separate_backward_calls():
    x = leaf([1.0, 2.0, 3.0])
    (x * 3).sum().backward()
    first = x.grad.numpy().copy()
    (x * x).sum().backward()
    np.testing.assert_allclose(first, np.full(3, 3.0))
    np.testing.assert_allclose(x.grad.numpy(), 3 + 2 * x.numpy(), rtol=1e-12)


def test_retain_graph_allows_a_second_backward_which_accumulates():
    x = leaf([0.3, -0.7])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    once = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(once, np.exp(x.numpy()) * (1 + x.numpy()), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), 2 * once, rtol=1e-12)


def test_second_backward_without_retain_graph_raises():
    x = leaf([0.3, -0.7])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_backward_frees_saved_arrays_unless_retained():
    x = leaf([1.0, 2.0])
    y = x * x
    assert y.grad_fn.saved
    y.sum().backward(retain_graph=True)
    assert y.grad_fn.saved
    y.sum().backward()
    assert not y.grad_fn.saved


# ---- leaf gradients own their memory ---------------------------------------------------------
def test_leaf_grads_can_be_changed_in_place():
    x = leaf(np.ones((2, 3)))
    x.sum().backward()
    x.grad.zero_()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 3)))
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 2.0))


def test_leaf_grads_do_not_alias_each_other_or_the_seed_gradient():
    a = leaf([1.0, 2.0, 3.0])
    b = leaf([4.0, 5.0, 6.0])
    seed = tg.tensor(np.array([1.0, -1.0, 0.5]))
    (a + b).backward(seed)
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    assert not np.shares_memory(a.grad.numpy(), seed.numpy())
    a.grad.fill_(7.0)
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, -1.0, 0.5])
    np.testing.assert_array_equal(seed.numpy(), [1.0, -1.0, 0.5])


def test_zero_dim_results_are_numpy_arrays():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    s = x.sum()
    for t in (s, x.max(), x[1, 0], s * 2, tg.tensor(2.0, dtype=tg.float64) * 3):
        assert isinstance(t.numpy(), np.ndarray) and t.numpy().shape == ()
    c = leaf(2.0)
    (c * c).backward()
    assert isinstance(c.grad.numpy(), np.ndarray)
    c.grad.zero_()
    assert c.grad.item() == 0.0


# ---- grad modes ------------------------------------------------------------------------------
def test_no_grad_context_manager():
    x = leaf([1.0, 2.0])
    assert tg.is_grad_enabled()
    with tg.no_grad():
        assert not tg.is_grad_enabled()
        y = x * 2
    assert tg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    np.testing.assert_array_equal(y.numpy(), [2.0, 4.0])


def test_no_grad_decorator():
    @tg.no_grad()
    def double(t):
        assert not tg.is_grad_enabled()
        return t * 2

    x = leaf([1.0])
    y = double(x)
    assert not y.requires_grad and y.grad_fn is None
    assert tg.is_grad_enabled()
    assert (x * 2).requires_grad


def test_grad_mode_decorators_without_parentheses():
    @tg.no_grad
    def double(t):
        return t * 2

    @tg.enable_grad
    def square(t):
        return t * t

    x = leaf([1.0, 3.0])
    assert double.__name__ == "double"
    assert not double(x).requires_grad
    with tg.no_grad():
        y = square(x)
        assert not tg.is_grad_enabled()
    assert y.requires_grad
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 6.0])


def test_enable_grad_inside_no_grad():
    x = leaf([1.0, 2.0])
    with tg.no_grad():
        with tg.enable_grad():
            assert tg.is_grad_enabled()
            y = x * x
        z = x * x
        assert not tg.is_grad_enabled()
    assert y.requires_grad and not z.requires_grad
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


def test_grad_mode_is_restored_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with tg.no_grad():
            1 / 0
    assert tg.is_grad_enabled()


def test_detach_cuts_the_graph():
    x = leaf([1.0, 2.0])
    d = (x * 3).detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    np.testing.assert_array_equal(d.numpy(), [3.0, 6.0])
    y = (x * d).sum()  # d is a constant: dy/dx = d
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 6.0])


def test_requires_grad_propagates():
    a = leaf([1.0])
    b = tg.tensor(np.array([2.0]))
    assert (a * b).requires_grad and (b * a).requires_grad and (a + 1).requires_grad
    assert not (b * b).requires_grad and not (b + 1).requires_grad
    assert not a.detach().requires_grad
    b.requires_grad_()
    assert b.requires_grad and (b * 2).requires_grad


def test_backward_reaches_only_leaves_that_require_grad():
    a = leaf([1.0, 2.0])
    b = tg.tensor(np.array([3.0, 4.0]))
    (a * b).sum().backward()
    assert b.grad is None
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 4.0])


# ---- graph bookkeeping -----------------------------------------------------------------------
def test_grad_fn_and_is_leaf():
    x = leaf([1.0, 2.0])
    assert x.grad_fn is None and x.is_leaf
    y = x * 2
    assert y.grad_fn is not None and not y.is_leaf
    assert "MulBackward" in repr(y.grad_fn) and "MulBackward" in repr(y)
    assert "AddBackward" in repr((x + x).grad_fn)
    assert "ExpBackward" in repr(x.exp().grad_fn)
    assert "SumBackward" in repr(x.sum().grad_fn)
    assert "requires_grad=True" in repr(x)


def test_intermediate_tensors_get_no_grad():
    x = leaf([1.0, 2.0])
    h = x * 2
    (h * h).sum().backward()
    assert h.grad is None
    np.testing.assert_allclose(x.grad.numpy(), 8 * x.numpy())


def test_a_ten_thousand_op_chain_does_not_hit_the_recursion_limit():
    assert sys.getrecursionlimit() < 10_000
    x = leaf([0.5, -2.0])
    y = x
    for _ in range(5_000):
        y = y * 1.0001
        y = y + 0.001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(2, np.float64(1.0001) ** 5000), rtol=1e-9)
    del y  # freeing the chain must not recurse either


# ---- indexing gradients ----------------------------------------------------------------------
@given(data=st.data())
def test_integer_index_gradient_accumulates_repeats(data):
    n = data.draw(st.integers(1, 5))
    idx = np.array(data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=8)))
    x = leaf(data.draw(arrays((n, 2))))
    g = data.draw(arrays((len(idx), 2)))
    x[tg.tensor(idx)].backward(tg.tensor(g))
    expected = np.stack([np.bincount(idx % n, weights=g[:, j], minlength=n) for j in range(2)], axis=1)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_integer_index_with_repeats_counts_each_pick():
    x = leaf([10.0, 20.0, 30.0])
    idx = [0, 2, 0, 0, -1]
    x[tg.tensor(idx)].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.bincount(np.array(idx) % 3, minlength=3))


@given(data=st.data())
def test_bool_mask_gradient(data):
    shape = data.draw(shapes(min_rank=1, max_rank=3))
    mask = data.draw(hnp.arrays(np.bool_, shape))
    x = leaf(data.draw(arrays(shape)))
    g = data.draw(arrays((int(mask.sum()),)))
    x[tg.tensor(mask)].backward(tg.tensor(g))
    expected = np.zeros(shape)
    expected[mask] = g
    np.testing.assert_array_equal(x.grad.numpy(), expected)


# ---- backward(gradient=...) ------------------------------------------------------------------
@given(x=arrays(shapes(min_rank=1, max_rank=3)), data=st.data())
def test_backward_with_gradient_on_non_scalar_outputs(x, data):
    g = data.draw(arrays(x.shape))
    t = leaf(x)
    (t * 3 + t.tanh()).backward(tg.tensor(g))
    np.testing.assert_allclose(t.grad.numpy(), g * (3 + 1 - np.tanh(x) ** 2), rtol=1e-12, atol=1e-12)
    u = leaf(x)
    (u * 3).backward(g)  # a numpy array is accepted too
    np.testing.assert_allclose(u.grad.numpy(), 3 * g, rtol=1e-12)


def test_backward_on_a_leaf_and_with_a_list_gradient():
    x = leaf([1.0, 2.0])
    x.backward([0.5, -1.0])
    np.testing.assert_array_equal(x.grad.numpy(), [0.5, -1.0])


def test_float32_graph_gets_float32_grads():
    tg.manual_seed(0)
    x = tg.randn(3, requires_grad=True)
    (x * 2.5).sum().backward()
    assert x.grad.dtype == tg.float32
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 2.5, np.float32))


def test_grads_flow_through_a_dtype_change_in_their_own_dtype():
    x = tg.randn(3, requires_grad=True)
    y = tg.randn(3, dtype=tg.float64)
    z = x * y  # float32 * float64 -> float64
    assert z.dtype == tg.float64
    z.sum().backward()
    assert x.grad.dtype == tg.float32
    np.testing.assert_allclose(x.grad.numpy(), y.numpy().astype(np.float32))


# ---- dtype rules -----------------------------------------------------------------------------
def test_dtype_of_new_tensors():
    assert tg.tensor([1.0, 2.0]).dtype == tg.float32
    assert tg.tensor(1.5).dtype == tg.float32
    assert tg.tensor([[1, 2], [3, 4]]).dtype == tg.int64
    assert tg.tensor(3).dtype == tg.int64
    assert tg.tensor([True, False]).dtype == tg.bool
    assert tg.tensor(np.array([1.0, 2.0])).dtype == tg.float64
    assert tg.tensor(np.array([1.0], dtype=np.float32)).dtype == tg.float32
    assert tg.tensor(np.array([1, 2], dtype=np.int32)).dtype == tg.int64
    assert tg.tensor([1, 2], dtype=tg.float64).dtype == tg.float64
    assert tg.tensor(np.array([1.0, 2.0]), dtype="float32").dtype == tg.float32
    assert tg.Tensor is tg.tensor


def test_dtype_promotion_in_arithmetic():
    i = tg.tensor([1, 2, 3])
    j = tg.tensor([2, 4, 5])
    f = tg.tensor([0.5, 1.5, 2.5])
    d = tg.tensor(np.array([0.5, 1.5, 2.5]))
    scaled = i * 2.5
    assert scaled.dtype == tg.float32
    np.testing.assert_array_equal(scaled.numpy(), np.array([1, 2, 3]) * np.float32(2.5))
    quotient = i / j
    assert quotient.dtype == tg.float32
    np.testing.assert_allclose(quotient.numpy(), (np.array([1, 2, 3]) / np.array([2, 4, 5])).astype(np.float32))
    assert (2 / i).dtype == tg.float32
    assert (i * 2).dtype == tg.int64 and (i + j).dtype == tg.int64 and (-i).dtype == tg.int64
    np.testing.assert_array_equal((i * 2).numpy(), [2, 4, 6])
    assert (i + f).dtype == tg.float32 and (f + d).dtype == tg.float64 and (i * d).dtype == tg.float64
    assert (f * 2.5).dtype == tg.float32 and (d * 2.5).dtype == tg.float64
    assert (f < 1.0).dtype == tg.bool and (i == j).dtype == tg.bool
    assert tg.tensor([True, False, True]).sum().dtype == tg.int64
    assert f.double().dtype == tg.float64 and d.float().dtype == tg.float32


# ---- seeding and factories -------------------------------------------------------------------
def _draw_all():
    return (tg.randn(3, 4).numpy(), tg.rand(5).numpy(), tg.randint(0, 10, (6,)).numpy(),
            tg.randn(2, dtype=tg.float64).numpy())


@given(seed=st.integers(0, 2 ** 32 - 1))
def test_manual_seed_makes_random_factories_reproducible(seed):
    tg.manual_seed(seed)
    first = _draw_all()
    tg.manual_seed(seed)
    second = _draw_all()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    tg.manual_seed(seed + 1)
    third = _draw_all()
    assert not np.array_equal(first[0], third[0])


def test_random_factories_ranges_and_dtypes():
    tg.manual_seed(0)
    u = tg.rand(1000)
    assert u.dtype == tg.float32 and u.shape == (1000,)
    assert 0.0 <= u.numpy().min() and u.numpy().max() < 1.0
    n = tg.randn(2000, dtype=tg.float64)
    assert n.dtype == tg.float64
    assert abs(n.numpy().mean()) < 0.1 and abs(n.numpy().std() - 1) < 0.1
    r = tg.randint(-3, 4, (500,))
    assert r.dtype == tg.int64 and r.numpy().min() >= -3 and r.numpy().max() <= 3
    assert set(np.unique(r.numpy())) == set(range(-3, 4))
    assert tg.randint(5, (2, 3)).shape == (2, 3)


FACTORIES = [
    ("zeros", lambda **kw: tg.zeros(2, 3, **kw), np.zeros((2, 3))),
    ("ones", lambda **kw: tg.ones((2, 3), **kw), np.ones((2, 3))),
    ("full", lambda **kw: tg.full((2, 3), 1.5, **kw), np.full((2, 3), 1.5)),
    ("zeros_like", lambda **kw: tg.zeros_like(tg.ones(2, 3), **kw), np.zeros((2, 3))),
    ("ones_like", lambda **kw: tg.ones_like(tg.zeros(2, 3), **kw), np.ones((2, 3))),
    ("arange", lambda **kw: tg.arange(0, 3, 0.5, **kw), np.arange(0, 3, 0.5)),
    ("eye", lambda **kw: tg.eye(3, **kw), np.eye(3)),
    ("randn", lambda **kw: tg.randn(2, 3, **kw), None),
    ("rand", lambda **kw: tg.rand(2, 3, **kw), None),
]


@pytest.mark.parametrize("name,make,expected", FACTORIES, ids=[f[0] for f in FACTORIES])
def test_factories_take_dtype_device_and_requires_grad(name, make, expected):
    default = make()
    assert default.dtype == tg.float32 and default.device == "cpu" and not default.requires_grad
    t = make(dtype=tg.float64, device="cpu", requires_grad=True)
    assert t.dtype == tg.float64 and t.device == "cpu" and t.requires_grad and t.is_leaf
    if expected is not None:
        np.testing.assert_array_equal(t.numpy(), expected)
        np.testing.assert_array_equal(default.numpy(), expected.astype(np.float32))
    (t * t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), 2 * t.numpy())


def test_integer_factories():
    assert tg.arange(5).dtype == tg.int64
    np.testing.assert_array_equal(tg.arange(5).numpy(), np.arange(5))
    assert tg.full((2,), 3).dtype == tg.int64
    assert tg.zeros(2, dtype=tg.int64).dtype == tg.int64
    assert tg.randint(0, 3, (2,), dtype=tg.int64).dtype == tg.int64
    assert tg.full((2,), True).dtype == tg.bool


def test_a_kept_loss_does_not_keep_the_steps_activations_after_backward():
    """PyTorch's nodes keep no inputs: a training loop that keeps its last loss must not keep every activation
    of that step (through the nodes' inputs) until the next loss replaces it."""
    import gc
    import weakref
    tg.manual_seed(0)
    layer1, layer2 = tg.nn.Linear(8, 16), tg.nn.Linear(16, 3)
    hidden = layer1(tg.randn(4, 8)).relu()
    activation = weakref.ref(hidden.array)
    loss = layer2(hidden).sum()
    del hidden
    gc.collect()
    assert activation() is not None              # before backward the graph needs it
    loss.backward()
    gc.collect()
    assert activation() is None                  # after it, the kept loss no longer holds it
    assert loss.grad_fn is not None and layer1.weight.grad is not None
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()                          # (its saved arrays are gone: a clear error, as in PyTorch)


def test_a_graph_without_saved_arrays_can_still_be_walked_twice():
    a, b = tg.randn(3, requires_grad=True), tg.randn(3, requires_grad=True)
    total = (a + b).sum()
    total.backward()
    total.backward()                             # neither node saved an array: allowed, as in PyTorch
    np.testing.assert_allclose(a.grad.numpy(), np.full(3, 2.0))
    assert "AddBackward" in tg.viz.graph(total)   # and the graph can still be drawn
