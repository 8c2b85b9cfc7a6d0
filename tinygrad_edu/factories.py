"""Functions that make new tensors: zeros, ones, full, randn, rand, randint, arange, eye, ...

Where the values follow from the arguments (zeros, ones, full, arange, linspace, eye), the
array is made by the device itself (`_build`): on a GPU a fill kernel writes it in place, and
nothing crosses from the host. Random tensors are drawn on the CPU from the library's one
generator, so that a seed gives the same numbers on every device, and then copied over.
"""
import numpy as np

from . import dtypes
from .backends import get_backend
from .random import generator
from .shapes import sizes_from_args
from .tensor import Tensor


def _make(array, dtype, device, requires_grad):
    return Tensor(array, requires_grad=requires_grad, device=device, dtype=dtype)


def _build(make, dtype, device, requires_grad):
    """A tensor whose array `make(xp)` creates with the device's own array module (no host-to-device copy)."""
    backend = get_backend(device)
    t = Tensor._wrap(make(backend.xp), backend, False, None)
    t.requires_grad = requires_grad          # the property checks that the dtype can have gradients
    return t


def zeros(*size, requires_grad=False, device=None, dtype=None):
    dtype = dtypes.to_dtype(dtype) or dtypes.float32
    shape = sizes_from_args("zeros", size)
    return _build(lambda xp: xp.zeros(shape, dtype.np), dtype, device, requires_grad)


def ones(*size, requires_grad=False, device=None, dtype=None):
    dtype = dtypes.to_dtype(dtype) or dtypes.float32
    shape = sizes_from_args("ones", size)
    return _build(lambda xp: xp.ones(shape, dtype.np), dtype, device, requires_grad)


def full(size, fill_value, requires_grad=False, device=None, dtype=None):
    """A tensor filled with `fill_value`; the dtype follows the value (float -> float32, int -> int64, bool)."""
    if dtype is None:
        dtype = (dtypes.bool_ if isinstance(fill_value, bool) else
                 dtypes.int64 if isinstance(fill_value, int) else dtypes.float32)
    dtype = dtypes.to_dtype(dtype)
    shape = sizes_from_args("full", (size,))
    return _build(lambda xp: xp.full(shape, fill_value, dtype.np), dtype, device, requires_grad)


def _like(fn, t, requires_grad, device, dtype, *args):
    return fn(t.shape, *args, requires_grad=requires_grad, device=device or t.device, dtype=dtype or t.dtype)


def zeros_like(t, requires_grad=False, device=None, dtype=None):
    return _like(zeros, t, requires_grad, device, dtype)


def ones_like(t, requires_grad=False, device=None, dtype=None):
    return _like(ones, t, requires_grad, device, dtype)


def full_like(t, fill_value, requires_grad=False, device=None, dtype=None):
    return full(t.shape, fill_value, requires_grad=requires_grad, device=device or t.device, dtype=dtype or t.dtype)


def randn(*size, requires_grad=False, device=None, dtype=None):
    """Standard normal samples (drawn in float64 on the CPU from the library's generator)."""
    dtype = dtypes.to_dtype(dtype) or dtypes.float32
    _check_float("randn", dtype)
    return _make(generator().standard_normal(sizes_from_args("randn", size)), dtype, device, requires_grad)


def rand(*size, requires_grad=False, device=None, dtype=None):
    """Uniform samples on [0, 1)."""
    dtype = dtypes.to_dtype(dtype) or dtypes.float32
    _check_float("rand", dtype)
    return _make(generator().random(sizes_from_args("rand", size)), dtype, device, requires_grad)


def randn_like(t, requires_grad=False, device=None, dtype=None):
    return _like(randn, t, requires_grad, device, dtype)


def rand_like(t, requires_grad=False, device=None, dtype=None):
    return _like(rand, t, requires_grad, device, dtype)


def randint(*args, size=None, requires_grad=False, device=None, dtype=None):
    """randint(high, size) or randint(low, high, size): integers uniform on [low, high)."""
    if size is None:
        *bounds, size = args
    else:
        bounds = list(args)
    if len(bounds) == 1:
        low, high = 0, bounds[0]
    elif len(bounds) == 2:
        low, high = bounds
    else:
        raise TypeError("randint: expected randint(high, size) or randint(low, high, size)")
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    dtype = dtypes.to_dtype(dtype) or dtypes.int64
    data = generator().integers(low, high, size=sizes_from_args("randint", (size,)))
    return _make(data, dtype, device, requires_grad)


def arange(start, end=None, step=1, requires_grad=False, device=None, dtype=None):
    """Values start, start+step, ... below end; int64 when all arguments are ints, else float32."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if dtype is None:
        dtype = dtypes.int64 if all(isinstance(v, int) for v in (start, end, step)) else dtypes.float32
    dtype = dtypes.to_dtype(dtype)
    return _build(lambda xp: xp.arange(start, end, step).astype(dtype.np, copy=False), dtype, device, requires_grad)


def linspace(start, end, steps, requires_grad=False, device=None, dtype=None):
    dtype = dtypes.to_dtype(dtype) or dtypes.float32
    return _build(lambda xp: xp.linspace(start, end, steps).astype(dtype.np, copy=False), dtype, device,
                  requires_grad)


def eye(n, m=None, requires_grad=False, device=None, dtype=None):
    dtype = dtypes.to_dtype(dtype) or dtypes.float32
    return _build(lambda xp: xp.eye(n, m, dtype=dtype.np), dtype, device, requires_grad)


def _check_float(op, dtype):
    if not dtype.is_floating_point:
        raise TypeError(f"{op}: dtype must be float32 or float64, got {dtype}")
