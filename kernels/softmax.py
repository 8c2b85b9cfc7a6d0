"""Softmax and log-softmax along the last axis, and their backward passes.

The mapping of threads onto data
--------------------------------
The input is viewed as a matrix (rows, n) and *one block handles one row*, as in
reduce.py: its T threads walk the row with stride T (thread t reads elements t,
t + T, ...), so each step reads T neighbouring elements (coalesced), and any row
length works with any block size. Rows are independent, so blocks never need to
talk to each other.

Why it is numerically stable
----------------------------
softmax(x)_j = e^{x_j} / sum_k e^{x_k} overflows float32 as soon as some x_j > 88.
Subtracting the row maximum m first changes nothing mathematically (the factor
e^{-m} cancels) but makes every exponent <= 0, so every e^{x_j - m} lies in (0, 1]
and the sum lies in [1, n]: no overflow, and log(sum) is never log(0). The forward
kernel therefore makes three passes over its row:

1. m = max_j x_j: each thread takes the max of its strided elements, then the block
   combines the T partial maxima with a tree in shared memory (`block_max`).
2. s = sum_j e^{x_j - m}: the same pattern with `block_sum`.
3. write e^{x_j - m} / s  (softmax)  or  x_j - m - log(s)  (log-softmax).

Log-softmax is computed directly as a difference, never as log(softmax), which
would turn tiny probabilities into log(0) = -inf.

The backward passes need one number per row as well, found the same way:

* softmax:      dx = y * (g - sum_j g_j y_j)
* log-softmax:  dx = g - e^{y} * sum_j g_j

where y is the forward output and g the gradient flowing in.

The block size T is a compile-time size (it sizes the shared array), so each kernel
comes from a factory cached per T.
"""
import functools
import math

import numpy as np
from numba import cuda

from .elementwise import float_dtype, maximum
from .launch import launch
from .reduce import block_max, block_size, block_sum


@cuda.jit(device=True)
def row_max_and_sumexp(x, row, partials):
    """(m, s) for row `row` of x: m its maximum and s = sum_j e^{x_j - m}.

    Every thread of the block must call it (it contains barriers); all get the result.
    The row must not be empty.
    """
    running_max = x[row, 0]
    for j in range(cuda.threadIdx.x, x.shape[1], cuda.blockDim.x):
        running_max = maximum(running_max, x[row, j])
    row_max = block_max(partials, running_max)

    running_sum = x.dtype.type(0)
    for j in range(cuda.threadIdx.x, x.shape[1], cuda.blockDim.x):
        running_sum += math.exp(x[row, j] - row_max)
    return row_max, block_sum(partials, running_sum)


@functools.lru_cache(maxsize=None)
def make_softmax_kernel(threads, log):
    """The forward kernel: softmax, or log-softmax when `log`, with `threads` per block."""

    @cuda.jit(cache=True)
    def softmax_kernel(x, out):
        """Block b computes row b of out from row b of x; thread t handles columns t, t + T, ..."""
        partials = cuda.shared.array(threads, dtype=x.dtype)
        row = cuda.blockIdx.x
        row_max, sum_exp = row_max_and_sumexp(x, row, partials)
        if log:
            log_sum_exp = math.log(sum_exp)
            for j in range(cuda.threadIdx.x, x.shape[1], cuda.blockDim.x):
                out[row, j] = x[row, j] - row_max - log_sum_exp
        else:
            for j in range(cuda.threadIdx.x, x.shape[1], cuda.blockDim.x):
                out[row, j] = math.exp(x[row, j] - row_max) / sum_exp

    return softmax_kernel


@functools.lru_cache(maxsize=None)
def make_softmax_backward_kernel(threads, log):
    """The backward kernel of softmax, or of log-softmax when `log`, with `threads` per block."""

    @cuda.jit(cache=True)
    def softmax_backward_kernel(y, g, dx):
        """Block b computes row b of dx from rows b of y and g; thread t handles columns t, t + T, ..."""
        partials = cuda.shared.array(threads, dtype=y.dtype)
        row = cuda.blockIdx.x
        running_sum = y.dtype.type(0)
        for j in range(cuda.threadIdx.x, y.shape[1], cuda.blockDim.x):
            running_sum += g[row, j] if log else g[row, j] * y[row, j]
        total = block_sum(partials, running_sum)  # sum(g) for log-softmax, sum(g * y) for softmax
        for j in range(cuda.threadIdx.x, y.shape[1], cuda.blockDim.x):
            if log:
                dx[row, j] = g[row, j] - math.exp(y[row, j]) * total
            else:
                dx[row, j] = y[row, j] * (g[row, j] - total)

    return softmax_backward_kernel


def as_rows(x, dtype, xp):
    """x (..., n) as a contiguous (rows, n) matrix of `dtype`."""
    if x.ndim == 0:
        raise ValueError("softmax needs an array with at least one dimension")
    return xp.ascontiguousarray(x, dtype=dtype).reshape(math.prod(x.shape[:-1]), x.shape[-1])


def launch_forward(x, log, xp, threads):
    """softmax (or log-softmax when `log`) of x along its last axis: one block per row."""
    matrix = as_rows(x, float_dtype(x), xp)
    out = xp.empty(matrix.shape, dtype=matrix.dtype)
    rows, n = matrix.shape
    if rows and n:
        block = block_size(n, threads)
        launch(make_softmax_kernel(block, log), rows, block, matrix, out)
    return out.reshape(x.shape)


def launch_backward(y, g, log, xp, threads):
    """The gradient of softmax (or log-softmax when `log`) from its output y and the incoming g."""
    if y.shape != g.shape:
        raise ValueError(f"y and g must have the same shape, got {y.shape} and {g.shape}")
    dtype = float_dtype(y, g)
    y_rows, g_rows = as_rows(y, dtype, xp), as_rows(g, dtype, xp)
    dx = xp.empty(y_rows.shape, dtype=dtype)
    rows, n = y_rows.shape
    if rows and n:
        block = block_size(n, threads)
        launch(make_softmax_backward_kernel(block, log), rows, block, y_rows, g_rows, dx)
    return dx.reshape(y.shape)


def softmax(x, *, xp=np, threads=256):
    """softmax over the last axis of x; a new xp array of x's shape and dtype."""
    return launch_forward(x, False, xp, threads)


def log_softmax(x, *, xp=np, threads=256):
    """log-softmax over the last axis of x; a new xp array of x's shape and dtype."""
    return launch_forward(x, True, xp, threads)


def softmax_backward(y, g, *, xp=np, threads=256):
    """dx = y * (g - sum(g * y, -1)), y = softmax(x); a new xp array of y's shape."""
    return launch_backward(y, g, False, xp, threads)


def log_softmax_backward(y, g, *, xp=np, threads=256):
    """dx = g - exp(y) * sum(g, -1), y = log_softmax(x); a new xp array of y's shape."""
    return launch_backward(y, g, True, xp, threads)
