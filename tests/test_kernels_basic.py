"""The basic kernels in kernels/: elementwise, reduce, softmax, cross-entropy and matmul.

Each launcher is compared with numpy computing the same thing, on tiny
hypothesis-drawn shapes (size-1 dims, broadcasting pairs, sizes that are not
multiples of the tiny block or tile sizes, rows longer than the block), in float32
and float64. Without a GPU the kernels run under Numba's CUDA simulator (switched
on by tests/conftest.py), which runs every GPU thread as a Python thread: hence the
tiny shapes and blocks and the few examples per test.

TestOnRealGpu runs the same launchers on CuPy arrays with their default (large)
block sizes; it is skipped unless TINYGRAD_EDU_REAL_GPU=1 and a GPU is usable.
"""
import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_edu as tg
from tinygrad_edu.kernels import cross_entropy, elementwise, matmul, reduce, softmax

pytestmark = pytest.mark.kernels

DTYPES = [np.float32, np.float64]
TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}
EXAMPLES = settings(max_examples=10)
SEEDS = st.integers(0, 2**32 - 1)
POWERS_OF_TWO = st.sampled_from([1, 2, 4, 8])

REAL_GPU = os.environ.get("TINYGRAD_EDU_REAL_GPU") == "1" and tg.cuda.is_available()


@pytest.fixture(autouse=True, scope="module")
def quick_thread_switches():
    """Under the simulator every cuda.syncthreads() waits for Python to switch between
    threads; switching every 0.1 ms instead of every 5 ms makes barriers ~5x cheaper."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    yield
    sys.setswitchinterval(interval)


def normal(seed, shape, dtype, scale=1.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


# ---- numpy references -------------------------------------------------------------------------
UNARY_REFERENCE = {
    "exp": np.exp, "log": np.log, "tanh": np.tanh, "neg": np.negative, "sqrt": np.sqrt, "abs": np.abs,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "relu": lambda x: np.maximum(x, 0),
}
UNARY_POSITIVE_ONLY = {"log", "sqrt"}
BINARY_REFERENCE = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
    "maximum": np.maximum, "minimum": np.minimum, "pow": np.power,
}


def softmax_reference(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def log_softmax_reference(x):
    shifted = x - x.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def cross_entropy_reference(logits, target, ignore_index, smoothing):
    """loss = -sum_j q_j log softmax(x)_j, dlogits = softmax(x) - q, q the smoothed one-hot; in float64."""
    logits = logits.astype(np.float64)
    n, c = logits.shape
    ignored = target == ignore_index
    q = np.full((n, c), smoothing / c)
    q[np.arange(n), np.where(ignored, 0, target)] += 1 - smoothing
    log_p = log_softmax_reference(logits)
    loss = np.where(ignored, 0.0, -(q * log_p).sum(1))
    dlogits = np.where(ignored[:, None], 0.0, np.exp(log_p) - q)
    return loss, dlogits


# ---- elementwise ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(UNARY_REFERENCE))
@EXAMPLES
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=6), dtype=st.sampled_from(DTYPES),
       threads=POWERS_OF_TWO, max_blocks=st.integers(1, 3), seed=SEEDS)
def test_unary_matches_numpy(name, shape, dtype, threads, max_blocks, seed):
    x = normal(seed, shape, dtype, scale=3.0)
    if name in UNARY_POSITIVE_ONLY:
        x = np.abs(x) + dtype(0.1)
    out = elementwise.unary(name, x, threads=threads, max_blocks=max_blocks)
    assert out.shape == x.shape and out.dtype == dtype
    np.testing.assert_allclose(out, UNARY_REFERENCE[name](x), **TOLERANCE[dtype])


@pytest.mark.parametrize("name", sorted(BINARY_REFERENCE))
@EXAMPLES
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4),
       dtype=st.sampled_from(DTYPES), threads=POWERS_OF_TWO, max_blocks=st.integers(1, 3), seed=SEEDS)
def test_binary_broadcasts_like_numpy(name, shapes, dtype, threads, max_blocks, seed):
    a_shape, b_shape = shapes.input_shapes
    a, b = normal(seed, a_shape, dtype), normal(seed + 1, b_shape, dtype)
    if name == "pow":
        a = np.abs(a) + dtype(0.1)
    if name == "div":
        b = np.where(np.abs(b) < 0.1, dtype(0.5), b)
    out = elementwise.binary(name, a, b, threads=threads, max_blocks=max_blocks)
    assert out.shape == shapes.result_shape and out.dtype == dtype
    np.testing.assert_allclose(out, BINARY_REFERENCE[name](a, b), **TOLERANCE[dtype])


def test_elementwise_reads_non_contiguous_inputs_and_promotes_dtypes():
    base = normal(0, (6, 5), np.float32)
    a, b = base.T, normal(1, (3, 6), np.float64)[:, ::2]  # (5, 6) and (3, 3), neither contiguous
    np.testing.assert_allclose(elementwise.unary("tanh", a, threads=4), np.tanh(a), **TOLERANCE[np.float32])
    out = elementwise.binary("mul", a[:3, :3], b, threads=4)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, a[:3, :3] * b, **TOLERANCE[np.float64])


def test_sigmoid_is_stable_for_large_inputs():
    x = np.array([-1e4, -100.0, 0.0, 100.0, 1e4], dtype=np.float32)
    np.testing.assert_allclose(elementwise.unary("sigmoid", x, threads=4), [0, 0, 0.5, 1, 1], atol=1e-30)


def test_maximum_minimum_and_relu_propagate_nan_like_numpy():
    a = np.array([np.nan, 1.0, 2.0])
    b = np.array([0.0, np.nan, 1.0])
    np.testing.assert_array_equal(elementwise.binary("maximum", a, b, threads=2), np.maximum(a, b))
    np.testing.assert_array_equal(elementwise.binary("minimum", a, b, threads=2), np.minimum(a, b))
    np.testing.assert_array_equal(elementwise.unary("relu", b - 1, threads=2), np.maximum(b - 1, 0))


def test_elementwise_errors():
    with pytest.raises(TypeError, match="float32 and float64"):
        elementwise.unary("exp", np.arange(3))
    with pytest.raises(KeyError):
        elementwise.binary("hypot", np.ones(2), np.ones(2))
    with pytest.raises(ValueError):
        elementwise.binary("add", np.ones(2), np.ones(3))


# ---- reduce -----------------------------------------------------------------------------------
@st.composite
def array_and_axis(draw):
    """A shape and an axis argument for it: None, an int (maybe negative) or a tuple of distinct axes."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=9))
    if not shape or draw(st.booleans()):
        return shape, None
    axes = draw(st.lists(st.integers(-len(shape), len(shape) - 1), unique_by=lambda a: a % len(shape),
                         min_size=1, max_size=len(shape)))
    return shape, axes[0] if len(axes) == 1 and draw(st.booleans()) else tuple(axes)


