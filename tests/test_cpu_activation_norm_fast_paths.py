"""The CPU's compiled LayerNorm, GELU and ReLU backward (backends/cpu_layer_norm.py, cpu_activations.py) against the
plain versions.

* LayerNorm's compiled rows give the plain backend's (y, xhat, rstd) and (dx, dweight, dbias), with and
  without weight and bias, over hypothesis-drawn shapes (one column, one row), non-contiguous inputs, float32
  and float64; a row holding NaN or inf comes out as it does in the plain version.
* GELU's three-pass forward and one-pass backward give the plain backend's y, t and dx, including the
  float32 constants' rounding, and whole models (the nn layers) give the same gradients either way.
* ReLU's one-pass backward gives the plain `g * (y > 0)` wherever g is finite, and 0 where y <= 0 even for a
  NaN or infinite g (PyTorch's threshold_backward).
* All step aside where they do not apply, and in a student copy of cpu_layer_norm.py (its backward is a
  batchnorm-backward solution region) LayerNorm's backward runs the plain code.
No wall-clock times are asserted here.
"""
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu.backends import cpu_activations, cpu_layer_norm, fast_path_switch, get_backend

from parts import split_over
from student_copy import module_as_in_a_student_copy

pytestmark = pytest.mark.ops

CPU = get_backend("cpu")
TOLERANCE = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def layer_norm_backward_is_compiled():
    x = np.ones((1, 2))
    return cpu_layer_norm.layer_norm_backward(CPU, x, x, np.ones((1, 1)), None) is not None


def non_contiguous(array):
    """The same values as a strided view into a larger array."""
    big = np.zeros(array.shape[:-1] + (2 * array.shape[-1],), dtype=array.dtype)
    big[..., ::2] = array
    return big[..., ::2]


def assert_all_close(got, expected, dtype):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype and g.shape == e.shape
        np.testing.assert_allclose(g, e, **TOLERANCE[dtype])


