"""Lesson 7: writing GPU kernels with Numba CUDA.

What you will learn
  * the CUDA execution model: a *kernel* runs once per thread; threads are grouped
    in *blocks*, blocks in a *grid*, and each thread finds its data from its indices
    (blockIdx, blockDim, threadIdx, or simply cuda.grid(1));
  * a vector-add kernel: one thread per element, a bounds check, a launch
    configuration `kernel[blocks, threads_per_block](...)`;
  * shared memory and cuda.syncthreads(): a row-sum where the threads of one block
    cooperate through a fast scratchpad, combining partial sums in a tree;
  * how the project's own kernels in kernels/ (matmul, softmax, reductions, ...) are
    launched, and how each is checked against numpy.

No GPU? No problem: without a usable CUDA device this lesson switches on Numba's
CUDA *simulator* (NUMBA_ENABLE_CUDASIM=1, set before numba is imported). The
simulator runs every thread of a kernel as a Python thread on the CPU: the results
are exactly what the GPU would compute (so it is how the project tests its kernels),
but it is slow, so sizes are kept small and timings mean nothing there.

Run it:
    python lessons/07_gpu_kernels.py            # real GPU if there is one (and CuPy), else the simulator
    python lessons/07_gpu_kernels.py --quick    # smaller arrays (what CI runs)
"""
import importlib
import importlib.util
import math
import os
import sys
import time

import numpy as np

import common
import tinygrad_edu as tg

# ---- pick the mode BEFORE numba.cuda is imported: it reads NUMBA_ENABLE_CUDASIM once, on import ------
REAL_GPU = tg.cuda.is_available() and os.environ.get("NUMBA_ENABLE_CUDASIM", "0") != "1"
if not REAL_GPU:
    if "numba.cuda" in sys.modules and os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        raise RuntimeError("numba.cuda was imported before this lesson could switch on the CUDA simulator; "
                           "run it as `NUMBA_ENABLE_CUDASIM=1 python lessons/07_gpu_kernels.py`")
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    if "numba" in sys.modules:      # tinygrad_edu's CPU code already imported numba, which read its NUMBA_*
        import numba                # settings then; make it read them again so numba.cuda sees the change
        numba.config.reload_config()

from numba import cuda  # noqa: E402  (after the mode is chosen)

if REAL_GPU:
    import cupy as xp   # the project's kernels take CuPy arrays on a GPU ...
else:
    xp = np             # ... and numpy arrays under the simulator


# =============================================================================================
# Part 1: threads, blocks, grids
# =============================================================================================
@cuda.jit
def where_am_i(block_ids, thread_ids, global_ids):
    """Every thread writes down its own coordinates, at its own global position."""
    i = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x   # the same as cuda.grid(1)
    if i < global_ids.size:
        block_ids[i] = cuda.blockIdx.x
        thread_ids[i] = cuda.threadIdx.x
        global_ids[i] = cuda.grid(1)


@cuda.jit
def vector_add(a, b, out):
    """out[i] = a[i] + b[i]: one thread per element.

    The grid is rounded *up* to whole blocks, so the last block may have threads past
    the end of the arrays: the bounds check keeps them from writing out of range.
    Neighbouring threads touch neighbouring elements, so a warp's 32 loads are
    *coalesced* into a few wide memory transactions: that is what makes this fast.
    """
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a[i] + b[i]


def part1(n):
    print("\n-- Part 1: thread indexing and vector add --")
    threads = 4
    blocks = 3
    ids = [cuda.to_device(np.full(10, -1, dtype=np.int32)) for _ in range(3)]
    where_am_i[blocks, threads](*ids)       # launch: a grid of 3 blocks of 4 threads = 12 threads
    block_ids, thread_ids, global_ids = (d.copy_to_host() for d in ids)
    print(f"a launch of {blocks} blocks x {threads} threads over 10 elements (2 threads idle):")
    print(f"  element      {np.arange(10)}")
    print(f"  blockIdx.x   {block_ids}")
    print(f"  threadIdx.x  {thread_ids}")
    print(f"  cuda.grid(1) {global_ids}   = blockIdx.x * blockDim.x + threadIdx.x")
    assert np.array_equal(global_ids, np.arange(10))

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    threads = 128
    blocks = math.ceil(n / threads)                           # enough blocks to cover every element
    d_a, d_b = cuda.to_device(a), cuda.to_device(b)           # copy host (CPU) -> device (GPU) memory
    d_out = cuda.device_array_like(d_a)                       # uninitialised device memory for the result
    start = time.perf_counter()
    vector_add[blocks, threads](d_a, d_b, d_out)
    cuda.synchronize()                                        # launches are asynchronous: wait for the end
    elapsed = time.perf_counter() - start
    out = d_out.copy_to_host()                                # device -> host
    assert np.array_equal(out, a + b), "vector_add disagrees with numpy"
    print(f"vector_add on {n:,} elements ({blocks} blocks x {threads} threads) matches numpy exactly "
          f"({elapsed * 1e3:.1f} ms{', the first call includes compiling' if REAL_GPU else ' in the simulator'})")


