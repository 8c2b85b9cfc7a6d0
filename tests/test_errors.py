"""Bad input fails at the call, with an exception whose message names the op and the shapes or dtypes."""
import importlib.util

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_edu as tg

from strategies import shapes

pytestmark = pytest.mark.errors


def _names(message, *parts):
    for part in parts:
        assert str(part) in message, f"{part!r} not in error message: {message}"


# ---- shapes that do not fit ------------------------------------------------------------------
@pytest.mark.parametrize("sa,sb", [((2, 3), (2, 3)), ((3,), (4,)), ((2, 3), (4, 2)), ((5, 2, 3), (5, 4, 2)),
                                   ((2, 3), (4,))])
def test_matmul_shape_mismatch(sa, sb):
    a, b = tg.ones(*sa), tg.ones(*sb)
    with pytest.raises(ValueError) as info:
        a @ b
    _names(str(info.value), "matmul", sa, sb)


def test_matmul_batch_dims_that_do_not_broadcast():
    with pytest.raises(ValueError) as info:
        tg.ones(2, 3, 4) @ tg.ones(3, 4, 5)
    _names(str(info.value), "matmul", (2,), (3,))


def test_matmul_of_a_0d_tensor():
    with pytest.raises(ValueError) as info:
        tg.tensor(2.0) @ tg.ones(3)
    _names(str(info.value), "matmul", (), (3,))


@given(data=st.data())
def test_impossible_broadcast_names_both_shapes(data):
    shape = data.draw(shapes(min_rank=1))
    i = data.draw(st.integers(0, len(shape) - 1))
    other = list(shape)
    other[i] = {1: 2, 2: 3, 3: 2}[shape[i]] if shape[i] != 1 else None
    if other[i] is None:  # a size-1 dim broadcasts with anything: make the *other* side the clash
        shape = shape[:i] + (2,) + shape[i + 1:]
        other[i] = 3
    other = tuple(other)
    a, b = tg.zeros(shape), tg.zeros(other)
    for op, name in [(lambda x, y: x + y, "add"), (lambda x, y: x * y, "mul"), (lambda x, y: x - y, "sub"),
                     (lambda x, y: x / y, "div"), (lambda x, y: x.maximum(y), "maximum")]:
        with pytest.raises(ValueError) as info:
            op(a, b)
        _names(str(info.value), name, shape, other)


def test_broadcast_error_in_where_names_all_shapes():
    with pytest.raises(ValueError) as info:
        tg.where(tg.ones(2, 3).bool(), tg.ones(2, 3), tg.ones(4))
    _names(str(info.value), "where", (2, 3), (4,))


@pytest.mark.parametrize("shape,target", [((2, 3), (4, 2)), ((2, 3), (5, -1)), ((2, 3), (7,)), ((2, 3, 4), (5, 5))])
def test_bad_reshape(shape, target):
    x = tg.zeros(shape)
    with pytest.raises(ValueError) as info:
        x.reshape(target)
    message = str(info.value)
    _names(message, "reshape", shape)
    assert str(int(np.prod(shape))) in message
    with pytest.raises(ValueError, match="reshape"):
        x.view(*target)


def test_reshape_with_two_unknown_sizes():
    with pytest.raises(ValueError) as info:
        tg.zeros(6).reshape(-1, -1)
    _names(str(info.value), "reshape", "-1", (-1, -1))


def test_bad_permute():
    x = tg.zeros(2, 3, 4)
    with pytest.raises(ValueError) as info:
        x.permute(0, 1, 1)
    _names(str(info.value), "permute", (2, 3, 4))
    with pytest.raises(ValueError, match="permute"):
        x.permute(0, 1)
    with pytest.raises(IndexError, match="permute"):
        x.permute(0, 1, 3)


def test_bad_expand():
    x = tg.zeros(2, 3)
    with pytest.raises(ValueError) as info:
        x.expand(4, 3)
    _names(str(info.value), "expand", (2, 3), (4, 3))
    with pytest.raises(ValueError, match="expand"):
        x.expand(3)
    with pytest.raises(ValueError, match="expand"):
        x.expand(-1, 2, 3)


def test_masked_fill_needs_a_bool_mask():
    x = tg.zeros(2, 3)
    with pytest.raises(TypeError) as info:
        x.masked_fill(tg.ones(2, 3), 1.0)
    _names(str(info.value), "masked_fill", "bool", "float32")
    with pytest.raises(TypeError, match="masked_fill"):
        x.masked_fill(tg.tensor([[1, 0, 1], [0, 1, 0]]), 1.0)
    with pytest.raises(ValueError) as info:
        x.masked_fill(tg.ones(4).bool(), 1.0)
    _names(str(info.value), "masked_fill", (4,), (2, 3))


def test_cat_with_mismatched_shapes():
    with pytest.raises(ValueError) as info:
        tg.cat([tg.zeros(2, 3), tg.zeros(2, 4)], dim=0)
    _names(str(info.value), "cat", (2, 3), (2, 4))
    with pytest.raises(ValueError, match="cat"):
        tg.cat([tg.zeros(2, 3), tg.zeros(2, 3, 1)], dim=0)
    with pytest.raises(ValueError, match="cat"):
        tg.cat([], dim=0)
    with pytest.raises(ValueError) as info:
        tg.stack([tg.zeros(2), tg.zeros(3)])
    _names(str(info.value), "stack", (2,), (3,))


def test_split_sections_must_add_up():
    with pytest.raises(ValueError) as info:
        tg.zeros(5, 2).split([2, 2])
    _names(str(info.value), "split", (5, 2))


def test_pad_with_too_many_sizes():
    with pytest.raises(ValueError) as info:
        tg.zeros(2, 3).pad((1, 1, 1, 1, 1, 1))
    _names(str(info.value), "pad", (2, 3))


