"""A fix for Numba's CUDA simulator, which runs these kernels on the CPU when there is no GPU.

The simulator runs each thread of a block as a Python thread. Its shared arrays are
created lazily and, before this fix, without a lock: see `thread_safe_shared_arrays`.
The tests, the simulated "cuda" device and the graded GPU assignments all switch it on.
"""
import sys


def thread_safe_shared_arrays():
    """Make the simulator's `cuda.shared.array` allocation atomic; returns a function that undoes it.

    numba-cuda's simulator (FakeCUDAShared.array) creates each shared array lazily, on a
    launch's first block, with an unlocked get-then-set keyed by the caller's (file, line).
    When the interpreter switches threads between the get and the set, two threads of that
    block get different "shared" arrays and a block reduction silently misses partials
    (seen as a wrong cross-entropy row about once in a thousand launches with the 0.1 ms
    switch interval). Same key, same arrays, one lock; sys._getframe is also much faster
    than the original traceback.extract_stack.
    """
    import threading

    import numpy
    from numba import config

    if not config.ENABLE_CUDASIM:
        return lambda: None
    from numba.cuda.simulator import kernelapi

    original = kernelapi.FakeCUDAShared.array
    lock = threading.Lock()

    def array(self, shape, dtype, alignment=None):
        if alignment is not None or shape == 0:
            return original(self, shape, dtype, alignment)  # errors and dynamic shared memory: no lookup by caller
        if isinstance(dtype, kernelapi.types.Type):
            dtype = kernelapi.numpy_support.as_dtype(dtype)
        frame = sys._getframe(1)
        caller = (frame.f_code.co_filename, frame.f_lineno)
        with lock:
            allocated = self._allocations.get(caller)
            if allocated is None:
                allocated = self._allocations[caller] = numpy.empty(shape, dtype)
        return allocated

    kernelapi.FakeCUDAShared.array = array

    def restore():
        kernelapi.FakeCUDAShared.array = original
    return restore
