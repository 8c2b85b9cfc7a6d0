"""The Tensor: an array on a device plus what autograd needs to differentiate through it.

A Tensor holds
  array         the backend array (a numpy array on "cpu", a CuPy array on "cuda")
  requires_grad whether gradients should flow back to it
  grad          the accumulated gradient (a Tensor) once backward has run
  grad_fn       the Function node that produced it (None for leaves)
  _version      how often its memory was changed in place (autograd.VersionCounter)

`t.data` is what it is in PyTorch: a Tensor sharing t's memory, outside the graph
(`p.data -= lr * p.grad` changes p). In-place ops (`+=`, `add_`, `x[i] = v`, ...) are
explained in inplace.py.

Every differentiable method below checks its arguments, then calls one `Function`
from `tinygrad_edu.ops`; the math of each op and of its backward lives there.
"""
from collections import namedtuple

import numpy as np

from . import dtypes, inplace
from .autograd import Function, VersionCounter, run_backward
from .backends import backend_of_array, canonical_device, get_backend
from .broadcast import broadcast_shape
from .device import device
from .ops import binary, elementwise, gather as gather_ops, indexing, matmul, reduce, shape as shape_ops
from .shapes import as_int, infer_reshape, normalize_dim, normalize_dims, sizes_from_args

MaxMin = namedtuple("MaxMin", ["values", "indices"])
Sorted = namedtuple("Sorted", ["values", "indices"])
TopK = namedtuple("TopK", ["values", "indices"])