@pytest.mark.parametrize("op", ["sum", "max", "min"])
@EXAMPLES
@given(shape_axis=array_and_axis(), keepdims=st.booleans(), dtype=st.sampled_from(DTYPES),
       threads=POWERS_OF_TWO, seed=SEEDS)
def test_reduce_matches_numpy(op, shape_axis, keepdims, dtype, threads, seed):
    shape, axis = shape_axis
    x = normal(seed, shape, dtype)
    out = reduce.reduce(x, axis, op, keepdims=keepdims, threads=threads)
    expected = getattr(np, op)(x, axis=axis, keepdims=keepdims)
    assert out.shape == expected.shape and out.dtype == dtype
    np.testing.assert_allclose(out, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_reduce_rows_much_longer_than_the_block(dtype):
    """Few long rows are cut into pieces, reduced again in a second (and third) launch."""
    x = normal(3, (2, 3, 23), dtype, scale=10.0)
    for op in ("sum", "max", "min"):
        for axis in (-1, None, (0, 2)):
            np.testing.assert_allclose(reduce.reduce(x, axis, op, threads=2), getattr(np, op)(x, axis),
                                       **TOLERANCE[dtype])


def test_reduce_of_an_empty_axis():
    x = np.ones((2, 0), dtype=np.float32)
    np.testing.assert_array_equal(reduce.reduce(x, 1, "sum", threads=2), [0, 0])
    assert reduce.reduce(x, 0, "max").shape == (0,)
    with pytest.raises(ValueError, match="no identity"):
        reduce.reduce(x, 1, "max")


def test_reduce_errors():
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match="op must be"):
        reduce.reduce(x, 0, "mean")
    with pytest.raises(ValueError, match="out of bounds"):
        reduce.reduce(x, 2, "sum")
    with pytest.raises(ValueError, match="repeated axis"):
        reduce.reduce(x, (1, -1), "sum")
    with pytest.raises(ValueError, match="power of two"):
        reduce.reduce(x, 0, "sum", threads=6)