def test_index_out_of_range():
    with pytest.raises(IndexError) as info:
        tg.zeros(2, 3)[:, 5]
    _names(str(info.value), "getitem", (2, 3))
    with pytest.raises(IndexError, match="int64 or bool"):
        tg.zeros(3)[tg.tensor([0.0, 1.0])]


# ---- dims out of range -----------------------------------------------------------------------
OUT_OF_RANGE = [
    ("sum", lambda x: x.sum(3)),
    ("sum", lambda x: x.sum((0, -4))),
    ("mean", lambda x: x.mean(-4)),
    ("max", lambda x: x.max(3)),
    ("logsumexp", lambda x: x.logsumexp(5)),
    ("softmax", lambda x: x.softmax(3)),
    ("softmax", lambda x: x.softmax(-4)),
    ("log_softmax", lambda x: x.log_softmax(3)),
    ("unsqueeze", lambda x: x.unsqueeze(4)),
    ("unsqueeze", lambda x: x.unsqueeze(-5)),
    ("transpose", lambda x: x.transpose(0, 3)),
    ("transpose", lambda x: x.transpose(-4, 1)),
    ("flatten", lambda x: x.flatten(0, 3)),
    ("cat", lambda x: tg.cat([x, x], dim=3)),
]


@pytest.mark.parametrize("op,call", OUT_OF_RANGE, ids=[f"{c[0]}-{i}" for i, c in enumerate(OUT_OF_RANGE)])
def test_dim_out_of_range_raises_index_error(op, call):
    x = tg.zeros(2, 3, 4)
    with pytest.raises(IndexError) as info:
        call(x)
    message = str(info.value)
    _names(message, op, (2, 3, 4))
    assert "out of range" in message


# ---- dtypes ----------------------------------------------------------------------------------
def test_int_tensor_cannot_require_grad():
    with pytest.raises(RuntimeError) as info:
        tg.tensor([1, 2, 3], requires_grad=True)
    _names(str(info.value), "int64", "(3,)")
    x = tg.tensor([[True, False]])
    with pytest.raises(RuntimeError) as info:
        x.requires_grad_()
    _names(str(info.value), "bool", "(1, 2)")
    with pytest.raises(RuntimeError, match="int64"):
        tg.randint(0, 5, (2,), requires_grad=True)
    with pytest.raises(RuntimeError, match="int64"):
        tg.arange(4, requires_grad=True)


def test_float_factories_refuse_integer_dtypes():
    with pytest.raises(TypeError, match="randn"):
        tg.randn(2, dtype=tg.int64)


def test_mean_of_an_integer_tensor():
    with pytest.raises(TypeError) as info:
        tg.tensor([1, 2]).mean()
    _names(str(info.value), "mean", "int64")


def test_unknown_dtype_name():
    with pytest.raises(TypeError, match="float16"):
        tg.zeros(2, dtype="float16")


# ---- backward --------------------------------------------------------------------------------
def test_backward_on_a_non_scalar_without_gradient_names_the_shape():
    x = tg.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError) as info:
        (x * 2).backward()
    _names(str(info.value), "backward", (2, 3), "gradient")


def test_backward_with_a_gradient_of_the_wrong_shape():
    x = tg.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError) as info:
        (x * 2).backward(tg.ones(3, 2))
    _names(str(info.value), "backward", (3, 2), (2, 3))


def test_backward_on_a_tensor_that_does_not_require_grad():
    with pytest.raises(RuntimeError, match="requires_grad"):
        (tg.ones(2) * 2).sum().backward()


@pytest.mark.parametrize("make", [lambda x: (x * x).sum(), lambda x: x.exp().sum(), lambda x: (x / 2).tanh().sum(),
                                  lambda x: (x @ x.T).sum()])
def test_backward_twice_through_freed_buffers(make):
    x = tg.ones(2, 2, requires_grad=True)
    y = make(x)
    y.backward()
    with pytest.raises(RuntimeError) as info:
        y.backward()
    message = str(info.value)
    assert "retain_graph" in message and "second time" in message
    assert "Backward" in message  # the node whose saved arrays were freed


def test_requires_grad_cannot_be_turned_off_on_a_non_leaf():
    y = tg.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="detach"):
        y.requires_grad = False


def test_item_of_a_multi_element_tensor():
    with pytest.raises(ValueError) as info:
        tg.zeros(2, 2).item()
    _names(str(info.value), "item", (2, 2))


def test_truth_value_of_a_multi_element_tensor():
    with pytest.raises(RuntimeError) as info:
        bool(tg.zeros(3))
    _names(str(info.value), "(3,)", "ambiguous")


# ---- devices ---------------------------------------------------------------------------------
def test_cuda_is_not_available_without_cupy():
    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed here: availability depends on the GPU")
    assert tg.cuda.is_available() is False
    reason = tg.cuda.unavailable_reason()
    assert "CuPy" in reason


@pytest.mark.parametrize("make", [lambda: tg.zeros(2, device="cuda"), lambda: tg.tensor([1.0], device="cuda"),
                                  lambda: tg.ones(2).to("cuda"), lambda: tg.ones(2).cuda(),
                                  lambda: tg.randn(2, device="cuda:0")])
def test_asking_for_cuda_without_a_gpu_says_why(make):
    if tg.cuda.is_available():
        pytest.skip("a CUDA device is available here")
    with pytest.raises(RuntimeError) as info:
        make()
    message = str(info.value)
    assert "cuda" in message and "not available" in message
    assert tg.cuda.unavailable_reason() in message


def test_unknown_device():
    with pytest.raises(ValueError, match="tpu"):
        tg.zeros(2, device="tpu")