# =============================================================================================
# Part 2: shared memory -- a row sum where the threads of a block cooperate
# =============================================================================================
ROW_THREADS = 64    # threads per block; a compile-time constant because shared arrays have a fixed size


@cuda.jit
def row_sum(x, out):
    """out[r] = x[r, :].sum(), one block per row.

    1. Each thread walks the row with stride ROW_THREADS (thread t adds x[r, t],
       x[r, t + 64], ...), so any row length works and the loads stay coalesced.
    2. The partial sums go into *shared memory*, a small scratchpad that all threads of
       one block can see (and much faster than global memory).
    3. A tree: in each level the first half of the threads add in the value half a block
       away (32 pairs, 16, ..., 1). cuda.syncthreads() is a barrier between levels:
       a thread must not read a slot before the thread writing it has finished. Every
       thread must reach every barrier, so only the *work* is inside the `if`.
    """
    partial = cuda.shared.array(ROW_THREADS, dtype=np.float32)
    row, t = cuda.blockIdx.x, cuda.threadIdx.x
    acc = np.float32(0)            # a float32 literal: a bare 0.0 would be float64, and slower on a GPU
    for j in range(t, x.shape[1], ROW_THREADS):
        acc += x[row, j]
    partial[t] = acc
    cuda.syncthreads()
    stride = ROW_THREADS // 2
    while stride > 0:
        if t < stride:
            partial[t] += partial[t + stride]
        cuda.syncthreads()
        stride //= 2
    if t == 0:
        out[row] = partial[0]


def part2(rows, cols):
    print("\n-- Part 2: a shared-memory row sum --")
    x = np.random.default_rng(1).standard_normal((rows, cols)).astype(np.float32)
    d_out = cuda.device_array(rows, dtype=np.float32)
    row_sum[rows, ROW_THREADS](cuda.to_device(x), d_out)     # grid = one block per row
    out = d_out.copy_to_host()
    expected = x.astype(np.float64).sum(axis=1)
    err = float(np.abs(out - expected).max())
    assert np.allclose(out, expected, rtol=1e-5, atol=1e-4), f"row_sum disagrees with numpy (max error {err})"
    print(f"row_sum of a ({rows}, {cols}) float32 matrix ({rows} blocks x {ROW_THREADS} threads) matches numpy "
          f"(max error {err:.1e}; float32 sums in a different order round differently)")


# =============================================================================================
# Part 3: the project's own kernels
# =============================================================================================
def _reference_attention(q, k, v, scale, causal):
    scores = q @ k.transpose(0, 2, 1) * scale
    if causal:
        scores = np.where(np.triu(np.ones(scores.shape[-2:], dtype=bool), 1), -np.inf, scores)
    w = np.exp(scores - scores.max(-1, keepdims=True))
    return (w / w.sum(-1, keepdims=True)) @ v


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def kernel_demos(rng):
    """(module, launcher, what it shows, a function that runs it and returns (ours, expected))."""
    f32 = np.float32
    x = rng.standard_normal((4, 20)).astype(f32)
    a, b = rng.standard_normal((20, 17)).astype(f32), rng.standard_normal((17, 12)).astype(f32)
    img = rng.standard_normal((2, 3, 6, 6)).astype(f32)
    target = rng.integers(0, 20, size=4)
    q, k, v = (rng.standard_normal((2, 8, 4)).astype(f32) for _ in range(3))
    gates, c_prev = rng.standard_normal((3, 4 * 5)).astype(f32), rng.standard_normal((3, 5)).astype(f32)

    def lstm_reference():
        i, f, g, o = np.split(gates, 4, axis=1)
        c = _sigmoid(f) * c_prev + _sigmoid(i) * np.tanh(g)
        return np.concatenate([_sigmoid(o) * np.tanh(c), c], axis=1)

    def im2col_reference():
        padded = np.pad(img, ((0, 0), (0, 0), (1, 1), (1, 1)))
        cols = [padded[:, :, i:i + 6, j:j + 6] for i in range(3) for j in range(3)]   # (kh*kw) x (N, C, 6, 6)
        return np.stack(cols, axis=2).reshape(2, 3 * 9, 36)                            # (N, C*kh*kw, OH*OW)

    def cross_entropy_reference():
        logp = x - np.log(np.exp(x - x.max(1, keepdims=True)).sum(1, keepdims=True)) - x.max(1, keepdims=True)
        return -logp[np.arange(4), target]

    return [
        ("elementwise", "binary", "out = a + b with broadcasting: (4, 20) + (20,)",
         lambda m: (m.binary("add", dev(x), dev(x[0]), xp=xp), x + x[0])),
        ("elementwise", "unary", "tanh, one thread per element (a grid-stride loop)",
         lambda m: (m.unary("tanh", dev(x), xp=xp), np.tanh(x))),
        ("reduce", "reduce", "sum over the last axis: one block per row, a tree in shared memory",
         lambda m: (m.reduce(dev(x), 1, "sum", xp=xp), x.sum(1))),
        ("matmul", "matmul", "(20, 17) @ (17, 12), tiles of a and b staged in shared memory",
         lambda m: (m.matmul(dev(a), dev(b), xp=xp), a @ b)),
        ("softmax", "softmax", "softmax over rows: max, sum of exponentials, normalise -- one block per row",
         lambda m: (m.softmax(dev(x), xp=xp), _softmax(x))),
        ("cross_entropy", "cross_entropy", "per-row loss and its gradient in one pass",
         lambda m: (m.cross_entropy(dev(x), dev(target), xp=xp)[0], cross_entropy_reference())),
        ("im2col", "im2col", "convolution windows as columns (3x3, padding 1), so conv2d becomes a matmul",
         lambda m: (m.im2col(dev(img), (3, 3), (1, 1), (1, 1), (1, 1), xp=xp), im2col_reference())),
        ("lstm_cell", "lstm_cell_forward", "the LSTM's gates, cell and hidden state fused into one kernel",
         lambda m: (np.concatenate([host(t) for t in m.lstm_cell_forward(dev(gates), dev(c_prev), xp=xp)[:2]],
                                   axis=1), lstm_reference())),
        ("attention", "attention_forward", "causal attention, flash-style: key tiles in shared memory, "
         "an online softmax",
         lambda m: (m.attention_forward(dev(q), dev(k), dev(v), 0.5, causal=True, xp=xp)[0],
                    _reference_attention(q, k, v, 0.5, True))),
    ]