@settings(max_examples=40, deadline=None, derandomize=True)
@given(rows=st.integers(1, 9), n=st.integers(1, 40), dtype=st.sampled_from([np.float32, np.float64]),
       affine=st.sampled_from(["weight and bias", "weight", "none"]), strided=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_layer_norm_rows_equal_the_plain_version(rows, n, dtype, affine, strided, seed):
    rng = np.random.default_rng(seed)
    x, g = (rng.standard_normal((rows, n)).astype(dtype) * 3 + 1 for _ in range(2))
    weight = rng.standard_normal(n).astype(dtype) if affine != "none" else None
    bias = rng.standard_normal(n).astype(dtype) if affine == "weight and bias" else None
    if strided:
        x, g = non_contiguous(x), non_contiguous(g)
    fast = CPU.layer_norm(x, weight, bias, 1e-5)
    with fast_path_switch.plain():
        plain = CPU.layer_norm(x, weight, bias, 1e-5)
    assert_all_close(fast, plain, dtype)
    assert cpu_layer_norm.layer_norm_forward(CPU, x, weight, bias, 1e-5) is not None    # (it did run)
    fast_grads = CPU.layer_norm_backward(g, fast[1], fast[2], weight)
    with fast_path_switch.plain():
        plain_grads = CPU.layer_norm_backward(g, plain[1], plain[2], weight)
    assert_all_close(fast_grads, plain_grads, dtype)


def test_layer_norm_rows_with_nan_and_inf_come_out_as_in_the_plain_version():
    x = np.array([[1.0, np.nan, 2.0], [np.inf, 0.0, 1.0], [1.0, 2.0, 4.0]], dtype=np.float32)
    fast = CPU.layer_norm(x, None, None, 1e-5)
    with fast_path_switch.plain():
        plain = CPU.layer_norm(x, None, None, 1e-5)
    for f, p in zip(fast, plain):
        np.testing.assert_array_equal(np.isnan(f), np.isnan(p))
        np.testing.assert_allclose(f[~np.isnan(f)], p[~np.isnan(p)], rtol=1e-6)
    assert np.isfinite(fast[0][2]).all()            # a healthy row is not touched by its neighbours' NaN


@settings(max_examples=30, deadline=None, derandomize=True)
@given(shape=st.lists(st.integers(1, 7), min_size=1, max_size=3), dtype=st.sampled_from([np.float32, np.float64]),
       strided=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_gelu_passes_equal_the_plain_version(shape, dtype, strided, seed):
    rng = np.random.default_rng(seed)
    x, g = (rng.standard_normal(shape).astype(dtype) * 4 for _ in range(2))
    if strided:
        x, g = non_contiguous(x), non_contiguous(g)
    y, t = CPU.gelu_tanh(x)
    dx = CPU.gelu_tanh_backward(x, t, g)
    with fast_path_switch.plain():
        y0, t0 = CPU.gelu_tanh(x)
        dx0 = CPU.gelu_tanh_backward(x, t0, g)
    assert cpu_activations.gelu_tanh_forward(CPU, x) is not None
    assert_all_close((y, t, dx), (y0, t0, dx0), dtype)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(shape=st.lists(st.integers(1, 7), min_size=1, max_size=4), dtype=st.sampled_from([np.float32, np.float64]),
       strided=st.booleans(), seed=st.integers(0, 2**32 - 1), cores=st.sampled_from([1, 2]))
def test_relu_forward_and_backward_equal_the_plain_version(shape, dtype, strided, seed, cores):
    """On one thread, or split over two (split_pass), with NaN, infinities and signed zeros among the inputs."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    x.reshape(-1)[rng.integers(0, x.size, 3)] = rng.choice(np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], dtype))
    g = rng.standard_normal(shape).astype(dtype)
    if strided:
        x, g = non_contiguous(x), non_contiguous(g)
    with split_over(cores) as parts:
        y = CPU.relu(x)
        dx = CPU.relu_backward(y, g)
        assert cpu_activations.relu_backward(CPU, y, g) is not None
    assert parts[:2] == [min(cores, x.size)] * 2
    with fast_path_switch.plain():
        y_plain = CPU.relu(x)
        expected = CPU.relu_backward(y_plain, g)
    np.testing.assert_array_equal(y, y_plain)
    np.testing.assert_array_equal(np.signbit(y), np.signbit(y_plain))
    assert dx.dtype == expected.dtype and dx.shape == expected.shape
    np.testing.assert_array_equal(dx, expected)


def test_relu_backward_drops_nan_gradients_where_the_unit_was_off_as_pytorch_does():
    torch = pytest.importorskip("torch")
    x = np.array([-1.0, 0.0, 2.0, -3.0, 4.0], dtype=np.float32)
    g = np.array([np.nan, np.inf, np.nan, 1.0, 5.0], dtype=np.float32)
    ours = tg.tensor(x, requires_grad=True)
    F.relu(ours).backward(tg.tensor(g))
    theirs = torch.tensor(x, requires_grad=True)
    torch.relu(theirs).backward(torch.tensor(g))
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())      # [0, 0, nan, 0, 5]


def test_a_transformer_block_has_the_same_gradients_either_way():
    def grads():
        tg.manual_seed(0)
        norm, fc = tg.nn.LayerNorm(16), tg.nn.Linear(16, 32)
        x = tg.randn(3, 5, 16, requires_grad=True)
        y = F.gelu(fc(norm(x)), approximate="tanh")
        (y * tg.randn(*y.shape)).sum().backward()    # a random projection of the output
        return [a.grad.numpy() for a in (x, norm.weight, norm.bias, fc.weight)]
    fast = grads()
    with fast_path_switch.plain():
        plain = grads()
    for f, p in zip(fast, plain):
        np.testing.assert_allclose(f, p, rtol=1e-5, atol=1e-6)


def test_the_fast_paths_step_aside_where_they_do_not_apply():
    x = np.ones((2, 3), np.float32)
    cuda = types.SimpleNamespace(name="cuda")
    assert cpu_layer_norm.layer_norm_forward(cuda, x, None, None, 1e-5) is None
    assert cpu_activations.gelu_tanh_forward(cuda, x) is None
    assert cpu_activations.gelu_tanh_forward(CPU, x.astype(np.float16)) is None
    assert cpu_activations.relu_backward(CPU, x, np.ones((1, 3), np.float32)) is None          # broadcast g
    assert cpu_layer_norm.layer_norm_forward(CPU, np.ones((0, 3), np.float32), None, None, 1e-5) is None
    assert cpu_layer_norm.layer_norm_forward(CPU, x, np.ones(3), None, 1e-5) is None      # mixed dtypes
    with fast_path_switch.plain():
        assert cpu_layer_norm.layer_norm_forward(CPU, x, None, None, 1e-5) is None
        assert cpu_activations.gelu_tanh_backward(CPU, x, x, x) is None


def test_a_student_copy_runs_the_plain_layer_norm_backward():
    module = module_as_in_a_student_copy("tinygrad_edu/backends/cpu_layer_norm.py", "batchnorm-backward")
    x = np.ones((2, 3))
    assert module.layer_norm_backward(CPU, x, x, np.ones((2, 1)), None) is None
    assert layer_norm_backward_is_compiled()       # while this, the instructor's copy, runs the compiled one
