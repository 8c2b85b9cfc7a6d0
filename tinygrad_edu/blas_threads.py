"""BLAS's threads: how many each matrix product uses, and the library's other parallel work run on them.

numpy hands every matrix product to a BLAS library (OpenBLAS in numpy's wheels), which
splits it over one thread per core. For a large product that is nearly twice as fast on
two cores. For a small one it gains little (the threads must start, split the work and
wait for each other), and on a busy machine it can lose badly: when another program keeps
a core busy, one of BLAS's threads waits for that core, and the others wait for it,
spinning. Measured on the project's 2-core machine with one core kept busy, a
32x128x512 product took 55 us on one thread and 1.9 ms on two; a training loop made of
thousands of such products ran 2-5 times slower than on one thread.

So the backend asks for threads per product (`threads_for`): one thread below
`SMALL_PRODUCT_FLOP`; above it, as many threads as there are cores that other programs leave
free (`FreeCores`: the machine's busy time from /proc/stat minus this process's own, sampled
at most twice a second), so a large product still uses both cores of an idle machine but only
one when another program keeps a core busy. OpenBLAS's setting changes only when the answer
changes. The setting is made through OpenBLAS's own C function,
`openblas_set_num_threads` (spelt `scipy_openblas_set_num_threads64_` in numpy's wheels),
found in the library numpy has already loaded. Where it cannot be found (another BLAS, or
another platform) nothing changes and numpy's default stays. An `OPENBLAS_NUM_THREADS` (or
`OMP_NUM_THREADS`) set by the user wins: then this module never touches the setting.

Other parallel work borrows the same threads (`run_parts`). After a product, OpenBLAS's
worker threads keep spinning for a while (about 0.1 s), waiting for the next one; a thread of
our own started meanwhile would share a core with a spinning one. Measured on the 2-core
machine: the LSTM's time loop split over two threads (backends/lstm_sequence.py) took 3.4 ms,
but 6.1 ms right after a two-thread product, slower than on one thread (5.5 ms). So the parts
run on OpenBLAS's threads themselves, through its `gotoblas_pthread`, which runs a function on
each of them and waits for all, as PyTorch runs all its parallel work on one pool of threads.
Meanwhile BLAS is set to one thread, so that a part's own products run on the part's thread.
The users: the LSTM's time loop (rows of the batch), the convolution's chunks of images
(backends/cpu_conv.py), and large passes over memory (`split_pass`: ReLU, max pooling), each
cut into one part per free core.
"""
import ctypes
import os
import threading
import time

import numpy as np

# Products below this many floating-point operations (2 m k n) run on one thread. Measured
# on the 2-core machine: a second thread saves 20-35% on 2-4 MFLOP products (when idle) and
# ~50% from ~30 MFLOP up, while a busy core can make a small multi-threaded product 30x slower.
SMALL_PRODUCT_FLOP = 8_000_000
SAMPLE_EVERY_S = 0.5      # how often FreeCores looks at the machine's load again
# A pass over memory this large (elements) is split over the free cores (split_pass). Measured on the 2-core
# machine, ReLU's backward (one compiled pass): 2M float32 509 -> 292 us in two parts, 262K 34 -> 45 us.
PARALLEL_PASS_ELEMENTS = 1 << 20

_SETTERS = ("openblas_set_num_threads", "openblas_set_num_threads64_", "scipy_openblas_set_num_threads64_",
            "scipy_openblas_set_num_threads")


