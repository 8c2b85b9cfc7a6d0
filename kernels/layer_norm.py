"""Layer normalisation, forward and backward, fused: one kernel for the forward, two for the backward.

Each row x of length N (the normalised dims flattened) becomes

    xhat = (x - mean) * rstd,   rstd = 1 / sqrt(var + eps)   (biased variance),
    y    = xhat * weight + bias,

and the backward, with dxhat = dy * weight (see ops/normalization.py for the derivation):

    dx      = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) * rstd      (per row)
    dweight = sum over rows of dy * xhat,   dbias = sum over rows of dy       (per column)

Why fuse
--------
Written with array operations this is about ten launches forward and twelve backward
(a mean, a subtraction, a square, another mean, a square root, a division, a product,
a sum ...), each reading and writing the whole (R, N) array. A row's statistics need
only that row, so one block per row can do the whole forward in one launch: it reads
x once, keeps the row's sums in shared memory, and writes y, xhat and rstd.

The mapping of threads onto data
--------------------------------
Forward and dx: one block per row, thread t handles columns t, t + T, ... (coalesced,
as in softmax.py), and `block_sum` (reduce.py) gives every thread the row's sums.
The mean is computed first and the variance as the mean of (x - mean)^2 in a second
pass over the row (two reads of a row that sits in the cache), not as
mean(x^2) - mean^2, which loses all its digits when the mean is large.

dweight and dbias are sums over ROWS, a different direction: one thread per column
walks down its column, and neighbouring threads read neighbouring columns, so every
load is coalesced. With only N threads this kernel is small; for the N of a
Transformer (hundreds) it is one short launch instead of three array operations.
"""
import functools
import math

import numpy as np
from numba import cuda

from .elementwise import float_dtype, grid_size
from .launch import launch
from .reduce import block_size, block_sum

DEFAULT_THREADS = 256


@functools.lru_cache(maxsize=None)
def make_forward_kernel(threads):
    """The forward kernel with `threads` (a power of two) threads per block."""

    @cuda.jit(cache=True)
    def forward_kernel(x, weight, bias, has_weight, has_bias, eps, y, xhat, rstd):
        """Block r normalises row r: y[r], xhat[r] and rstd[r, 0]."""
        partials = cuda.shared.array(threads, dtype=x.dtype)
        row = cuda.blockIdx.x
        tid = cuda.threadIdx.x
        n = x.shape[1]
        running = x.dtype.type(0)
        for j in range(tid, n, cuda.blockDim.x):
            running += x[row, j]
        mean = block_sum(partials, running) / n
        running = x.dtype.type(0)
        for j in range(tid, n, cuda.blockDim.x):
            centred = x[row, j] - mean
            running += centred * centred
        inverse_std = x.dtype.type(1) / math.sqrt(block_sum(partials, running) / n + eps)
        for j in range(tid, n, cuda.blockDim.x):
            value = (x[row, j] - mean) * inverse_std
            xhat[row, j] = value
            if has_weight:
                value *= weight[j]
            if has_bias:
                value += bias[j]
            y[row, j] = value
        if tid == 0:
            rstd[row, 0] = inverse_std

    return forward_kernel


@functools.lru_cache(maxsize=None)
def make_dx_kernel(threads):
    """The dx kernel with `threads` (a power of two) threads per block."""

    @cuda.jit(cache=True)
    def dx_kernel(g, xhat, rstd, weight, has_weight, dx):
        """Block r computes dx[r] = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) * rstd[r]."""
        partials = cuda.shared.array(threads, dtype=g.dtype)
        row = cuda.blockIdx.x
        tid = cuda.threadIdx.x
        n = g.shape[1]
        sum_dxhat = g.dtype.type(0)
        sum_dxhat_xhat = g.dtype.type(0)
        for j in range(tid, n, cuda.blockDim.x):
            dxhat = g[row, j] * weight[j] if has_weight else g[row, j]
            sum_dxhat += dxhat
            sum_dxhat_xhat += dxhat * xhat[row, j]
        mean_dxhat = block_sum(partials, sum_dxhat) / n
        mean_dxhat_xhat = block_sum(partials, sum_dxhat_xhat) / n
        for j in range(tid, n, cuda.blockDim.x):
            dxhat = g[row, j] * weight[j] if has_weight else g[row, j]
            dx[row, j] = (dxhat - mean_dxhat - xhat[row, j] * mean_dxhat_xhat) * rstd[row, 0]

    return dx_kernel


@cuda.jit(cache=True)
def _parameter_grad_kernel(g, xhat, dweight, dbias):
    """Thread j sums column j over the rows: dweight[j] = sum_r g[r, j] xhat[r, j], dbias[j] = sum_r g[r, j]."""
    for j in range(cuda.grid(1), g.shape[1], cuda.gridsize(1)):
        total_w = g.dtype.type(0)
        total_b = g.dtype.type(0)
        for row in range(g.shape[0]):
            total_w += g[row, j] * xhat[row, j]
            total_b += g[row, j]
        dweight[j] = total_w
        dbias[j] = total_b


def _optional(array, dtype, xp):
    """(array as a contiguous xp array, True), or (a 1-element placeholder, False) when it is None."""
    if array is None:
        return xp.empty(1, dtype=dtype), False
    return xp.ascontiguousarray(array, dtype=dtype), True


def layer_norm(x, weight, bias, eps, *, xp=np, threads=DEFAULT_THREADS):
    """Rows of x (R, N) normalised, scaled by weight (N,) and shifted by bias (N,) (either may be None).

    Returns (y, xhat) of x's shape and rstd (R, 1), new xp arrays in x's dtype.
    """
    dtype = float_dtype(x)
    x = xp.ascontiguousarray(x, dtype=dtype)
    weight, has_weight = _optional(weight, dtype, xp)
    bias, has_bias = _optional(bias, dtype, xp)
    rows, n = x.shape
    y, xhat = xp.empty(x.shape, dtype=dtype), xp.empty(x.shape, dtype=dtype)
    rstd = xp.empty((rows, 1), dtype=dtype)
    if rows and n:
        block = block_size(n, threads)
        launch(make_forward_kernel(block), rows, block, x, weight, bias, has_weight, has_bias, dtype.type(eps),
               y, xhat, rstd)
    return y, xhat, rstd


def layer_norm_backward(g, xhat, rstd, weight, *, xp=np, threads=DEFAULT_THREADS):
    """(dx (R, N), dweight (N,), dbias (N,)) from dy = g (R, N) and the forward's xhat, rstd (and weight or None).

    dweight and dbias are returned whether or not the layer has them (the caller keeps what it needs).
    """
    dtype = float_dtype(g, xhat)
    g = xp.ascontiguousarray(g, dtype=dtype)
    xhat = xp.ascontiguousarray(xhat, dtype=dtype)
    rstd = xp.ascontiguousarray(rstd, dtype=dtype)
    weight, has_weight = _optional(weight, dtype, xp)
    rows, n = g.shape
    dx = xp.empty(g.shape, dtype=dtype)
    dweight, dbias = xp.empty(n, dtype=dtype), xp.empty(n, dtype=dtype)
    if n:
        if rows:
            block = block_size(n, threads)
            launch(make_dx_kernel(block), rows, block, g, xhat, rstd, weight, has_weight, dx)
        launch(_parameter_grad_kernel, grid_size(n, threads, 4096), threads, g, xhat, dweight, dbias)
    return dx, dweight, dbias
