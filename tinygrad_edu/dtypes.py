"""The four dtypes a tinygrad_edu tensor can hold, named like PyTorch's.

A `DType` is a thin label around a numpy dtype: the backends store plain numpy
(or CuPy) arrays, so the label only decides how data is created and printed and
whether a tensor may carry gradients (only floating dtypes can).
"""
import numpy as np


class DType:
    __slots__ = ("name", "np", "is_floating_point")

    def __init__(self, name, np_dtype, is_floating_point):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = is_floating_point

    def __repr__(self):
        return f"tinygrad_edu.{self.name}"


float32 = DType("float32", np.float32, True)
float64 = DType("float64", np.float64, True)
int64 = DType("int64", np.int64, False)
bool_ = DType("bool", np.bool_, False)

ALL = (float32, float64, int64, bool_)
_BY_NUMPY = {d.np: d for d in ALL}


def from_numpy(np_dtype):
    """The DType of a numpy dtype; integer and smaller float types map to int64/float32."""
    d = _BY_NUMPY.get(np_dtype)
    if d is not None:
        return d
    kind = np.dtype(np_dtype).kind
    if kind in "iu":
        return int64
    if kind == "f":
        return float32
    if kind == "b":
        return bool_
    raise TypeError(f"tinygrad_edu supports float32, float64, int64 and bool data, not numpy dtype {np_dtype}")


def to_dtype(dtype):
    """Accept a DType, a numpy dtype, or a name such as 'float64'; return a DType."""
    if dtype is None or isinstance(dtype, DType):
        return dtype
    if isinstance(dtype, str):
        for d in ALL:
            if d.name == dtype:
                return d
        raise TypeError(f"unknown dtype {dtype!r}; expected one of {[d.name for d in ALL]}")
    return from_numpy(np.dtype(dtype))
