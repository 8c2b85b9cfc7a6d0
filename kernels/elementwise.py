"""Elementwise kernels: `map` applies a unary op, `zip` a binary op with numpy broadcasting.

The mapping of threads onto data
--------------------------------
An elementwise op has no dependence between output elements, so the simplest mapping
is the best one: flatten the output to one dimension and give each thread the
elements i, i + S, i + 2S, ... where i = cuda.grid(1) is the thread's global index
and S = cuda.gridsize(1) is the total number of threads in the grid. This
*grid-stride loop* lets a grid of fixed size cover an array of any length, and a
warp's 32 threads always touch 32 neighbouring elements in the same step, so every
load and store is *coalesced* into a few wide memory transactions.

Broadcasting with strides
-------------------------
For `zip`, the inputs may have fewer or size-1 dimensions than the output
(`(B, T, C) + (C,)`). Each input is described by its *strides in elements*: how far
to move in its flat buffer when one output coordinate grows by one. A dimension the
input broadcasts along gets stride 0, so every output coordinate there reads the
same element; nothing is copied. A thread turns its flat output index into
coordinates (divide by the sizes, last dimension first) and dots them with each
input's strides to get that input's offset.

Integer division is slow on a GPU, so the launcher first *collapses* neighbouring
dimensions that are contiguous for both inputs: two same-shape arrays become one
dimension (no division at all) and `(B, T, C) + (C,)` becomes `(B*T, C)` (one).

The op is a device function
---------------------------
Each op (`exp`, `add`, ...) is a small `@cuda.jit(device=True)` function: ordinary
Python that Numba compiles and inlines into the kernel. A kernel *factory*,
`make_map_kernel(op)`, wraps an op in a kernel; `functools.lru_cache` keeps one
kernel per op, and Numba compiles it once per argument dtype. The ops stay in the
input's precision: a bare literal such as `1.0` is float64 in Numba and would
silently turn float32 math into (slow) float64 math, so constants are written
`type(x)(1)`, "a 1 of x's type".

The sigmoid is written stably: 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) for
x < 0, so the exponential is always of a non-positive number and cannot overflow.
`maximum` and `minimum` propagate NaN like numpy's.
"""
import functools
import math

import numpy as np
from numba import cuda

from .launch import launch

SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# ---- unary ops ---------------------------------------------------------------------------
@cuda.jit(device=True)
def exp(x):
    return math.exp(x)


@cuda.jit(device=True)
def log(x):
    return math.log(x)


@cuda.jit(device=True)
def tanh(x):
    return math.tanh(x)


@cuda.jit(device=True)
def sigmoid(x):
    one = type(x)(1)
    if x >= 0:
        return one / (one + math.exp(-x))
    e = math.exp(x)
    return e / (one + e)


@cuda.jit(device=True)
def relu(x):
    if x > 0 or x != x:  # x != x only for NaN, which passes through like numpy.maximum(x, 0)
        return x
    return type(x)(0)


@cuda.jit(device=True)
def neg(x):
    return -x


@cuda.jit(device=True)
def sqrt(x):
    return math.sqrt(x)


@cuda.jit(device=True)
def absolute(x):
    return abs(x)


# ---- binary ops --------------------------------------------------------------------------
@cuda.jit(device=True)
def add(a, b):
    return a + b


@cuda.jit(device=True)
def sub(a, b):
    return a - b


@cuda.jit(device=True)
def mul(a, b):
    return a * b


@cuda.jit(device=True)
def div(a, b):
    return a / b


@cuda.jit(device=True)
def maximum(a, b):
    if a > b or a != a:  # a NaN a wins; a NaN b wins through the fall-through below
        return a
    return b


@cuda.jit(device=True)
def minimum(a, b):
    if a < b or a != a:
        return a
    return b


@cuda.jit(device=True)
def power(a, b):
    return math.pow(a, b)


# ---- fused activations and their gradients: one pass instead of a chain of array ops -------
SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


@cuda.jit(device=True)
def gelu_tanh(x):
    """x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)."""
    u = type(x)(SQRT_2_OVER_PI) * (x + type(x)(0.044715) * x * x * x)
    return type(x)(0.5) * x * (type(x)(1) + math.tanh(u))


@cuda.jit(device=True)
def gelu_tanh_backward(x, g):
    """g (1/2 (1 + t) + x/2 (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)), t = tanh(u) recomputed from x."""
    one = type(x)(1)
    half = type(x)(0.5)
    root = type(x)(SQRT_2_OVER_PI)
    t = math.tanh(root * (x + type(x)(0.044715) * x * x * x))
    du = root * (one + type(x)(3 * 0.044715) * x * x)
    return g * (half * (one + t) + half * x * (one - t * t) * du)


@cuda.jit(device=True)
def relu_backward(y, g):
    """g where the ReLU's output y > 0, else 0 (g * 0, so an infinite or NaN g still gives NaN, as g * (y > 0))."""
    if y > 0:
        return g
    return g * type(g)(0)


UNARY_OPS = {"exp": exp, "log": log, "tanh": tanh, "sigmoid": sigmoid, "relu": relu,
             "neg": neg, "sqrt": sqrt, "abs": absolute, "gelu_tanh": gelu_tanh}
