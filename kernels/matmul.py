"""Matrix multiply, tiled through shared memory, with numpy.matmul's batch broadcasting.

out[m, n] = sum_k a[m, k] * b[k, n], for a (..., M, K) and b (..., K, N).

Why tiles
---------
The naive kernel gives each thread one output and lets it read a whole row of a
and a whole column of b from global memory: 2K loads for K multiply-adds, and every
element of a and b is fetched again by every thread that needs it (N and M times).
Global memory is far too slow for that. Instead, a *block* of threads computes one
TILE x TILE tile of the output together and walks along K in steps:

    for each step k0 = 0, S, 2S, ...:
        the block copies a[tile rows, k0:k0+S] and b[k0:k0+S, tile cols]
            from global into shared memory (each thread copies a few elements)
        cuda.syncthreads()     # the tiles are complete before anyone reads them
        every thread multiplies-and-adds from the shared tiles into its outputs
        cuda.syncthreads()     # everyone is done reading before the next copy

Each element brought into shared memory is now used TILE times instead of once.

More work per thread (register blocking)
----------------------------------------
Shared memory is fast but not free: with one output per thread, every multiply-add
still needs two shared-memory reads. So each thread computes a P x P block of
outputs (P = `per_thread`), kept in registers (`acc`): per step of k it reads P
values of a and P of b once into registers and does P*P multiply-adds with them.
The block is a square of T x T threads (T = `threads`), the output tile has side
TILE = T * P, and the K step is S = T, so that loading the a tile (TILE x T) and the
b tile (T x TILE) costs each thread exactly P loads each. P = 1 is the classic
tiled kernel; P = 4 or 8 is how fast GPU matmuls keep the arithmetic units busy.

Thread (ty, tx) owns the outputs at rows ty, ty + T, ..., and columns tx, tx + T, ...
of the tile (strided, not a contiguous P x P patch). Then in every access the 32
threads of a warp, which have consecutive tx, touch consecutive columns: the global
loads of b and stores of out are *coalesced*, the global loads of a read runs of T
neighbouring elements, and the shared-memory reads hit 32 different banks or the
same word (a broadcast), so they never conflict.

Edges and batches
-----------------
Sizes need not be multiples of the tile: a load outside the matrix puts 0 in the
shared tile (adding 0 changes nothing), and a store outside is skipped. The grid is
(column tiles, row tiles, batch): blockIdx.z picks the matrix pair, whose index in a
and in b comes from `broadcast_offsets` (see elementwise.py) so a batch of size-1 is
broadcast without copying. The grid's z size is limited (65535), so a block walks
the batch with stride gridDim.z. When b has no batch dimensions, the launcher
instead folds a's batch into its rows: one (B*M, K) @ (K, N) product has bigger,
better-filled tiles than B small ones.

Compile-time sizes (T, P, hence the shared and register arrays) come from the cached
factory `make_matmul_kernel(threads, per_thread)`. On a GPU the launcher picks P
for you: the largest that still gives at least MIN_BLOCKS blocks, because a large
tile reuses more data but a grid of too few blocks leaves streaming multiprocessors
idle.
"""
import functools
import math

import numpy as np
from numba import cuda

from .elementwise import broadcast_offsets, broadcast_strides, collapse_dims, float_dtype
from .launch import launch

MAX_GRID_Y = 65535  # the largest number of blocks CUDA allows along y (and along z)
MIN_BLOCKS = 128    # about one block per streaming multiprocessor on a large GPU (an H100 has 132)


@functools.lru_cache(maxsize=None)
def make_matmul_kernel(threads, per_thread):
    """The batched matmul kernel for blocks of threads x threads threads, each computing per_thread^2 outputs."""
    tile = threads * per_thread  # side of the output tile of one block
    step = threads               # how far along K one shared-memory tile reaches

    @cuda.jit(cache=True)
    def matmul_kernel(a, b, out, batch_shape, a_batch_strides, b_batch_strides):
        """a (Ba, M, K), b (Bb, K, N), out (batch, M, N).

        Block (x, y, z) computes out[batch, y*TILE : (y+1)*TILE, x*TILE : (x+1)*TILE] for
        batch = z, z + gridDim.z, ...; thread (ty, tx) the outputs of that tile at rows
        ty + i*T and columns tx + j*T, for i, j < P. batch_shape and the batch strides
        (in matrices, 0 where broadcast) say which matrices of a and b batch multiplies.
        """
        a_tile = cuda.shared.array((tile, step), dtype=a.dtype)
        b_tile = cuda.shared.array((step, tile), dtype=a.dtype)
        acc = cuda.local.array((per_thread, per_thread), dtype=a.dtype)
        a_regs = cuda.local.array(per_thread, dtype=a.dtype)
        b_regs = cuda.local.array(per_thread, dtype=a.dtype)
        zero = a.dtype.type(0)

        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        first_row = cuda.blockIdx.y * tile
        first_col = cuda.blockIdx.x * tile
        n_rows, n_inner, n_cols = a.shape[1], a.shape[2], b.shape[2]

        for batch in range(cuda.blockIdx.z, out.shape[0], cuda.gridDim.z):
            a_index, b_index = broadcast_offsets(batch, batch_shape, a_batch_strides, b_batch_strides)
            for i in range(per_thread):
                for j in range(per_thread):
                    acc[i, j] = zero

            # BEGIN SOLUTION gpu-matmul  for each k0: load the a and b tiles into shared memory (zeros outside), sync, accumulate acc, sync
            for k0 in range(0, n_inner, step):
                # Copy the a tile (TILE x T) and the b tile (T x TILE): P elements of each per thread,
                # zeros where the tile sticks out of the matrix.
                for i in range(per_thread):  # a tile: rows ty, ty + T, ..., column tx
                    row, k = first_row + ty + i * threads, k0 + tx
                    a_tile[ty + i * threads, tx] = a[a_index, row, k] if row < n_rows and k < n_inner else zero
                for j in range(per_thread):  # b tile: row ty, columns tx, tx + T, ...
                    k, col = k0 + ty, first_col + tx + j * threads
                    b_tile[ty, tx + j * threads] = b[b_index, k, col] if k < n_inner and col < n_cols else zero
                cuda.syncthreads()

                for kk in range(step):
                    for i in range(per_thread):
                        a_regs[i] = a_tile[ty + i * threads, kk]
                    for j in range(per_thread):
                        b_regs[j] = b_tile[kk, tx + j * threads]
                    for i in range(per_thread):
                        for j in range(per_thread):
                            acc[i, j] += a_regs[i] * b_regs[j]
                cuda.syncthreads()
            # END SOLUTION

            for i in range(per_thread):
                for j in range(per_thread):
                    row, col = first_row + ty + i * threads, first_col + tx + j * threads
                    if row < n_rows and col < n_cols:
                        out[batch, row, col] = acc[i, j]

    return matmul_kernel


