"""numpy's own BLAS matrix product, callable from Numba-compiled code (`gemm_for(dtype)`).

Inside an `@njit` function there is no `np.matmul` that runs at BLAS speed: Numba compiles
`np.dot` only through SciPy's BLAS bindings (not a dependency here), and a product written
as loops runs about three times slower than BLAS at the LSTM's sizes. But Numba can call a
C function through `ctypes`, and numpy has already loaded a BLAS library with the standard
C interface. `cblas_sgemm` (float32; `cblas_dgemm` for float64) computes, for row-major
matrices,

    C = alpha * A @ B + beta * C,       A (m, k) with row stride lda, B (k, n) with ldb, C (m, n) with ldc,

so a compiled loop can multiply blocks of rows of bigger arrays in place (the stride says how
far apart their rows are) and add into C (beta = 1) without a temporary.

The function is handed to compiled code as an argument, `gemm(ROW_MAJOR, NO_TRANS, NO_TRANS,
m, n, k, alpha, a_address, lda, b_address, ldb, beta, c_address, ldc)`, with addresses from
`array.ctypes.data`. Passed as an argument, not read from a global, it keeps Numba's on-disk
cache working (a ctypes global makes a function uncachable).

Which library: numpy's wheels load OpenBLAS with 64-bit integers and renamed symbols
(`scipy_cblas_sgemm64_`); other builds use the plain names with 32-bit integers. Each candidate
is checked once on a small product against numpy before it is used, so a library whose
integer width was guessed wrong is never called on real data: without a working candidate
`gemm_for` returns None and the caller takes its numpy path.
"""
import ctypes

import numpy as np

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112      # the CBLAS enum values

# (symbol name pattern, integer type): {t} is "s" (float32) or "d" (float64)
_CANDIDATES = (("scipy_cblas_{t}gemm64_", ctypes.c_int64), ("cblas_{t}gemm64_", ctypes.c_int64),
               ("scipy_cblas_{t}gemm", ctypes.c_int32), ("cblas_{t}gemm", ctypes.c_int32))
_LETTER = {np.dtype(np.float32): ("s", ctypes.c_float), np.dtype(np.float64): ("d", ctypes.c_double)}
_found = {}


def _loaded_blas_libraries():
    """The BLAS libraries in this process's memory (numpy's is loaded when numpy is imported)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps
                            if "/" in line and any(name in line.lower() for name in ("blas", "mkl"))})
    except OSError:
        paths = []
    libraries = []
    for path in paths:
        try:
            libraries.append(ctypes.CDLL(path))    # already loaded: this returns the same library
        except OSError:
            pass
    return libraries


def _works(gemm, dtype):
    """True when gemm computes a small product (with strides and beta = 1) as numpy does."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 6)).astype(dtype)         # its first 4 columns are A (3, 4): lda = 6
    b = rng.standard_normal((4, 5)).astype(dtype)
    c = rng.standard_normal((3, 5)).astype(dtype)
    expected = c + a[:, :4] @ b
    gemm(ROW_MAJOR, NO_TRANS, NO_TRANS, 3, 5, 4, 1.0, a.ctypes.data, 6, b.ctypes.data, 5, 1.0, c.ctypes.data, 5)
    return np.allclose(c, expected, rtol=1e-5, atol=1e-5)


def gemm_for(dtype):
    """The C function `cblas_?gemm` for float32 or float64 from numpy's BLAS, checked; None where none works."""
    dtype = np.dtype(dtype)
    if dtype not in _LETTER:
        return None
    if dtype not in _found:
        _found[dtype] = None
        letter, real = _LETTER[dtype]
        for library in _loaded_blas_libraries():
            for pattern, integer in _CANDIDATES:
                gemm = getattr(library, pattern.format(t=letter), None)
                if gemm is None:
                    continue
                enum, pointer = ctypes.c_int, ctypes.c_void_p
                gemm.argtypes = [enum, enum, enum, integer, integer, integer, real, pointer, integer,
                                 pointer, integer, real, pointer, integer]
                gemm.restype = None
                if _works(gemm, dtype):
                    _found[dtype] = gemm
                    return gemm
    return _found[dtype]
