"""The layer kernels in kernels/: im2col/col2im, the fused LSTM cell and fused attention.

Each launcher is compared with a straightforward numpy reference written here, on
tiny hypothesis-drawn shapes whose sizes are not multiples of the (tiny) block
sizes, in float32 and float64. Without a GPU the kernels run under Numba's CUDA
simulator (tests/conftest.py switches it on), which runs every GPU thread as a
Python thread: hence the tiny shapes and blocks and the few examples.

TestOnRealGpu runs the same launchers on CuPy arrays with their default (large)
block sizes; it is skipped unless TINYGRAD_EDU_REAL_GPU=1 and a GPU is usable.
"""
import itertools
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_edu as tg
from tinygrad_edu.kernels import attention, im2col, lstm_cell

DTYPES = [np.float32, np.float64]
TOLERANCE = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}
EXAMPLES = settings(max_examples=10)
SEEDS = st.integers(0, 2**32 - 1)

REAL_GPU = os.environ.get("TINYGRAD_EDU_REAL_GPU") == "1" and tg.cuda.is_available()


# ---- numpy references -------------------------------------------------------------------------
def conv_output_size(size, kernel, stride, padding, dilation):
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def im2col_reference(x, kernel_size, stride, padding, dilation):
    """Loop over every (kernel offset, output position); read the zero-padded image."""
    # BEGIN SOLUTION conv2d  (a reference implementation: cut with the assignment)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = conv_output_size(h, kh, sh, ph, dh), conv_output_size(w, kw, sw, pw, dw)
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for i, j, r, t in itertools.product(range(kh), range(kw), range(oh), range(ow)):
        cols[:, :, i, j, r, t] = padded[:, :, r * sh + i * dh, t * sw + j * dw]
    return cols.reshape(n, c * kh * kw, oh * ow)
    # END SOLUTION


def col2im_reference(cols, x_shape, kernel_size, stride, padding, dilation):
    """The same loop, adding each entry back into the padded image, then cropping the padding."""
    # BEGIN SOLUTION conv2d  (a reference implementation: cut with the assignment)
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = conv_output_size(h, kh, sh, ph, dh), conv_output_size(w, kw, sw, pw, dw)
    cols = cols.reshape(n, c, kh, kw, oh, ow)
    padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i, j, r, t in itertools.product(range(kh), range(kw), range(oh), range(ow)):
        padded[:, :, r * sh + i * dh, t * sw + j * dw] += cols[:, :, i, j, r, t]
    return padded[:, :, ph:ph + h, pw:pw + w]
    # END SOLUTION


def sigmoid_reference(x):
    return 0.5 * (1 + np.tanh(0.5 * x))  # another overflow-free form of 1 / (1 + exp(-x))


def lstm_forward_reference(gates, c_prev):
    # BEGIN SOLUTION lstm-cell  (a reference implementation: cut with the assignment)
    i, f, g, o = np.split(gates, 4, axis=1)
    i, f, g, o = sigmoid_reference(i), sigmoid_reference(f), np.tanh(g), sigmoid_reference(o)
    c = f * c_prev + i * g
    return o * np.tanh(c), c, np.concatenate([i, f, g, o], axis=1)
    # END SOLUTION


def lstm_backward_reference(dh, dc, acts, c_prev, c):
    # BEGIN SOLUTION lstm-cell  (a reference implementation: cut with the assignment)
    i, f, g, o = np.split(acts, 4, axis=1)
    tanh_c = np.tanh(c)
    dc_total = dc + dh * o * (1 - tanh_c ** 2)
    dgates = np.concatenate([dc_total * g * i * (1 - i), dc_total * c_prev * f * (1 - f),
                             dc_total * i * (1 - g ** 2), dh * tanh_c * o * (1 - o)], axis=1)
    return dgates, dc_total * f
    # END SOLUTION


def attention_reference(q, k, v, scale, causal, mask):
    """Naive softmax(q k^T * scale + mask) v in float64 -> (out, lse, p); fully masked rows give 0, -inf, 0."""
    q, k, v = (a.astype(np.float64) for a in (q, k, v))
    scores = q @ k.transpose(0, 2, 1) * scale
    if mask is not None:
        scores = scores + mask
    if causal:
        seq_q, seq_k = scores.shape[1:]
        scores = np.where(np.tril(np.ones((seq_q, seq_k), dtype=bool)), scores, -np.inf)
    row_max = scores.max(axis=-1, keepdims=True)
    visible = np.isfinite(row_max)
    shifted = np.exp(scores - np.where(visible, row_max, 0))
    total = shifted.sum(axis=-1, keepdims=True)
    p = np.where(visible, shifted / np.where(visible, total, 1), 0)
    with np.errstate(divide="ignore"):
        lse = np.where(visible, np.log(total) + row_max, -np.inf)[..., 0]
    return p @ v, lse, p


