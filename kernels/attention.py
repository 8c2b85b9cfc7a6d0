"""Fused scaled-dot-product attention with an online softmax (FlashAttention-style).

The problem
-----------
For queries q (B, L, E), keys k (B, S, E) and values v (B, S, Ev) (the caller folds
batch and heads into B), attention is

    scores = q @ k^T * scale + mask            (B, L, S)  mask: optional, additive
    p      = softmax(scores, axis=-1)          causal: key j hidden from query i when j > i
    out    = p @ v                             (B, L, Ev)

Written like that it materialises two (B, L, S) arrays in global memory, which
for long sequences is both the memory bottleneck and the memory *limit*. The
fused kernel never stores them: it streams over the keys in tiles and keeps only
O(E + Ev) numbers per query.

The online softmax
------------------
A softmax needs the row maximum (to subtract it, so exp never overflows) before
it can add anything up. The online softmax computes it on the fly. While it walks
over the keys of one query row in tiles, each query keeps three running values:

    m    the largest score seen so far
    l    sum over the keys seen so far of exp(s_j - m)
    acc  sum over the keys seen so far of exp(s_j - m) * v_j      (a vector of length Ev)

The invariant: after any number of tiles, m, l and acc are exactly what the plain
formulas would give on the keys seen so far. When a new tile arrives with a
larger maximum, m_new = max(m, max of the tile's scores), every old term
exp(s_j - m) has to become exp(s_j - m_new) = exp(s_j - m) * exp(m - m_new), so

    l   <- l   * exp(m - m_new) + sum over the tile of exp(s_j - m_new)
    acc <- acc * exp(m - m_new) + sum over the tile of exp(s_j - m_new) * v_j

keeps the invariant. exp(m - m_new) <= 1 and every exp(s_j - m_new) <= 1, so
nothing overflows. After the last tile, out = acc / l and the row's
logsumexp is lse = m + log(l); the forward pass saves lse for the backward.

Keys hidden by the causal rule or by a -inf mask get the score -inf, so
exp(-inf - m) = 0: they drop out by themselves. The one special case is a row
whose visible scores are all -inf (so far, or for good): then m = -inf and
s - m would be -inf - (-inf) = NaN. The kernel skips a tile whose new maximum is
still -inf, and a row that never saw a finite score gets out = 0 and lse = -inf
(and zero gradients in the backward pass).

Forward kernel: thread and block mapping
----------------------------------------
* Grid (B, ceil(L / BLOCK_Q)): block (b, y) handles queries y*BLOCK_Q ... of batch
  b. (The batch goes on the grid's x axis because gridDim.y is limited to 65535,
  while B, which is batch times heads, can be larger.)
* Block of BLOCK_Q threads, one per query: thread t owns query row y*BLOCK_Q + t
  and keeps its q row, m, l and acc in registers / local memory (`cuda.local.array`).
* The block walks over the keys in tiles of BLOCK_K. For every tile all threads
  first copy the K and V tiles (BLOCK_K rows) into shared memory, together: thread
  t copies elements t, t + BLOCK_Q, t + 2*BLOCK_Q, ... of the tile, and since a
  tile's rows are contiguous in memory, neighbouring threads read neighbouring
  addresses (coalesced). `cuda.syncthreads()` then makes sure the tile is
  complete before anyone reads it.
* Each thread then computes its BLOCK_K scores and updates its m, l and acc.
  All threads of a warp read the same k_tile[j, d] at the same moment: shared
  memory broadcasts one value to all of them at no extra cost (no bank conflict).
* A second `cuda.syncthreads()` keeps the next tile's load from overwriting
  data that slower threads are still reading.
* Each K and V element is read from global memory once per *block* instead of
  once per *query*: the reuse factor is BLOCK_Q.

Every thread of the block must reach every `syncthreads()`, so threads past the
end of the sequence (in the last block) do not return early: they help load the
tiles and skip the arithmetic (`is_query`). With causal masking, a block stops
at the key tile after its last query: later keys are hidden from all its queries.

Backward
--------
With p recomputed from the saved lse as p = exp(s - lse) (already normalised,
since lse = m + log(l): no maxima or sums are needed again), D_i = sum_d dout[i, d] * out[i, d], dp = dout @ v^T and
ds = p * (dp - D) (the softmax Jacobian applied to dp):

    dq = scale * ds @ k,     dk = scale * ds^T @ q,     dv = p^T @ dout

The backward is split in two kernels so that every output element has exactly
one writer (no atomics):
* the dq kernel has the forward's mapping: a thread per query, walking over
  K/V tiles in shared memory and accumulating its dq row;
* the dk/dv kernel is its mirror image: a block of BLOCK_K threads, a thread per
  key, walking over tiles of BLOCK_Q queries (q, dout, lse and D in shared memory)
  and accumulating its dk and dv rows.
Both recompute the scores tile by tile, as the forward did. D is a plain
row-wise reduction, computed with the array module before the two launches.

Sizes
-----
BLOCK_Q and BLOCK_K are compile-time constants (shared and local arrays need a
fixed size), and so is HEAD_DIM, the capacity of the per-row arrays: the next
power of two >= max(E, Ev). They are the arguments of small factories cached per
(BLOCK_Q, BLOCK_K, HEAD_DIM, dtype), so the tests can use tiny tiles while a GPU
uses large ones. The shared tiles take 2 * BLOCK_K * HEAD_DIM elements in the
forward and dq kernels, (2 * HEAD_DIM + 2) * BLOCK_Q in the dk/dv kernel; the
launchers shrink the tile height when that would exceed the 48 KiB of static
shared memory a block may use. The running values are kept in the
input dtype: every constant (0, -inf) is baked into the factory with that dtype,
because a bare 0.0 is a float64 in Numba and would turn float32 arithmetic
into float64.

Simplifications, worth trying to remove as exercises: the q row (forward, dq)
and the mask entries are read straight from global memory, which is not
coalesced (neighbouring threads read different rows); the per-row arrays live in
local memory, where real FlashAttention kernels split E over several threads and
use tensor-core matrix products for the tiles.
"""
import functools
import math

