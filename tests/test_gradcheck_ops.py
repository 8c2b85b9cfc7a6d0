"""Every differentiable op of the Tensor API, forward against numpy and backward against finite differences.

Each property test draws float64 data (hypothesis), runs the op on views of fresh
leaves (`Operand.take`: the leaf itself, or a strided slice / transpose of a larger
leaf, so the op also sees non-contiguous input), and checks
  (a) the forward value against numpy computing the same thing, and
  (b) the backward with `tg.gradcheck`, which projects the output on a random
      direction so that non-scalar outputs are fully covered.
"""
import math
import operator

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_edu as tg

from strategies import (away_from, bool_arrays, broadcastable_shapes, dims_for, distinct_arrays, grid_arrays,
                        noncontiguous, nonzero, numpy_axis, operand, operands, positive, shapes, shrunk_shapes, smooth)

pytestmark = pytest.mark.gradcheck

RTOL, ATOL = 1e-9, 1e-12


def check(op, np_op, *ops, rtol=RTOL, atol=ATOL):
    """Forward of op(*views) against np_op(*numpy views), then gradcheck of op with respect to every leaf."""
    leaves = tuple(o.leaf() for o in ops)

    def fn(*ls):
        return op(*(o.take(leaf) for o, leaf in zip(ops, ls)))

    out = fn(*leaves)
    expected = np.asarray(np_op(*(o.value() for o in ops)), dtype=np.float64)
    assert isinstance(out, tg.Tensor)
    assert out.dtype == tg.float64
    assert out.shape == expected.shape, (out.shape, expected.shape)
    np.testing.assert_allclose(out.numpy(), expected, rtol=rtol, atol=atol)
    assert out.requires_grad
    assert tg.gradcheck(fn, leaves) is True


def _prod(shape):
    return int(np.prod(shape, dtype=np.int64))


# ---- the test data itself --------------------------------------------------------------------
@given(data=st.data())
def test_views_are_noncontiguous_slices_of_a_larger_leaf(data):
    shape = data.draw(shapes(min_rank=1))
    o = data.draw(noncontiguous(shape))
    leaf = o.leaf()
    view = o.take(leaf)
    assert view.shape == shape
    assert leaf.numel() > view.numel() or o.kind in ("swap", "reverse")
    np.testing.assert_array_equal(view.numpy(), o.value())
    moved = {"step": _prod(shape) > 1, "swap": min(shape[-2:]) > 1 and len(shape) >= 2,
             "reverse": sum(s > 1 for s in shape) >= 2}[o.kind]
    assert view.numpy().flags.c_contiguous != moved


# ---- arithmetic ------------------------------------------------------------------------------
BINARY = {
    "add": (operator.add, smooth(), smooth()),
    "sub": (operator.sub, smooth(), smooth()),
    "mul": (operator.mul, smooth(), smooth()),
    "div": (operator.truediv, smooth(), nonzero(0.2)),
    "pow": (operator.pow, positive(), smooth()),
}


@pytest.mark.parametrize("name", list(BINARY))
@given(data=st.data())
def test_binary_ops_broadcast(name, data):
    fn, ea, eb = BINARY[name]
    sa, sb = data.draw(broadcastable_shapes())
    a = data.draw(operand(sa, ea))
    b = data.draw(operand(sb, eb))
    check(fn, fn, a, b)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow"])
@given(data=st.data())
def test_binary_ops_with_a_size_one_operand_and_non_contiguous_other(name, data):
    fn, ea, eb = BINARY[name]
    shape = data.draw(shapes(min_rank=2))
    ones = data.draw(shrunk_shapes(shape))
    a = data.draw(noncontiguous(shape, ea if name != "div" else eb))
    b = data.draw(operand(ones, eb if name != "pow" else ea))
    check(fn, fn, a, b)
    check(fn, fn, b, a)


