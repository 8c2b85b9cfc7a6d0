"""The max-pool kernels and the fused activation kernels, under the CUDA simulator, against the CPU backend.

The CPU backend (NumpyBackend) is the definition: same inputs, same outputs, including the
rules that are easy to get wrong — the first of tied maxima gets the gradient, a window
holding NaN sends it to its last NaN, overlapping windows add up, padding (-inf) never wins.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinygrad_edu.backends.numpy_backend import NumpyBackend
from tinygrad_edu.kernels import elementwise, pool

CPU = NumpyBackend()
pytestmark = pytest.mark.kernels


@st.composite
def pooling_cases(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    h, w = draw(st.integers(kh, 6)), draw(st.integers(kw, 6))
    seed = draw(st.integers(0, 2**16))
    ties = draw(st.booleans())
    nans = draw(st.booleans())
    return (kh, kw), (sh, sw), (ph, pw), (n, c, h, w), seed, ties, nans


def _padded_input(shape, padding, seed, ties, nans, dtype):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if ties:                    # values on a coarse grid: many windows hold tied maxima
        x = np.round(x)
    if nans:
        x[rng.random(shape) < 0.15] = np.nan
    (ph, pw) = padding
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(case=pooling_cases())
def test_max_pool_kernels_match_the_cpu_backend(dtype, case):
    kernel_size, stride, padding, shape, seed, ties, nans = case
    padded = _padded_input(shape, padding, seed, ties, nans, dtype)
    out_hw = tuple((padded.shape[2 + a] - kernel_size[a]) // stride[a] + 1 for a in (0, 1))
    y = pool.max_pool2d(padded, kernel_size, stride, out_hw, threads=8)
    expected_y = CPU.max_pool2d(padded, kernel_size, stride, out_hw)
    np.testing.assert_array_equal(y, expected_y)          # a maximum is exact; NaN positions must agree too

    g = np.random.default_rng(seed + 1).standard_normal(y.shape).astype(dtype)
    dx = pool.max_pool2d_backward(g, padded, y, kernel_size, stride, threads=8)
    expected_dx = CPU.max_pool2d_backward(g, padded, expected_y, kernel_size, stride)
    assert dx.shape == padded.shape and dx.dtype == dtype
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-6, atol=1e-6)


def test_max_pool_backward_sends_each_gradient_to_the_first_maximum_and_the_last_nan():
    padded = np.array([[[[1.0, 3.0, 3.0, 0.0],
                         [3.0, 2.0, np.nan, np.nan]]]])
    y = pool.max_pool2d(padded, (2, 2), (2, 2), (1, 2), threads=4)
    np.testing.assert_array_equal(y, [[[[3.0, np.nan]]]])
    dx = pool.max_pool2d_backward(np.array([[[[10.0, 20.0]]]]), padded, y, (2, 2), (2, 2), threads=4)
    np.testing.assert_array_equal(dx, [[[[0.0, 10.0, 0.0, 0.0],       # the first 3 (row-major) wins
                                         [0.0, 0.0, 0.0, 20.0]]]])    # the last NaN wins


def test_overlapping_windows_add_their_gradients():
    padded = np.array([[[[0.0, 5.0, 1.0, 0.0, 2.0]]]])           # 5 is the maximum of windows 0 and 1
    y = pool.max_pool2d(padded, (1, 3), (1, 1), (1, 3), threads=4)
    dx = pool.max_pool2d_backward(np.ones((1, 1, 1, 3)), padded, y, (1, 3), (1, 1), threads=4)
    np.testing.assert_array_equal(dx, [[[[0.0, 2.0, 0.0, 0.0, 1.0]]]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_activation_kernels_match_the_cpu_backend(dtype):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((5, 7)) * 3).astype(dtype)
    x[0, :3] = [0.0, -0.0, np.nan]
    g = rng.standard_normal((5, 7)).astype(dtype)
    g[1, 0] = np.inf                                          # inf * 0 must stay NaN, as in g * (y > 0)
    y = CPU.relu(x)
    with np.errstate(invalid="ignore"):
        expected = CPU.relu_backward(y, g)
    np.testing.assert_array_equal(elementwise.binary("relu_backward", y, g, threads=8), expected)

    tolerance = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    expected_y, t = CPU.gelu_tanh(x.copy())
    np.testing.assert_allclose(elementwise.unary("gelu_tanh", x, threads=8), expected_y, **tolerance)
    np.testing.assert_allclose(elementwise.binary("gelu_tanh_backward", x, g, threads=8),
                               CPU.gelu_tanh_backward(x, t, g), **tolerance)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(rows=st.integers(0, 5), n=st.integers(1, 19), affine=st.sampled_from(["none", "weight", "both"]),
       seed=st.integers(0, 2**16))
def test_layer_norm_kernels_match_the_cpu_backend(dtype, rows, n, affine, seed):
    from tinygrad_edu.kernels import layer_norm
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((rows, n)) * 3 + 5).astype(dtype)     # a large mean: the two-pass variance matters
    weight = rng.standard_normal(n).astype(dtype) if affine != "none" else None
    bias = rng.standard_normal(n).astype(dtype) if affine == "both" else None
    g = rng.standard_normal((rows, n)).astype(dtype)
    tolerance = dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    got = layer_norm.layer_norm(x, weight, bias, 1e-5, threads=8)
    expected = CPU.layer_norm(x, weight, bias, 1e-5)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, **tolerance)
    got = layer_norm.layer_norm_backward(g, expected[1], expected[2], weight, threads=8)
    expected = CPU.layer_norm_backward(g, expected[1], expected[2], weight)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, **tolerance)