import numpy as np
from numba import cuda, from_dtype

from .launch import launch

DEFAULT_BLOCK_Q = 64
DEFAULT_BLOCK_K = 32
SHARED_MEMORY_BYTES = 48 * 1024  # static shared memory one block may use


# ---- device helpers ---------------------------------------------------------------------------
@cuda.jit(device=True)
def _load_rows(tile, source, batch, first_row, n_rows, thread, n_threads):
    """Copy source[batch, first_row:first_row + n_rows, :] into tile[:n_rows, :], all threads together.

    Thread t copies the flat elements t, t + n_threads, t + 2*n_threads, ...: the
    rows are contiguous in memory, so a warp reads one contiguous stretch (coalesced).
    """
    width = source.shape[2]
    for flat in range(thread, n_rows * width, n_threads):
        row = flat // width
        col = flat - row * width
        tile[row, col] = source[batch, first_row + row, col]


@cuda.jit(device=True)
def _dot(vector, tile, row, length, start):
    """start + sum over d < length of vector[d] * tile[row, d]."""
    total = start
    for d in range(length):
        total += vector[d] * tile[row, d]
    return total


# ---- forward ----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _forward_kernel(block_q, block_k, head_dim, dtype):
    """The forward kernel for one (BLOCK_Q, BLOCK_K, HEAD_DIM, dtype)."""
    element = from_dtype(dtype)
    zero = np.dtype(dtype).type(0)
    neg_inf = np.dtype(dtype).type(-np.inf)

    @cuda.jit(cache=True)
    def forward_kernel(q, k, v, mask, has_mask, causal, scale, out, lse):
        """Block (b, y): queries y*BLOCK_Q + t of batch b, one per thread t; online softmax over K/V tiles."""
        b = cuda.blockIdx.x
        thread = cuda.threadIdx.x
        q_start = cuda.blockIdx.y * block_q
        query = q_start + thread
        seq_q, dim_qk = q.shape[1], q.shape[2]
        seq_k, dim_v = k.shape[1], v.shape[2]
        is_query = query < seq_q
        mask_b = b if mask.shape[0] > 1 else 0

        k_tile = cuda.shared.array((block_k, head_dim), element)
        v_tile = cuda.shared.array((block_k, head_dim), element)
        q_row = cuda.local.array(head_dim, element)
        acc = cuda.local.array(head_dim, element)
        scores = cuda.local.array(block_k, element)

        if is_query:
            for d in range(dim_qk):
                q_row[d] = q[b, query, d]
        for d in range(dim_v):
            acc[d] = zero
        row_max = neg_inf  # m
        row_sum = zero  # l

        keys_end = seq_k
        if causal:  # keys after this block's last query are hidden from all of its queries
            keys_end = min(seq_k, q_start + block_q)

        for k_start in range(0, keys_end, block_k):
            tile_len = min(block_k, keys_end - k_start)
            _load_rows(k_tile, k, b, k_start, tile_len, thread, block_q)
            _load_rows(v_tile, v, b, k_start, tile_len, thread, block_q)
            cuda.syncthreads()  # the tiles are complete

            if is_query:
                tile_max = neg_inf
                for j in range(tile_len):
                    key = k_start + j
                    if causal and key > query:
                        s = neg_inf
                    else:
                        s = _dot(q_row, k_tile, j, dim_qk, zero) * scale
                        if has_mask:
                            s += mask[mask_b, query, key]
                    scores[j] = s
                    tile_max = max(tile_max, s)
                new_max = max(row_max, tile_max)
                if new_max > neg_inf:  # otherwise every score so far is -inf: nothing to add
                    correction = math.exp(row_max - new_max)  # rescales the old terms; 0 on the first visible tile
                    row_sum *= correction
                    for d in range(dim_v):
                        acc[d] *= correction
                    for j in range(tile_len):
                        p = math.exp(scores[j] - new_max)
                        row_sum += p
                        for d in range(dim_v):
                            acc[d] += p * v_tile[j, d]
                    row_max = new_max
            cuda.syncthreads()  # everyone is done with the tiles before the next load overwrites them

        if is_query:
            if row_sum > zero:
                for d in range(dim_v):
                    out[b, query, d] = acc[d] / row_sum
                lse[b, query] = row_max + math.log(row_sum)
            else:  # a fully masked row
                for d in range(dim_v):
                    out[b, query, d] = zero
                lse[b, query] = neg_inf

    return forward_kernel


