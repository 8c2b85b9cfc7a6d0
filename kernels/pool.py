"""Max pooling, forward and backward, one thread per output (forward) or per input pixel (backward).

Which element is "the" maximum
------------------------------
The gradient of a window's maximum goes to one element: the *first* maximal one in
row-major order (as in PyTorch). A window that holds NaN has maximum NaN, and its
gradient goes to the *last* NaN (the element PyTorch's forward picks).
`chosen_offset` walks a window once and returns that element's offset i * kw + j,
and both kernels use it, so forward and backward can never disagree.

Forward: one thread per output element
--------------------------------------
Output (n, c, oh, ow) reads the kh x kw window whose top-left corner is
(oh * sh, ow * sw) of the (already padded, with -inf) input. The flat output index
is turned into (n, c, oh, ow) with divisions; a grid-stride loop covers any size.

Backward as a gather, not a scatter
-----------------------------------
The natural backward is a scatter: each window adds its gradient to its chosen
element. With overlapping windows (kernel larger than stride) two threads may add to
the same pixel at once, which needs atomic additions (slow, and in float32 the sum
then depends on their order). So the backward is turned around, as col2im in
im2col.py is: one thread per INPUT pixel (h, w) visits the few windows that contain
it, oh from ceil((h - kh + 1) / sh) to floor(h / sh) (and the same for ow),
recomputes which element each one chose, and adds up the gradients of those that
chose this pixel. Every pixel is written exactly once, by its own thread: no atomics,
no zero-filling first, and the sum is deterministic.

Recomputing the choice costs kh * kw reads per window, instead of storing an index
per output in the forward pass. For 2 x 2 windows that is 4 reads from memory that
the forward just touched: cheaper than writing and reading back an index array.
"""
import functools

import numpy as np
from numba import cuda

from .elementwise import float_dtype, grid_size
from .launch import launch

DEFAULT_THREADS = 256
MAX_BLOCKS = 4096


@cuda.jit(device=True)
def chosen_offset(padded, n, c, top, left, kh, kw):
    """(offset i * kw + j of the element the window chose, its value): the first maximum, or the last NaN."""
    best = padded[n, c, top, left]
    pick = 0
    has_nan = best != best
    for k in range(1, kh * kw):
        value = padded[n, c, top + k // kw, left + k % kw]
        if value != value:              # NaN: the last one wins
            best = value
            pick = k
            has_nan = True
        elif not has_nan and value > best:  # strictly greater: the first maximum wins
            best = value
            pick = k
    return pick, best


@cuda.jit(device=True)
def coordinates(index, channels, height, width):
    """(n, c, h, w) of flat index `index` into a C-contiguous (N, channels, height, width) array."""
    w = index % width
    rest = index // width
    h = rest % height
    rest //= height
    return rest // channels, rest % channels, h, w


@functools.lru_cache(maxsize=None)
def _kernels():
    @cuda.jit(cache=True)
    def forward_kernel(padded, y, kh, kw, sh, sw):
        """Thread t computes outputs t, t + S, ... (flat index over y's (N, C, OH, OW))."""
        for index in range(cuda.grid(1), y.size, cuda.gridsize(1)):
            n, c, oh, ow = coordinates(index, y.shape[1], y.shape[2], y.shape[3])
            _, best = chosen_offset(padded, n, c, oh * sh, ow * sw, kh, kw)
            y[n, c, oh, ow] = best

    @cuda.jit(cache=True)
    def backward_kernel(padded, g, dx, kh, kw, sh, sw):
        """Thread t computes input pixels t, t + S, ... (flat index over the padded input's (N, C, H, W))."""
        out_h, out_w = g.shape[2], g.shape[3]
        for index in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
            n, c, h, w = coordinates(index, dx.shape[1], dx.shape[2], dx.shape[3])
            total = dx.dtype.type(0)
            # windows containing row h: oh * sh <= h <= oh * sh + kh - 1
            oh_first = max(0, (h - kh + sh) // sh)
            oh_last = min(out_h - 1, h // sh)
            ow_first = max(0, (w - kw + sw) // sw)
            ow_last = min(out_w - 1, w // sw)
            for oh in range(oh_first, oh_last + 1):
                for ow in range(ow_first, ow_last + 1):
                    pick, _ = chosen_offset(padded, n, c, oh * sh, ow * sw, kh, kw)
                    if oh * sh + pick // kw == h and ow * sw + pick % kw == w:
                        total += g[n, c, oh, ow]
            dx[n, c, h, w] = total

    return forward_kernel, backward_kernel


def max_pool2d(padded, kernel_size, stride, out_hw, *, xp=np, threads=DEFAULT_THREADS):
    """Max over each (kh, kw) window of an already padded (N, C, H, W) input -> (N, C, OH, OW)."""
    padded = xp.ascontiguousarray(padded, dtype=float_dtype(padded))
    (kh, kw), (sh, sw) = kernel_size, stride
    y = xp.empty(padded.shape[:2] + tuple(out_hw), dtype=padded.dtype)
    if y.size:
        forward_kernel, _ = _kernels()
        launch(forward_kernel, grid_size(y.size, threads, MAX_BLOCKS), threads, padded, y, kh, kw, sh, sw)
    return y


def max_pool2d_backward(g, padded, y, kernel_size, stride, *, xp=np, threads=DEFAULT_THREADS):
    """The gradient for the padded input: each window's g goes to the element it chose (see the module docstring).

    `y` is not needed here (the choice is recomputed from `padded`); it is taken for the backend's signature.
    """
    dtype = float_dtype(padded, g)
    padded = xp.ascontiguousarray(padded, dtype=dtype)
    g = xp.ascontiguousarray(g, dtype=dtype)
    (kh, kw), (sh, sw) = kernel_size, stride
    dx = xp.empty(padded.shape, dtype=dtype)
    if dx.size:
        _, backward_kernel = _kernels()
        launch(backward_kernel, grid_size(dx.size, threads, MAX_BLOCKS), threads, padded, g, dx, kh, kw, sh, sw)
    return dx