def _find_openblas():
    """(OpenBLAS's set_num_threads function, the library) from the copy numpy loaded, or (None, None) (Linux only,
    as it reads /proc)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line})
    except OSError:
        return None, None
    for path in paths:
        try:
            library = ctypes.CDLL(path)         # already loaded by numpy: this returns the same library
        except OSError:
            continue
        for name in _SETTERS:
            setter = getattr(library, name, None)
            if setter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                return setter, library
    return None, None


_PART = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class _PoolRunner:
    """Runs Python callables on OpenBLAS's worker threads with its `gotoblas_pthread(n, function, args, stride)`,
    which calls the C function `function(args + i * stride)` for i = 0 .. n-1, i = 0 on the calling thread and
    the others on the pool's threads, and returns when all are done. With args = 0 and stride = 1 each call
    receives its own index i. The callback is a ctypes function: it takes Python's GIL to start its part, and
    the part (a Numba function compiled with nogil=True) lets it go while it works."""

    def __init__(self, library):
        self._run = library.gotoblas_pthread
        self._run.argtypes, self._run.restype = [ctypes.c_int, _PART, ctypes.c_void_p, ctypes.c_int], ctypes.c_int
        self._threads = ctypes.c_int.in_dll(library, "blas_num_threads")

    def workers(self):
        """How many parts can run at once: OpenBLAS's threads, the calling one included."""
        return max(1, self._threads.value)

    def __call__(self, function, parts):
        errors = []

        def part(index):
            try:
                function(*parts[index or 0])     # index 0 arrives as a NULL pointer: None
            except BaseException as error:       # a ctypes callback cannot raise: keep it for the caller
                errors.append(error)

        self._run(len(parts), _PART(part), None, 1)
        if errors:
            raise errors[0]


def _find_pool_runner(library):
    """A _PoolRunner on numpy's OpenBLAS, or None where it has no gotoblas_pthread."""
    if library is None or not hasattr(library, "gotoblas_pthread"):
        return None
    try:
        return _PoolRunner(library)
    except ValueError:                           # no blas_num_threads symbol
        return None


class FreeCores:
    """How many cores the other programs on this machine leave free, measured over the last half second.

    /proc/stat counts the time every core spent busy; time.process_time() the CPU time of this
    process (all its threads, BLAS's included). Their difference over an interval, divided by
    the interval, is how many cores other programs kept busy. Without /proc (not Linux) every
    core counts as free.
    """

    def __init__(self, cores):
        self.cores = cores
        self.free = cores
        self._last = None           # (wall time, busy seconds of the machine, CPU seconds of this process)
        self._ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _machine_busy_seconds(self):
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)      # idle + iowait
        return (sum(fields[:8]) - idle) / self._ticks

    def now(self):
        """The free cores (at least 1), sampled again when SAMPLE_EVERY_S has passed since the last look."""
        wall = time.monotonic()
        if self._last is not None and wall - self._last[0] < SAMPLE_EVERY_S:
            return self.free
        try:
            sample = (wall, self._machine_busy_seconds(), time.process_time())
        except (OSError, ValueError, IndexError):
            return self.free
        if self._last is not None:
            elapsed = sample[0] - self._last[0]
            others = ((sample[1] - self._last[1]) - (sample[2] - self._last[2])) / elapsed
            self.free = max(1, min(self.cores, round(self.cores - others)))
        self._last = sample
        return self.free


