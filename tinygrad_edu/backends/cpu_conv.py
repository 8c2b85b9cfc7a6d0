"""Convolution and max pooling on the CPU: large GEMMs over chunks of images, and compiled loops.

ops/conv.py and ops/pool.py call the functions below first and fall back to their plain,
readable versions (the backend's im2col / col2im / max_pool2d / max_pool2d_backward, the
classroom's assignments) whenever these return None: on the "cuda" device, for dtypes other
than float32 and float64, inside `plain()`, and in a student copy (see the last section).
Each fast path below is the lesson it teaches.

Lesson 1: a few large matrix products instead of N small ones, each the size of the cache
------------------------------------------------------------------------------------------
The plain Conv2d copies each image's receptive fields into its own matrix of K = C*kh*kw
rows and L = OH*OW columns, and multiplies the weights with each image's matrix: N products
(O, K) @ (K, L). For the benchmark's second convolution (N = 64, K = 288, L = 256, O = 64)
each product is small, and a BLAS library is at its best on large products: it cuts the
operands into cache-sized blocks, packs each once and keeps every core busy. So here the
columns of a CHUNK of m images are written side by side into one matrix of shape (K, m*L):

    cols[(c*kh + i)*kw + j, (n*OH + oy)*OW + ox] = x[n, c, oy*sh - ph + i*dh, ox*sw - pw + j*dw]
                                                   (0 where that pixel lies in the padding)

and every pass of the convolution is one GEMM per chunk:

    forward          y  (O, m*L)    = W (O, K) @ cols
    weight gradient  dW (O, K)     += (cols @ dy^T)^T         (the sum over the batch happens in the GEMMs)
    input gradient   dcols (K, m*L) = W^T @ dy,  then  dx = col2im(dcols)

How large a chunk: the whole batch makes the largest GEMMs, but its columns are nine times
the input (19 MB for the second convolution), far more than a core's cache, so im2col writes
them to memory and the GEMM reads them back, and col2im reads 19 MB of dcols again. A chunk
whose columns fit in about one core's L2 cache (`CHUNK_BYTES`, 8 images there) is still a
large GEMM (75 MFLOP), and its columns are still in the cache when the GEMM, then col2im,
read them. The backward makes the columns again from the saved input instead of keeping them
from the forward: im2col costs less than the memory it would hold. (A small layer, whose whole
batch fits in one chunk, keeps its columns: they cost at most CHUNK_BYTES, and remaking them
would be most of its backward.) Measured on that layer
(one core's L2 cache is 1 MB on the project's machine): forward 7.5 -> 6.0 ms, backward
13.0 -> 12.8 ms, and the cnn step's peak memory 119 -> 82 MB.

dW is computed transposed, (K, O) = cols (K, m*L) @ dy^T, and added into dW (O, K) by a small
transposing add: the same product, but OpenBLAS splits this orientation over its threads much
better when O and K are small and m*L is long (the first convolution's dW, O = 32, K = 27:
0.92 -> 0.65 ms per chunk on two threads).

(With groups: one GEMM per group, on its block of K/G rows.) The price is the order of y: the
GEMM writes it channel-major, (O, m, L), so it is copied once into PyTorch's (m, O, L), the
bias added on the way (`_swap_leading_axes`), and dy is copied once the other way. Both copies
move contiguous runs of L numbers, and cost little next to the GEMMs. The other layout, rows
(m*L, K), makes the GEMMs a little faster (about 15%), but then im2col, col2im and both copies
move single numbers instead of runs, which costs more than the GEMMs gain.

Lesson 2: copying loops, compiled, that work in the cache
----------------------------------------------------------
numpy builds im2col from whole-array operations: pad the whole input (a copy), take a strided
view of every window and copy it (the plain im2col); col2im is kh*kw strided additions into a
whole padded image. The compiled loops (Numba's @njit: machine code for exactly these loops)
take the image one (n, c) plane at a time instead: the plane is copied into a small
zero-bordered buffer that stays in the CPU's cache, and the kh*kw shifted windows are copied
out of it (`_im2col_loop`), or added into it before its interior is written out once
(`_col2im_loop`). No padded copy of the whole input is ever made, and every pixel sums its
entries in the same order as the plain col2im, window offset (i, j) by offset: the two give
identical bits. A stride of 1 has its own inner loop: a copy the compiler can see is
contiguous, which it turns into vector instructions (with a stride known only at run time it
cannot). The same lesson gives `_swap_leading_axes`, the copy between the (O, N, L) and
(N, O, L) orders, one run of L numbers after another: several times faster than numpy's
strided copy of a transposed view.

Lesson 3: max pooling that remembers where each maximum was
------------------------------------------------------------
The plain max pooling keeps its input, and its backward finds each window's maximum again by
comparing the input with y, one whole-array pass per window offset. `_max_pool_loop` instead
records, while it computes the maximum, WHERE it was: the index of the winning element in its
(H, W) plane (int32; -1 when the winner is the padding, whose gradient is dropped). The
backward is then a scatter, dx.flat[argmax] += dy, and only the indices (the size of y) are
kept instead of the whole input. The rules are exactly max_pool2d_backward's: the FIRST
maximum in row-major order (only a strictly greater element takes over), and a window holding
NaN gives NaN, routed to its LAST NaN. Two details make it fast: which element wins is data,
so the loop uses selects (`a if c else b`) instead of branches the CPU would mispredict; and
the most common pooling, 2x2 windows with stride 2, has its own loop with the four elements
written out (`_max_pool_2x2_loop`): no loops over the window and no bounds, about ten times
faster than the general loop (0.4 ms on one core for the benchmark's 8 MB input).

Lesson 4: fresh memory is not free
-----------------------------------
A large numpy array often gets new pages from the operating system, which clears every page
before handing it over: about 0.1 ms per megabyte, and a training step allocates over a hundred
megabytes. The temporaries that die within one call (a chunk's columns, y and dy in the GEMM's
order, dcols) are therefore kept and reused (`_scratch`, one set per thread, as large as the
largest chunk needs);
what is returned or saved for backward is allocated as usual. In the benchmark's cnn step this
took the page faults from about 1850 to 250 per step, and the step from 40 to 36 ms. (Since then
heap_reuse.py keeps freed memory in the process for everything else too.)

Compiling, and threads
----------------------
Each loop is compiled on its first call for the dtypes it meets (float32, float64; contiguous
arrays only: inputs are made contiguous first): about 2 seconds for all of them, per dtype, the
first time. The machine code is kept on disk (`cache=True`, in __pycache__), so later processes
load it in a fraction of a second.

Chunks are independent, so a layer's chunks are shared out: one thread per free core takes
chunk after chunk from a shared counter (`_in_parallel`; the chunk count is a multiple of the
cores), and runs its copies and its GEMMs (on one BLAS thread each) for that chunk. Then the
copying loops run in parallel too, not only the GEMMs, and a core that runs slower than the
other (a busy neighbour on a shared machine) simply takes fewer chunks. Each chunk's dW is its
own, and they are added in chunk order at the end, so the result has the same bits whichever
thread took which chunk. The threads are BLAS's own, borrowed through blas_threads.run_parts,
not a second pool: a second pool (Numba's `parallel=True`, or Python threads) would share the
cores with BLAS's threads, which keep spinning for a while after each product: measured on the
2-core machine, a GEMM right after a Numba-parallel loop took twice as long, and the whole
training step 1.8 times as long. The loops are compiled with `nogil=True`, so that two of them
can run at once. A layer whose batch is one chunk runs on this thread, and its GEMMs on every
core through BLAS. Measured on the benchmark's cnn step: 30.5 -> 26 ms.

In a student copy
-----------------
These fast paths compute what the conv2d and max-pool-backward assignments ask students to
write, so each function that does that work is a solution region of that assignment. Its
stub in a student copy is `return None` (or is never reached): the fast path switches itself
off, the library runs the student's code, and the copy gives nothing away.
"""
import itertools
import threading

