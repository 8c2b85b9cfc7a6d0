"""LayerNorm on the CPU as one compiled pass over each row, forward and backward.

The plain version (NumpyBackend.layer_norm, with `_normalize` and `_normalize_backward`
from ops/normalization.py) is whole-array numpy: the mean, x - mean, its square, the
variance, 1/std, xhat, xhat * weight, + bias are eight passes over an (R, N) array, each
writing a temporary. The backward is as many again. For a transformer's rows (N = 128
numbers, 512 bytes: a handful of cache lines) every pass after the first finds its data in
the cache, so all that time goes to numpy's calls and temporaries, not to arithmetic.

Here one compiled loop (Numba's @njit) takes one row at a time and does everything for it
while the row sits in the cache:

    forward:   mean, then xhat = x - mean and the sum of its squares, then
               rstd = 1 / sqrt(var + eps), xhat *= rstd, y = xhat * weight + bias
    backward:  with dxhat = dy * weight, the row's two means m1 = mean(dxhat) and
               m2 = mean(dxhat * xhat), then dx = (dxhat - m1 - xhat * m2) * rstd;
               dweight += dy * xhat and dbias += dy, column by column, in the same pass

(the formulas of ops/normalization.py's docstring). Sums are kept in float64. Measured on
the benchmark's LayerNorm (1024 rows of 128 float32) on one core: forward 0.29 -> 0.10 ms,
backward 0.34 -> 0.09 ms.

`fastmath={"reassoc", "contract"}` lets the compiler reorder the additions of a row's sums
(so it can keep several partial sums in vector registers) and fuse a multiply with an add.
It does not let it assume that there are no NaNs or infinities: a NaN in a row makes that
row's output NaN, as in the plain version.

In a student copy the backward is part of the batchnorm-backward assignment (it computes
the same formula), so `layer_norm_backward` is a solution region whose stub returns None:
the backend then runs the student's `_normalize_backward`.
"""
import numpy as np
from numba import njit

from .fast_path_switch import takes

_FAST = {"reassoc", "contract"}


def layer_norm_forward(backend, x, weight, bias, eps):
    """(y, xhat, rstd (R, 1)) for rows x (R, N), as NumpyBackend.layer_norm; None where the fast path does not apply."""
    if not takes(backend, x, *(p for p in (weight, bias) if p is not None)):
        return None
    x = np.ascontiguousarray(x)
    rows, n = x.shape
    y, xhat, rstd = np.empty_like(x), np.empty_like(x), np.empty((rows, 1), dtype=x.dtype)
    _forward_rows(x, _or_filled(weight, n, 1, x.dtype), _or_filled(bias, n, 0, x.dtype), float(eps), y, xhat, rstd)
    return y, xhat, rstd


def layer_norm_backward(backend, g, xhat, rstd, weight):
    """(dx, dweight, dbias) for dy = g (R, N), as NumpyBackend.layer_norm_backward; None where the fast path does
    not apply."""
    # BEGIN SOLUTION batchnorm-backward  (optional) the compiled form of _normalize_backward, for LayerNorm's rows
    # BEGIN PROMPT
    # return None   # not part of this copy: LayerNorm's backward runs your _normalize_backward
    # END PROMPT
    if not takes(backend, g, xhat, rstd, *(() if weight is None else (weight,))):
        return None
    g, xhat = np.ascontiguousarray(g), np.ascontiguousarray(xhat)
    n = g.shape[1]
    dx = np.empty_like(g)
    dweight, dbias = np.empty(n), np.empty(n)          # float64 column sums
    _backward_rows(g, xhat, rstd, _or_filled(weight, n, 1, g.dtype), dx, dweight, dbias)
    return dx, dweight.astype(g.dtype), dbias.astype(g.dtype)
    # END SOLUTION


def _or_filled(vector, n, value, dtype):
    """The (contiguous) vector itself, or n copies of `value` for an absent weight (1) or bias (0)."""
    return np.full(n, value, dtype=dtype) if vector is None else np.ascontiguousarray(vector)


@njit(cache=True, fastmath=_FAST)
def _forward_rows(x, weight, bias, eps, y, xhat, rstd):
    rows, n = x.shape
    for r in range(rows):
        total = 0.0
        for j in range(n):
            total += x[r, j]
        mean = total / n
        squares = 0.0
        for j in range(n):
            centred = x[r, j] - mean
            xhat[r, j] = centred
            squares += centred * centred
        inverse_std = 1.0 / np.sqrt(squares / n + eps)
        rstd[r, 0] = inverse_std
        for j in range(n):
            normalised = xhat[r, j] * inverse_std
            xhat[r, j] = normalised
            y[r, j] = normalised * weight[j] + bias[j]


@njit(cache=True, fastmath=_FAST)
def _backward_rows(g, xhat, rstd, weight, dx, dweight, dbias):
    # BEGIN SOLUTION batchnorm-backward
    # BEGIN PROMPT
    # return   # not part of this copy (layer_norm_backward returns None before calling it)
    # END PROMPT
    rows, n = g.shape
    dweight[:] = 0.0
    dbias[:] = 0.0
    for r in range(rows):
        sum_dxhat = 0.0
        sum_dxhat_xhat = 0.0
        for j in range(n):
            dxhat = g[r, j] * weight[j]
            sum_dxhat += dxhat
            sum_dxhat_xhat += dxhat * xhat[r, j]
            dweight[j] += g[r, j] * xhat[r, j]
            dbias[j] += g[r, j]
        m1, m2, inverse_std = sum_dxhat / n, sum_dxhat_xhat / n, rstd[r, 0]
        for j in range(n):
            dx[r, j] = (g[r, j] * weight[j] - m1 - xhat[r, j] * m2) * inverse_std
    # END SOLUTION
