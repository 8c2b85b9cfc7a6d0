"""Launching a kernel: the one door every kernel in this folder goes through.

    launch(kernel, blocks, threads, *args)            # instead of kernel[blocks, threads](*args)

Three things happen at that door, and each is a lesson about running work on a GPU.

Streams: keep the GPU's queue in order, never wait on it from Python
---------------------------------------------------------------------
A GPU runs work from *streams*, queues that execute in order. CuPy allocates our
arrays and runs its own operations on its *current stream*; if our kernels went to a
different stream, a kernel could read an array before the CuPy operation that fills it
has finished. So every launch goes on CuPy's current stream (`current_stream()`), and
stream order alone guarantees that inputs are ready: nothing ever has to wait from the
host. (For the same reason Numba is told not to synchronise on the producer's stream
when it receives a CuPy array through `__cuda_array_interface__`: with one stream
there is nothing to wait for, and the wait would stall Python on every launch.)

Counting launches
-----------------
Each launch costs 5-100 microseconds of Python and driver work before the GPU does
anything. A training step made of hundreds of tiny launches is slow however fast
each kernel is, which is why `LAUNCHES` counts them: the tests read it (under the
simulator too) to check how many launches a training step needs.

Small grids on purpose
----------------------
Numba warns when a grid has fewer than 128 blocks ("low occupancy"), to catch the
beginner's mistake of launching one block. Our launchers size every grid to its data
(a bias of 10 elements gets one block, deliberately), so the warning is switched off
for these launches only, not for the student's own kernels.
"""
import numpy as np
from numba import cuda

try:                                   # numba-cuda keeps its settings here ...
    from numba.cuda.core import config
except ImportError:                    # ... older Numba kept them in numba.core
    from numba.core import config


class LaunchCounter:
    """How many kernels have been launched through `launch` (read `count`; `reset()` to start again)."""

    def __init__(self):
        self.count = 0

    def reset(self):
        self.count = 0


LAUNCHES = LaunchCounter()

_streams = {}                          # CuPy stream pointer -> the Numba stream object wrapping it


def current_stream():
    """The Numba stream for CuPy's current stream (0, the default stream, under the simulator or without CuPy)."""
    if config.ENABLE_CUDASIM:
        return 0
    try:
        import cupy
    except ImportError:
        return 0
    pointer = cupy.cuda.get_current_stream().ptr
    stream = _streams.get(pointer)
    if stream is None:
        stream = _streams[pointer] = cuda.external_stream(pointer) if pointer else cuda.default_stream()
    return stream


def _host_view(arg):
    """Under the simulator, hand kernels plain numpy arrays (not the simulated device's counting arrays)."""
    if isinstance(arg, np.ndarray) and type(arg) is not np.ndarray:
        return arg.view(np.ndarray)
    return arg


def launch(kernel, blocks, threads, *args, shared_bytes=0):
    """Run `kernel` on a grid of `blocks` blocks of `threads` threads each, on CuPy's current stream."""
    LAUNCHES.count += 1
    if config.ENABLE_CUDASIM:
        kernel[blocks, threads, 0, shared_bytes](*[_host_view(a) for a in args])
        return
    warn = config.CUDA_LOW_OCCUPANCY_WARNINGS
    config.CUDA_LOW_OCCUPANCY_WARNINGS = 0                 # our grids are sized to the data on purpose
    try:
        configured = kernel[blocks, threads, current_stream(), shared_bytes]
    finally:
        config.CUDA_LOW_OCCUPANCY_WARNINGS = warn
    configured(*args)


# One stream, so consumers never need to wait for producers from the host (see "Streams" above).
config.CUDA_ARRAY_INTERFACE_SYNC = 0