def pick_per_thread(threads, n_rows, n_cols, batch):
    """Outputs per thread along each side: the largest P of 8, 4, 2 whose tiles still make at least
    MIN_BLOCKS blocks, else 1."""
    for per_thread in (8, 4, 2):
        tile = threads * per_thread
        if batch * math.ceil(n_rows / tile) * math.ceil(n_cols / tile) >= MIN_BLOCKS:
            return per_thread
    return 1


def as_matrix_stack(x):
    """x (..., R, C) as a (stack, R, C) view, stack = the product of the leading sizes."""
    return x.reshape(math.prod(x.shape[:-2]), *x.shape[-2:])


def matmul(a, b, *, xp=np, tile=None, threads=16):
    """numpy.matmul(a, b) for float32/float64 xp arrays, with batch broadcasting.

    a (..., M, K) and b (..., K, N); a 1-D a is a row (K,) and a 1-D b a column (K,),
    their extra axis dropped from the result, as in numpy. Blocks are threads x threads;
    `tile` (a multiple of `threads`) is the side of each block's output tile, chosen
    by pick_per_thread when None. Returns a new xp array in the promoted dtype.
    """
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul does not take 0-d arrays")
    if tile is not None and (tile < threads or tile % threads):
        raise ValueError(f"tile ({tile}) must be a positive multiple of threads ({threads})")
    dtype = float_dtype(a, b)
    a = xp.ascontiguousarray(a, dtype=dtype)
    b = xp.ascontiguousarray(b, dtype=dtype)
    a_matrix = a.reshape(1, -1) if a.ndim == 1 else a
    b_matrix = b.reshape(-1, 1) if b.ndim == 1 else b
    (n_rows, n_inner), (n_inner_b, n_cols) = a_matrix.shape[-2:], b_matrix.shape[-2:]
    if n_inner != n_inner_b:
        raise ValueError(f"matmul: inner dimensions differ, {a.shape} @ {b.shape}")
    batch_shape = np.broadcast_shapes(a_matrix.shape[:-2], b_matrix.shape[:-2])
    out_shape = batch_shape + (n_rows, n_cols)
    if a.ndim == 1:
        out_shape = out_shape[:-2] + out_shape[-1:]
    if b.ndim == 1:
        out_shape = out_shape[:-1]

    if a_matrix.ndim > 2 and b_matrix.ndim == 2:  # one b for every batch: fold a's batch into its rows
        a_matrix = a_matrix.reshape(math.prod(a_matrix.shape[:-1]), n_inner)
        n_rows, batch_shape = a_matrix.shape[0], ()
    batch = math.prod(batch_shape)
    out = xp.empty((batch, n_rows, n_cols), dtype=dtype)
    if out.size == 0:
        return out.reshape(out_shape)

    per_thread = pick_per_thread(threads, n_rows, n_cols, batch) if tile is None else tile // threads
    tile = threads * per_thread
    grid = (math.ceil(n_cols / tile), math.ceil(n_rows / tile), min(batch, MAX_GRID_Y))
    if grid[1] > MAX_GRID_Y:
        raise ValueError(f"matmul: {n_rows} rows need more than {MAX_GRID_Y} row tiles of {tile}")
    shape, a_strides, b_strides = collapse_dims(batch_shape, broadcast_strides(a_matrix.shape[:-2], batch_shape),
                                                broadcast_strides(b_matrix.shape[:-2], batch_shape))
    launch(make_matmul_kernel(threads, per_thread), grid, (threads, threads),
           as_matrix_stack(a_matrix), as_matrix_stack(b_matrix), out, shape, a_strides, b_strides)
    return out.reshape(out_shape)