SCALAR_CASES = [
    ("x + 2", lambda x: x + 2, smooth()),
    ("2 + x", lambda x: 2 + x, smooth()),
    ("x + 0.5", lambda x: x + 0.5, smooth()),
    ("x - 1.5", lambda x: x - 1.5, smooth()),
    ("1.5 - x", lambda x: 1.5 - x, smooth()),
    ("3 - x", lambda x: 3 - x, smooth()),
    ("x * -3", lambda x: x * -3, smooth()),
    ("0.5 * x", lambda x: 0.5 * x, smooth()),
    ("x / 4", lambda x: x / 4, smooth()),
    ("x / 0.3", lambda x: x / 0.3, smooth()),
    ("3 / x", lambda x: 3 / x, nonzero(0.2)),
    ("-1.5 / x", lambda x: -1.5 / x, nonzero(0.2)),
    ("x ** 2", lambda x: x ** 2, smooth()),
    ("x ** 3", lambda x: x ** 3, smooth()),
    ("x ** -1", lambda x: x ** -1, nonzero(0.2)),
    ("x ** 0.5", lambda x: x ** 0.5, positive()),
    ("x ** 2.5", lambda x: x ** 2.5, positive()),
    ("x ** -1.5", lambda x: x ** -1.5, positive()),
    ("2 ** x", lambda x: 2 ** x, smooth()),
    ("0.5 ** x", lambda x: 0.5 ** x, smooth()),
    ("np.float64(1.5) * x", lambda x: np.float64(1.5) * x, smooth()),
    ("np.float64(2) - x", lambda x: np.float64(2.0) - x, smooth()),
    ("-x", lambda x: -x, smooth()),
    ("-(x * x)", lambda x: -(x * x), smooth()),
]


@pytest.mark.parametrize("expr,fn,elements", SCALAR_CASES, ids=[c[0] for c in SCALAR_CASES])
@given(data=st.data())
def test_scalar_operands_and_reflected_forms(expr, fn, elements, data):
    x = data.draw(operands(elements=elements))
    check(fn, fn, x)


def test_scalar_operand_keeps_float64():
    x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    for y in (x + 1, 2.5 * x, x / 3, 2 ** x, x ** 2.0, 1 - x):
        assert y.dtype == tg.float64


# ---- matmul ----------------------------------------------------------------------------------
@st.composite
def matmul_shapes(draw):
    n, k, m = (draw(st.integers(1, 3)) for _ in range(3))
    kind = draw(st.sampled_from(["1d@1d", "2d@2d", "1d@2d", "2d@1d", "batched", "batched@1d", "1d@batched"]))
    ba, bb = draw(broadcastable_shapes(min_rank=0, max_rank=2))
    if kind == "1d@1d":
        return (k,), (k,)
    if kind == "2d@2d":
        return (n, k), (k, m)
    if kind == "1d@2d":
        return (k,), (k, m)
    if kind == "2d@1d":
        return (n, k), (k,)
    if kind == "batched":
        return ba + (n, k), bb + (k, m)
    if kind == "batched@1d":
        return ba + (n, k), (k,)
    return (k,), bb + (k, m)


@given(data=st.data())
def test_matmul(data):
    sa, sb = data.draw(matmul_shapes())
    a = data.draw(operand(sa, smooth(-1, 1)))
    b = data.draw(operand(sb, smooth(-1, 1)))
    check(operator.matmul, np.matmul, a, b)


@given(data=st.data())
def test_matmul_with_broadcast_batch_dims(data):
    ba, bb = data.draw(broadcastable_shapes(min_rank=1, max_rank=3))
    assume(ba != bb)
    n, k, m = (data.draw(st.integers(1, 3)) for _ in range(3))
    a = data.draw(operand(ba + (n, k), smooth(-1, 1)))
    b = data.draw(operand(bb + (k, m), smooth(-1, 1)))
    check(operator.matmul, np.matmul, a, b)


# ---- unary elementwise -----------------------------------------------------------------------
def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


UNARY = {
    "exp": (lambda x: x.exp(), np.exp, smooth()),
    "log": (lambda x: x.log(), np.log, positive()),
    "sqrt": (lambda x: x.sqrt(), np.sqrt, positive()),
    "tanh": (lambda x: x.tanh(), np.tanh, smooth(-3, 3)),
    "sigmoid": (lambda x: x.sigmoid(), _np_sigmoid, smooth(-5, 5)),
    "relu": (lambda x: x.relu(), lambda x: np.maximum(x, 0), nonzero()),
    "abs": (lambda x: x.abs(), np.abs, nonzero()),
    "neg": (lambda x: x.neg(), np.negative, smooth()),
}


@pytest.mark.parametrize("name", list(UNARY))
@given(data=st.data())
def test_unary(name, data):
    fn, np_fn, elements = UNARY[name]
    x = data.draw(operands(elements=elements))
    check(fn, np_fn, x)