# ---- backward: dq, one thread per query -------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _dq_kernel(block_q, block_k, head_dim, dtype):
    """The dq kernel for one (BLOCK_Q, BLOCK_K, HEAD_DIM, dtype)."""
    element = from_dtype(dtype)
    zero = np.dtype(dtype).type(0)
    neg_inf = np.dtype(dtype).type(-np.inf)

    @cuda.jit(cache=True)
    def dq_kernel(q, k, v, dout, lse, delta, mask, has_mask, causal, scale, dq):
        """Block (b, y): dq rows of queries y*BLOCK_Q + t of batch b, one per thread t, over K/V tiles."""
        b = cuda.blockIdx.x
        thread = cuda.threadIdx.x
        q_start = cuda.blockIdx.y * block_q
        query = q_start + thread
        seq_q, dim_qk = q.shape[1], q.shape[2]
        seq_k, dim_v = k.shape[1], v.shape[2]
        is_query = query < seq_q
        mask_b = b if mask.shape[0] > 1 else 0

        k_tile = cuda.shared.array((block_k, head_dim), element)
        v_tile = cuda.shared.array((block_k, head_dim), element)
        q_row = cuda.local.array(head_dim, element)
        dout_row = cuda.local.array(head_dim, element)
        dq_acc = cuda.local.array(head_dim, element)

        row_lse = neg_inf
        row_delta = zero
        if is_query:
            for d in range(dim_qk):
                q_row[d] = q[b, query, d]
            for d in range(dim_v):
                dout_row[d] = dout[b, query, d]
            row_lse = lse[b, query]
            row_delta = delta[b, query]
        for d in range(dim_qk):
            dq_acc[d] = zero
        has_grad = is_query and row_lse > neg_inf  # a fully masked row has no gradient

        keys_end = seq_k
        if causal:
            keys_end = min(seq_k, q_start + block_q)

        for k_start in range(0, keys_end, block_k):
            tile_len = min(block_k, keys_end - k_start)
            _load_rows(k_tile, k, b, k_start, tile_len, thread, block_q)
            _load_rows(v_tile, v, b, k_start, tile_len, thread, block_q)
            cuda.syncthreads()

            if has_grad:
                for j in range(tile_len):
                    key = k_start + j
                    if causal and key > query:
                        continue
                    s = _dot(q_row, k_tile, j, dim_qk, zero) * scale
                    if has_mask:
                        s += mask[mask_b, query, key]
                    p = math.exp(s - row_lse)  # the softmax probability, recomputed
                    ds = p * (_dot(dout_row, v_tile, j, dim_v, zero) - row_delta)
                    for d in range(dim_qk):
                        dq_acc[d] += ds * k_tile[j, d]
            cuda.syncthreads()

        if is_query:
            for d in range(dim_qk):
                dq[b, query, d] = dq_acc[d] * scale

    return dq_kernel