import numpy as np
from numba import njit

from ..blas_threads import blas_threads, product
from .fast_path_switch import plain, takes  # noqa: F401  (plain: cpu_conv.plain() switches these paths off)

_kept = threading.local()         # the temporaries `_scratch` reuses, per thread
CHUNK_BYTES = 2_600_000           # the columns of one chunk of images: about what one core's L2 cache holds


def _scratch(name, shape, dtype):
    """An uninitialised array for a temporary that dies before the call that asked for it returns: a view of a
    buffer this thread keeps under `name` and reuses, grown when a call needs more."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buffer = getattr(_kept, name, None)
    if buffer is None or buffer.size < nbytes:
        buffer = np.empty(nbytes, dtype=np.uint8)
        setattr(_kept, name, buffer)
    return buffer[:nbytes].view(dtype).reshape(shape)


# ---- convolution -----------------------------------------------------------------------------------
def conv2d_forward(backend, x, weight, bias, geometry, groups):
    """Conv2d's forward as one GEMM per group for each chunk of images: returns (y (N, O, OH, OW), x, cols), x
    (made contiguous) and cols to save for `conv2d_backward`: the columns (K, N*L) when one chunk holds the whole
    batch, else None (the backward makes them again); None where the fast path does not apply."""
    # BEGIN SOLUTION conv2d  the compiled, chunked version of your im2col and Conv2d
    # BEGIN PROMPT
    # return None   # the compiled fast path is not part of this copy: Conv2d runs your im2col, col2im and backward
    # END PROMPT
    if not takes(backend, x, weight, *(() if bias is None else (bias,))):
        return None
    x = np.ascontiguousarray(x)
    n, o = x.shape[0], weight.shape[0]
    k, out_h, out_w = _column_shape(x.shape, geometry)
    out = np.empty((n, o, out_h, out_w), dtype=x.dtype)
    shift = np.zeros(o, dtype=x.dtype) if bias is None else np.ascontiguousarray(bias)
    w_groups = weight.reshape(groups, o // groups, k // groups)
    chunks = _chunks(n, k * out_h * out_w * x.itemsize)
    kept = _columns(x, geometry, fresh=True) if len(chunks) == 1 else None   # one chunk: kept for the backward

    def forward_chunk(start, stop, _):
        cols = kept if kept is not None else _columns(x[start:stop], geometry)      # (K, m*L), the chunk's columns
        y = _scratch("channel-major", (groups, o // groups, cols.shape[1]), x.dtype)  # (O, m*L), the GEMM's order
        product(w_groups, cols.reshape(groups, k // groups, -1), out=y)             # one GEMM per group
        _swap_leading_axes(y.reshape(o, stop - start, -1), out[start:stop].reshape(stop - start, o, -1), shift)

    _in_parallel(forward_chunk, chunks)
    return out, x, kept
    # END SOLUTION


def conv2d_backward(g, x, cols, weight, geometry, groups, needs_input_grad, has_bias):
    """The gradients (dx, dW[, db]) of `conv2d_forward`'s y, from its saved input x (and columns, when it kept
    them): per chunk of images, the columns (again) and one GEMM for each gradient."""
    # BEGIN SOLUTION conv2d  the chunked version of Conv2d.backward
    # BEGIN PROMPT
    # raise AssertionError("not reached in a student copy: conv2d_forward returns None there")
    # END PROMPT
    n, o = g.shape[:2]
    k, out_h, out_w = _column_shape(x.shape, geometry)
    g = np.ascontiguousarray(g, dtype=x.dtype)
    w_groups = weight.reshape(groups, o // groups, k // groups)
    dx = np.empty(x.shape, dtype=x.dtype) if needs_input_grad[0] else None
    chunks = _chunks(n, k * out_h * out_w * x.itemsize)
    kept = cols                                 # the forward's columns when the batch is one chunk, else None
    dws, dbs = [None] * len(chunks), [None] * len(chunks)      # each chunk's share, added up in chunk order below

    def backward_chunk(start, stop, chunk):
        m = stop - start
        dy = _scratch("channel-major", (groups, o // groups, m * out_h * out_w), x.dtype)  # dy in the GEMM's order
        _swap_leading_axes(g[start:stop].reshape(m, o, -1), dy.reshape(o, m, -1), np.zeros(m, dtype=x.dtype))
        if has_bias and needs_input_grad[2]:
            dbs[chunk] = dy.reshape(o, -1).sum(axis=1)
        if needs_input_grad[1]:                                              # the sum over the batch: in the GEMMs
            columns = kept if kept is not None else _columns(x[start:stop], geometry)
            columns = columns.reshape(groups, k // groups, -1)
            dws[chunk] = product(columns, dy.transpose(0, 2, 1)).transpose(0, 2, 1)   # (cols dy^T)^T: see Lesson 1
        if dx is not None:
            dcols = _scratch("dcols", (groups, k // groups, m * out_h * out_w), x.dtype)
            product(w_groups.transpose(0, 2, 1), dy, out=dcols)
            (kh, kw), (sh, sw), (ph, pw), (dh, dw_) = geometry
            _col2im_loop(dcols.reshape(k, m, out_h, out_w), dx[start:stop], kh, kw, sh, sw, ph, pw, dh, dw_)

    _in_parallel(backward_chunk, chunks)
    dw = _sum_in_order(dws).reshape(weight.shape) if needs_input_grad[1] else None
    db = _sum_in_order(dbs) if has_bias and needs_input_grad[2] else None
    return (dx, dw, db) if has_bias else (dx, dw)
    # END SOLUTION


def _column_shape(x_shape, geometry):
    """(K, OH, OW): the rows of im2col's matrix and the output's size, for an input of x_shape."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = geometry
    out_h = (x_shape[2] + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    out_w = (x_shape[3] + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    return x_shape[1] * kh * kw, out_h, out_w


def _chunks(n, column_bytes_per_image):
    """(start, stop) of equal chunks of the batch whose columns take at most CHUNK_BYTES (one image at least); when
    there is more than one, a whole number of chunks for each free core (see `_in_parallel`)."""
    per_chunk = max(1, CHUNK_BYTES // max(1, column_bytes_per_image))
    count = -(-n // per_chunk)
    if count > 1:
        parts = blas_threads().free_cores.now()
        count = min(n, -(-count // parts) * parts)
    return [(n * i // count, n * (i + 1) // count) for i in range(count)]


def _in_parallel(work, chunks):
    """work(start, stop, index) for every chunk. One thread per free core (BLAS's own threads, borrowed through
    blas_threads.run_parts; each GEMM then runs on the thread of its chunk) takes chunk after chunk from a shared
    counter until none is left, so a core that runs slower simply takes fewer. One chunk: work on it here, its
    GEMMs split over every core by BLAS."""
    if len(chunks) == 1:
        work(*chunks[0], 0)
        return
    taken = itertools.count()                # next() on it is atomic under Python's GIL: no chunk is taken twice

    def take_chunks():
        while True:
            index = next(taken)
            if index >= len(chunks):
                return
            work(*chunks[index], index)

    blas_threads().run_parts(take_chunks, [()] * min(blas_threads().free_cores.now(), len(chunks)))


def _sum_in_order(parts):
    """parts[0] + parts[1] + ..., always in this order, whichever thread computed which: the same bits every run."""
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    return total


def _columns(x, geometry, fresh=False):
    """im2col of the images x (m, C, H, W): (K, m*L), image after image, in this thread's reused buffer (or, with
    `fresh`, in a new array that may be kept)."""
    k, out_h, out_w = _column_shape(x.shape, geometry)
    shape = (k, x.shape[0], out_h, out_w)
    cols = np.empty(shape, dtype=x.dtype) if fresh else _scratch("columns", shape, x.dtype)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = geometry
    _im2col_loop(x, cols, kh, kw, sh, sw, ph, pw, dh, dw)
    return cols.reshape(k, -1)


@njit(cache=True, nogil=True)
def _im2col_loop(x, cols, kh, kw, sh, sw, ph, pw, dh, dw):
    """cols[(c*kh + i)*kw + j, n, oy, ox] = x[n, c, oy*sh - ph + i*dh, ox*sw - pw + j*dw], 0 in the padding.
    One (n, c) plane at a time: into a zero-bordered copy, then out of it as kh*kw shifted windows."""
    # BEGIN SOLUTION conv2d
    # BEGIN PROMPT
    # return   # not part of this copy (conv2d_forward returns None before calling it)
    # END PROMPT
    n_images, channels, height, width = x.shape
    out_h, out_w = cols.shape[2], cols.shape[3]
    for plane in range(n_images * channels):
        n, c = plane // channels, plane % channels
        padded = np.zeros((height + 2 * ph, width + 2 * pw), dtype=x.dtype)   # small: it stays in the cache
        for h in range(height):
            for w in range(width):
                padded[ph + h, pw + w] = x[n, c, h, w]
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                for oy in range(out_h):
                    source = padded[oy * sh + i * dh, j * dw:]          # the window row, from its first pixel
                    target = cols[row, n, oy]
                    if sw == 1:
                        for ox in range(out_w):
                            target[ox] = source[ox]
                    else:
                        for ox in range(out_w):
                            target[ox] = source[ox * sw]
    # END SOLUTION


@njit(cache=True, nogil=True)
def _col2im_loop(cols, image, kh, kw, sh, sw, ph, pw, dh, dw):
    """The adjoint of `_im2col_loop`: image[n, c, oy*sh - ph + i*dh, ox*sw - pw + j*dw] += cols[(c*kh + i)*kw + j,
    n, oy, ox], entries that fall in the padding dropped; image is written, not added to. One (n, c) plane at a
    time: every window added into a zero-bordered buffer, then its interior written out."""
    # BEGIN SOLUTION conv2d
    # BEGIN PROMPT
    # return   # not part of this copy (conv2d_forward returns None, so conv2d_backward is never called)
    # END PROMPT
    n_images, channels, height, width = image.shape
    out_h, out_w = cols.shape[2], cols.shape[3]
    for plane in range(n_images * channels):
        n, c = plane // channels, plane % channels
        padded = np.zeros((height + 2 * ph, width + 2 * pw), dtype=image.dtype)
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                for oy in range(out_h):
                    target = padded[oy * sh + i * dh, j * dw:]
                    source = cols[row, n, oy]
                    if sw == 1:
                        for ox in range(out_w):
                            target[ox] += source[ox]
                    else:
                        for ox in range(out_w):
                            target[ox * sw] += source[ox]
        for h in range(height):
            for w in range(width):
                image[n, c, h, w] = padded[ph + h, pw + w]
    # END SOLUTION


@njit(cache=True, nogil=True)
def _swap_leading_axes(source, target, shift):
    """target[b, a, :] = source[a, b, :] + shift[a]: the copy between the GEMM's (O, N, L) order and (N, O, L).
    (numpy does it as a strided copy, several times slower.) One run of L numbers at a time."""
    a_size, b_size = source.shape[0], source.shape[1]
    for ab in range(a_size * b_size):
        a, b = ab // b_size, ab % b_size
        run, out, add = source[a, b], target[b, a], shift[a]
        for position in range(run.size):
            out[position] = run[position] + add


# ---- max pooling -----------------------------------------------------------------------------------
def max_pool2d_forward(backend, x, kernel_size, stride, padding):
    """(y (N, C, OH, OW), argmax) for max pooling, the padding counted as -inf; argmax (int32, the shape of y)
    is the index of each window's winner in its (H, W) plane, -1 for the padding. None where the fast path does
    not apply."""
    # BEGIN SOLUTION max-pool-backward  the compiled version: remember where each maximum was while pooling
    # BEGIN PROMPT
    # return None   # the compiled fast path is not part of this copy: MaxPool2d runs your max_pool2d_backward
    # END PROMPT
    if not takes(backend, x):
        return None
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    out_shape = (n, c, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)
    y, argmax = np.empty(out_shape, dtype=x.dtype), np.empty(out_shape, dtype=np.int32)
    contiguous = np.ascontiguousarray(x)
    if kernel_size == stride == (2, 2) and padding == (0, 0):
        blas_threads().split_pass(_max_pool_2x2_loop, [contiguous, y, argmax])        # images on every free core
    else:
        blas_threads().split_pass(_max_pool_loop, [contiguous, y, argmax], kh, kw, sh, sw, ph, pw)
    return y, argmax
    # END SOLUTION


def max_pool2d_backward(g, argmax, x_shape):
    """dx (x_shape): each window's gradient added into its winner, argmax from `max_pool2d_forward`."""
    # BEGIN SOLUTION max-pool-backward
    # BEGIN PROMPT
    # raise AssertionError("not reached in a student copy: max_pool2d_forward returns None there")
    # END PROMPT
    dx = np.empty(x_shape, dtype=g.dtype)                                   # (cleared in the loop)
    blas_threads().split_pass(_max_pool_backward_loop, [dx, np.ascontiguousarray(g), argmax])
    return dx
    # END SOLUTION


@njit(cache=True, nogil=True)
def _max_pool_loop(x, y, argmax, kh, kw, sh, sw, ph, pw):
    """y = the maximum of each window (the padding is -inf), argmax = where it is (h*W + w; -1: the padding).
    One (n, c) plane at a time."""
    # BEGIN SOLUTION max-pool-backward
    # BEGIN PROMPT
    # return   # not part of this copy (max_pool2d_forward returns None before calling it)
    # END PROMPT
    n_images, channels, height, width = x.shape
    out_h, out_w = y.shape[2], y.shape[3]
    for plane in range(n_images * channels):
        n, c = plane // channels, plane % channels
        for oy in range(out_h):
            top = oy * sh - ph
            for ox in range(out_w):
                left = ox * sw - pw
                best = -np.inf                  # so that a window of -inf keeps its first element:
                where = top * width + left if 0 <= top < height and 0 <= left < width else -1
                last_nan = -1
                for h in range(max(top, 0), min(top + kh, height)):       # the padding never wins: skip it
                    for w in range(max(left, 0), min(left + kw, width)):
                        value, index = x[n, c, h, w], h * width + w
                        # selects, not branches: which element wins is data, and a mispredicted branch
                        # costs more than the comparison itself
                        where = index if value > best else where          # strictly greater: ties keep the first
                        best = value if value > best else best
                        last_nan = index if value != value else last_nan  # a NaN: the last one wins
                y[n, c, oy, ox] = best if last_nan < 0 else np.nan
                argmax[n, c, oy, ox] = where if last_nan < 0 else last_nan
    # END SOLUTION


@njit(cache=True, nogil=True)
def _max_pool_2x2_loop(x, y, argmax):
    """`_max_pool_loop` for the most common pooling, 2x2 windows with stride 2 and no padding, written out: the
    four elements of a window are named, so the compiler needs no loop and no bounds for them."""
    # BEGIN SOLUTION max-pool-backward
    # BEGIN PROMPT
    # return   # not part of this copy (max_pool2d_forward returns None before calling it)
    # END PROMPT
    n_images, channels, width = x.shape[0], x.shape[1], x.shape[3]
    out_h, out_w = y.shape[2], y.shape[3]
    for plane in range(n_images * channels):
        n, c = plane // channels, plane % channels
        for oy in range(out_h):
            upper, lower = x[n, c, 2 * oy], x[n, c, 2 * oy + 1]
            for ox in range(out_w):
                first = 2 * oy * width + 2 * ox                              # the window's top-left index
                best, where = upper[2 * ox], first
                last_nan = first if best != best else -1
                for value, index in ((upper[2 * ox + 1], first + 1), (lower[2 * ox], first + width),
                                     (lower[2 * ox + 1], first + width + 1)):
                    where = index if value > best else where
                    best = value if value > best else best
                    last_nan = index if value != value else last_nan
                y[n, c, oy, ox] = best if last_nan < 0 else np.nan
                argmax[n, c, oy, ox] = where if last_nan < 0 else last_nan
    # END SOLUTION


@njit(cache=True, nogil=True)
def _max_pool_backward_loop(dx, g, argmax):
    """dx = 0, then dx.flat[argmax] += g within each (n, c) plane (overlapping windows add up); -1 (the
    padding) is dropped. One plane of dx at a time, cleared just before adding into it."""
    # BEGIN SOLUTION max-pool-backward
    # BEGIN PROMPT
    # return   # not part of this copy (max_pool2d_forward returns None, so this is never called)
    # END PROMPT
    n_images, channels = dx.shape[0], dx.shape[1]
    for plane in range(n_images * channels):
        n, c = plane // channels, plane % channels
        pixels, wins, grads = dx[n, c].reshape(-1), argmax[n, c].reshape(-1), g[n, c].reshape(-1)
        pixels[:] = 0
        for k in range(wins.size):
            if wins[k] >= 0:
                pixels[wins[k]] += grads[k]
    # END SOLUTION