CLAMPS = [(-0.5, 0.5), (-0.5, None), (None, 0.5), (0.3, 1.2), (-1, 1)]


@pytest.mark.parametrize("low,high", CLAMPS)
@given(data=st.data())
def test_clamp(low, high, data):
    x = data.draw(operands(elements=away_from([b for b in (low, high) if b is not None])))
    check(lambda t: t.clamp(low, high), lambda a: np.clip(a, low, high), x)
    check(lambda t: t.clamp(min=low, max=high), lambda a: np.clip(a, low, high), x)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@given(data=st.data())
def test_maximum_minimum_broadcast(name, data):
    sa, sb = data.draw(broadcastable_shapes())
    a = data.draw(operand(sa, array_strategy=lambda s: grid_arrays(s, 0.0)))
    b = data.draw(operand(sb, array_strategy=lambda s: grid_arrays(s, 0.25)))
    check(lambda x, y: getattr(x, name)(y), getattr(np, name), a, b)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@given(data=st.data())
def test_maximum_minimum_with_scalar(name, data):
    x = data.draw(operands(elements=away_from([0.3])))
    check(lambda t: getattr(t, name)(0.3), lambda a: getattr(np, name)(a, 0.3), x)


@given(data=st.data())
def test_where_broadcasts_condition_and_both_branches(data):
    sc, sa, sb = data.draw(broadcastable_shapes(num_shapes=3))
    cond = data.draw(bool_arrays(sc))
    a = data.draw(operand(sa))
    b = data.draw(operand(sb))
    check(lambda x, y: tg.where(tg.tensor(cond), x, y), lambda x, y: np.where(cond, x, y), a, b)
    check(lambda x, y: x.where(tg.tensor(cond), y), lambda x, y: np.where(cond, x, y), a, b)


@given(data=st.data())
def test_where_with_a_scalar_branch(data):
    shape = data.draw(shapes())
    cond = data.draw(bool_arrays(shape))
    x = data.draw(operand(shape))
    c = tg.tensor(cond)
    check(lambda t: tg.where(c, t, 0.5), lambda a: np.where(cond, a, 0.5), x)
    check(lambda t: tg.where(c, -1.5, t), lambda a: np.where(cond, -1.5, a), x)
    y = data.draw(operand(shape, nonzero()))  # the condition depends on the input: keep it off the boundary
    check(lambda t: tg.where(t > 0, t, 0.0), lambda a: np.where(a > 0, a, 0.0), y)


# ---- reductions ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sum", "mean"])
@given(data=st.data(), keepdim=st.booleans())
def test_sum_mean(name, data, keepdim):
    x = data.draw(operands())
    dim = data.draw(dims_for(x.value().shape))
    axis = numpy_axis(dim, x.value().ndim)
    check(lambda t: getattr(t, name)(dim=dim, keepdim=keepdim),
          lambda a: getattr(np, name)(a, axis=axis, keepdims=keepdim), x)


def test_sum_of_everything_by_default():
    x = tg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert x.sum().shape == () and x.mean().shape == ()
    assert tg.gradcheck(lambda t: t.sum() * t.mean(), (x,))


@pytest.mark.parametrize("name", ["var", "std"])
@given(data=st.data(), keepdim=st.booleans(), unbiased=st.booleans())
def test_var_std(name, data, keepdim, unbiased):
    x = data.draw(operands())
    shape = x.value().shape
    dim = data.draw(dims_for(shape))
    axis = numpy_axis(dim, len(shape))
    count = _prod(shape) if axis is None else _prod([shape[a] for a in axis])
    ddof = 1 if unbiased else 0
    assume(count - ddof > 0)
    if name == "std":  # sqrt has a kink where all values are equal
        assume(np.var(x.value(), axis=axis).min() > 1e-2)
    check(lambda t: getattr(t, name)(dim=dim, unbiased=unbiased, keepdim=keepdim),
          lambda a: getattr(np, name)(a, axis=axis, ddof=ddof, keepdims=keepdim), x)


