"""im2col and col2im: turning a convolution into one matrix product, and back.

The idea
--------
A 2-D convolution slides a (kh, kw) window over every channel of the image. If we
copy each window into a column of a matrix ("image to columns"), the whole
convolution becomes a single matrix product with the flattened weights::

    cols[n, (c*kh + i)*kw + j, oh*OW + ow] = x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
                                             (0 when that position lies in the padding)
    out[n] = W.reshape(C_out, C*kh*kw) @ cols[n]                     # (C_out, OH*OW)

with OH = (H + 2*ph - dh*(kh-1) - 1) // sh + 1 and likewise OW. The backward pass
of the convolution needs the *adjoint* of im2col, col2im: every entry of a
columns matrix is added back into the pixel it was copied from. Pixels that sit in
several windows (overlapping windows, stride < kernel) receive several entries.

im2col kernel: one thread per output position (n, c, oh, ow)
------------------------------------------------------------
The grid is one-dimensional. Thread number t takes the t-th element of the
(N, C, OH, OW) index space in row-major order, so ow varies fastest between
neighbouring threads. The thread then loops over the kh*kw kernel offsets (i, j)
and writes kh*kw entries of `cols`, one per row (c*kh + i)*kw + j, all in column
oh*OW + ow.

Why this order: the 32 threads of a warp have consecutive ow, so at each step
of their (i, j) loop they write 32 *consecutive* addresses of one row of `cols`.
The hardware merges such a warp-wide access into a few wide memory transactions
("coalescing"); since im2col only moves data, that is what decides its speed.
Their reads of `x` are consecutive too when the stride sw is 1 (and every sw-th
element otherwise). Computing the (n, c, oh, ow) of a thread costs a few integer
divisions, done once and shared by all kh*kw copies.

col2im kernel: a gather, one thread per input pixel (n, c, h, w)
----------------------------------------------------------------
The obvious way to write col2im is a *scatter*: one thread per column entry,
adding its value into the pixel it came from. But several entries land on the
same pixel, so those threads would race on the `+=` (a read-modify-write: two
threads can read the same old value and one addition is lost). Fixing that needs
atomic additions, which are slower, serialise on hot pixels, and add floating
point numbers in a random order (results change from run to run).

Instead we turn the loop inside out and write a *gather*: each thread owns one
pixel of the output image and finds, by itself, every column entry that was read
from it. Pixel row h was read by kernel row i of output row oh exactly when

    oh*sh - ph + i*dh == h    <=>    oh = (h + ph - i*dh) / sh,

so for each i the thread checks that h + ph - i*dh is non-negative, divisible by
sh and gives oh < OH (and the same for columns). It sums those entries in a
register and writes its pixel once. No two threads write the same address, so
no atomics are needed, and the summation order is fixed, so the result is
deterministic. Neighbouring threads own neighbouring pixels w, so the final
writes are coalesced.

Precision note: the running sum starts from a zero *of the array's dtype*
(`zero` below). A bare `0.0` is a float64 in Numba, and adding float32 values
to it would silently do the whole sum in (slow, on most GPUs) float64. That is
why the col2im kernel comes from a small factory cached per dtype.
"""
import functools

import numpy as np
from numba import cuda

from .elementwise import float_dtype
from .launch import launch

DEFAULT_THREADS_PER_BLOCK = 256


