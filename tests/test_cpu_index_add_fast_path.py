"""The CPU's compiled index_add for rows (backends/cpu_index_add.py) against the plain NumpyBackend.index_add.

Repeated ids add up (also an id and its negative twin, -1 and R-1), negative ids count from the end, and no
ids change nothing; the sums equal the plain version's up to the order of additions. An id out of range gets
numpy's IndexError from the plain version. No wall-clock times are asserted here.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_edu.backends import cpu_index_add, fast_path_switch, get_backend

pytestmark = pytest.mark.ops

CPU = get_backend("cpu")


@settings(max_examples=60, deadline=None, derandomize=True)
@given(rows=st.integers(1, 9), width=st.integers(1, 17), ids=st.integers(0, 40),
       dtype=st.sampled_from([np.float32, np.float64]), zero=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_compiled_row_index_add_equals_the_plain_version(rows, width, ids, dtype, zero, seed):
    """Against the plain version, and against a loop of single-row additions (the definition)."""
    rng = np.random.default_rng(seed)
    index = rng.integers(-rows, rows, ids)                         # repeats, and negative ids
    values = rng.standard_normal((ids, width)).astype(dtype)
    start = np.zeros((rows, width), dtype) if zero else rng.standard_normal((rows, width)).astype(dtype)
    fast, plain = start.copy(), start.copy()
    assert cpu_index_add.index_add_rows(CPU, fast, index, values) == (ids > 0)   # no ids: nothing to do here
    with fast_path_switch.plain():
        CPU.index_add(plain, index, values)
    definition = start.astype(np.float64)
    for i, row in enumerate(index):
        definition[row] += values[i]
    tolerance = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fast, definition, **tolerance)
    np.testing.assert_allclose(plain, definition, **tolerance)


def test_out_of_range_ids_and_other_shapes_are_left_to_the_plain_version():
    target = np.zeros((3, 2), np.float32)
    assert not cpu_index_add.index_add_rows(CPU, target, np.array([0, 3]), np.ones((2, 2), np.float32))
    assert not cpu_index_add.index_add_rows(CPU, target, np.array([-4]), np.ones((1, 2), np.float32))
    with pytest.raises(IndexError):
        CPU.index_add(target, np.array([0, 3]), np.ones((2, 2), np.float32))
    assert not cpu_index_add.index_add_rows(CPU, np.zeros(3, np.float32), np.array([0, 0]), np.ones(2, np.float32))
    assert not cpu_index_add.index_add_rows(CPU, target, np.array([0]), np.ones((1, 2), np.float64))
    CPU.index_add(target, np.array([1, 1, -1]), np.ones((3, 2), np.float32))
    np.testing.assert_array_equal(target, [[0, 0], [2, 2], [1, 1]])
