"""Graded: gpu-matmul (15 points). The tiled shared-memory matmul under Numba's CUDA simulator, against numpy."""
import numpy as np
import pytest

import grading
from grading import assert_close, race_free_simulator  # noqa: F401  (a fixture, used by pytestmark)

grading.use_cuda_simulator()                  # before numba is imported
from tinygrad_edu.kernels import matmul  # noqa: E402

pytestmark = [pytest.mark.assignment("gpu-matmul"), pytest.mark.usefixtures("race_free_simulator")]


def _operands(seed, *shapes, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(dtype) for shape in shapes]


def _product(a, b):
    """The reference, in float64: a sum over k of outer products, not a call to matmul."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a[..., :, :, None] * b[..., None, :, :]).sum(axis=-2)


def _check(seed, a_shape, b_shape, tile, what=""):
    """Our kernel (2 x 2 threads a block, `tile` wide tiles) against the reference on random operands."""
    a, b = _operands(seed, a_shape, b_shape)
    name = f"{a_shape} @ {b_shape}, tile {tile}" + (f": {what}" if what else "")
    assert_close(matmul.matmul(a, b, xp=np, tile=tile, threads=2), _product(a, b), name, rtol=1e-12)


@pytest.mark.points(3)
def test_one_output_per_thread_with_ragged_edges():
    # tile 2 = threads 2: M, K and N are not multiples of the tile, and K spans several tiles
    _check(1, (5, 7), (7, 3), tile=2)
    _check(2, (1, 3), (3, 1), tile=2)


@pytest.mark.points(3)
def test_several_outputs_per_thread():
    # threads 2, tile 4: each thread computes 2 x 2 outputs, strided through the tile
    _check(3, (6, 5), (5, 7), tile=4)
    _check(4, (3, 9), (9, 2), tile=4)


@pytest.mark.points(2)
def test_batched_operands():
    _check(5, (3, 3, 5), (3, 5, 2), tile=2)
    _check(6, (2, 5, 3), (2, 3, 6), tile=4)


@pytest.mark.points(2)
def test_broadcast_batch_dimensions():
    _check(7, (2, 1, 3, 4), (3, 4, 3), tile=2)
    _check(8, (2, 3, 5), (5, 3), tile=2, what="one b for every matrix of a")


@pytest.mark.points(1)
def test_float32_operands():
    a, b = _operands(9, (4, 6), (6, 5), dtype=np.float32)
    out = matmul.matmul(a, b, xp=np, tile=4, threads=2)
    assert out.dtype == np.float32
    assert_close(out, _product(a, b), "float32 (4, 6) @ (6, 5)", rtol=1e-5, atol=1e-5)


@pytest.mark.points(2)
def test_vectors_and_a_single_inner_step():
    a, b = _operands(10, (5,), (5, 3))
    assert_close(matmul.matmul(a, b, xp=np, tile=2, threads=2), _product(a[None], b)[0], "(5,) @ (5, 3)",
                 rtol=1e-12)
    a, b = _operands(11, (3, 1), (1, 4))
    assert_close(matmul.matmul(a, b, xp=np, tile=4, threads=2), _product(a, b), "(3, 1) @ (1, 4): K = 1",
                 rtol=1e-12)


@pytest.mark.points(2)
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")   # 0 * inf in rows never stored
def test_tiles_sticking_out_of_the_matrix_hold_zeros():
    # K = 3 with a K step of 2: the second step's tiles stick out along K. An infinite entry of a (or b)
    # loaded in the first step must not stay behind in shared memory for the second, where it would meet
    # the other operand's zero padding and give inf * 0 = nan instead of an infinite sum.
    for tile, seed in ((2, 12), (4, 13)):
        a, b = _operands(seed, (3, 3), (3, 5))
        a[1, 1], b[1, 3] = np.inf, -np.inf
        out = matmul.matmul(a, b, xp=np, tile=tile, threads=2)
        assert_close(out, _product(a, b), f"(3, 3) @ (3, 5) with infinite entries, tile {tile}", rtol=1e-12)