# ---- softmax ----------------------------------------------------------------------------------
ROWS = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=11)


@EXAMPLES
@given(shape=ROWS, dtype=st.sampled_from(DTYPES), threads=POWERS_OF_TWO, seed=SEEDS)
def test_softmax_and_log_softmax_match_numpy(shape, dtype, threads, seed):
    x = normal(seed, shape, dtype, scale=5.0)
    np.testing.assert_allclose(softmax.softmax(x, threads=threads), softmax_reference(x), **TOLERANCE[dtype])
    np.testing.assert_allclose(softmax.log_softmax(x, threads=threads), log_softmax_reference(x), **TOLERANCE[dtype])


@EXAMPLES
@given(shape=ROWS, dtype=st.sampled_from(DTYPES), threads=POWERS_OF_TWO, seed=SEEDS)
def test_softmax_backwards_match_numpy(shape, dtype, threads, seed):
    x, g = normal(seed, shape, dtype, scale=3.0), normal(seed + 1, shape, dtype)
    y = softmax_reference(x)
    np.testing.assert_allclose(softmax.softmax_backward(y, g, threads=threads),
                               y * (g - (g * y).sum(-1, keepdims=True)), **TOLERANCE[dtype])
    log_y = log_softmax_reference(x)
    np.testing.assert_allclose(softmax.log_softmax_backward(log_y, g, threads=threads),
                               g - np.exp(log_y) * g.sum(-1, keepdims=True), **TOLERANCE[dtype])


def test_softmax_of_empty_arrays_and_errors():
    assert softmax.softmax(np.ones((0, 3))).shape == (0, 3)
    assert softmax.log_softmax(np.ones((2, 0))).shape == (2, 0)
    with pytest.raises(ValueError, match="at least one dimension"):
        softmax.softmax(np.array(1.0))
    with pytest.raises(ValueError, match="same shape"):
        softmax.softmax_backward(np.ones((2, 3)), np.ones((3, 2)))


# ---- cross-entropy ----------------------------------------------------------------------------
@EXAMPLES
@given(rows=st.integers(1, 5), classes=st.integers(1, 11), dtype=st.sampled_from(DTYPES),
       ignore_index=st.sampled_from([-100, 0]), smoothing=st.sampled_from([0.0, 0.1, 1.0]),
       threads=POWERS_OF_TWO, seed=SEEDS)
def test_cross_entropy_matches_numpy(rows, classes, dtype, ignore_index, smoothing, threads, seed):
    rng = np.random.default_rng(seed)
    logits = normal(seed, (rows, classes), dtype, scale=4.0)
    target = rng.integers(0, classes, rows)
    target[rng.random(rows) < 0.3] = ignore_index
    loss, dlogits = cross_entropy.cross_entropy(logits, target, ignore_index=ignore_index,
                                                label_smoothing=smoothing, threads=threads)
    expected_loss, expected_dlogits = cross_entropy_reference(logits, target, ignore_index, smoothing)
    assert loss.dtype == dlogits.dtype == dtype and dlogits.shape == logits.shape
    np.testing.assert_allclose(loss, expected_loss, **TOLERANCE[dtype])
    np.testing.assert_allclose(dlogits, expected_dlogits, **TOLERANCE[dtype])


def test_cross_entropy_gives_nan_rows_for_targets_out_of_range_without_reading_out_of_bounds():
    # the kernel cannot raise without a host synchronisation: the row is NaN, the caller checks later
    logits = np.arange(6.0).reshape(2, 3)
    loss, dlogits = cross_entropy.cross_entropy(logits, np.array([0, 3]), threads=4)
    assert np.isnan(loss[1]) and np.isnan(dlogits[1]).all()
    expected_loss, expected_dlogits = cross_entropy_reference(logits[:1], np.array([0]), -100, 0.0)
    np.testing.assert_allclose(loss[:1], expected_loss, rtol=1e-12)
    np.testing.assert_allclose(dlogits[:1], expected_dlogits, rtol=1e-12)