# ---- backward: dk and dv, one thread per key --------------------------------------------------
@functools.lru_cache(maxsize=None)
def _dkdv_kernel(block_q, block_k, head_dim, dtype):
    """The dk/dv kernel for one (BLOCK_Q, BLOCK_K, HEAD_DIM, dtype)."""
    element = from_dtype(dtype)
    zero = np.dtype(dtype).type(0)
    neg_inf = np.dtype(dtype).type(-np.inf)

    @cuda.jit(cache=True)
    def dkdv_kernel(q, k, v, dout, lse, delta, mask, has_mask, causal, scale, dk, dv):
        """Block (b, y): dk and dv rows of keys y*BLOCK_K + t of batch b, one per thread t, over query tiles."""
        b = cuda.blockIdx.x
        thread = cuda.threadIdx.x
        k_start = cuda.blockIdx.y * block_k
        key = k_start + thread
        seq_q, dim_qk = q.shape[1], q.shape[2]
        seq_k, dim_v = k.shape[1], v.shape[2]
        is_key = key < seq_k
        mask_b = b if mask.shape[0] > 1 else 0

        q_tile = cuda.shared.array((block_q, head_dim), element)
        dout_tile = cuda.shared.array((block_q, head_dim), element)
        lse_tile = cuda.shared.array(block_q, element)
        delta_tile = cuda.shared.array(block_q, element)
        k_row = cuda.local.array(head_dim, element)
        v_row = cuda.local.array(head_dim, element)
        dk_acc = cuda.local.array(head_dim, element)
        dv_acc = cuda.local.array(head_dim, element)

        if is_key:
            for d in range(dim_qk):
                k_row[d] = k[b, key, d]
            for d in range(dim_v):
                v_row[d] = v[b, key, d]
        for d in range(dim_qk):
            dk_acc[d] = zero
        for d in range(dim_v):
            dv_acc[d] = zero

        queries_begin = 0
        if causal:  # queries before this block's first key see none of its keys
            queries_begin = k_start

        for q_start in range(queries_begin, seq_q, block_q):
            tile_len = min(block_q, seq_q - q_start)
            _load_rows(q_tile, q, b, q_start, tile_len, thread, block_k)
            _load_rows(dout_tile, dout, b, q_start, tile_len, thread, block_k)
            for i in range(thread, tile_len, block_k):
                lse_tile[i] = lse[b, q_start + i]
                delta_tile[i] = delta[b, q_start + i]
            cuda.syncthreads()

            if is_key:
                for i in range(tile_len):
                    query = q_start + i
                    row_lse = lse_tile[i]
                    if row_lse == neg_inf or (causal and key > query):
                        continue  # a fully masked query row, or a key hidden from this query
                    s = _dot(k_row, q_tile, i, dim_qk, zero) * scale
                    if has_mask:
                        s += mask[mask_b, query, key]
                    p = math.exp(s - row_lse)
                    ds = p * (_dot(v_row, dout_tile, i, dim_v, zero) - delta_tile[i])
                    for d in range(dim_v):
                        dv_acc[d] += p * dout_tile[i, d]
                    for d in range(dim_qk):
                        dk_acc[d] += ds * q_tile[i, d]
            cuda.syncthreads()

        if is_key:
            for d in range(dim_qk):
                dk[b, key, d] = dk_acc[d] * scale
            for d in range(dim_v):
                dv[b, key, d] = dv_acc[d]

    return dkdv_kernel