BINARY_OPS = {"add": add, "sub": sub, "mul": mul, "div": div, "maximum": maximum,
              "minimum": minimum, "pow": power, "relu_backward": relu_backward,
              "gelu_tanh_backward": gelu_tanh_backward}


# ---- kernels -----------------------------------------------------------------------------
@cuda.jit(device=True)
def broadcast_offsets(i, shape, a_strides, b_strides):
    """The offsets in a and in b of flat index i of an array of `shape` (row-major)."""
    a_offset = 0
    b_offset = 0
    rest = i
    for d in range(len(shape) - 1, 0, -1):  # coordinates from the last dimension back
        coordinate = rest % shape[d]
        rest //= shape[d]
        a_offset += coordinate * a_strides[d]
        b_offset += coordinate * b_strides[d]
    # What is left is the first coordinate: i < size of shape, so it needs no modulo.
    return a_offset + rest * a_strides[0], b_offset + rest * b_strides[0]


@functools.lru_cache(maxsize=None)
def make_map_kernel(op):
    """A kernel computing out[i] = op(x[i]) over flat, contiguous arrays."""

    @cuda.jit(cache=True)
    def map_kernel(x, out):
        """Thread t of the grid handles elements t, t + S, t + 2S, ... (S = threads in the grid)."""
        for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            out[i] = op(x[i])

    return map_kernel


@functools.lru_cache(maxsize=None)
def make_zip_kernel(op):
    """A kernel computing out = op(a, b) with broadcasting, all arrays flat and contiguous."""

    @cuda.jit(cache=True)
    def zip_kernel(a, b, out, shape, a_strides, b_strides):
        """Grid-stride loop over the flat output, as in map_kernel.

        `shape` is the output's (collapsed) shape and `a_strides`, `b_strides` the
        inputs' strides in elements along it, 0 where an input is broadcast.
        """
        for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            a_offset, b_offset = broadcast_offsets(i, shape, a_strides, b_strides)
            out[i] = op(a[a_offset], b[b_offset])

    return zip_kernel


# ---- launchers ---------------------------------------------------------------------------
def float_dtype(*arrays):
    """The dtype the arrays promote to, checked to be one the kernels support."""
    dtype = np.result_type(*(array.dtype for array in arrays))
    if dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"the CUDA kernels support float32 and float64, not {dtype}")
    return dtype


def contiguous(x, dtype, xp):
    """x as a C-contiguous xp array of `dtype` (copied only if needed), keeping its shape.

    (`ascontiguousarray` alone turns a 0-d array into shape (1,).)
    """
    return xp.ascontiguousarray(x, dtype=dtype).reshape(x.shape)


def grid_size(n, threads, max_blocks):
    """Blocks for a grid-stride loop over n elements: enough for one element per thread, at most max_blocks."""
    return max(1, min(math.ceil(n / threads), max_blocks))


def unary(name, x, *, xp=np, threads=256, max_blocks=4096):
    """op(x) elementwise for op in UNARY_OPS; returns a new xp array of x's shape and dtype."""
    kernel = make_map_kernel(UNARY_OPS[name])
    x = contiguous(x, float_dtype(x), xp)
    out = xp.empty(x.shape, dtype=x.dtype)
    if out.size:
        launch(kernel, grid_size(out.size, threads, max_blocks), threads, x.reshape(-1), out.reshape(-1))
    return out


def broadcast_strides(shape, out_shape):
    """Element strides of a contiguous array of `shape` read as `out_shape` (0 where broadcast)."""
    shape = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step if size != 1 else 0)
        step *= size
    return tuple(reversed(strides))


def collapse_dims(shape, a_strides, b_strides):
    """Merge neighbouring dimensions that are contiguous for both inputs (and drop size-1 ones).

    Dimensions d and d+1 merge when stepping once along d is the same as stepping
    shape[d+1] times along d+1, for a and for b alike. Returns (shape, a_strides, b_strides)
    with at least one dimension.
    """
    dims = [(n, sa, sb) for n, sa, sb in zip(shape, a_strides, b_strides) if n != 1] or [(1, 0, 0)]
    merged = [dims[0]]
    for n, sa, sb in dims[1:]:
        outer_n, outer_sa, outer_sb = merged[-1]
        if outer_sa == sa * n and outer_sb == sb * n:
            merged[-1] = (outer_n * n, sa, sb)
        else:
            merged.append((n, sa, sb))
    shape, a_strides, b_strides = zip(*merged)
    return shape, a_strides, b_strides


def binary(name, a, b, *, xp=np, threads=256, max_blocks=4096):
    """op(a, b) elementwise with numpy broadcasting, for op in BINARY_OPS.

    a and b are xp arrays (0-d allowed); returns a new xp array of the broadcast shape
    in the promoted dtype.
    """
    kernel = make_zip_kernel(BINARY_OPS[name])
    dtype = float_dtype(a, b)
    a, b = contiguous(a, dtype, xp), contiguous(b, dtype, xp)
    out_shape = np.broadcast_shapes(a.shape, b.shape)
    out = xp.empty(out_shape, dtype=dtype)
    if out.size:
        shape, a_strides, b_strides = collapse_dims(
            out_shape, broadcast_strides(a.shape, out_shape), broadcast_strides(b.shape, out_shape))
        launch(kernel, grid_size(out.size, threads, max_blocks), threads,
               a.reshape(-1), b.reshape(-1), out.reshape(-1), shape, a_strides, b_strides)
    return out
