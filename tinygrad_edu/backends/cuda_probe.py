"""The probe kernel that decides whether device "cuda" is usable (see cuda_backend.py).

It lives in a module of its own because importing it imports Numba, which importing
tinygrad_edu must not do; and because Numba's CUDA simulator finds the `cuda` module
among a kernel's module globals (to swap in its fake one), so the kernel cannot import
`cuda` inside a function.
"""
import warnings

from numba import cuda

# out[i] = 2 * x[i] + 1 for SIZE elements, with BLOCKS blocks of THREADS threads: more threads than
# elements, so the probe also exercises the block index and the bounds check.
SIZE, BLOCKS, THREADS = 50, 2, 32


@cuda.jit
def double_plus_one(x, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = 2 * x[i] + 1


def run(cupy):
    """Compile the kernel (on first use), launch it on CuPy arrays, and return its output as a numpy array."""
    x = cupy.arange(SIZE, dtype=cupy.float32)
    out = cupy.zeros_like(x)
    with warnings.catch_warnings():  # Numba warns that 2 blocks under-use the GPU: true, and not worth printing
        warnings.simplefilter("ignore")
        double_plus_one[BLOCKS, THREADS](x, out)
        cuda.synchronize()
    return cupy.asnumpy(out)


def right_answer():
    """What `run` must return."""
    import numpy as np
    return 2 * np.arange(SIZE, dtype=np.float32) + 1
