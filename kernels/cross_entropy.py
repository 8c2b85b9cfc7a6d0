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
"""
import functools
import math

import numpy as np
from numba import cuda

from .elementwise import float_dtype
from .reduce import block_size, block_sum
from .softmax import row_max_and_sumexp


@functools.lru_cache(maxsize=None)
def make_cross_entropy_kernel(threads):
    """The fused cross-entropy kernel with `threads` (a power of two) threads per block."""

    @cuda.jit
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


def cross_entropy(logits, target, ignore_index=-100, label_smoothing=0.0, *, xp=np, threads=256):
    """Per-row cross-entropy of logits (N, C) against integer class targets (N,).

    Returns (loss, dlogits): loss (N,) and its gradient dloss/dlogits (N, C), both new
    xp arrays in the logits' dtype. Rows whose target is ignore_index get 0 in both.
    Raises IndexError for a target outside [0, C) that is not ignore_index (checking
    this reads one flag back from the device).
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
    in_range = (target == ignore_index) | ((target >= 0) & (target < n_classes))
    if not bool(in_range.all()):
        raise IndexError(f"targets must be in [0, {n_classes}) or equal ignore_index={ignore_index}")

    loss = xp.empty(rows, dtype=logits.dtype)
    dlogits = xp.empty(logits.shape, dtype=logits.dtype)
    if rows:
        block = block_size(n_classes, threads)
        weight = logits.dtype.type
        make_cross_entropy_kernel(block)[rows, block](
            logits, target, loss, dlogits, np.int64(ignore_index),
            weight(1.0 - label_smoothing), weight(label_smoothing / max(n_classes, 1)))
    return loss, dlogits
