"""Reduction along an axis (sum, max, min) with a shared-memory tree.

The mapping of threads onto data
--------------------------------
The launcher moves the reduced axis (or axes) last and views the array as a matrix
of shape (rows, n): every row is reduced to one number. The kernel gives *one block
to each row* (block b reduces row b) and works in two phases:

1. Strided partials. The block's T threads walk the row together: thread t reads
   elements t, t + T, t + 2T, ... and folds them into a private running value. In
   each step the T threads read T neighbouring elements, so the loads are
   coalesced, and a row of any length works with a block of any size.

2. A tree in shared memory. Shared memory is a small, fast scratchpad that all
   threads of one block can read and write. Each thread stores its partial there;
   then in log2(T) levels the first half of the threads combine their slot with the
   slot half a block away (T/2 pairs, then T/4, ... then 1), leaving the total in
   slot 0:

       level 0:  p0 p1 p2 p3 p4 p5 p6 p7      (T = 8)
       level 1:  p0+p4  p1+p5  p2+p6  p3+p7
       level 2:  (p0+p4)+(p2+p6)  (p1+p5)+(p3+p7)
       level 3:  total

   `cuda.syncthreads()` is a barrier for the whole block: no thread passes it until
   all have reached it. One is needed between levels, because a thread reads a slot
   that another thread wrote in the previous level. Every thread must meet the same
   barriers, so the loop runs the same number of times in all threads and only the
   work inside it is guarded by `if tid < stride`.

T must therefore be a power of two; it is a compile-time size (shared arrays have a
fixed size), so `make_reduce_kernel(op, threads)` builds and caches one kernel per
(op, T). Summing in a tree also adds numbers of similar size together, which keeps
float32 round-off lower than one long running sum.

Few long rows: a second launch
------------------------------
One block per row leaves most of the GPU idle when there are few rows (axis=None
has exactly one). Then each row is cut into S pieces and block (r, s) reduces piece
s of row r, giving a (rows, S) matrix of partial results. Blocks cannot wait for
each other inside a launch, so the partials are combined by launching the same
kernel again on that much smaller matrix.

`make_block_reducer` packages phase 2 as a device function that returns the total
to every thread of the block; softmax.py and cross_entropy.py reuse it.

Reducing an axis other than the last costs a transposing copy (`transpose` then
`ascontiguousarray`); a kernel that walks columns directly would avoid it.
"""
import functools
import math

import numpy as np
from numba import cuda

from .elementwise import add, float_dtype, maximum, minimum
from .launch import launch

COMBINE = {"sum": add, "max": maximum, "min": minimum}
IDENTITY = {"sum": 0.0, "max": -np.inf, "min": np.inf}  # the value an empty partial starts from
MIN_BLOCKS = 1024     # cut rows into pieces until a launch has about this many blocks (enough to fill a large GPU) ...
MIN_PER_THREAD = 8    # ... but give every thread at least this many elements to fold


def block_size(n, max_threads):
    """Threads for a row of n elements: the smallest power of two >= n, at most max_threads."""
    if max_threads < 1 or max_threads & (max_threads - 1):
        raise ValueError(f"threads per block must be a power of two, got {max_threads}")
    threads = 1
    while threads < n and threads < max_threads:
        threads *= 2
    return threads