class Tensor:
    __slots__ = ("array", "_backend", "_requires_grad", "grad", "grad_fn", "_counter", "_base", "__weakref__")
    __array_priority__ = 1000  # numpy scalars on the left defer to our reflected operators

    # ---- creation --------------------------------------------------------------------------
    def __init__(self, data, requires_grad=False, device=None, dtype=None):
        dtype = dtypes.to_dtype(dtype)
        if isinstance(data, Tensor):
            data = data.array
        if device is None:
            backend = backend_of_array(data)
        else:
            backend = get_backend(device)
        if isinstance(data, (np.ndarray, np.generic)) or type(data).__module__.startswith("cupy"):
            array = data
            target = dtype or dtypes.from_numpy(array.dtype)
        else:  # Python numbers and (nested) lists: floats default to float32, like PyTorch
            array = np.asarray(_numbers(data))
            if array.dtype == object:
                raise TypeError(f"Tensor: cannot make a tensor from {type(data).__name__} {data!r}")
            target = dtype or (dtypes.float32 if array.dtype.kind == "f" else dtypes.from_numpy(array.dtype))
        converted = backend.asarray(array, dtype=target.np)
        self.array = converted.copy() if converted is data else converted  # never share the caller's array
        self._backend = backend
        self.grad = None
        self.grad_fn = None
        self._counter = VersionCounter()
        self._base = None
        self._requires_grad = False
        self.requires_grad = requires_grad

    @staticmethod
    def _wrap(array, backend, requires_grad, grad_fn, counter=None):
        """Make a Tensor around an existing backend array without copying or checking (internal, fast).

        `counter`: the version counter of the tensor whose memory this one shares (None: its own)."""
        t = object.__new__(Tensor)
        t.array = array
        t._backend = backend
        t._requires_grad = requires_grad
        t.grad = None
        t.grad_fn = grad_fn
        t._counter = counter or VersionCounter()
        t._base = None         # (tensor, view node) when an op made this tensor as a view of another's memory
        return t

    def _like(self, array, requires_grad=False):
        return Tensor._wrap(array, self._backend, requires_grad, None)

    # ---- attributes ------------------------------------------------------------------------
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        if value and self.array.dtype.kind != "f":
            raise RuntimeError(
                f"only floating-point tensors can require gradients; this tensor has dtype {self.dtype} and "
                f"shape {self.shape}. Convert it with .float() or .double() first")
        if not value and self.grad_fn is not None:
            raise RuntimeError("requires_grad can only be turned off on leaf tensors; use .detach() instead")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def data(self):
        """A tensor sharing this one's memory, with no history and requires_grad False, as in PyTorch:
        changes made through it are not seen by autograd (`with tg.no_grad()` is the safer way)."""
        return Tensor._wrap(self.array, self._backend, False, None)

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"data: assigned value must be a Tensor, got {type(value).__name__}")
        if value._backend is not self._backend:
            raise RuntimeError(f"data: cannot assign a tensor on {value.device} to the data of one on {self.device}")
        self.array = value.array

    @property
    def _version(self):
        return self._counter.value

    @property
    def device(self):
        """A tg.device; compares equal to its name ("cpu", "cuda")."""
        return device(self._backend.name)

    @property
    def is_cuda(self):
        return self._backend.name == "cuda"

    @property
    def shape(self):
        return self.array.shape

    @property
    def ndim(self):
        return self.array.ndim

    @property
    def dtype(self):
        return dtypes.from_numpy(self.array.dtype)

    @property
    def is_leaf(self):
        return self.grad_fn is None

    def size(self, dim=None):
        if dim is None:
            return self.shape
        d = normalize_dim("size", dim, self.ndim, self.shape)
        if self.ndim == 0:
            raise IndexError(f"size: dim {dim} was given, but a 0-d tensor has no dimensions")
        return self.shape[d]

    def dim(self):
        return self.ndim

    def numel(self):
        return int(self.array.size)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __repr__(self):
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extras = []
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.array.dtype.kind == "f" and self.array.dtype != np.float32:
            extras.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    __hash__ = object.__hash__

    # ---- leaving the graph / the device ----------------------------------------------------
    def numpy(self):
        """The data as a numpy array (shared with the tensor on the CPU, copied from a GPU)."""
        return self._backend.to_numpy(self.array)

    def item(self):
        if self.array.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted to a Python number, "
                             f"this one has shape {self.shape}")
        return self.numpy().reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.array.size != 1:
            raise RuntimeError(f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                               f"use .any() or .all()")
        return bool(self.item())

    def detach(self):
        """The same memory, cut from the graph: no grad_fn, requires_grad False (and the same version counter,
        so autograd still notices when it is changed in place)."""
        return Tensor._wrap(self.array, self._backend, False, None, self._counter)

    def clone(self):
        return Clone.apply(self)

    def to(self, device=None, dtype=None):
        """Move to a device ('cpu'/'cuda') and/or convert to a dtype; differentiable like PyTorch's."""
        if isinstance(device, dtypes.DType) or (isinstance(device, str) and device in
                                                 [d.name for d in dtypes.ALL]):
            device, dtype = None, device
        out = self
        if device is not None and canonical_device(device) != self.device:
            out = ToDevice.apply(out, device=canonical_device(device))
        if dtype is not None:
            dtype = dtypes.to_dtype(dtype)
            if dtype.np != out.array.dtype:
                out = elementwise.Cast.apply(out, dtype=dtype.np)
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self.to(dtype=dtypes.float32)

    def double(self):
        return self.to(dtype=dtypes.float64)

    def long(self):
        return self.to(dtype=dtypes.int64)

    def bool(self):
        return self.to(dtype=dtypes.bool_)

    # ---- autograd --------------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) * gradient into `.grad` of every leaf that requires grad."""
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no grad_fn; "
                               "did you forget requires_grad=True on an input, or run it under no_grad?")
        if gradient is None:
            if self.array.size != 1:
                raise RuntimeError(
                    f"backward: a gradient can be created implicitly only for scalar outputs, but this tensor has "
                    f"shape {self.shape}; pass gradient= (a tensor of that shape) or reduce it first, e.g. .sum()")
            grad = self._backend.xp.ones_like(self.array)
        else:
            if not isinstance(gradient, Tensor):
                gradient = Tensor(gradient, device=self.device)
            if gradient.shape != self.shape:
                raise RuntimeError(f"backward: gradient has shape {gradient.shape} but the tensor has shape "
                                   f"{self.shape}; they must match")
            if gradient.device != self.device:
                raise RuntimeError(f"backward: gradient is on {gradient.device} but the tensor is on {self.device}")
            grad = gradient.array.astype(self.array.dtype, copy=False)
        run_backward(self, grad, retain_graph=retain_graph)

    # ---- arithmetic ------------------------------------------------------------------------
    def _scalar(self, value, op):
        """A Python number as a 0-d tensor whose dtype follows PyTorch's promotion for `self op value`."""
        kind = self.array.dtype.kind
        if isinstance(value, (bool, np.bool_)):
            dt = self.array.dtype
        elif isinstance(value, (int, np.integer)):
            dt = self.array.dtype if kind in "fi" else np.int64
        elif isinstance(value, (float, np.floating)):
            dt = self.array.dtype if kind == "f" else np.float32
        else:
            raise TypeError(f"{op}: unsupported operand of type {type(value).__name__} with a Tensor")
        return Tensor._wrap(self._backend.xp.asarray(value, dtype=dt), self._backend, False, None)

    def _operands(self, other, op):
        """Turn (self, other) into two tensors of one dtype, checking device and broadcast shapes."""
        b = other if isinstance(other, Tensor) else self._scalar(other, op)
        a = self
        if a._backend is not b._backend:
            raise RuntimeError(f"{op}: expected both tensors on the same device, found {a.device} and {b.device}")
        if a.array.dtype != b.array.dtype:
            a, b = _promote(a, b)
        if a.array.shape != b.array.shape:
            broadcast_shape(op, a.array.shape, b.array.shape)
        return a, b

    def __add__(self, other):
        return binary.Add.apply(*self._operands(other, "add"))

    def __radd__(self, other):
        a, b = self._operands(other, "add")
        return binary.Add.apply(b, a)

    def __sub__(self, other):
        return binary.Sub.apply(*self._operands(other, "sub"))

    def __rsub__(self, other):
        a, b = self._operands(other, "sub")
        return binary.Sub.apply(b, a)

    def __mul__(self, other):
        return binary.Mul.apply(*self._operands(other, "mul"))

    def __rmul__(self, other):
        a, b = self._operands(other, "mul")
        return binary.Mul.apply(b, a)

    def __truediv__(self, other):
        a, b = self._operands(other, "div")
        if a.array.dtype.kind != "f":  # true division of integers gives floats, as in PyTorch
            a, b = a.float(), b.float()
        return binary.Div.apply(a, b)

    def __rtruediv__(self, other):
        a, b = self._operands(other, "div")
        if a.array.dtype.kind != "f":
            a, b = a.float(), b.float()
        return binary.Div.apply(b, a)

    def __pow__(self, other):
        return binary.Pow.apply(*self._operands(other, "pow"))

    def __rpow__(self, other):
        a, b = self._operands(other, "pow")
        return binary.Pow.apply(b, a)

    def __neg__(self):
        return elementwise.Neg.apply(self)

    def __matmul__(self, other):
        return _matmul(self, other)

    def __rmatmul__(self, other):
        return _matmul(Tensor(other, device=self.device, dtype=self.dtype), self)

    add, sub, mul, div, pow, neg, matmul = __add__, __sub__, __mul__, __truediv__, __pow__, __neg__, __matmul__

    # comparisons are not differentiable: they return bool tensors outside the graph
    def _compare(self, other, op, fn):
        a, b = self._operands(other, op)
        return self._like(fn(a.array, b.array))

    def __lt__(self, other):
        return self._compare(other, "lt", lambda a, b: a < b)

    def __le__(self, other):
        return self._compare(other, "le", lambda a, b: a <= b)

    def eq(self, other):
        return self == other

    def ne(self, other):
        return self != other

    def lt(self, other):
        return self < other

    def le(self, other):
        return self <= other

    def gt(self, other):
        return self > other

    def ge(self, other):
        return self >= other

    def __gt__(self, other):
        return self._compare(other, "gt", lambda a, b: a > b)

    def __ge__(self, other):
        return self._compare(other, "ge", lambda a, b: a >= b)

    def __eq__(self, other):
        return self._compare(other, "eq", lambda a, b: a == b)

    def __ne__(self, other):
        return self._compare(other, "ne", lambda a, b: a != b)

    def __invert__(self):
        if self.array.dtype.kind != "b":
            raise TypeError(f"~ is defined for bool tensors only, this one has dtype {self.dtype}")
        return self._like(~self.array)

    def __and__(self, other):
        return self._compare(other, "and", lambda a, b: a & b)

    def __or__(self, other):
        return self._compare(other, "or", lambda a, b: a | b)

    def any(self):
        return self._like(self.array.any())

    def all(self):
        return self._like(self.array.all())

    # ---- elementwise -----------------------------------------------------------------------
    def exp(self):
        return elementwise.Exp.apply(self._floating("exp"))

    def log(self):
        return elementwise.Log.apply(self._floating("log"))

    def sqrt(self):
        return elementwise.Sqrt.apply(self._floating("sqrt"))

    def tanh(self):
        return elementwise.Tanh.apply(self._floating("tanh"))

    def sigmoid(self):
        return elementwise.Sigmoid.apply(self._floating("sigmoid"))

    def relu(self):
        return elementwise.Relu.apply(self)

    def abs(self):
        return elementwise.Abs.apply(self)

    def clamp(self, min=None, max=None):
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        return elementwise.Clamp.apply(self, low=min, high=max)

    clip = clamp

    def maximum(self, other):
        return binary.Maximum.apply(*self._operands(other, "maximum"))

    def minimum(self, other):
        return binary.Minimum.apply(*self._operands(other, "minimum"))

    def where(self, condition, other):
        """PyTorch's `x.where(cond, y)`: x where cond is True, else y."""
        return where(condition, self, other)

    def _floating(self, op):
        return self if self.array.dtype.kind == "f" else self.float()

    # ---- reductions ------------------------------------------------------------------------
    def sum(self, dim=None, keepdim=False):
        axis = normalize_dims("sum", dim, self.shape)
        x = self if self.array.dtype.kind in "fi" else self.long()
        return reduce.Sum.apply(x, axis=axis, keepdim=keepdim)

    def mean(self, dim=None, keepdim=False):
        axis = normalize_dims("mean", dim, self.shape)
        if self.array.dtype.kind != "f":
            raise TypeError(f"mean: needs a floating-point tensor, got dtype {self.dtype}; use .float() first")
        return reduce.Sum.apply(self, axis=axis, keepdim=keepdim) / _count(self.shape, axis)

    def var(self, dim=None, unbiased=True, keepdim=False, correction=None):
        """Variance: sum((x - mean)^2) / (n - correction), correction 1 (unbiased) by default."""
        axis = normalize_dims("var", dim, self.shape)
        if correction is None:
            correction = 1 if unbiased else 0
        n = _count(self.shape, axis)
        centred = self - self.mean(dim=axis, keepdim=True)
        return (centred * centred).sum(dim=axis, keepdim=keepdim) / max(n - correction, 0)

    def std(self, dim=None, unbiased=True, keepdim=False, correction=None):
        return self.var(dim, unbiased, keepdim, correction).sqrt()

    def _max_min(self, op, fn_cls, arg, dim, keepdim):
        axis = normalize_dims(op, dim, self.shape)
        if self.array.size == 0:
            raise RuntimeError(f"{op}: cannot reduce an empty tensor of shape {self.shape}")
        if isinstance(dim, int) and axis is not None:  # PyTorch returns (values, indices) when one dim is named,
            indices = arg(dim, keepdim)                  # and the gradient goes to the element the index names
            return MaxMin(reduce.TakeAlongDim.apply(self, indices=indices.array, axis=axis[0], keepdim=keepdim),
                          indices)
        values = fn_cls.apply(self, axis=axis, keepdim=keepdim, nan_is_max=axis is None)  # all elements: NaNs share dy
        if isinstance(dim, int):  # a 0-d tensor along dim 0 or -1
            return MaxMin(values, arg(dim, keepdim))
        return values

    def max(self, dim=None, keepdim=False):
        """The largest element (dim=None), or (values, indices) along one dim, or the max over a tuple of dims."""
        return self._max_min("max", reduce.Max, self.argmax, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return self._max_min("min", reduce.Min, self.argmin, dim, keepdim)

    def amax(self, dim=None, keepdim=False):
        return reduce.Max.apply(self, axis=normalize_dims("amax", dim, self.shape), keepdim=keepdim)

    def amin(self, dim=None, keepdim=False):
        return reduce.Min.apply(self, axis=normalize_dims("amin", dim, self.shape), keepdim=keepdim)

    def _arg(self, op, fn, dim, keepdim):
        if dim is None:
            if self.array.size == 0:
                raise IndexError(f"{op}: an empty tensor (shape {self.shape}) has no {op}; name a dim to reduce")
            out = fn(self.array.reshape(-1))
            return self._like(out.reshape((1,) * self.ndim) if keepdim else out)
        axis = normalize_dim(op, dim, self.ndim, self.shape)
        if self.ndim and self.shape[axis] == 0:
            raise IndexError(f"{op}: dim {dim} of the tensor of shape {self.shape} has size 0, so it has no {op}")
        return self._like(fn(self.array, axis=axis, keepdims=keepdim).astype(np.int64, copy=False))

    def argmax(self, dim=None, keepdim=False):
        return self._arg("argmax", self._backend.xp.argmax, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return self._arg("argmin", self._backend.xp.argmin, dim, keepdim)

    def logsumexp(self, dim=None, keepdim=False):
        """log(sum(exp(x))) over dim, computed without overflow."""
        return reduce.LogSumExp.apply(self._floating("logsumexp"),
                                      axis=normalize_dims("logsumexp", dim, self.shape), keepdim=keepdim)

    def softmax(self, dim):
        """e^x / sum(e^x) over dim: F.softmax, the one softmax op (ops/softmax.py, shifted by the max)."""
        from .nn.functional import softmax
        return softmax(self, dim)

    def log_softmax(self, dim):
        """x - logsumexp(x) over dim: F.log_softmax, the one log-softmax op (ops/softmax.py)."""
        from .nn.functional import log_softmax
        return log_softmax(self, dim)

    # ---- shape -----------------------------------------------------------------------------
    def reshape(self, *shape):
        new = infer_reshape("reshape", self.shape, sizes_from_args("reshape", shape))
        if new == self.shape:
            return self
        return shape_ops.Reshape.apply(self, shape=new)

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        s = normalize_dim("flatten", start_dim, self.ndim, self.shape)
        e = normalize_dim("flatten", end_dim, self.ndim, self.shape)
        if self.ndim == 0:
            return self.reshape(1)
        if s > e:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        return self.reshape(self.shape[:s] + (-1,) + self.shape[e + 1:])

    def permute(self, *dims):
        dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        norm = tuple(normalize_dim("permute", d, self.ndim, self.shape) for d in dims)
        if sorted(norm) != list(range(self.ndim)):
            raise ValueError(f"permute: dims {dims} are not a permutation of the {self.ndim} dims of a tensor "
                             f"of shape {self.shape}")
        return shape_ops.Permute.apply(self, dims=norm)

    def transpose(self, dim0, dim1):
        d0 = normalize_dim("transpose", dim0, self.ndim, self.shape)
        d1 = normalize_dim("transpose", dim1, self.ndim, self.shape)
        if self.ndim < 2:
            return self
        order = list(range(self.ndim))
        order[d0], order[d1] = order[d1], order[d0]
        return shape_ops.Permute.apply(self, dims=tuple(order))

    @property
    def T(self):
        return self.permute(*reversed(range(self.ndim))) if self.ndim > 1 else self

    def unsqueeze(self, dim):
        d = normalize_dim("unsqueeze", dim, self.ndim + 1, self.shape)
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def squeeze(self, dim=None):
        if dim is None:
            dims = tuple(range(self.ndim))
        else:
            dims = normalize_dims("squeeze", dim, self.shape) or ()
        new = tuple(s for i, s in enumerate(self.shape) if not (i in dims and s == 1))
        return self.reshape(new)

    def expand(self, *sizes):
        sizes = sizes_from_args("expand", sizes)
        if len(sizes) < self.ndim:
            raise ValueError(f"expand: the number of sizes {sizes} must be at least the tensor's ndim "
                             f"(shape {self.shape})")
        lead = len(sizes) - self.ndim
        out = []
        for i, s in enumerate(sizes):
            old = self.shape[i - lead] if i >= lead else None
            if s == -1:
                if old is None:
                    raise ValueError(f"expand: -1 is not allowed for a new leading dim (sizes {sizes})")
                s = old
            if old is not None and old != 1 and old != s:
                raise ValueError(f"expand: cannot expand shape {self.shape} to {sizes}: dim {i} has size {old}, "
                                 f"only size-1 dims can be expanded")
            out.append(s)
        out = tuple(out)
        return self if out == self.shape else shape_ops.Expand.apply(self, shape=out)

    def expand_as(self, other):
        return self.expand(other.shape)

    def repeat(self, *reps):
        reps = sizes_from_args("repeat", reps)
        if len(reps) < self.ndim:
            raise ValueError(f"repeat: needs at least {self.ndim} repeat counts for shape {self.shape}, "
                             f"got {reps}")
        return shape_ops.Repeat.apply(self, reps=reps)

    def split(self, split_size_or_sections, dim=0):
        """Pieces of split_size along dim (the last one may be shorter), or pieces of the sizes listed."""
        if self.ndim == 0:
            raise RuntimeError("split: expects at least a 1-dimensional tensor, got a 0-d tensor")
        d = normalize_dim("split", dim, self.ndim, self.shape)
        n = self.shape[d]
        if isinstance(split_size_or_sections, (tuple, list)):
            sizes = [as_int("split", s, "each section size") for s in split_size_or_sections]
            if any(s < 0 for s in sizes) or sum(sizes) != n:
                raise ValueError(f"split: sections {sizes} must be non-negative and sum to {n}, the size of dim "
                                 f"{dim} of shape {self.shape}")
        else:
            size = as_int("split", split_size_or_sections, "split_size")
            if size < 0 or size == 0 and n:
                raise ValueError(f"split: split_size must be positive (0 only for a dim of size 0), got {size}")
            sizes = [min(size, n - i) for i in range(0, n, size)] if n else [0]  # an empty dim: one empty piece
        out, start = [], 0
        for s in sizes:
            index = (slice(None),) * d + (slice(start, start + s),)
            out.append(self[index])
            start += s
        return tuple(out)

    def chunk(self, chunks, dim=0):
        if self.ndim == 0:
            raise RuntimeError("chunk: expects at least a 1-dimensional tensor, got a 0-d tensor")
        d = normalize_dim("chunk", dim, self.ndim, self.shape)
        chunks = as_int("chunk", chunks, "chunks")
        if chunks <= 0:
            raise ValueError(f"chunk: chunks must be positive, got {chunks}")
        if self.shape[d] == 0:  # as in PyTorch: `chunks` empty pieces
            return self.split([0] * chunks, d)
        return self.split(-(-self.shape[d] // chunks), d)

    def masked_fill(self, mask, value):
        """A copy of self with `value` where the bool `mask` (broadcastable to self) is True."""
        if not isinstance(mask, Tensor) or mask.array.dtype.kind != "b":
            raise TypeError(f"masked_fill: mask must be a bool tensor, got {getattr(mask, 'dtype', type(mask))}")
        if broadcast_shape("masked_fill", self.shape, mask.shape) != self.shape:
            raise ValueError(f"masked_fill: mask of shape {mask.shape} does not broadcast to the tensor's shape "
                             f"{self.shape}")
        return where(mask, self._scalar(value, "masked_fill"), self)

    def pad(self, pad, value=0.0):
        """Constant padding; `pad` lists (left, right) pairs starting from the last dim, like F.pad."""
        if len(pad) % 2 or len(pad) // 2 > self.ndim:
            raise ValueError(f"pad: expected an even number of at most {2 * self.ndim} pad sizes for shape "
                             f"{self.shape}, got {pad}")
        if any(p < 0 for p in pad):
            raise ValueError(f"pad: negative padding is not supported, got {pad}")
        width = [(0, 0)] * self.ndim
        for i in range(len(pad) // 2):
            width[self.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
        return shape_ops.Pad.apply(self, pad_width=tuple(width), value=value)

    def __getitem__(self, index):
        index, advanced = self._index(index, "getitem")
        try:
            return indexing.GetItem.apply(self, index=index, advanced=advanced)
        except IndexError as exc:
            raise IndexError(f"getitem: index {_show_index(index)} is invalid for a tensor of shape "
                             f"{self.shape}: {exc}") from None

    def _index(self, index, op):
        """A user's index as backend-array parts, and whether it is advanced (integer/bool arrays)."""
        if not isinstance(index, tuple):
            index = (index,)
        parts, advanced = [], False
        for part in index:
            if isinstance(part, Tensor):
                if part.array.dtype.kind not in "bi":
                    raise IndexError(f"{op}: tensors used as indices must be int64 or bool, got {part.dtype}")
                part = part.array if part._backend is self._backend else self._backend.asarray(part.numpy())
                advanced = True
            elif isinstance(part, (list, np.ndarray)):
                part = self._backend.asarray(part)
                advanced = True
            elif not (part is None or part is Ellipsis or isinstance(part, (int, np.integer, slice))):
                raise IndexError(f"{op}: unsupported index {part!r} of type {type(part).__name__}")
            parts.append(part)
        return tuple(parts), advanced

    # ---- more of PyTorch's Tensor API -----------------------------------------------------------
    def t(self):
        """The transpose of a matrix (a 0-D or 1-D tensor is returned as it is)."""
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but this one has shape {self.shape}; "
                               f"use transpose(dim0, dim1) or permute")
        return self.transpose(0, 1)

    def view_as(self, other):
        return self.reshape(other.shape)

    def narrow(self, dim, start, length):
        """The slice start:start+length of dim (a view)."""
        if self.ndim == 0:
            raise RuntimeError("narrow: cannot be applied to a 0-d tensor")
        d = normalize_dim("narrow", dim, self.ndim, self.shape)
        start, length, size = as_int("narrow", start, "start"), as_int("narrow", length, "length"), self.shape[d]
        start = start + size if start < 0 else start
        if not (0 <= start <= size and 0 <= length and start + length <= size):
            raise IndexError(f"narrow: start {start} and length {length} do not fit dim {dim} of size {size}")
        return self[(slice(None),) * d + (slice(start, start + length),)]

    def contiguous(self):
        """Self if its memory is already laid out row by row, else a copy that is (gradients flow through)."""
        return self if self.array.flags.c_contiguous else self.clone()

    def type(self, dtype=None):
        """With no argument, the type's name ('tinygrad_edu.FloatTensor'); with a dtype, the tensor converted."""
        names = {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor", "bool": "BoolTensor"}
        if dtype is None:
            return "tinygrad_edu." + names[self.dtype.name]
        if isinstance(dtype, str) and dtype.rpartition(".")[2] in names.values():
            dtype = {v: k for k, v in names.items()}[dtype.rpartition(".")[2]]
        return self.to(dtype=dtype)

    def new_tensor(self, data, dtype=None, requires_grad=False):
        return Tensor(data, dtype=dtype or self.dtype, device=self.device, requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, requires_grad=False):
        return self.new_full(sizes_from_args("new_zeros", size), 0, dtype=dtype, requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, requires_grad=False):
        return self.new_full(sizes_from_args("new_ones", size), 1, dtype=dtype, requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, requires_grad=False):
        dtype = dtypes.to_dtype(dtype) or self.dtype
        array = self._backend.xp.full(tuple(size), fill_value, dtype=dtype.np)
        return Tensor._wrap(array, self._backend, False, None).requires_grad_(requires_grad)

    def __index__(self):
        if self.array.dtype.kind not in "iub" or self.array.size != 1:
            raise TypeError(f"only integer tensors of a single element can be converted to an index; this one "
                            f"has dtype {self.dtype} and shape {self.shape}")
        return int(self.item())

    def __format__(self, spec):
        if self.array.size == 1 and self.ndim == 0:
            return format(self.item(), spec)
        if not spec:
            return repr(self)
        raise TypeError(f"unsupported format string {spec!r} for a tensor of shape {self.shape}; format "
                        f"t.item() for a one-element tensor")

    def tril(self, diagonal=0):
        """The lower triangle of the last two dims (above `diagonal` set to 0); gradients flow to what is kept."""
        return self._triangle("tril", diagonal, lambda xp, n, m: xp.tri(n, m, diagonal, dtype=bool))

    def triu(self, diagonal=0):
        return self._triangle("triu", diagonal, lambda xp, n, m: ~xp.tri(n, m, diagonal - 1, dtype=bool))

    def _triangle(self, op, diagonal, mask):
        if self.ndim < 2:
            raise RuntimeError(f"{op}: input tensor must have at least 2 dimensions, got shape {self.shape}")
        keep = self._like(mask(self._backend.xp, *self.shape[-2:]))
        return where(keep, self, self._scalar(0, op))

    def cumsum(self, dim, dtype=None):
        x = self if dtype is None else self.to(dtype=dtype)
        d = normalize_dim("cumsum", dim, x.ndim, x.shape)
        if x.ndim == 0:
            return x
        if x.array.dtype.kind == "b":
            x = x.long()
        return gather_ops.Cumsum.apply(x, dim=d)

    def gather(self, dim, index):
        """out[p] = self[p with coordinate `dim` replaced by index[p]]; index has self's number of dims."""
        if self._is_0d_pair("gather", dim, index):  # a 0-d tensor is gathered as the (1,) tensor it equals
            return self.reshape(1).gather(0, index.reshape(1)).reshape(())
        d, index = self._along_index("gather", dim, index)
        return gather_ops.Gather.apply(self, index=index, dim=d)

    def scatter(self, dim, index, src=None, value=None):
        """A copy of self with self[p with coordinate `dim` replaced by index[p]] = src[p] (or `value`)."""
        if self._is_0d_pair("scatter", dim, index):
            src = src.reshape(1) if isinstance(src, Tensor) else src
            return self.reshape(1).scatter(0, index.reshape(1), src, value).reshape(())
        d, index = self._along_index("scatter", dim, index)
        if src is None:
            if value is None:
                raise TypeError("scatter: give src (a tensor) or value (a number)")
            src = self.new_full(index.shape, value)
        elif not isinstance(src, Tensor):
            src = self.new_full(index.shape, src)
        if src.array.dtype != self.array.dtype:
            src = src.to(dtype=self.dtype)
        if any(i > s for i, s in zip(index.shape, src.shape)):
            raise RuntimeError(f"scatter: index of shape {index.shape} is larger than src of shape {src.shape}")
        return gather_ops.Scatter.apply(self, src, index=index, dim=d)

    def _is_0d_pair(self, op, dim, index):
        """Whether self and index are both 0-d (after checking dim: only 0 and -1 name a 0-d tensor's dim)."""
        if self.ndim == 0 and isinstance(index, Tensor) and index.ndim == 0:
            normalize_dim(op, dim, 0, ())
            return True
        return False

    def _along_index(self, op, dim, index):
        if not isinstance(index, Tensor) or index.array.dtype.kind != "i":
            raise TypeError(f"{op}: index must be an int64 tensor, got {getattr(index, 'dtype', type(index))}")
        if index.ndim != self.ndim:
            raise RuntimeError(f"{op}: index (shape {index.shape}) must have as many dims as the input "
                               f"(shape {self.shape})")
        d = normalize_dim(op, dim, self.ndim, self.shape)
        for i, (n, m) in enumerate(zip(index.shape, self.shape)):
            if i != d and n > m:
                raise RuntimeError(f"{op}: index of shape {index.shape} is larger than the input of shape "
                                   f"{self.shape} at dim {i}")
        xp = self._backend.xp
        array = index.array if index._backend is self._backend else self._backend.asarray(index.numpy())
        if array.size and (int(array.min()) < -self.shape[d] or int(array.max()) >= self.shape[d]):
            raise IndexError(f"{op}: index out of range for dim {dim} of size {self.shape[d]} (indices from "
                             f"{int(array.min())} to {int(array.max())})")
        return d, xp.where(array < 0, array + self.shape[d], array)

    def sort(self, dim=-1, descending=False, stable=False):
        """(values, indices) sorted along dim (stable: equal elements keep their order); the values' gradient flows
        back through the indices."""
        indices = self.argsort(dim, descending=descending, stable=stable)
        return Sorted(self.gather(dim, indices) if self.ndim else self, indices)

    def argsort(self, dim=-1, descending=False, stable=False):
        d = normalize_dim("argsort", dim, self.ndim, self.shape)
        if self.ndim == 0:
            return self._like(self._backend.xp.zeros((), dtype=np.int64))
        xp = self._backend.xp
        keys = -self.array if descending and self.array.dtype.kind != "b" else self.array
        order = xp.argsort(keys, axis=d, kind="stable")
        if descending and self.array.dtype.kind == "b":
            order = xp.flip(xp.argsort(self.array, axis=d, kind="stable"), axis=d)
        return self._like(order.astype(np.int64))

    def topk(self, k, dim=-1, largest=True, sorted=True):
        """The k largest (or smallest) elements along dim and their indices, largest first."""
        d, k = normalize_dim("topk", dim, self.ndim, self.shape), as_int("topk", k, "k")
        size = self.shape[d] if self.ndim else 1
        if not 0 <= k <= size:
            raise RuntimeError(f"topk: k ({k}) is out of range for dim {dim} of size {size}")
        order = self.argsort(d, descending=largest, stable=True)
        indices = order[(slice(None),) * d + (slice(0, k),)] if self.ndim else order
        return TopK(self.gather(d, indices) if self.ndim else self, indices)

    def multinomial(self, num_samples, replacement=False, generator=None):
        """Draw category indices with probabilities proportional to each row (1-D or 2-D, non-negative)."""
        from .random import generator as library_generator
        if self.ndim not in (1, 2):
            raise RuntimeError(f"multinomial: probabilities must be 1-D or 2-D, got shape {self.shape}")
        rows = self.numpy().reshape(-1, self.shape[-1]).astype(np.float64)
        if (rows < 0).any() or not np.isfinite(rows).all() or (rows.sum(axis=1) <= 0).any():
            raise RuntimeError("multinomial: probabilities must be finite, non-negative and not all zero in a row")
        if not replacement and num_samples > (rows > 0).sum(axis=1).min():
            raise RuntimeError(f"multinomial: cannot draw {num_samples} samples without replacement from a row "
                               f"with fewer non-zero probabilities")
        rng = generator if generator is not None else library_generator()
        drawn = np.stack([rng.choice(len(r), size=num_samples, replace=replacement, p=r / r.sum()) for r in rows])
        drawn = drawn.reshape(self.shape[:-1] + (num_samples,)).astype(np.int64)
        return Tensor._wrap(self._backend.asarray(drawn), self._backend, False, None)

    # ---- in place (inplace.py: the rules, and how the graph follows) --------------------------
    def __setitem__(self, index, value):
        """x[index] = value, with autograd: the gradient of the old x is zero where it was overwritten."""
        parts, advanced = self._index(index, "setitem")

        def assign(old):
            v = value if isinstance(value, Tensor) else old._scalar(value, "setitem")
            if v.array.dtype != old.array.dtype:
                v = v.to(dtype=old.dtype)
            try:
                return indexing.SetItem.apply(old, v, index=parts, advanced=advanced)
            except (IndexError, ValueError) as exc:
                raise IndexError(f"setitem: cannot assign a value of shape {v.shape} to index {_show_index(parts)} "
                                 f"of a tensor of shape {self.shape}: {exc}") from None
        inplace.update(self, "setitem", assign)

    def __iadd__(self, other):
        return inplace.update(self, "add_", lambda old: old + other)

    def __isub__(self, other):
        return inplace.update(self, "sub_", lambda old: old - other)

    def __imul__(self, other):
        return inplace.update(self, "mul_", lambda old: old * other)

    def __itruediv__(self, other):
        return inplace.update(self, "div_", lambda old: old / other)

    def add_(self, other, alpha=1):
        return inplace.update(self, "add_", lambda old: old + (other if alpha == 1 else other * alpha))

    def sub_(self, other, alpha=1):
        return inplace.update(self, "sub_", lambda old: old - (other if alpha == 1 else other * alpha))

    def mul_(self, other):
        return inplace.update(self, "mul_", lambda old: old * other)

    def div_(self, other):
        return inplace.update(self, "div_", lambda old: old / other)

    def clamp_(self, min=None, max=None):
        return inplace.update(self, "clamp_", lambda old: old.clamp(min, max))

    def masked_fill_(self, mask, value):
        return inplace.update(self, "masked_fill_", lambda old: old.masked_fill(mask, value))

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        if isinstance(value, Tensor) and value.ndim:
            raise RuntimeError(f"fill_: only a number or a 0-d tensor can fill a tensor, got shape {value.shape}")
        xp = self._backend.xp
        return inplace.update(self, "fill_", lambda old: Tensor._wrap(
            xp.full(self.shape, value.item() if isinstance(value, Tensor) else value, dtype=self.array.dtype),
            self._backend, False, None))

    def copy_(self, src):
        """Copy src's values into self (src broadcast to self's shape, converted to self's dtype and device);
        the gradient flows to src."""
        if not isinstance(src, Tensor):
            src = Tensor(src, device=self.device, dtype=self.dtype)

        def copied(old):
            moved = src.to(device=self.device, dtype=self.dtype)
            try:
                return moved.expand(*self.shape) if moved.shape != self.shape else moved
            except ValueError:
                raise RuntimeError(f"copy_: the source's shape {src.shape} does not broadcast to the tensor's shape "
                                   f"{self.shape}") from None
        return inplace.update(self, "copy_", copied)

    def normal_(self, mean=0.0, std=1.0, generator=None):
        return self._fill_random("normal_", lambda rng: rng.normal(mean, std, self.shape), generator)

    def uniform_(self, a=0.0, b=1.0, generator=None):
        return self._fill_random("uniform_", lambda rng: rng.uniform(a, b, self.shape), generator)

    def _fill_random(self, op, draw, generator):
        from .random import generator as library_generator
        samples = draw(generator if generator is not None else library_generator())
        return inplace.update(self, op, lambda old: Tensor._wrap(
            self._backend.asarray(samples, dtype=self.array.dtype), self._backend, False, None))


from . import autograd as _autograd  # noqa: E402

_autograd.Tensor = Tensor


# ---- module-level ops ----------------------------------------------------------------------
def where(condition, input, other):
    """input where condition is True, else other (all three broadcast together)."""
    if not isinstance(condition, Tensor) or condition.array.dtype.kind != "b":
        raise TypeError(f"where: condition must be a bool tensor, got {getattr(condition, 'dtype', condition)!r}")
    if not isinstance(input, Tensor):
        input = other._scalar(input, "where") if isinstance(other, Tensor) else Tensor(input)
    a, b = input._operands(other, "where")
    broadcast_shape("where", condition.shape, a.shape, b.shape)
    return binary.Where.apply(condition, a, b)


def cat(tensors, dim=0):
    """Join tensors of equal shape (except along `dim`) along `dim`."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if t.ndim == 0:
            raise RuntimeError(f"cat: the 0-d tensor at position {i} cannot be concatenated (it has no dim to join "
                               f"along); use stack, or reshape it to (1,)")
    first = tensors[0]
    d = normalize_dim("cat", dim, first.ndim, first.shape)
    for t in tensors[1:]:
        if t.ndim != first.ndim or t.shape[:d] + t.shape[d + 1:] != first.shape[:d] + first.shape[d + 1:]:
            raise ValueError(f"cat: all tensors must match except along dim {dim}; got shapes "
                             f"{[x.shape for x in tensors]}")
    if len({t.array.dtype for t in tensors}) > 1:
        tensors = [t.to(dtype=_common_dtype(tensors)) for t in tensors]
    return shape_ops.Cat.apply(*tensors, axis=d)


def stack(tensors, dim=0):
    """Join tensors of identical shape along a new dim."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    if len({t.shape for t in tensors}) > 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {[t.shape for t in tensors]}")
    d = normalize_dim("stack", dim, tensors[0].ndim + 1, tensors[0].shape)
    return cat([t.unsqueeze(d) for t in tensors], d)


def _matmul(a, b):
    if not isinstance(b, Tensor):
        b = Tensor(b, device=a.device, dtype=a.dtype)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dim, got shapes {a.shape} and {b.shape}")
    if a.array.dtype.kind == "b" or b.array.dtype.kind == "b":
        raise TypeError(f"matmul: bool tensors cannot be multiplied (PyTorch refuses them too), got dtypes {a.dtype} "
                        f"and {b.dtype}; convert with .long() or .float() first")
    k_a = a.shape[-1]
    k_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied "
                         f"({k_a} columns on the left vs {k_b} rows on the right)")
    if a.ndim > 2 or b.ndim > 2:
        broadcast_shape("matmul (batch dims)", a.shape[:-2], b.shape[:-2])
    if a.array.dtype != b.array.dtype:
        a, b = _promote(a, b)
    return matmul.MatMul.apply(a, b)


class Clone(Function):
    """y = a copy of x;  dx = dy."""
    def forward(self, x):
        return x.copy()

    def backward(self, g):
        return g


class ToDevice(Function):
    """y = x copied to another device;  dx = dy copied back to x's device."""
    def forward(self, x, device=None):
        self.source = self.backend
        target = get_backend(device)
        out = target.asarray(self.backend.to_numpy(x))
        self.backend = target  # the output lives on the target device
        return out

    def backward(self, g):
        return self.source.asarray(self.backend.to_numpy(g))

    @classmethod
    def apply(cls, x, device):
        out = super().apply(x, device=device)
        out._backend = get_backend(device)
        return out


def _promote(a, b):
    """Cast two tensors to one dtype: floats win over ints and bools, float64 over float32."""
    target = _common_dtype((a, b))
    return a.to(dtype=target), b.to(dtype=target)


def _common_dtype(tensors):
    kinds = [t.array.dtype for t in tensors]
    floats = [k for k in kinds if k.kind == "f"]
    if floats:
        return dtypes.float64 if any(k == np.float64 for k in floats) else dtypes.float32
    if any(k.kind == "i" for k in kinds):
        return dtypes.int64
    return dtypes.bool_


def _count(shape, axis):
    n = 1
    for i, s in enumerate(shape):
        if axis is None or i in axis:
            n *= s
    return n


def _show_index(index):
    """The index for an error message, with arrays shown by their shapes."""
    return tuple(getattr(p, "shape", p) for p in index)


def _numbers(data):
    """Nested lists that may hold one-element tensors (tg.tensor([loss1, loss2])), as plain numbers."""
    if isinstance(data, Tensor):
        if data.array.size != 1:
            raise ValueError(f"tensor: only one-element tensors can be converted to numbers inside a list, got one "
                             f"of shape {data.shape}")
        return data.item()
    if isinstance(data, (list, tuple)):
        return [_numbers(d) for d in data]
    return data
