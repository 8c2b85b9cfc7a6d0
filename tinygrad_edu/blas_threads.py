"""How many threads numpy's BLAS may use for one matrix product, chosen per product.

numpy hands every matrix product to a BLAS library (OpenBLAS in numpy's wheels), which
splits it over one thread per core. For a large product that is nearly twice as fast on
two cores. For a small one it gains little (the threads must start, split the work and
wait for each other), and on a busy machine it can lose badly: when another program keeps
a core busy, one of BLAS's threads waits for that core, and the others wait for it,
spinning. Measured on the project's 2-core machine with one core kept busy, a
32x128x512 product took 55 us on one thread and 1.9 ms on two; a training loop made of
thousands of such products ran 2-5 times slower than on one thread.

So the backend asks for threads per product (`threads_for`): one thread below
`SMALL_PRODUCT_FLOP`, every core above it, and changes OpenBLAS's setting only when the
answer changes. The setting is made through OpenBLAS's own C function,
`openblas_set_num_threads` (spelt `scipy_openblas_set_num_threads64_` in numpy's wheels),
found in the library numpy has already loaded. Where it cannot be found (another BLAS, or
another platform) nothing changes and numpy's default stays. An `OPENBLAS_NUM_THREADS` (or
`OMP_NUM_THREADS`) set by the user wins: then this module never touches the setting.
"""
import ctypes
import os
import threading

# Products below this many floating-point operations (2 m k n) run on one thread. Measured
# on the 2-core machine: a second thread saves 20-35% on 2-4 MFLOP products (when idle) and
# ~50% from ~30 MFLOP up, while a busy core can make a small multi-threaded product 30x slower.
SMALL_PRODUCT_FLOP = 8_000_000

_SETTERS = ("openblas_set_num_threads", "openblas_set_num_threads64_", "scipy_openblas_set_num_threads64_",
            "scipy_openblas_set_num_threads")


def _find_openblas_setter():
    """OpenBLAS's set_num_threads function from the copy numpy loaded, or None (Linux only, as it reads /proc)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line})
    except OSError:
        return None
    for path in paths:
        try:
            library = ctypes.CDLL(path)         # already loaded by numpy: this returns the same library
        except OSError:
            continue
        for name in _SETTERS:
            setter = getattr(library, name, None)
            if setter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                return setter
    return None


class BlasThreads:
    """The thread count OpenBLAS uses, changed only when a product asks for a different one."""

    def __init__(self):
        import numpy  # noqa: F401  (numpy loads OpenBLAS; it must be in memory before we look for it)
        user_set = any(os.environ.get(name) for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"))
        self._setter = None if user_set else _find_openblas_setter()
        self.cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        self._current = None
        self._lock = threading.Lock()

    @property
    def active(self):
        """True when this module controls OpenBLAS's threads (found it, and the user did not set them)."""
        return self._setter is not None

    def threads_for(self, m, k, n):
        """Threads for an (m, k) @ (k, n) product (batched products: m counts every row of the batch)."""
        return 1 if 2 * m * k * n < SMALL_PRODUCT_FLOP else self.cores

    def use(self, threads):
        """Make OpenBLAS use `threads` threads from now on (a no-op when it already does, or when inactive)."""
        if self._setter is None or threads == self._current:
            return
        with self._lock:
            self._setter(threads)
            self._current = threads

    def for_product(self, a_shape, b_shape):
        """Set the threads for a @ b with these shapes (numpy's matmul broadcasting of the batch dims)."""
        if self._setter is None or len(a_shape) == 0 or len(b_shape) == 0:
            return
        rows = a_shape[-2] if len(a_shape) > 1 else 1
        for size in (a_shape[:-2] if len(a_shape) >= len(b_shape) else b_shape[:-2]):   # the longer batch
            rows *= size
        n = b_shape[-1] if len(b_shape) > 1 else 1
        self.use(self.threads_for(rows, a_shape[-1], n))


_blas_threads = None


def blas_threads():
    """The process's BlasThreads (made on first use)."""
    global _blas_threads
    if _blas_threads is None:
        _blas_threads = BlasThreads()
    return _blas_threads
