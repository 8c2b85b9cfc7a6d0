"""Activations on the CPU with as few passes over memory as they need: GELU and ReLU's backward.

GELU's tanh approximation: three passes forward and one backward
----------------------------------------------------------------

    y  = x/2 (1 + t),   t = tanh(u),   u = sqrt(2/pi) (x + 0.044715 x^3)
    dx = dy (1/2 (1 + t) + x/2 (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2))

The plain version (NumpyBackend.gelu_tanh) is nine whole-array numpy operations forward and
eleven backward: one pass over memory each. A transformer's MLP activations are large (the
benchmark's are 1024 x 512 float32, 2 MB, more than one core's cache), so each pass is a trip
to memory, and the time goes there.

Here the arithmetic is compiled (Numba's @njit), and the passes are only those that must be:

    forward:   u (one compiled pass)  ->  t = tanh(u) in place (numpy)  ->  y (one compiled pass)
    backward:  dx from x, t and dy (one compiled pass)

Why tanh stays in numpy: numpy computes tanh with SIMD instructions, about 0.4 ns per
float32 element here; a compiled loop calls the C library's scalar tanh, about 17 ns. (The
LSTM's compiled loop, which must run without Python in between, computes tanh from plain
arithmetic instead, lstm_sequence.tanh_float32_by_arithmetic: 0.6 ns, still more than numpy's.)
Measured on the benchmark's 1024 x 512 on one core: forward 0.51 -> 0.32 ms, backward 0.50 ->
0.10 ms.

ReLU's backward: one pass
-------------------------
dx = dy where y > 0, else 0. numpy writes it `g * (y > 0)`: one pass that makes a boolean
array, and one that reads it back with g and multiplies. The compiled loop reads y and g once
and writes dx once, choosing with a select (no branch to mispredict on random signs).
Measured on the benchmark cnn's first ReLU (2 million float32) on one core: 1.05 -> 0.51 ms.
Where y <= 0 the loop writes 0 even when dy is NaN or inf, as PyTorch's threshold_backward
does (numpy's product gives NaN there).

On arrays of a million elements or more, ReLU's forward (numpy's maximum) and backward are split
over the free cores, each core a contiguous share (blas_threads.split_pass, on BLAS's own
threads): the same 2 million elements, backward 0.51 -> 0.29 ms on two cores.
"""
import math

import numpy as np
from numba import njit

from ..blas_threads import blas_threads
from .fast_path_switch import takes

_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_CUBIC = 0.044715


def relu(backend, x):
    """max(x, 0) as NumpyBackend.relu, on every free core for a large x; None where the fast path does not apply."""
    if not takes(backend, x):
        return None
    y = np.empty(x.shape, dtype=x.dtype)
    blas_threads().split_pass(_relu_into, [np.ascontiguousarray(x).reshape(-1), y.reshape(-1)])
    return y


def _relu_into(x, y):
    np.maximum(x, 0, out=y)                  # numpy lets go of the GIL in the loop: parts run at the same time


def relu_backward(backend, y, g):
    """dx = g where y > 0, else 0, as NumpyBackend.relu_backward; None where the fast path does not apply."""
    if not takes(backend, y, g) or y.shape != g.shape:
        return None
    dx = np.empty(g.shape, dtype=g.dtype)
    blas_threads().split_pass(_relu_backward, [np.ascontiguousarray(a).reshape(-1) for a in (y, g)] +
                              [dx.reshape(-1)])
    return dx


def gelu_tanh_forward(backend, x):
    """(y, t) as NumpyBackend.gelu_tanh; None where the fast path does not apply."""
    if not takes(backend, x):
        return None
    flat = np.ascontiguousarray(x).reshape(-1)
    number = flat.dtype.type
    t = np.empty_like(flat)
    _tanh_argument(flat, t, number(_SQRT_2_OVER_PI), number(_CUBIC))
    np.tanh(t, out=t)
    y = np.empty_like(flat)
    _gelu_from_tanh(flat, t, y, number(0.5), number(1))
    return y.reshape(x.shape), t.reshape(x.shape)


def gelu_tanh_backward(backend, x, t, g):
    """dx as NumpyBackend.gelu_tanh_backward; None where the fast path does not apply."""
    if not takes(backend, x, t, g):
        return None
    number = g.dtype.type
    dx = np.empty(g.shape, dtype=g.dtype)
    _gelu_backward(*(np.ascontiguousarray(a).reshape(-1) for a in (x, t, g)), dx.reshape(-1),
                   number(_SQRT_2_OVER_PI), number(3 * _CUBIC), number(0.5), number(1))
    return dx


# The constants come in as arguments of the arrays' own dtype: a Python float in the loop would be
# float64, and every float32 element would be widened to float64 and back, half as many per vector
# instruction (measured: 0.42 against 0.32 ms forward, 0.25 against 0.10 ms backward).
@njit(cache=True)
def _tanh_argument(x, u, sqrt_2_over_pi, cubic):
    for i in range(x.size):
        u[i] = sqrt_2_over_pi * (x[i] + cubic * x[i] * x[i] * x[i])


@njit(cache=True)
def _gelu_from_tanh(x, t, y, half, one):
    for i in range(x.size):
        y[i] = half * x[i] * (one + t[i])


@njit(cache=True)
def _gelu_backward(x, t, g, dx, sqrt_2_over_pi, three_cubic, half, one):
    for i in range(x.size):
        du_dx = sqrt_2_over_pi * (one + three_cubic * x[i] * x[i])
        dx[i] = g[i] * (half * (one + t[i]) + half * x[i] * (one - t[i] * t[i]) * du_dx)


@njit(cache=True, nogil=True)
def _relu_backward(y, g, dx):
    zero = g.dtype.type(0)
    for i in range(y.size):
        dx[i] = g[i] if y[i] > 0 else zero
