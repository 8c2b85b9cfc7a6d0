"""Cross-entropy over logits, forward and backward fused into one kernel.

For a row of logits x (C classes), target class t and label smoothing eps, the loss
compares softmax(x) with the smoothed target distribution q = (1 - eps) onehot(t) + eps / C:

    loss = -sum_j q_j log softmax(x)_j = lse - (1 - eps) x_t - (eps / C) sum_j x_j
    dloss/dx_j = softmax(x)_j - q_j

where lse = log sum_j e^{x_j}. The gradient needs the same row statistics as the
loss, so one kernel computes both: the logits are read from memory in one launch
instead of two, and softmax(x) never has to be stored.

The mapping of threads onto data
--------------------------------
One block per row, as in softmax.py: thread t of T handles classes t, t + T, ...
(coalesced), and the row's maximum m and s = sum_j e^{x_j - m} come from tree
reductions in shared memory (`row_max_and_sumexp`).

Why it is numerically stable
----------------------------
With lse = m + log(s) and (1 - eps) + eps = 1, the loss can be written with every
logit measured from the row maximum:

    loss = log(s) + (1 - eps) (m - x_t) + (eps / C) sum_j (m - x_j)

Every term is >= 0 and none is a difference of two huge numbers, so logits of size
1e4 give an exact-looking loss instead of the round-off of lse - x_t. The
probabilities e^{x_j - m} / s are at most 1, so nothing overflows.

Ignored rows
------------
A row whose target equals `ignore_index` gets loss 0 and gradient 0. All threads
of a block read the same target, so the whole block takes that branch together and
returns early: no thread is left waiting at a `cuda.syncthreads()` the others skip.
The sum for label smoothing sits behind an `if` in the same way, taken by every
thread of the block or by none.

The smoothing weights arrive as scalars of the logits' dtype, computed by the
launcher, so float32 logits are processed in float32 arithmetic throughout.

A target outside [0, C)
-----------------------
Checking the targets before the launch would mean reading them back to the host:
a synchronisation, the GPU idle while Python waits. Instead the kernel gives such a
row loss NaN and gradient NaN (it never reads outside the row), and the caller asks
the backend to check the targets at the next moment Python waits for the GPU anyway
(`check_later` in backends/cupy_backend.py): the error still comes, with its message,
like PyTorch's asynchronous "device-side assert" on CUDA.

The mean over the rows
----------------------
`reduction="mean"` divides by the number of rows that are not ignored. That count
lives on the device, so a second, one-block kernel (`mean_kernel`) sums the row
losses and counts the valid rows in one pass, and writes the mean and 1 / count:
the backward scales the stored gradient by it. Nothing is read back to the host.
"""
import functools
import math

import numpy as np
from numba import cuda

from .elementwise import float_dtype, grid_size
from .launch import launch
from .reduce import block_size, block_sum
from .softmax import row_max_and_sumexp


@functools.lru_cache(maxsize=None)
def make_cross_entropy_kernel(threads):
    """The fused cross-entropy kernel with `threads` (a power of two) threads per block."""

    @cuda.jit(cache=True)
    def cross_entropy_kernel(logits, target, loss, dlogits, ignore_index, target_weight, uniform_weight):
        """Block b fills loss[b] and row b of dlogits; thread t handles classes t, t + T, ...

        target_weight = 1 - eps and uniform_weight = eps / C, in the logits' dtype.
        """
        partials = cuda.shared.array(threads, dtype=logits.dtype)
        row = cuda.blockIdx.x
        tid = cuda.threadIdx.x
        n_classes = logits.shape[1]
        label = target[row]

        if label == ignore_index:
            for j in range(tid, n_classes, cuda.blockDim.x):
                dlogits[row, j] = 0
            if tid == 0:
                loss[row] = 0
            return
        if label < 0 or label >= n_classes:        # checked later, on the host (see "A target outside [0, C)")
            nan = logits.dtype.type(math.nan)
            for j in range(tid, n_classes, cuda.blockDim.x):
                dlogits[row, j] = nan
            if tid == 0:
                loss[row] = nan
            return

        row_max, sum_exp = row_max_and_sumexp(logits, row, partials)

        smoothing_term = logits.dtype.type(0)
        if uniform_weight != 0:
            running_sum = logits.dtype.type(0)
            for j in range(tid, n_classes, cuda.blockDim.x):
                running_sum += row_max - logits[row, j]
            smoothing_term = uniform_weight * block_sum(partials, running_sum)

        if tid == 0:
            loss[row] = math.log(sum_exp) + target_weight * (row_max - logits[row, label]) + smoothing_term

        for j in range(tid, n_classes, cuda.blockDim.x):
            grad = math.exp(logits[row, j] - row_max) / sum_exp - uniform_weight
            if j == label:
                grad -= target_weight
            dlogits[row, j] = grad

    return cross_entropy_kernel