@pytest.mark.parametrize("name", ["max", "min", "amax", "amin"])
@given(data=st.data(), keepdim=st.booleans())
def test_max_min_amax_amin(name, data, keepdim):
    x = data.draw(operands(array_strategy=distinct_arrays))
    shape = x.value().shape
    dim = data.draw(dims_for(shape))
    axis = numpy_axis(dim, len(shape))
    np_fn = getattr(np, {"max": "amax", "min": "amin"}.get(name, name))
    if name in ("max", "min") and isinstance(dim, int):
        def fn(t):
            return getattr(t, name)(dim=dim, keepdim=keepdim).values
        leaf = x.leaf()
        values, indices = getattr(x.take(leaf), name)(dim, keepdim=keepdim)
        arg = (np.argmax if name == "max" else np.argmin)(x.value(), axis=axis[0] if axis else None,
                                                          keepdims=keepdim)
        assert indices.dtype == tg.int64
        np.testing.assert_array_equal(indices.numpy(), arg)
        assert values.shape == arg.shape
    elif name in ("max", "min") and dim is None:
        def fn(t):
            return getattr(t, name)()
    else:
        def fn(t):
            return getattr(t, name)(dim=dim, keepdim=keepdim)
    check(fn, lambda a: np_fn(a, axis=axis, keepdims=keepdim and (dim is not None or name.startswith("a"))), x)