# ---- launchers --------------------------------------------------------------------------------
def _head_dim_capacity(dim_qk, dim_v):
    """The next power of two >= max(E, Ev): the size of the per-row arrays (few compiled variants)."""
    needed = max(dim_qk, dim_v, 1)
    return 1 << (needed - 1).bit_length()


def _fit_in_shared_memory(rows, bytes_per_row):
    """Shrink a tile height so that the block's shared tiles fit in SHARED_MEMORY_BYTES."""
    return max(1, min(rows, SHARED_MEMORY_BYTES // bytes_per_row))


def _blocks(count, per_block):
    return (count + per_block - 1) // per_block


def _prepare_inputs(q, k, v, mask, xp):
    """Check shapes and dtypes; return contiguous q, k, v, a (1 or B, L, S) mask (a dummy when None), has_mask."""
    if q.ndim != 3 or k.ndim != 3 or v.ndim != 3:
        raise ValueError(f"attention expects q (B, L, E), k (B, S, E), v (B, S, Ev); "
                         f"got shapes {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    (batch, seq_q, dim_qk), seq_k = q.shape, v.shape[1]
    if tuple(k.shape) != (batch, seq_k, dim_qk) or v.shape[0] != batch:
        raise ValueError(f"attention shapes do not match: q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")
    dtype = np.dtype(q.dtype)
    if dtype not in (np.float32, np.float64) or k.dtype != dtype or v.dtype != dtype:
        raise TypeError(f"attention kernels need q, k, v all float32 or all float64, "
                        f"got {q.dtype}, {k.dtype}, {v.dtype}")
    if mask is None:
        mask, has_mask = xp.zeros((1, 1, 1), dtype=dtype), False
    else:
        if mask.ndim == 2:
            mask = mask[None]
        if mask.ndim != 3 or mask.shape[0] not in (1, batch) or tuple(mask.shape[1:]) != (seq_q, seq_k):
            raise ValueError(f"attention mask should have shape (L, S) or (B, L, S) = ({seq_q}, {seq_k}) or "
                             f"({batch}, {seq_q}, {seq_k}), got {tuple(mask.shape)}")
        mask, has_mask = xp.ascontiguousarray(mask, dtype=dtype), True
    return xp.ascontiguousarray(q), xp.ascontiguousarray(k), xp.ascontiguousarray(v), mask, has_mask


def attention_forward(q, k, v, scale, causal=False, mask=None, *, xp=np,
                      block_q=DEFAULT_BLOCK_Q, block_k=DEFAULT_BLOCK_K):
    """softmax(q k^T * scale + mask) v -> (out (B, L, Ev), lse (B, L)).

    q (B, L, E), k (B, S, E), v (B, S, Ev); scale a float; causal hides key j from
    query i when j > i (top-left aligned when L != S); mask None or an additive
    float array (L, S) or (B, L, S). lse is the row logsumexp of the scaled, masked
    scores. A fully masked row gives out = 0 and lse = -inf.
    xp: the array module of the inputs (numpy under the simulator, cupy on a GPU).
    block_q: queries (threads) per block; block_k: keys per shared-memory tile.
    """
    q, k, v, mask, has_mask = _prepare_inputs(q, k, v, mask, xp)
    (batch, seq_q, dim_qk), dim_v = q.shape, v.shape[2]
    dtype = np.dtype(q.dtype)
    out = xp.empty((batch, seq_q, dim_v), dtype=dtype)
    lse = xp.empty((batch, seq_q), dtype=dtype)
    if batch and seq_q:
        head_dim = _head_dim_capacity(dim_qk, dim_v)
        block_k = _fit_in_shared_memory(block_k, 2 * head_dim * dtype.itemsize)
        kernel = _forward_kernel(block_q, block_k, head_dim, dtype)
        launch(kernel, (batch, _blocks(seq_q, block_q)), block_q,
               q, k, v, mask, has_mask, bool(causal), dtype.type(scale), out, lse)
    return out, lse


def attention_backward(q, k, v, out, lse, dout, scale, causal=False, mask=None, *, xp=np,
                       block_q=DEFAULT_BLOCK_Q, block_k=DEFAULT_BLOCK_K):
    """Gradients of attention_forward -> (dq (B, L, E), dk (B, S, E), dv (B, S, Ev)).

    out and lse as returned by attention_forward, dout (B, L, Ev) the gradient of
    out; the other arguments as for attention_forward. The probabilities are
    recomputed tile by tile from lse; fully masked rows get zero gradients.
    block_q: queries per block in the dq kernel and per tile in the dk/dv kernel;
    block_k: keys per tile in the dq kernel and per block in the dk/dv kernel.
    """
    q, k, v, mask, has_mask = _prepare_inputs(q, k, v, mask, xp)
    (batch, seq_q, dim_qk), (seq_k, dim_v) = q.shape, v.shape[1:]
    dtype = np.dtype(q.dtype)
    if tuple(out.shape) != (batch, seq_q, dim_v) or tuple(dout.shape) != (batch, seq_q, dim_v) \
            or tuple(lse.shape) != (batch, seq_q):
        raise ValueError(f"attention backward: out and dout should have shape {(batch, seq_q, dim_v)} and lse "
                         f"{(batch, seq_q)}, got {tuple(out.shape)}, {tuple(dout.shape)}, {tuple(lse.shape)}")
    dout = xp.ascontiguousarray(dout, dtype=dtype)
    lse = xp.ascontiguousarray(lse, dtype=dtype)
    delta = xp.ascontiguousarray((dout * out.astype(dtype, copy=False)).sum(axis=-1))  # D = rowsum(dout * out)
    dq = xp.empty((batch, seq_q, dim_qk), dtype=dtype)
    dk = xp.empty((batch, seq_k, dim_qk), dtype=dtype)
    dv = xp.empty((batch, seq_k, dim_v), dtype=dtype)
    head_dim = _head_dim_capacity(dim_qk, dim_v)
    scale = dtype.type(scale)
    causal = bool(causal)
    if batch and seq_q:
        tile_k = _fit_in_shared_memory(block_k, 2 * head_dim * dtype.itemsize)
        kernel = _dq_kernel(block_q, tile_k, head_dim, dtype)
        launch(kernel, (batch, _blocks(seq_q, block_q)), block_q,
               q, k, v, dout, lse, delta, mask, has_mask, causal, scale, dq)
    if batch and seq_k:
        tile_q = _fit_in_shared_memory(block_q, (2 * head_dim + 2) * dtype.itemsize)
        kernel = _dkdv_kernel(tile_q, block_k, head_dim, dtype)
        launch(kernel, (batch, _blocks(seq_k, block_k)), block_k,
               q, k, v, dout, lse, delta, mask, has_mask, causal, scale, dk, dv)
    return dq, dk, dv