@pytest.mark.parametrize("rows, threads", [(1, 4), (7, 4), (33, 8)])
def test_cross_entropy_mean_over_valid_rows(rows, threads):
    rng = np.random.default_rng(rows)
    loss = rng.random(rows)
    target = rng.integers(0, 3, rows)
    target[rng.random(rows) < 0.4] = -100
    mean, inverse = cross_entropy.cross_entropy_mean(loss, target, -100, threads=threads)
    valid = target != -100
    assert mean.shape == inverse.shape == ()
    if valid.any():
        np.testing.assert_allclose(mean, loss[valid].mean(), rtol=1e-12)
        np.testing.assert_allclose(inverse, 1 / valid.sum(), rtol=1e-12)
    target[:] = -100                                   # no valid row: 0 / 0, as PyTorch
    mean, inverse = cross_entropy.cross_entropy_mean(loss, target, -100, threads=threads)
    assert np.isnan(mean) and np.isinf(inverse)


def test_cross_entropy_errors():
    logits = np.zeros((2, 3))
    with pytest.raises(ValueError, match="expected logits"):
        cross_entropy.cross_entropy(logits, np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="integer class indices"):
        cross_entropy.cross_entropy(logits, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="label_smoothing"):
        cross_entropy.cross_entropy(logits, np.array([0, 1]), label_smoothing=1.5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_huge_logits_give_finite_softmax_and_cross_entropy(dtype):
    logits = np.array([[1e4, 0.0, -1e4, 1e4 - 1], [-1e4, -1e4, -1e4, -1e4 + 2]], dtype=dtype)
    target = np.array([1, 3])
    for out in (softmax.softmax(logits, threads=2), softmax.log_softmax(logits, threads=2),
                *cross_entropy.cross_entropy(logits, target, label_smoothing=0.1, threads=2)):
        assert np.all(np.isfinite(out))
    np.testing.assert_allclose(softmax.softmax(logits, threads=2), softmax_reference(logits.astype(np.float64)),
                               **TOLERANCE[dtype])
    loss, dlogits = cross_entropy.cross_entropy(logits, target, label_smoothing=0.1, threads=2)
    expected_loss, expected_dlogits = cross_entropy_reference(logits, target, -100, 0.1)
    np.testing.assert_allclose(loss, expected_loss, **TOLERANCE[dtype])
    np.testing.assert_allclose(dlogits, expected_dlogits, **TOLERANCE[dtype])


# ---- matmul -----------------------------------------------------------------------------------
TILES = st.sampled_from([(1, 1), (2, 2), (3, 3), (4, 2), (6, 2), (6, 3)])  # (tile, threads)


@EXAMPLES
@given(shapes=hnp.mutually_broadcastable_shapes(signature=np.matmul.signature, max_dims=3, max_side=7),
       dtype=st.sampled_from(DTYPES), tile_threads=TILES, seed=SEEDS)
def test_matmul_broadcasts_like_numpy(shapes, dtype, tile_threads, seed):
    a_shape, b_shape = shapes.input_shapes
    a, b = normal(seed, a_shape, dtype), normal(seed + 1, b_shape, dtype)
    tile, threads = tile_threads
    out = matmul.matmul(a, b, tile=tile, threads=threads)
    expected = np.matmul(a, b)
    assert out.shape == expected.shape and out.dtype == dtype
    np.testing.assert_allclose(out, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_edge_tiles_batches_and_a_shared_right_operand(dtype):
    a, b = normal(0, (2, 3, 9, 11), dtype), normal(1, (3, 11, 5), dtype)  # 9, 11, 5: no multiple of 4
    np.testing.assert_allclose(matmul.matmul(a, b, tile=4, threads=2), a @ b, **TOLERANCE[dtype])
    np.testing.assert_allclose(matmul.matmul(a, b[0], tile=4, threads=2), a @ b[0], **TOLERANCE[dtype])
    np.testing.assert_allclose(matmul.matmul(b[0].T, a[1, 2].T, tile=4, threads=4), b[0].T @ a[1, 2].T,
                               **TOLERANCE[dtype])


def test_matmul_with_empty_inner_dimension_and_errors():
    np.testing.assert_array_equal(matmul.matmul(np.ones((2, 0)), np.ones((0, 3)), tile=2, threads=2), np.zeros((2, 3)))
    assert matmul.matmul(np.ones((0, 4)), np.ones((4, 3))).shape == (0, 3)
    with pytest.raises(ValueError, match="inner dimensions"):
        matmul.matmul(np.ones((2, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="multiple of threads"):
        matmul.matmul(np.ones((2, 3)), np.ones((3, 2)), tile=6, threads=4)
    with pytest.raises(ValueError, match="0-d"):
        matmul.matmul(np.ones(3), np.array(2.0))


def test_matmul_picks_bigger_tiles_for_bigger_problems():
    assert matmul.pick_per_thread(16, 64, 64, 1) == 1
    assert matmul.pick_per_thread(16, 1024, 1024, 1) == 4
    assert matmul.pick_per_thread(16, 4096, 4096, 1) == 8


# ---- on a real GPU ----------------------------------------------------------------------------
@pytest.mark.cuda
@pytest.mark.skipif(not REAL_GPU, reason="needs a real NVIDIA GPU with CuPy (set TINYGRAD_EDU_REAL_GPU=1)")
class TestOnRealGpu:
    """The launchers on CuPy arrays with their default block and tile sizes."""

    @pytest.fixture
    def cp(self):
        import cupy
        return cupy

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_elementwise(self, cp, dtype):
        a, b = normal(0, (64, 300), dtype), normal(1, (300,), dtype)
        for name in ("exp", "tanh", "sigmoid", "relu", "neg", "abs"):
            out = elementwise.unary(name, cp.asarray(a), xp=cp)
            np.testing.assert_allclose(cp.asnumpy(out), UNARY_REFERENCE[name](a), **TOLERANCE[dtype])
        for name in ("add", "sub", "mul", "maximum", "minimum"):
            out = elementwise.binary(name, cp.asarray(a), cp.asarray(b), xp=cp)
            np.testing.assert_allclose(cp.asnumpy(out), BINARY_REFERENCE[name](a, b), **TOLERANCE[dtype])

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_reduce(self, cp, dtype):
        x = normal(2, (33, 1000), dtype)
        for op in ("sum", "max", "min"):
            for axis in (None, 0, 1):
                out = reduce.reduce(cp.asarray(x), axis, op, xp=cp)
                np.testing.assert_allclose(cp.asnumpy(out), getattr(np, op)(x, axis=axis), rtol=1e-4, atol=1e-3)

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_softmax_and_cross_entropy(self, cp, dtype):
        x, g = normal(3, (50, 1000), dtype, scale=5.0), normal(4, (50, 1000), dtype)
        y = softmax.softmax(cp.asarray(x), xp=cp)
        np.testing.assert_allclose(cp.asnumpy(y), softmax_reference(x), **TOLERANCE[dtype])
        log_y = softmax.log_softmax(cp.asarray(x), xp=cp)
        np.testing.assert_allclose(cp.asnumpy(log_y), log_softmax_reference(x), **TOLERANCE[dtype])
        dx = softmax.softmax_backward(y, cp.asarray(g), xp=cp)
        y_ref = softmax_reference(x)
        np.testing.assert_allclose(cp.asnumpy(dx), y_ref * (g - (g * y_ref).sum(-1, keepdims=True)),
                                   **TOLERANCE[dtype])
        target = np.random.default_rng(5).integers(0, 1000, 50)
        target[::7] = -100
        loss, dlogits = cross_entropy.cross_entropy(cp.asarray(x), cp.asarray(target), label_smoothing=0.1, xp=cp)
        expected_loss, expected_dlogits = cross_entropy_reference(x, target, -100, 0.1)
        np.testing.assert_allclose(cp.asnumpy(loss), expected_loss, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(cp.asnumpy(dlogits), expected_dlogits, rtol=1e-4, atol=1e-6)

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("shapes", [((300, 200), (200, 500)), ((4, 1, 65, 33), (3, 33, 70)),
                                        ((8, 100, 64), (64, 96)), ((1024, 1024), (1024, 1024))])
    def test_matmul(self, cp, dtype, shapes):
        a, b = normal(6, shapes[0], dtype), normal(7, shapes[1], dtype)
        out = matmul.matmul(cp.asarray(a), cp.asarray(b), xp=cp)
        np.testing.assert_allclose(cp.asnumpy(out), a.astype(np.float64) @ b, rtol=1e-4, atol=1e-3)
