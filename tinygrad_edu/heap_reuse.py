"""Why freed arrays should stay in the process: glibc's malloc thresholds, set once at import.

A training step allocates the same large arrays every time: activations, their gradients,
the temporaries of each op. numpy takes their memory from the C library's `malloc`. glibc's
malloc serves a block of at least `M_MMAP_THRESHOLD` bytes with a fresh `mmap` of its own
and hands it back to the kernel when the array is freed; and when the free memory at the top
of its heap grows past `M_TRIM_THRESHOLD` it gives that back too. Memory handed back is
gone: the next step's array of the same size gets new pages, and the kernel must fault in
and zero every 4 KiB page the first time it is touched. That is pure overhead, paid again
every step.

glibc knows this and adapts: when an mmap'ed block is freed it raises the mmap threshold to
that block's size (at most 32 MiB on 64-bit machines) and the trim threshold to twice that.
But it adapts one freed block at a time, and the trim threshold stays small enough that a
backward pass freeing a few activations at the heap's top still trims. Measured with
`python -m tinygrad_edu.bench` workloads on the project's 2-core machine, the default
behaviour faulted in 7,700 fresh pages (30 MB) per gpt step and 3,600 per cnn step; a gpt
step took 50 ms, of which about 17 ms went to the kernel's page faults.

So, at import, `apply()` sets the two thresholds to where glibc's own rule ends up for the
largest blocks it adapts to: mmap threshold 32 MiB (glibc's ceiling) and trim threshold
twice that. Arrays up to 32 MiB are then reused from the heap; larger ones (whole datasets)
are still mapped and returned; at most 64 MiB of free heap is kept. Same machine, same
steps: zero page faults per step, gpt 50 -> 33 ms, cnn 45 -> 33 ms, lstm 22 -> 18 ms, with
the same peak resident memory (the pages kept are the ones the step needs again).

These are process-wide settings of the same allocator, as BLAS's thread count is (see
blas_threads.py). A user's own choice wins: with `MALLOC_MMAP_THRESHOLD_`,
`MALLOC_TRIM_THRESHOLD_` or a malloc entry in `GLIBC_TUNABLES` in the environment, or with
`TINYGRAD_EDU_MALLOC=default`, nothing is changed. Other C libraries (macOS, musl, Windows)
are left alone.
"""
import ctypes
import os

MMAP_THRESHOLD = 32 * 1024 * 1024          # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit machines
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD        # the ratio glibc keeps when it adapts the thresholds itself
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3   # mallopt's parameter numbers, from glibc's malloc.h

_applied = None


def user_chose_malloc_settings(environ=os.environ):
    """True when the environment already tells malloc (or us) what to do."""
    if environ.get("TINYGRAD_EDU_MALLOC", "").lower() == "default":
        return True
    if environ.get("MALLOC_MMAP_THRESHOLD_") or environ.get("MALLOC_TRIM_THRESHOLD_"):
        return True
    return "glibc.malloc." in environ.get("GLIBC_TUNABLES", "")


def _glibc():
    """The process's C library when it is glibc (it alone has gnu_get_libc_version), else None.

    CDLL(None) opens the symbols the process already has, the C library's among them: no search for the
    library file (ctypes.util.find_library runs `ldconfig`, a subprocess, on every import)."""
    try:
        libc = ctypes.CDLL(None)
    except (OSError, TypeError):     # (Windows has no such handle)
        return None
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return None
    libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return libc


def apply():
    """Set glibc's mmap and trim thresholds once per process; returns whether they were set."""
    global _applied
    if _applied is None:
        libc = None if user_chose_malloc_settings() else _glibc()
        _applied = bool(libc) and bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) \
            and bool(libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _applied