def _np_logsumexp(a, axis, keepdims):
    m = np.max(a, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _np_log_softmax(a, axis):
    return a - _np_logsumexp(a, axis, True)


@given(data=st.data(), keepdim=st.booleans())
def test_logsumexp(data, keepdim):
    x = data.draw(operands(elements=smooth(-3, 3)))
    shape = x.value().shape
    dim = data.draw(dims_for(shape))
    axis = numpy_axis(dim, len(shape))
    check(lambda t: t.logsumexp(dim=dim, keepdim=keepdim), lambda a: _np_logsumexp(a, axis, keepdim), x)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@given(data=st.data())
def test_softmax_log_softmax(name, data):
    x = data.draw(operands(elements=smooth(-3, 3)))
    shape = x.value().shape
    dim = data.draw(dims_for(shape, allow_none=False, allow_tuple=False))   # one int dim, as in PyTorch
    axis = numpy_axis(dim, len(shape))
    if name == "softmax":
        def np_fn(a):
            return np.exp(_np_log_softmax(a, axis))
    else:
        def np_fn(a):
            return _np_log_softmax(a, axis)
    check(lambda t: getattr(t, name)(dim), np_fn, x)
    if name == "softmax":
        np.testing.assert_allclose(x.take(x.leaf()).softmax(dim).sum(dim).numpy(), 1.0, rtol=1e-12)


# ---- shape ops -------------------------------------------------------------------------------
def _factors(n):
    out, p = [], 2
    while n > 1:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out


@st.composite
def reshape_targets(draw, shape):
    """A shape with the same number of elements, sometimes with one -1."""
    factors = draw(st.permutations(_factors(_prod(shape))))
    cuts = sorted(draw(st.lists(st.integers(0, len(factors)), max_size=3)))
    groups, last = [], 0
    for c in cuts + [len(factors)]:
        if c > last:
            groups.append(math.prod(factors[last:c]))
            last = c
    for _ in range(draw(st.integers(0, 2))):
        groups.insert(draw(st.integers(0, len(groups))), 1)
    if groups and draw(st.booleans()):
        groups[draw(st.integers(0, len(groups) - 1))] = -1
    return tuple(groups)


@pytest.mark.parametrize("method", ["reshape", "view"])
@given(data=st.data(), as_tuple=st.booleans())
def test_reshape_view(method, data, as_tuple):
    x = data.draw(operands())
    target = data.draw(reshape_targets(x.value().shape))
    if as_tuple or not target:
        check(lambda t: getattr(t, method)(target), lambda a: a.reshape(target), x)
    else:
        check(lambda t: getattr(t, method)(*target), lambda a: a.reshape(target), x)


@given(data=st.data())
def test_flatten(data):
    x = data.draw(operands(shapes(min_rank=1)))
    ndim = x.value().ndim
    start = data.draw(st.integers(0, ndim - 1))
    end = data.draw(st.integers(start, ndim - 1))
    s = start - ndim if data.draw(st.booleans()) else start
    e = end - ndim if data.draw(st.booleans()) else end
    shape = x.value().shape
    target = shape[:start] + (_prod(shape[start:end + 1]),) + shape[end + 1:]
    check(lambda t: t.flatten(s, e), lambda a: a.reshape(target), x)
    check(lambda t: t.flatten(), lambda a: a.reshape(-1), x)


@given(data=st.data())
def test_permute(data):
    x = data.draw(operands(shapes(min_rank=1)))
    ndim = x.value().ndim
    perm = data.draw(st.permutations(range(ndim)))
    dims = tuple(d - ndim if data.draw(st.booleans()) else d for d in perm)
    check(lambda t: t.permute(*dims), lambda a: np.transpose(a, perm), x)
    check(lambda t: t.permute(dims), lambda a: np.transpose(a, perm), x)


@given(data=st.data())
def test_transpose_and_T(data):
    x = data.draw(operands(shapes(min_rank=1)))
    ndim = x.value().ndim
    d0, d1 = data.draw(st.integers(-ndim, ndim - 1)), data.draw(st.integers(-ndim, ndim - 1))
    check(lambda t: t.transpose(d0, d1), lambda a: np.swapaxes(a, d0, d1), x)
    check(lambda t: t.T, lambda a: a.T, x)


@given(data=st.data())
def test_unsqueeze(data):
    x = data.draw(operands())
    ndim = x.value().ndim
    d = data.draw(st.integers(-ndim - 1, ndim))
    check(lambda t: t.unsqueeze(d), lambda a: np.expand_dims(a, d), x)


@given(data=st.data())
def test_squeeze(data):
    x = data.draw(operands())
    shape = x.value().shape
    dim = data.draw(dims_for(shape))
    axis = numpy_axis(dim, len(shape))
    only_ones = None if axis is None else tuple(a for a in axis if shape[a] == 1)
    check(lambda t: t.squeeze(dim), lambda a: np.squeeze(a, axis=only_ones), x)
    check(lambda t: t.squeeze(), np.squeeze, x)


@st.composite
def expand_sizes(draw, shape):
    """Sizes for expand: new leading dims, size-1 dims grown, -1 meaning 'keep'; and the resolved shape."""
    lead = draw(st.lists(st.integers(1, 3), max_size=2))
    sizes, resolved = list(lead), list(lead)
    for s in shape:
        new = draw(st.integers(1, 3)) if s == 1 else s
        keep = draw(st.booleans()) and new == s
        sizes.append(-1 if keep else new)
        resolved.append(new)
    return tuple(sizes), tuple(resolved)


@given(data=st.data())
def test_expand(data):
    x = data.draw(operands(shapes(max_rank=3)))
    sizes, resolved = data.draw(expand_sizes(x.value().shape))
    check(lambda t: t.expand(*sizes) if sizes else t.expand(sizes), lambda a: np.broadcast_to(a, resolved), x)
    other = tg.zeros(resolved)
    check(lambda t: t.expand_as(other), lambda a: np.broadcast_to(a, resolved), x)


@given(data=st.data())
def test_repeat(data):
    x = data.draw(operands(shapes(max_rank=3)))
    ndim = x.value().ndim
    reps = tuple(data.draw(st.lists(st.integers(1, 3), min_size=max(ndim, 1), max_size=ndim + 1)))
    check(lambda t: t.repeat(*reps), lambda a: np.tile(a, reps), x)


# ---- indexing --------------------------------------------------------------------------------
@st.composite
def slices(draw, size):
    bound = st.one_of(st.none(), st.integers(-size - 1, size + 1))
    step = draw(st.sampled_from([None, 1, 2, 3, -1, -2]))
    return slice(draw(bound), draw(bound), step)


@st.composite
def basic_indices(draw, shape):
    """Ints (negative too), slices with steps (negative too), None and Ellipsis, as in x[1, ::2, None, ...]."""
    parts = []
    for s in shape[:draw(st.integers(0, len(shape)))]:
        kind = draw(st.sampled_from(["int", "slice", "all"]))
        if kind == "int":
            parts.append(draw(st.integers(-s, s - 1)))
        elif kind == "slice":
            parts.append(draw(slices(s)))
        else:
            parts.append(slice(None))
    if draw(st.booleans()):
        parts.append(Ellipsis)
        rest = shape[len(parts) - 1:]
        tail = draw(st.integers(0, len(rest)))
        for s in rest[len(rest) - tail:]:
            parts.append(draw(st.one_of(st.integers(-s, s - 1), slices(s))))
    for _ in range(draw(st.integers(0, 2))):
        parts.insert(draw(st.integers(0, len(parts))), None)
    if len(parts) == 1 and draw(st.booleans()):
        return parts[0]
    return tuple(parts)


@given(data=st.data())
def test_getitem_basic(data):
    x = data.draw(operands())
    index = data.draw(basic_indices(x.value().shape))
    check(lambda t: t[index], lambda a: a[index], x)


@given(data=st.data())
def test_getitem_int_tensor_with_repeats(data):
    x = data.draw(operands(shapes(min_rank=1)))
    shape = x.value().shape
    idx_shape = data.draw(shapes(min_rank=1, max_rank=2))
    idx = data.draw(hnp.arrays(np.int64, idx_shape, elements=st.integers(-shape[0], shape[0] - 1)))
    t_idx = tg.tensor(idx)
    assert t_idx.dtype == tg.int64
    check(lambda t: t[t_idx], lambda a: a[idx], x)
    check(lambda t: t[idx.tolist()], lambda a: a[idx], x)
    repeated = np.concatenate([idx.reshape(-1), idx.reshape(-1)])  # every element picked at least twice
    check(lambda t: t[tg.tensor(repeated)], lambda a: a[repeated], x)


@given(data=st.data())
def test_getitem_int_tensor_mixed_with_slices(data):
    x = data.draw(operands(shapes(min_rank=2)))
    shape = x.value().shape
    i0 = np.array(data.draw(st.lists(st.integers(-shape[0], shape[0] - 1), min_size=1, max_size=4)))
    i1 = np.array(data.draw(st.lists(st.integers(-shape[1], shape[1] - 1), min_size=len(i0), max_size=len(i0))))
    check(lambda t: t[:, tg.tensor(i1)], lambda a: a[:, i1], x)
    check(lambda t: t[tg.tensor(i0), 1:], lambda a: a[i0, 1:], x)
    check(lambda t: t[tg.tensor(i0), tg.tensor(i1)], lambda a: a[i0, i1], x)
    last = np.array(data.draw(st.lists(st.integers(-shape[-1], shape[-1] - 1), min_size=1, max_size=4)))
    check(lambda t: t[None, ..., tg.tensor(last)], lambda a: a[None, ..., last], x)


@given(data=st.data())
def test_getitem_bool_mask(data):
    x = data.draw(operands(shapes(min_rank=1)))
    shape = x.value().shape
    k = data.draw(st.integers(1, len(shape)))
    mask = data.draw(bool_arrays(shape[:k]))
    check(lambda t: t[tg.tensor(mask)], lambda a: a[mask], x)
    check(lambda t: t[mask.tolist()], lambda a: a[mask], x)
    y = data.draw(operand(shape, nonzero()))  # the mask depends on the input: keep it off the boundary
    check(lambda t: t[t > 0.0], lambda a: a[a > 0.0], y)


# ---- joining and splitting -------------------------------------------------------------------
@st.composite
def cat_shapes(draw):
    base = list(draw(shapes(min_rank=1, max_rank=3)))
    d = draw(st.integers(0, len(base) - 1))
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    out = []
    for s in sizes:
        shape = list(base)
        shape[d] = s
        out.append(tuple(shape))
    dim = d - len(base) if draw(st.booleans()) else d
    return out, dim


@given(data=st.data())
def test_cat(data):
    shape_list, dim = data.draw(cat_shapes())
    ops = [data.draw(operand(s)) for s in shape_list]
    check(lambda *ts: tg.cat(list(ts), dim), lambda *arrs: np.concatenate(arrs, axis=dim), *ops)


@given(data=st.data())
def test_stack(data):
    shape = data.draw(shapes(max_rank=3))
    n = data.draw(st.integers(1, 3))
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)))
    ops = [data.draw(operand(shape)) for _ in range(n)]
    check(lambda *ts: tg.stack(ts, dim), lambda *arrs: np.stack(arrs, axis=dim), *ops)


