"""`tg.exp(x)`, `tg.sum(x, dim)`, ...: PyTorch's function form of Tensor methods.

Each is the method itself, called on its first argument: `tg.exp(x)` is `x.exp()`,
so the math (and the backward) lives in one place, the method and its op.
"""
import numpy as np

from .tensor import Tensor

METHODS = (
    "abs", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "clamp", "sum", "mean", "var", "std", "max", "min",
    "amax", "amin", "argmax", "argmin", "logsumexp", "softmax", "log_softmax", "reshape", "flatten", "permute",
    "transpose", "squeeze", "unsqueeze", "t", "narrow", "tril", "triu", "cumsum", "gather", "scatter", "sort",
    "argsort", "topk", "multinomial", "masked_fill", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge",
    "chunk", "split", "numel", "clone", "detach", "any", "all", "expand_as", "view_as",
)


def _function(name):
    def function(input, *args, **kwargs):  # noqa: A002  (PyTorch's argument name)
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' must be a Tensor, not {type(input).__name__}")
        return getattr(input, name)(*args, **kwargs)
    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"tg.{name}(input, ...) is input.{name}(...): see Tensor.{name}."
    return function


for _name in METHODS:
    globals()[_name] = _function(_name)
clip = globals()["clamp"]


def matmul(input, other):  # noqa: A002
    return input @ other


mm = matmul


def from_numpy(array):
    """A CPU tensor that shares `array`'s memory (changes to one show in the other), as torch.from_numpy."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy array, got {type(array).__name__}")
    from .backends import get_backend
    from .dtypes import from_numpy as dtype_of
    if dtype_of(array.dtype).np != array.dtype:
        raise TypeError(f"from_numpy: numpy dtype {array.dtype} cannot be shared: tinygrad_edu keeps float32, "
                        f"float64, int64 and bool; convert it first (array.astype(...)), which copies")
    return Tensor._wrap(array, get_backend("cpu"), False, None)


def is_tensor(obj):
    return isinstance(obj, Tensor)


__all__ = list(METHODS) + ["clip", "matmul", "mm", "from_numpy", "is_tensor"]
