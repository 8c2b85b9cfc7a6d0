"""Graded: gpu-reduce (15 points). The shared-memory tree reduction (sum, max, min) under Numba's CUDA simulator."""
import numpy as np
import pytest

import grading
from grading import assert_close, race_free_simulator  # noqa: F401  (a fixture, used by pytestmark)

grading.use_cuda_simulator()                  # before numba is imported
from tinygrad_edu.kernels import reduce  # noqa: E402

pytestmark = [pytest.mark.assignment("gpu-reduce"), pytest.mark.usefixtures("race_free_simulator")]


REFERENCE = {"sum": np.sum, "max": np.max, "min": np.min}


def _rows(seed, rows, length, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal((rows, length)).astype(dtype)


@pytest.mark.points(3)
def test_sum_of_rows_of_many_lengths():
    for length, threads in ((1, 8), (7, 8), (33, 8), (100, 16)):
        x = _rows(length, 3, length)
        assert_close(reduce.reduce(x, 1, "sum", xp=np, threads=threads), x.sum(axis=1),
                     f"sum of 3 rows of length {length}, blocks of up to {threads} threads", rtol=1e-12)


@pytest.mark.points(3)
def test_max_and_min_of_rows_of_many_lengths():
    for length, threads in ((1, 8), (7, 8), (33, 8), (100, 16)):
        x = _rows(100 + length, 2, length)
        for op in ("max", "min"):
            assert_close(reduce.reduce(x, 1, op, xp=np, threads=threads), REFERENCE[op](x, axis=1),
                         f"{op} of 2 rows of length {length}, blocks of up to {threads} threads", rtol=0, atol=0)


@pytest.mark.points(3)
def test_whole_array_in_two_launches():
    # axis=None is one long row: the kernel reduces it in pieces, then reduces the pieces' results again
    x = np.random.default_rng(3).standard_normal((5, 61))
    for op in ("sum", "max", "min"):
        assert_close(reduce.reduce(x, None, op, xp=np, threads=8), REFERENCE[op](x),
                     f"{op} of all 305 elements with 8 threads per block", rtol=1e-12)


@pytest.mark.points(2)
def test_max_and_min_do_not_start_from_zero():
    # every row negative for max (positive for min), and blocks wider than the rows: unused threads hold the
    # identity (-inf for max, +inf for min), never 0
    x = -1 - np.abs(_rows(4, 3, 5))
    assert_close(reduce.reduce(x, 1, "max", xp=np, threads=8), x.max(axis=1), "max of negative rows",
                 rtol=0, atol=0)
    assert_close(reduce.reduce(-x, 1, "min", xp=np, threads=8), (-x).min(axis=1), "min of positive rows",
                 rtol=0, atol=0)
    assert_close(reduce.reduce(x, None, "max", xp=np, threads=16), x.max(), "max of a whole negative array",
                 rtol=0, atol=0)


@pytest.mark.points(2)
def test_other_axes_and_keepdims():
    x = np.random.default_rng(5).standard_normal((3, 5, 4))
    assert_close(reduce.reduce(x, 1, "sum", xp=np, threads=4), x.sum(axis=1), "sum over the middle axis",
                 rtol=1e-12)
    assert_close(reduce.reduce(x, (0, 2), "max", keepdims=True, xp=np, threads=8), x.max(axis=(0, 2), keepdims=True),
                 "max over axes (0, 2), keepdims", rtol=0, atol=0)


@pytest.mark.points(2)
def test_float32_sum():
    x = _rows(6, 2, 50, np.float32)
    out = reduce.reduce(x, 1, "sum", xp=np, threads=16)
    assert out.dtype == np.float32
    assert_close(out, x.astype(np.float64).sum(axis=1), "float32 sums of rows of 50", rtol=1e-5, atol=1e-5)