def attention_backward_reference(q, k, v, dout, scale, causal, mask):
    """The analytic backward of attention_reference, in float64."""
    # BEGIN SOLUTION attention-backward  (a reference implementation: cut with the assignment)
    out, _, p = attention_reference(q, k, v, scale, causal, mask)
    q, k, v, dout = (a.astype(np.float64) for a in (q, k, v, dout))
    dp = dout @ v.transpose(0, 2, 1)
    ds = p * (dp - (dout * out).sum(axis=-1, keepdims=True))
    return scale * ds @ k, scale * ds.transpose(0, 2, 1) @ q, p.transpose(0, 2, 1) @ dout
    # END SOLUTION


def numerical_gradient(loss, array, eps=1e-6):
    """Central differences of the scalar function loss() w.r.t. every element of `array` (changed in place)."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + eps
        upper = loss()
        array[index] = saved - eps
        lower = loss()
        array[index] = saved
        grad[index] = (upper - lower) / (2 * eps)
    return grad


# ---- hypothesis strategies --------------------------------------------------------------------
@st.composite
def conv_geometries(draw):
    """(x_shape, kernel_size, stride, padding, dilation) with at least one output position."""
    kernel_size = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    smallest = [max(1, d * (k - 1) + 1 - 2 * p) for k, p, d in zip(kernel_size, padding, dilation)]
    height, width = (draw(st.integers(m, m + 4)) for m in smallest)
    x_shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), height, width)
    return x_shape, kernel_size, stride, padding, dilation


@st.composite
def attention_cases(draw):
    """Shapes (L and S drawn independently), causal, a mask kind, tile sizes, and a seed for the data."""
    batch, seq_q, seq_k = draw(st.integers(1, 2)), draw(st.integers(1, 7)), draw(st.integers(1, 8))
    dim_qk, dim_v = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    return dict(shapes=(batch, seq_q, seq_k, dim_qk, dim_v), causal=draw(st.booleans()),
                mask_kind=draw(st.sampled_from([None, "(L, S)", "(B, L, S)", "(1, L, S)"])),
                block_q=draw(st.integers(2, 4)), block_k=draw(st.integers(2, 3)), seed=draw(SEEDS))


def attention_inputs(shapes, mask_kind, dtype, seed):
    """q, k, v, dout and an additive mask: random values, about a third of the entries -inf, sometimes a whole row."""
    batch, seq_q, seq_k, dim_qk, dim_v = shapes
    rng = np.random.default_rng(seed)
    q, k, v, dout = (rng.standard_normal(shape).astype(dtype) for shape in
                     [(batch, seq_q, dim_qk), (batch, seq_k, dim_qk), (batch, seq_k, dim_v), (batch, seq_q, dim_v)])
    if mask_kind is None:
        return q, k, v, dout, None
    mask_shape = {"(L, S)": (seq_q, seq_k), "(B, L, S)": (batch, seq_q, seq_k), "(1, L, S)": (1, seq_q, seq_k)}
    mask = rng.standard_normal(mask_shape[mask_kind])
    mask[rng.random(mask.shape) < 0.3] = -np.inf
    if rng.random() < 0.5:
        mask[..., rng.integers(seq_q), :] = -np.inf  # a fully masked row
    return q, k, v, dout, mask.astype(dtype)


# ---- im2col / col2im --------------------------------------------------------------------------
@pytest.mark.kernels
@pytest.mark.parametrize("dtype", DTYPES)
class TestIm2col:
    @EXAMPLES
    @given(geometry=conv_geometries(), threads=st.sampled_from([5, 7, 32]), seed=SEEDS)
    def test_im2col_matches_reference(self, dtype, geometry, threads, seed):
        x_shape, *conv = geometry
        x = np.random.default_rng(seed).standard_normal(x_shape).astype(dtype)
        cols = im2col.im2col(x, *conv, xp=np, threads_per_block=threads)
        assert cols.dtype == dtype
        np.testing.assert_array_equal(cols, im2col_reference(x, *conv))  # a pure copy: exact

    @EXAMPLES
    @given(geometry=conv_geometries(), threads=st.sampled_from([5, 7, 32]), seed=SEEDS)
    def test_col2im_matches_reference_and_is_the_adjoint(self, dtype, geometry, threads, seed):
        x_shape, *conv = geometry
        rng = np.random.default_rng(seed)
        x = rng.standard_normal(x_shape).astype(dtype)
        cols_y = rng.standard_normal(im2col_reference(x, *conv).shape).astype(dtype)
        image = im2col.col2im(cols_y, x_shape, *conv, xp=np, threads_per_block=threads)
        assert image.dtype == dtype and image.shape == x_shape
        np.testing.assert_allclose(image, col2im_reference(cols_y, x_shape, *conv), **TOLERANCE[dtype])
        # <im2col(x), Y> == <x, col2im(Y)>, both sides computed with the kernels
        lhs = np.vdot(im2col.im2col(x, *conv, xp=np, threads_per_block=threads).astype(np.float64), cols_y)
        rhs = np.vdot(x.astype(np.float64), image)
        np.testing.assert_allclose(lhs, rhs, rtol=TOLERANCE[dtype]["rtol"], atol=1e-4 if dtype == np.float32 else 1e-10)

    def test_bad_geometry_is_rejected(self, dtype):
        x = np.zeros((1, 1, 2, 2), dtype=dtype)
        with pytest.raises(ValueError, match="does not fit"):
            im2col.im2col(x, (3, 3), (1, 1), (0, 0), (1, 1), xp=np)
        with pytest.raises(ValueError, match="col2im expects cols of shape"):
            im2col.col2im(np.zeros((1, 9, 2), dtype=dtype), (1, 1, 3, 3), (3, 3), (1, 1), (0, 0), (1, 1), xp=np)


# ---- fused LSTM cell --------------------------------------------------------------------------
@st.composite
def lstm_cases(draw):
    return dict(batch=draw(st.integers(1, 4)), hidden=draw(st.integers(1, 5)),
                threads=draw(st.sampled_from([(2, 2), (3, 1), (4, 3)])), seed=draw(SEEDS))


def lstm_inputs(batch, hidden, dtype, seed, extreme=True):
    """gates (B, 4H), c_prev, dh, dc (B, H); with extreme=True a few gates are +-1000 (saturated)."""
    rng = np.random.default_rng(seed)
    gates = 3 * rng.standard_normal((batch, 4 * hidden))
    if extreme:
        gates[rng.random(gates.shape) < 0.2] = 1000.0
        gates[rng.random(gates.shape) < 0.2] = -1000.0
    c_prev, dh, dc = (rng.standard_normal((batch, hidden)) for _ in range(3))
    return [a.astype(dtype) for a in (gates, c_prev, dh, dc)]


@pytest.mark.kernels
@pytest.mark.parametrize("dtype", DTYPES)
class TestLstmCell:
    @EXAMPLES
    @given(case=lstm_cases())
    def test_forward_matches_reference(self, dtype, case):
        gates, c_prev, _, _ = lstm_inputs(case["batch"], case["hidden"], dtype, case["seed"])
        h, c, acts = lstm_cell.lstm_cell_forward(gates, c_prev, xp=np, threads_per_block=case["threads"])
        for got, expected in zip((h, c, acts), lstm_forward_reference(gates, c_prev)):
            assert got.dtype == dtype and np.isfinite(got).all()  # the saturated gates gave no inf or NaN
            np.testing.assert_allclose(got, expected, **TOLERANCE[dtype])

    @EXAMPLES
    @given(case=lstm_cases())
    def test_backward_matches_reference(self, dtype, case):
        gates, c_prev, dh, dc = lstm_inputs(case["batch"], case["hidden"], dtype, case["seed"])
        _, c, acts = lstm_forward_reference(gates, c_prev)
        c, acts = c.astype(dtype), acts.astype(dtype)
        dgates, dc_prev = lstm_cell.lstm_cell_backward(dh, dc, acts, c_prev, c, xp=np,
                                                       threads_per_block=case["threads"])
        expected_dgates, expected_dc_prev = lstm_backward_reference(dh, dc, acts, c_prev, c)
        assert dgates.dtype == dtype and dc_prev.dtype == dtype
        np.testing.assert_allclose(dgates, expected_dgates, **TOLERANCE[dtype])
        np.testing.assert_allclose(dc_prev, expected_dc_prev, **TOLERANCE[dtype])

    def test_backward_is_the_gradient_of_forward(self, dtype):
        """Kernel backward == central differences of loss = sum(dh * h + dc * c) (float64 numpy forward)."""
        gates, c_prev, dh, dc = lstm_inputs(3, 4, np.float64, seed=7, extreme=False)

        def loss():
            h, c, _ = lstm_forward_reference(gates, c_prev)
            return np.sum(dh * h + dc * c)

        _, c, acts = lstm_cell.lstm_cell_forward(gates.astype(dtype), c_prev.astype(dtype), xp=np,
                                                 threads_per_block=(3, 2))
        dgates, dc_prev = lstm_cell.lstm_cell_backward(dh.astype(dtype), dc.astype(dtype), acts,
                                                       c_prev.astype(dtype), c, xp=np, threads_per_block=(3, 2))
        tolerance = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(dgates, numerical_gradient(loss, gates), **tolerance)
        np.testing.assert_allclose(dc_prev, numerical_gradient(loss, c_prev), **tolerance)


# ---- fused attention --------------------------------------------------------------------------
def _assert_attention_close(got, expected, dtype, tolerance=None):
    assert got.dtype == dtype
    assert not np.isnan(got).any()
    np.testing.assert_allclose(got, expected, **(tolerance or TOLERANCE[dtype]))


@pytest.mark.kernels
@pytest.mark.parametrize("dtype", DTYPES)
class TestAttention:
    @EXAMPLES
    @given(case=attention_cases())
    def test_forward_matches_naive_softmax(self, dtype, case):
        q, k, v, _, mask = attention_inputs(case["shapes"], case["mask_kind"], dtype, case["seed"])
        scale = 1 / np.sqrt(q.shape[-1])
        out, lse = attention.attention_forward(q, k, v, scale, case["causal"], mask, xp=np,
                                               block_q=case["block_q"], block_k=case["block_k"])
        expected_out, expected_lse, _ = attention_reference(q, k, v, scale, case["causal"], mask)
        _assert_attention_close(out, expected_out, dtype)
        _assert_attention_close(lse, expected_lse, dtype)  # -inf exactly on the fully masked rows

    @EXAMPLES
    @given(case=attention_cases())
    def test_backward_matches_analytic_reference(self, dtype, case):
        q, k, v, dout, mask = attention_inputs(case["shapes"], case["mask_kind"], dtype, case["seed"])
        scale = 1 / np.sqrt(q.shape[-1])
        out, lse, _ = attention_reference(q, k, v, scale, case["causal"], mask)
        grads = attention.attention_backward(q, k, v, out.astype(dtype), lse.astype(dtype), dout, scale,
                                             case["causal"], mask, xp=np,
                                             block_q=case["block_q"], block_k=case["block_k"])
        expected = attention_backward_reference(q, k, v, dout, scale, case["causal"], mask)
        for got, want in zip(grads, expected):
            _assert_attention_close(got, want, dtype)

    @settings(max_examples=5)
    @given(case=attention_cases())
    def test_forward_and_backward_give_the_gradient(self, dtype, case):
        """Kernel forward then kernel backward == central differences of sum(out * dout) (float64 reference)."""
        q, k, v, dout, mask = attention_inputs(case["shapes"], case["mask_kind"], np.float64, case["seed"])
        scale, causal = 1 / np.sqrt(q.shape[-1]), case["causal"]
        cast = [a.astype(dtype) for a in (q, k, v)]
        mask_cast = None if mask is None else mask.astype(dtype)
        out, lse = attention.attention_forward(*cast, scale, causal, mask_cast, xp=np,
                                               block_q=case["block_q"], block_k=case["block_k"])
        grads = attention.attention_backward(*cast, out, lse, dout.astype(dtype), scale, causal, mask_cast, xp=np,
                                             block_q=case["block_q"], block_k=case["block_k"])

        def loss():
            return np.sum(attention_reference(q, k, v, scale, causal, mask)[0] * dout)

        tolerance = dict(rtol=1e-3, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-6, atol=1e-8)
        for got, wrt in zip(grads, (q, k, v)):
            np.testing.assert_allclose(got, numerical_gradient(loss, wrt), **tolerance)

    def test_fully_masked_rows_give_zero_output_and_gradients(self, dtype):
        q, k, v, dout, _ = attention_inputs((2, 3, 4, 2, 3), None, dtype, seed=3)
        mask = np.zeros((3, 4), dtype=dtype)
        mask[1] = -np.inf  # query 1 sees no key at all
        mask[2, :3] = -np.inf  # query 2 sees key 3 only
        scale = 1 / np.sqrt(2)
        out, lse = attention.attention_forward(q, k, v, scale, False, mask, xp=np, block_q=2, block_k=3)
        assert np.all(out[:, 1] == 0) and np.all(lse[:, 1] == -np.inf)
        np.testing.assert_allclose(out[:, 2], v[:, 3], **TOLERANCE[dtype])  # all weight on key 3
        dq, dk, dv = attention.attention_backward(q, k, v, out, lse, dout, scale, False, mask, xp=np,
                                                  block_q=2, block_k=3)
        assert np.all(dq[:, 1] == 0)  # the fully masked row has no gradient
        np.testing.assert_allclose(dq[:, 2], 0, atol=TOLERANCE[dtype]["atol"])  # p is the constant one-hot
        expected = attention_backward_reference(q, k, v, dout, scale, False, mask)
        for got, want in zip((dq, dk, dv), expected):
            _assert_attention_close(got, want, dtype)

    def test_mismatched_shapes_are_rejected(self, dtype):
        q, k, v = np.zeros((2, 3, 4), dtype), np.zeros((2, 5, 4), dtype), np.zeros((2, 5, 6), dtype)
        with pytest.raises(ValueError, match="mask should have shape"):
            attention.attention_forward(q, k, v, 0.5, mask=np.zeros((3, 4), dtype), xp=np)
        with pytest.raises(ValueError, match="shapes do not match"):
            attention.attention_forward(q, k[:, :, :3], v, 0.5, xp=np)


# ---- the same launchers on a real GPU ---------------------------------------------------------
@pytest.fixture
def cupy():
    import cupy
    return cupy


@pytest.mark.cuda
@pytest.mark.skipif(not REAL_GPU, reason="needs a real NVIDIA GPU with CuPy (set TINYGRAD_EDU_REAL_GPU=1)")
@pytest.mark.parametrize("dtype", DTYPES)
class TestOnRealGpu:
    """Default (large) block sizes, shapes spanning several blocks, CuPy arrays in and out."""

    def test_im2col_and_col2im(self, cupy, dtype):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, 3, 17, 19)).astype(dtype)
        conv = ((3, 2), (2, 1), (1, 2), (1, 2))
        cols = im2col.im2col(cupy.asarray(x), *conv, xp=cupy)
        assert isinstance(cols, cupy.ndarray)
        np.testing.assert_array_equal(cupy.asnumpy(cols), im2col_reference(x, *conv))
        cols_y = rng.standard_normal(cols.shape).astype(dtype)
        image = im2col.col2im(cupy.asarray(cols_y), x.shape, *conv, xp=cupy)
        np.testing.assert_allclose(cupy.asnumpy(image), col2im_reference(cols_y, x.shape, *conv), **TOLERANCE[dtype])

    def test_lstm_cell(self, cupy, dtype):
        gates, c_prev, dh, dc = lstm_inputs(5, 300, dtype, seed=1)
        h, c, acts = lstm_cell.lstm_cell_forward(cupy.asarray(gates), cupy.asarray(c_prev), xp=cupy)
        for got, expected in zip((h, c, acts), lstm_forward_reference(gates, c_prev)):
            np.testing.assert_allclose(cupy.asnumpy(got), expected, **TOLERANCE[dtype])
        dgates, dc_prev = lstm_cell.lstm_cell_backward(cupy.asarray(dh), cupy.asarray(dc), acts,
                                                       cupy.asarray(c_prev), c, xp=cupy)
        expected = lstm_backward_reference(dh, dc, cupy.asnumpy(acts), c_prev, cupy.asnumpy(c))
        for got, want in zip((dgates, dc_prev), expected):
            np.testing.assert_allclose(cupy.asnumpy(got), want, **TOLERANCE[dtype])

    @pytest.mark.parametrize("causal, mask_kind", [(False, None), (True, None), (False, "(B, L, S)"),
                                                   (True, "(L, S)")])
    def test_attention(self, cupy, dtype, causal, mask_kind):
        q, k, v, dout, mask = attention_inputs((3, 100, 77, 40, 24), mask_kind, dtype, seed=2)
        scale = 1 / np.sqrt(q.shape[-1])
        on_gpu = [cupy.asarray(a) for a in (q, k, v)]
        mask_gpu = None if mask is None else cupy.asarray(mask)
        out, lse = attention.attention_forward(*on_gpu, scale, causal, mask_gpu, xp=cupy)
        expected_out, expected_lse, _ = attention_reference(q, k, v, scale, causal, mask)
        # sums over 77 keys: a little more float32 slack than on the tiny shapes
        tolerance = dict(rtol=2e-4, atol=5e-5) if dtype == np.float32 else None
        _assert_attention_close(cupy.asnumpy(out), expected_out, dtype, tolerance)
        _assert_attention_close(cupy.asnumpy(lse), expected_lse, dtype, tolerance)
        grads = attention.attention_backward(*on_gpu, out, lse, cupy.asarray(dout), scale, causal, mask_gpu, xp=cupy)
        for got, want in zip(grads, attention_backward_reference(q, k, v, dout, scale, causal, mask)):
            _assert_attention_close(cupy.asnumpy(got), want, dtype, tolerance)
