"""index_add for rows on the CPU: target[index[i]] += values[i], one compiled pass.

An embedding's backward adds each looked-up row's gradient into the row of the weight it came
from; repeated ids must accumulate, so `target[index] += values` (which keeps only the last of
the repeats) is wrong. The plain version (NumpyBackend.index_add) sorts the ids and sums each run
of equal ids with numpy's `add.reduceat`: several numpy passes and a sort. A compiled loop
simply walks the ids in order and adds each row where it belongs, in registers, no sort and no
temporary. The sums equal the plain version's up to the order of the additions (numpy's
reduceat may add a run's rows pairwise; here they are added one after another, in the ids'
order). Measured on the benchmark lstm's embedding (2048 ids of 65 rows of 64): index_add 0.17 -> 0.02 ms,
the embedding's whole backward 0.36 -> 0.15 ms per step.
"""
import numpy as np
from numba import njit

from .fast_path_switch import takes


def index_add_rows(backend, target, index, values):
    """target[index] += values for a 2-D target and a 1-D integer index, repeats adding up; True when done here,
    False where the fast path does not apply (the caller then runs the plain version)."""
    if not (takes(backend, target, values) and target.ndim == 2 and target.flags.c_contiguous
            and isinstance(index, np.ndarray) and index.ndim == 1 and index.dtype.kind in "iu"
            and values.shape == (index.size, target.shape[1])):
        return False
    rows = target.shape[0]
    if index.size and (index.min() < -rows or index.max() >= rows):
        return False                       # out of range: the plain version raises numpy's IndexError
    _add_rows(target, index.astype(np.int64, copy=False), np.ascontiguousarray(values))
    return True


@njit(cache=True)
def _add_rows(target, index, values):
    rows, width = target.shape
    for i in range(index.size):
        row = index[i] + rows if index[i] < 0 else index[i]     # a negative id counts from the end, as numpy's
        for j in range(width):
            target[row, j] += values[i, j]