class BlasThreads:
    """The thread count OpenBLAS uses (changed only when a product asks for a different one), and the library's
    other parallel work run on OpenBLAS's threads (`run_parts`, `split_pass`)."""

    def __init__(self):
        import numpy  # noqa: F401  (numpy loads OpenBLAS; it must be in memory before we look for it)
        user_set = any(os.environ.get(name) for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"))
        setter, library = _find_openblas()
        self._setter = None if user_set else setter
        self._run_on_pool = _find_pool_runner(library)
        self.cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        self._current = None
        self._lock = threading.Lock()
        self._parts_running = False      # while run_parts runs parts, BLAS stays on one thread for everyone
        self.free_cores = FreeCores(self.cores)

    @property
    def active(self):
        """True when this module controls OpenBLAS's threads (found it, and the user did not set them)."""
        return self._setter is not None

    def threads_for(self, m, k, n):
        """Threads for an (m, k) @ (k, n) product (batched products: m counts every row of the batch)."""
        return 1 if 2 * m * k * n < SMALL_PRODUCT_FLOP else self.free_cores.now()

    def use(self, threads):
        """Make OpenBLAS use `threads` threads from now on (a no-op when it already does, when inactive, and while
        parts run on its threads: a product in a part must not ask the pool for the threads the parts hold)."""
        if self._setter is None or threads == self._current or self._parts_running:
            return
        with self._lock:
            if not self._parts_running:
                self._setter(threads)
                self._current = threads

    def for_product(self, a_shape, b_shape):
        """Set the threads for a @ b with these shapes.

        A stack of matrices (batch dimensions in front) is sized by ONE of its products: numpy
        calls BLAS once per matrix of the stack, so that is the work each call splits over threads.
        """
        if self._setter is None or len(a_shape) == 0 or len(b_shape) == 0:
            return
        rows = a_shape[-2] if len(a_shape) > 1 else 1
        n = b_shape[-1] if len(b_shape) > 1 else 1
        self.use(self.threads_for(rows, a_shape[-1], n))

    def run_parts(self, function, parts):
        """function(*arguments) for every tuple in `parts`, at the same time on OpenBLAS's threads (the first on
        this one); returns when all are done, and an exception in a part is raised here. `function` should be
        compiled with nogil=True, or the parts take turns holding Python's GIL. BLAS runs on one thread meanwhile,
        so that the parts' own products stay on their threads. Where OpenBLAS's threads cannot be borrowed (not
        found, the user set its threads, or fewer threads than parts), and while other parts run (a part that
        asks for parts, or another thread), the parts run one after another here."""
        workers = self._run_on_pool.workers() if self.active and self._run_on_pool is not None else 1
        if len(parts) == 1 or len(parts) > workers or self._parts_running:
            for arguments in parts:
                function(*arguments)
            return
        with self._lock:
            self._setter(1)
            self._current = 1
            self._parts_running = True
            try:
                self._run_on_pool(function, parts)
            finally:
                self._parts_running = False

    def parts_for(self, flop, items):
        """Into how many parts to cut `items` independent pieces of work of `flop` floating-point operations in
        all: one per free core and at most one per item, or one where the work is small (SMALL_PRODUCT_FLOP, the
        size below which a product runs on one thread)."""
        return max(1, min(self.free_cores.now(), items)) if flop >= SMALL_PRODUCT_FLOP else 1

    def split_pass(self, function, arrays, *extra):
        """function(*(a[lo:hi] for a in arrays), *extra) for each free core's share [lo, hi) of the arrays' first
        axis, at the same time on BLAS's threads (`run_parts`): a pass over memory on every free core. Only for
        arrays of PARALLEL_PASS_ELEMENTS elements or more; a smaller pass runs whole on this thread, as
        starting a part costs about 20 us. `function` must let go of the GIL (a numpy call, or Numba's nogil)."""
        size = arrays[0].shape[0]
        parts = min(self.free_cores.now(), size) if arrays[0].size >= PARALLEL_PASS_ELEMENTS else 1
        self.run_parts(function, [tuple(a[lo:hi] for a in arrays) + extra for lo, hi in shares(size, parts)])


_blas_threads = None


def blas_threads():
    """The process's BlasThreads (made on first use)."""
    global _blas_threads
    if _blas_threads is None:
        _blas_threads = BlasThreads()
    return _blas_threads


def shares(size, parts):
    """[(lo, hi), ...]: range(size) cut into `parts` consecutive shares whose sizes differ by one at most."""
    cuts = [size * p // parts for p in range(parts + 1)]
    return list(zip(cuts[:-1], cuts[1:]))


def product(a, b, out=None):
    """np.matmul(a, b, out=out) on the threads blas_threads() chooses for a product of these shapes (a stack of
    products is sized by one of them), and on the calling thread alone while parts run (run_parts)."""
    blas_threads().for_product(a.shape, b.shape)
    return np.matmul(a, b) if out is None else np.matmul(a, b, out=out)