def normalize_axes(axis, ndim):
    """`axis` (None, an int or a tuple of ints, negatives counting from the end) as a sorted tuple."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of bounds for an array of {ndim} dimensions")
    normalized = sorted(a % ndim for a in axes)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"repeated axis in {axis}")
    return tuple(normalized)


@functools.lru_cache(maxsize=None)
def make_block_reducer(combine):
    """A device function block_reduce(partials, value) -> combine of `value` over the block.

    `partials` is a shared array with one slot per thread (blockDim.x a power of two).
    Every thread of the block must call it, and every thread gets the total.
    """

    @cuda.jit(device=True)
    def block_reduce(partials, value):
        # BEGIN SOLUTION gpu-reduce  the tree of phase 2: store, then halve the active threads each level, a barrier between levels
        tid = cuda.threadIdx.x
        partials[tid] = value
        cuda.syncthreads()
        stride = cuda.blockDim.x // 2
        while stride > 0:
            if tid < stride:
                partials[tid] = combine(partials[tid], partials[tid + stride])
            cuda.syncthreads()
            stride //= 2
        total = partials[0]
        cuda.syncthreads()  # all threads have read the total before anyone reuses `partials`
        return total
        # END SOLUTION

    return block_reduce


block_sum = make_block_reducer(add)
block_max = make_block_reducer(maximum)


@functools.lru_cache(maxsize=None)
def make_reduce_kernel(op, threads):
    """The reduction kernel for op in COMBINE with `threads` (a power of two) threads per block."""
    combine = COMBINE[op]
    block_reduce = make_block_reducer(combine)

    @cuda.jit(cache=True)
    def reduce_kernel(x, out, identity):
        """x (rows, n) -> out (rows, S): block (r, s) reduces the s-th of S equal pieces of row r
        into out[r, s]; thread t of T folds the piece's elements t, t + T, ...
        """
        partials = cuda.shared.array(threads, dtype=x.dtype)
        row, piece = cuda.blockIdx.x, cuda.blockIdx.y
        piece_length = (x.shape[1] + out.shape[1] - 1) // out.shape[1]
        start = piece * piece_length
        stop = min(start + piece_length, x.shape[1])
        # BEGIN SOLUTION gpu-reduce  phase 1: thread t folds elements start + t, start + t + T, ... of its piece into `partial`
        partial = identity
        for j in range(start + cuda.threadIdx.x, stop, cuda.blockDim.x):
            partial = combine(partial, x[row, j])
        # END SOLUTION
        total = block_reduce(partials, partial)
        if cuda.threadIdx.x == 0:
            out[row, piece] = total

    return reduce_kernel


def reduce_rows(matrix, op, xp, threads):
    """(rows, n) -> (rows,): one launch, or more when there are few rows (see the module docstring)."""
    rows, n = matrix.shape
    block = block_size(n, threads)
    pieces = max(1, min(math.ceil(n / (block * MIN_PER_THREAD)), MIN_BLOCKS // rows))
    partials = xp.empty((rows, pieces), dtype=matrix.dtype)
    launch(make_reduce_kernel(op, block), (rows, pieces), block, matrix, partials, matrix.dtype.type(IDENTITY[op]))
    return reduce_rows(partials, op, xp, threads) if pieces > 1 else partials.reshape(rows)


def reduce(x, axis, op, keepdims=False, *, xp=np, threads=256):
    """Reduce x over `axis` (an int, a tuple of ints, or None for all) with op "sum", "max" or "min".

    Returns a new xp array in x's dtype, shaped like numpy's x.sum(axis, keepdims=keepdims).
    `threads` is the largest block size used (a power of two).
    """
    if op not in COMBINE:
        raise ValueError(f"op must be one of {sorted(COMBINE)}, got {op!r}")
    dtype = float_dtype(x)
    axes = normalize_axes(axis, x.ndim)
    kept = [d for d in range(x.ndim) if d not in axes]
    n = math.prod(x.shape[d] for d in axes)
    rows = math.prod(x.shape[d] for d in kept)
    if n == 0 and op != "sum":
        raise ValueError(f"{op} of an empty axis has no identity")

    # The reduced axes last, then one row per kept index: a (rows, n) contiguous matrix.
    matrix = xp.ascontiguousarray(xp.transpose(x, kept + list(axes)), dtype=dtype).reshape(rows, n)
    out = reduce_rows(matrix, op, xp, threads) if rows else xp.empty(0, dtype=dtype)

    if keepdims:
        return out.reshape([1 if d in axes else size for d, size in enumerate(x.shape)])
    return out.reshape([x.shape[d] for d in kept])