@functools.lru_cache(maxsize=None)
def make_mean_kernel(threads):
    """One block of `threads` threads: the mean of the valid rows' losses, and 1 / (their count)."""

    @cuda.jit(cache=True)
    def mean_kernel(loss, target, ignore_index, mean, inverse_count):
        """Thread t adds up rows t, t + T, ...; two block sums give the total loss and the count."""
        partials = cuda.shared.array(threads, dtype=loss.dtype)
        tid = cuda.threadIdx.x
        zero = loss.dtype.type(0)
        one = loss.dtype.type(1)
        total = zero
        count = zero
        for row in range(tid, loss.shape[0], cuda.blockDim.x):
            if target[row] != ignore_index:
                total += loss[row]
                count += one
        total = block_sum(partials, total)
        count = block_sum(partials, count)
        if tid == 0:
            mean[0] = total / count if count != zero else loss.dtype.type(math.nan)  # 0 / 0, as PyTorch
            inverse_count[0] = one / count if count != zero else loss.dtype.type(math.inf)

    return mean_kernel


@cuda.jit(cache=True)
def _mean_backward_kernel(dlogits, g, inverse_count, out):
    """out = dlogits * (g / count), reading the two scalars on the device (a grid-stride loop)."""
    scale = g[0] * inverse_count[0]
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = dlogits[i] * scale


def cross_entropy(logits, target, ignore_index=-100, label_smoothing=0.0, *, xp=np, threads=256):
    """Per-row cross-entropy of logits (N, C) against integer class targets (N,).

    Returns (loss, dlogits): loss (N,) and its gradient dloss/dlogits (N, C), both new
    xp arrays in the logits' dtype. Rows whose target is ignore_index get 0 in both;
    rows whose target is outside [0, C) get NaN in both (the caller checks the targets
    without a synchronisation: see the module docstring).
    """
    if logits.ndim != 2 or target.ndim != 1 or target.shape[0] != logits.shape[0]:
        raise ValueError(f"expected logits (N, C) and target (N,), got {logits.shape} and {target.shape}")
    if target.dtype.kind not in "iu":
        raise TypeError(f"target must hold integer class indices, not {target.dtype}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    logits = xp.ascontiguousarray(logits, dtype=float_dtype(logits))
    target = xp.ascontiguousarray(target, dtype=np.int64)
    rows, n_classes = logits.shape
    loss = xp.empty(rows, dtype=logits.dtype)
    dlogits = xp.empty(logits.shape, dtype=logits.dtype)
    if rows:
        block = block_size(n_classes, threads)
        weight = logits.dtype.type
        launch(make_cross_entropy_kernel(block), rows, block,
               logits, target, loss, dlogits, np.int64(ignore_index),
               weight(1.0 - label_smoothing), weight(label_smoothing / max(n_classes, 1)))
    return loss, dlogits


def cross_entropy_mean(loss, target, ignore_index=-100, *, xp=np, threads=256):
    """The mean of loss (N,) over the rows whose target is not ignore_index, and 1 / (their count).

    Returns two 0-d xp arrays in loss's dtype; with no valid row the mean is NaN (0 / 0, as
    PyTorch) and 1 / count is inf. One launch of one block: the reduction is small (one value
    per row), so one block looping over the rows beats a grid-wide reduction with two passes.
    """
    if loss.ndim != 1 or target.shape != loss.shape:
        raise ValueError(f"expected loss (N,) and target (N,), got {loss.shape} and {target.shape}")
    loss = xp.ascontiguousarray(loss, dtype=float_dtype(loss))
    target = xp.ascontiguousarray(target, dtype=np.int64)
    mean = xp.empty(1, dtype=loss.dtype)
    inverse_count = xp.empty(1, dtype=loss.dtype)
    block = block_size(max(loss.shape[0], 1), threads)
    launch(make_mean_kernel(block), 1, block, loss, target, np.int64(ignore_index), mean, inverse_count)
    return mean.reshape(()), inverse_count.reshape(())


def cross_entropy_mean_backward(dlogits, g, inverse_count, *, xp=np, threads=256):
    """The gradient of the mean loss: dlogits * g / count, in one launch (g and 1 / count are 0-d device arrays)."""
    dlogits = xp.ascontiguousarray(dlogits, dtype=float_dtype(dlogits))
    out = xp.empty(dlogits.shape, dtype=dlogits.dtype)
    if out.size:
        launch(_mean_backward_kernel, grid_size(out.size, threads, 4096), threads, dlogits.reshape(-1),
               xp.ascontiguousarray(g, dtype=dlogits.dtype).reshape(1),
               xp.ascontiguousarray(inverse_count, dtype=dlogits.dtype).reshape(1), out.reshape(-1))
    return out