def output_size(size, kernel, stride, padding, dilation):
    """Number of window positions along one axis: (size + 2p - d(k-1) - 1) // s + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@cuda.jit(cache=True)
def _im2col_kernel(x, cols, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w):
    """One thread per (n, c, oh, ow): copy the kh*kw pixels of that window into `cols`."""
    index = cuda.grid(1)
    batch, channels, height, width = x.shape
    if index >= batch * channels * out_h * out_w:
        return  # the last block is only partly used
    ow = index % out_w
    oh = (index // out_w) % out_h
    c = (index // (out_w * out_h)) % channels
    n = index // (out_w * out_h * channels)
    column = oh * out_w + ow
    for i in range(kh):
        h = oh * sh - ph + i * dh
        for j in range(kw):
            w = ow * sw - pw + j * dw
            row = (c * kh + i) * kw + j
            if 0 <= h < height and 0 <= w < width:
                cols[n, row, column] = x[n, c, h, w]
            else:
                cols[n, row, column] = 0  # the window reaches into the zero padding


@functools.lru_cache(maxsize=None)
def _col2im_kernel(dtype):
    """The col2im kernel for one dtype (its accumulator starts from a zero of that dtype)."""
    zero = np.dtype(dtype).type(0)

    @cuda.jit(cache=True)
    def col2im_kernel(cols, image, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w):
        """One thread per pixel (n, c, h, w): gather every column entry read from it, write once."""
        index = cuda.grid(1)
        batch, channels, height, width = image.shape
        if index >= batch * channels * height * width:
            return
        w = index % width
        h = (index // width) % height
        c = (index // (width * height)) % channels
        n = index // (width * height * channels)
        total = zero
        for i in range(kh):
            top = h + ph - i * dh  # equals oh*sh if output row oh read this pixel through kernel row i
            oh = top // sh
            if top < 0 or top % sh != 0 or oh >= out_h:
                continue
            for j in range(kw):
                left = w + pw - j * dw  # equals ow*sw if output column ow read it through kernel column j
                ow = left // sw
                if left < 0 or left % sw != 0 or ow >= out_w:
                    continue
                total += cols[n, (c * kh + i) * kw + j, oh * out_w + ow]
        image[n, c, h, w] = total

    return col2im_kernel


def _output_hw(height, width, kernel_size, stride, padding, dilation):
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    out_h = output_size(height, kh, sh, ph, dh)
    out_w = output_size(width, kw, sw, pw, dw)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"a {kh}x{kw} kernel (dilation {dh}x{dw}, padding {ph}x{pw}) does not fit "
                         f"a {height}x{width} image: the output would be {out_h}x{out_w}")
    return out_h, out_w


def _blocks(total, threads_per_block):
    return (total + threads_per_block - 1) // threads_per_block


def im2col(x, kernel_size, stride, padding, dilation, *, xp=np, threads_per_block=DEFAULT_THREADS_PER_BLOCK):
    """x (N, C, H, W) -> cols (N, C*kh*kw, OH*OW), every receptive field as a column.

    kernel_size, stride, padding, dilation: pairs (kh, kw), (sh, sw), (ph, pw), (dh, dw).
    xp: the array module of x (numpy under the simulator, cupy on a GPU).
    """
    if x.ndim != 4:
        raise ValueError(f"im2col expects x of shape (N, C, H, W), got shape {tuple(x.shape)}")
    dtype = float_dtype(x)
    x = xp.ascontiguousarray(x)
    batch, channels, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    out_h, out_w = _output_hw(height, width, kernel_size, stride, padding, dilation)
    cols = xp.empty((batch, channels * kh * kw, out_h * out_w), dtype=dtype)
    total_threads = batch * channels * out_h * out_w  # one per output position (n, c, oh, ow)
    if total_threads:
        launch(_im2col_kernel, _blocks(total_threads, threads_per_block), threads_per_block,
               x, cols, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w)
    return cols


def col2im(cols, x_shape, kernel_size, stride, padding, dilation, *, xp=np,
           threads_per_block=DEFAULT_THREADS_PER_BLOCK):
    """The adjoint of im2col: cols (N, C*kh*kw, OH*OW) -> image of shape x_shape = (N, C, H, W).

    Every column entry is added into the pixel im2col copied it from (entries that
    came from the zero padding are dropped); pixels shared by overlapping windows
    receive the sum of all their entries. xp: the array module of cols.
    """
    batch, channels, height, width = x_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    out_h, out_w = _output_hw(height, width, kernel_size, stride, padding, dilation)
    expected = (batch, channels * kh * kw, out_h * out_w)
    if tuple(cols.shape) != expected:
        raise ValueError(f"col2im expects cols of shape {expected} for x_shape {tuple(x_shape)}, "
                         f"got {tuple(cols.shape)}")
    dtype = float_dtype(cols)
    cols = xp.ascontiguousarray(cols)
    image = xp.empty((batch, channels, height, width), dtype=dtype)
    total_threads = batch * channels * height * width  # one per input pixel (n, c, h, w)
    if total_threads:
        launch(_col2im_kernel(dtype), _blocks(total_threads, threads_per_block), threads_per_block,
               cols, image, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w)
    return image
