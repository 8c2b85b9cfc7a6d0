"""Graded: gpu-matmul (15 points). The tiled shared-memory matmul under Numba's CUDA simulator, against numpy."""
import os

if os.environ.get("TINYGRAD_EDU_REAL_GPU") != "1":     # no GPU needed: the simulator, before numba is imported
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from grading import assert_close  # noqa: E402
from tinygrad_edu.kernels import matmul  # noqa: E402

pytestmark = pytest.mark.assignment("gpu-matmul")


@pytest.fixture(autouse=True, scope="module")
def _race_free_simulator():
    """The simulator's shared arrays made thread-safe (kernels/simulator.py), so a correct kernel never flakes."""
    from tinygrad_edu.kernels.simulator import thread_safe_shared_arrays
    restore = thread_safe_shared_arrays()
    yield
    restore()


def _operands(seed, *shapes, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(dtype) for shape in shapes]


def _product(a, b):
    """The reference, in float64: a sum over k of outer products, not a call to matmul."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a[..., :, :, None] * b[..., None, :, :]).sum(axis=-2)


@pytest.mark.points(3)
def test_one_output_per_thread_with_ragged_edges():
    # tile 2 = threads 2: M, K and N are not multiples of the tile, and K spans several tiles
    a, b = _operands(1, (5, 7), (7, 3))
    assert_close(matmul.matmul(a, b, xp=np, tile=2, threads=2), _product(a, b), "(5, 7) @ (7, 3), tile 2",
                 rtol=1e-12)
    a, b = _operands(2, (1, 3), (3, 1))
    assert_close(matmul.matmul(a, b, xp=np, tile=2, threads=2), _product(a, b), "(1, 3) @ (3, 1), tile 2",
                 rtol=1e-12)


@pytest.mark.points(3)
def test_several_outputs_per_thread():
    # threads 2, tile 4: each thread computes 2 x 2 outputs, strided through the tile
    a, b = _operands(3, (6, 5), (5, 7))
    assert_close(matmul.matmul(a, b, xp=np, tile=4, threads=2), _product(a, b), "(6, 5) @ (5, 7), tile 4",
                 rtol=1e-12)
    a, b = _operands(4, (3, 9), (9, 2))
    assert_close(matmul.matmul(a, b, xp=np, tile=4, threads=2), _product(a, b), "(3, 9) @ (9, 2), tile 4",
                 rtol=1e-12)


@pytest.mark.points(2)
def test_batched_operands():
    a, b = _operands(5, (3, 3, 5), (3, 5, 2))
    assert_close(matmul.matmul(a, b, xp=np, tile=2, threads=2), _product(a, b), "(3, 3, 5) @ (3, 5, 2)",
                 rtol=1e-12)
    a, b = _operands(6, (2, 5, 3), (2, 3, 6))
    assert_close(matmul.matmul(a, b, xp=np, tile=4, threads=2), _product(a, b), "(2, 5, 3) @ (2, 3, 6), tile 4",
                 rtol=1e-12)


@pytest.mark.points(2)
def test_broadcast_batch_dimensions():
    a, b = _operands(7, (2, 1, 3, 4), (3, 4, 3))
    assert_close(matmul.matmul(a, b, xp=np, tile=2, threads=2), _product(a, b), "(2, 1, 3, 4) @ (3, 4, 3)",
                 rtol=1e-12)
    a, b = _operands(8, (2, 3, 5), (5, 3))
    assert_close(matmul.matmul(a, b, xp=np, tile=2, threads=2), _product(a, b),
                 "(2, 3, 5) @ (5, 3): one b for every matrix of a", rtol=1e-12)


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