def dev(array):
    """A host numpy array on the kernels' device: a CuPy array on a GPU, unchanged under the simulator."""
    return xp.asarray(array)


def host(array):
    return array.get() if hasattr(array, "get") else np.asarray(array)


def part3(rng):
    """Launch whatever kernels exist in tinygrad_edu.kernels and compare each with numpy.

    A kernel file that does not exist yet, or that does not define the launcher, is
    skipped with a note; one that exists but fails (to import, to run, or to match numpy)
    stops the lesson with its error -- a broken kernel must not look like a missing one.
    """
    print("\n-- Part 3: the project's kernels (tinygrad_edu.kernels) --")
    ran, skipped = [], []
    for module_name, launcher, what, run in kernel_demos(rng):
        full_name = f"tinygrad_edu.kernels.{module_name}"
        if importlib.util.find_spec(full_name) is None:
            skipped.append(f"{module_name}.py (not written yet)")
            continue
        module = importlib.import_module(full_name)      # an import error here is a real failure
        if not hasattr(module, launcher):
            skipped.append(f"{module_name}.{launcher} (not defined yet)")
            continue
        ours, expected = run(module)
        ours = host(ours)
        err = float(np.abs(ours.astype(np.float64) - expected).max()) if expected.size else 0.0
        assert ours.shape == expected.shape, f"{module_name}.{launcher}: shape {ours.shape} != {expected.shape}"
        assert np.allclose(ours, expected, rtol=1e-4, atol=1e-5), \
            f"{module_name}.{launcher} disagrees with numpy (max error {err:.2e})"
        print(f"  {module_name + '.' + launcher:<32} ok  (max error {err:.1e})  {what}")
        ran.append(f"{module_name}.{launcher}")
    for note in skipped:
        print(f"  skipped {note}")
    print("Read them in kernels/: each file's docstring explains its mapping of threads onto data.")
    return ran, skipped


def main():
    args = common.parse_args(__file__, __doc__)
    if REAL_GPU:
        name = cuda.get_current_device().name
        mode = f"a real GPU ({name.decode() if isinstance(name, bytes) else name})"
    else:
        why = tg.cuda.unavailable_reason() or "NUMBA_ENABLE_CUDASIM=1 was set"
        mode = f"the CUDA simulator (NUMBA_ENABLE_CUDASIM=1; no GPU here: {why})"
    print(f"mode: {mode}")

    # under the simulator every thread is a Python thread, so keep the problems small
    if REAL_GPU:
        n, rows, cols = 10_000_000, 4096, 1000
    elif args.quick:
        n, rows, cols = 1_000, 8, 100
    else:
        n, rows, cols = 4_096, 32, 300
    part1(n)
    part2(rows, cols)
    ran, skipped = part3(np.random.default_rng(args.seed))

    common.summary(args.name, [
        "A kernel is a function run by every thread of a grid; each thread computes its index "
        "(cuda.grid(1) = blockIdx.x * blockDim.x + threadIdx.x) and handles the data there.",
        "kernel[blocks, threads](...) launches it; round the grid up and bounds-check the index.",
        "Device memory is separate: cuda.to_device / copy_to_host move data; launches are asynchronous.",
        "Shared memory lets the threads of one block cooperate; cuda.syncthreads() is the barrier "
        "between the steps of a tree reduction, and every thread must reach it.",
        "The project's kernels (matmul, softmax, reductions, attention, ...) use the same ideas; "
        "each is checked against numpy, under the simulator when there is no GPU.",
    ], {"mode": "GPU" if REAL_GPU else "simulator", "project kernels checked": len(ran),
        "project kernels skipped": len(skipped)})


if __name__ == "__main__":
    main()