@given(data=st.data())
def test_split_and_chunk(data):
    x = data.draw(operands(shapes(min_rank=1, max_rank=3)))
    shape = x.value().shape
    d = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[d]
    size = data.draw(st.integers(1, 3))
    sections = data.draw(st.lists(st.integers(0, n), max_size=2).map(sorted))
    bounds = [0] + sections + [n]
    section_sizes = [hi - lo for lo, hi in zip(bounds, bounds[1:])]
    chunks = data.draw(st.integers(1, 4))
    chunk_size = -(-n // chunks)
    cases = [
        (lambda t: t.split(size, d), [(lo, min(lo + size, n)) for lo in range(0, n, size)]),
        (lambda t: t.split(section_sizes, d), list(zip(bounds, bounds[1:]))),
        (lambda t: t.chunk(chunks, d), [(lo, min(lo + chunk_size, n)) for lo in range(0, n, chunk_size)]),
    ]
    for split, pieces in cases:
        out = split(x.take(x.leaf()))
        assert isinstance(out, tuple) and len(out) == len(pieces)
        for i, (lo, hi) in enumerate(pieces):
            check(lambda t, i=i: split(t)[i], lambda a, lo=lo, hi=hi: np.take(a, np.arange(lo, hi), axis=d), x)


@given(data=st.data(), value=smooth(-5, 5))
def test_masked_fill(data, value):
    shape = data.draw(shapes())
    mask_shape = data.draw(shrunk_shapes(shape))
    x = data.draw(operand(shape))
    mask = data.draw(bool_arrays(mask_shape))
    check(lambda t: t.masked_fill(tg.tensor(mask), value), lambda a: np.where(mask, value, a), x)


@given(data=st.data(), value=smooth(-5, 5))
def test_pad(data, value):
    x = data.draw(operands(shapes(min_rank=1, max_rank=3)))
    ndim = x.value().ndim
    pairs = data.draw(st.integers(1, ndim))
    pad = tuple(data.draw(st.lists(st.integers(0, 2), min_size=2 * pairs, max_size=2 * pairs)))
    width = [(0, 0)] * (ndim - pairs) + [(pad[2 * i], pad[2 * i + 1]) for i in reversed(range(pairs))]
    check(lambda t: t.pad(pad, value=value), lambda a: np.pad(a, width, constant_values=value), x)


# ---- copies and casts ------------------------------------------------------------------------
@given(data=st.data())
def test_clone(data):
    x = data.draw(operands())
    check(lambda t: t.clone(), np.copy, x)
    leaf = x.leaf()
    c = leaf.clone()
    assert not np.shares_memory(c.numpy(), leaf.numpy())


@given(data=st.data())
def test_float_double_casts(data):
    x = data.draw(operands())
    leaf = x.leaf()
    y = x.take(leaf).float()
    assert y.dtype == tg.float32 and y.requires_grad
    np.testing.assert_allclose(y.numpy(), x.value().astype(np.float32), rtol=0, atol=0)
    back = y.double()
    assert back.dtype == tg.float64
    # casts are linear, so finite differences with a large step are exact up to float32 rounding
    assert tg.gradcheck(lambda t: (x.take(t).float() * 3).double(), (leaf,), eps=1e-2, atol=1e-4, rtol=1e-3)
    g = np.random.default_rng(0).standard_normal(y.shape).astype(np.float32)
    y.backward(tg.tensor(g))
    expected = np.zeros_like(x.array)
    x.take(expected)[...] = g
    assert leaf.grad.dtype == tg.float64
    np.testing.assert_allclose(leaf.grad.numpy(), expected, rtol=0, atol=0)
    check(lambda t: t.double() * 2, lambda a: a * 2, x)
    check(lambda t: t.to(dtype=tg.float64).to("cpu"), lambda a: a, x)


# ---- a composite: many ops in one graph ------------------------------------------------------
@given(data=st.data())
def test_composite_expression(data):
    a = data.draw(operand((2, 3)))
    b = data.draw(operand((3,), nonzero(0.2)))
    w = data.draw(operand((3, 2), smooth(-1, 1)))

    def op(x, y, m):
        h = (x * y + x / y).tanh() @ m
        return h.log_softmax(-1) + h.relu().sum(0, keepdim=True) * x.mean()

    def np_op(x, y, m):
        h = np.tanh(x * y + x / y) @ m
        return _np_log_softmax(h, (1,)) + np.maximum(h, 0).sum(0, keepdims=True) * x.mean()

    assume(np.abs(np.tanh(a.value() * b.value() + a.value() / b.value()) @ w.value()).min() > 1e-3)
    check(op, np_op, a, b, w)
