"""Hypothesis strategies shared by the test modules.

Shapes are tiny on purpose (rank 0..4, every dim 1..3, size-1 dims included):
gradcheck perturbs every input element twice, so the cost of an example grows
with the number of elements.

Arrays are float64 and keep away from the places where finite differences of an
op are meaningless: kinks (relu, abs, clamp bounds), poles and domain edges (log,
sqrt, division, pow) and ties (max, min, maximum, minimum).

`operand(shape, ...)` draws an `Operand`: the data of a *leaf* (the tensor that
requires grad) and a `take` function that the function under test applies inside,
turning the leaf into the actual argument of the op. `take` is either the
identity or a view that is not contiguous in memory (a strided slice or a
transpose of a larger leaf), so ops are also exercised on non-contiguous input.
`take` works on numpy arrays and on tensors alike, so the same view gives the
numpy reference value.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_edu as tg

MAX_RANK = 4
MAX_SIDE = 3


# ---- shapes ----------------------------------------------------------------------------------
def shapes(min_rank=0, max_rank=MAX_RANK, min_side=1, max_side=MAX_SIDE):
    """Tuples of `min_rank..max_rank` dims, each `min_side..max_side` (size-1 dims included)."""
    return st.lists(st.integers(min_side, max_side), min_size=min_rank, max_size=max_rank).map(tuple)


def broadcastable_shapes(num_shapes=2, min_rank=0, max_rank=MAX_RANK):
    """`num_shapes` shapes that broadcast together (some dims 1, some leading dims missing)."""
    return hnp.mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=min_rank, max_dims=max_rank,
                                             min_side=1, max_side=MAX_SIDE).map(lambda b: b.input_shapes)


@st.composite
def dims_for(draw, shape, allow_none=True, allow_tuple=True):
    """A `dim` argument for a reduction over `shape`: None, one int, or a tuple of distinct ints (negatives too).

    A 0-d tensor accepts dim 0 and -1, as in PyTorch.
    """
    ndim = len(shape)
    choices = (["none"] if allow_none else []) + ["int"] + (["tuple"] if allow_tuple else [])
    kind = draw(st.sampled_from(choices))
    if kind == "none":
        return None
    if ndim == 0:
        d = draw(st.sampled_from([0, -1]))
        return d if kind == "int" else (d,)
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    picked = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(d - ndim if draw(st.booleans()) else d for d in picked)


@st.composite
def shrunk_shapes(draw, shape):
    """A shape that broadcasts *to* `shape`: some leading dims dropped, some dims replaced by 1."""
    drop = draw(st.integers(0, len(shape)))
    return tuple(1 if draw(st.booleans()) else s for s in shape[drop:])


def numpy_axis(dim, ndim):
    """The numpy `axis` matching a tinygrad_edu `dim` (a 0-d tensor reduces over everything)."""
    if dim is None or ndim == 0:
        return None
    dims = dim if isinstance(dim, tuple) else (dim,)
    return tuple(sorted(d % ndim for d in dims))


# ---- element values --------------------------------------------------------------------------
def smooth(lo=-2.0, hi=2.0):
    """Any float in [lo, hi]: for ops that are smooth everywhere (exp, tanh, sigmoid, +, *, ...)."""
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def away_from(points=(0.0,), margin=0.1, lo=-2.0, hi=2.0):
    """Floats in [lo, hi] at least `margin` from each of `points` (kinks of relu/abs/clamp, poles of 1/x)."""
    return smooth(lo, hi).filter(lambda v: all(abs(v - p) >= margin for p in points))


def nonzero(margin=0.1):
    """|x| >= margin: for relu, abs and denominators."""
    return st.one_of(smooth(-2.0, -margin), smooth(margin, 2.0))


def positive(lo=0.5, hi=2.0):
    """Positive floats: for log, sqrt and the base of pow."""
    return smooth(lo, hi)


def arrays(shape, elements=None):
    """float64 arrays of `shape` with elements from `elements` (smooth() by default)."""
    return hnp.arrays(np.float64, shape, elements=elements if elements is not None else smooth())


@st.composite
def distinct_arrays(draw, shape, spacing=0.25):
    """float64 arrays whose elements are all different, at least `spacing` - 0.1 apart: no ties for max/min."""
    n = int(np.prod(shape, dtype=np.int64))
    order = np.array(draw(st.permutations(range(n))), dtype=np.float64)
    jitter = np.array(draw(st.lists(smooth(-0.05, 0.05), min_size=n, max_size=n)), dtype=np.float64)
    return ((order - n / 2) * spacing + jitter).reshape(shape)


def grid_arrays(shape, offset):
    """Values on the grid offset + 0.5k (k in -4..4) plus jitter of at most 0.1.

    Two arrays drawn with offsets 0 and 0.25 never come closer than 0.05 anywhere, so
    maximum/minimum of a broadcast pair of them has no ties.
    """
    values = st.tuples(st.integers(-4, 4), smooth(-0.1, 0.1)).map(lambda kv: offset + 0.5 * kv[0] + kv[1])
    return hnp.arrays(np.float64, shape, elements=values)


# ---- leaves and non-contiguous views ----------------------------------------------------------
def _identity(x):
    return x


def _step_last(x):
    return x[..., ::2]


def _swap_last_two(x):
    if isinstance(x, tg.Tensor):
        return x.transpose(-1, -2)
    return np.swapaxes(x, -1, -2)


def _reverse_dims(x):
    if isinstance(x, tg.Tensor):
        return x.permute(*reversed(range(x.ndim)))
    return np.transpose(x)


@dataclass
class Operand:
    """`array`: the leaf's data. `take(leaf)`: the op's argument, a view of the leaf (works on numpy too)."""
    array: np.ndarray
    take: Callable
    kind: str

    def leaf(self):
        """A fresh float64 leaf tensor that requires grad."""
        return tg.tensor(self.array.copy(), requires_grad=True)

    def value(self):
        """The numpy value the op sees: take() applied to the leaf's data."""
        return self.take(self.array)

    def __repr__(self):
        return f"Operand({self.kind}, leaf shape {self.array.shape}, view shape {self.value().shape})"


@st.composite
def operand(draw, shape, elements=None, array_strategy=None, views=True, leaf_ok=True):
    """An Operand whose view `take(leaf)` has shape `shape`.

    kinds: "leaf" (the leaf itself), "step" (every other element of a leaf twice as
    long in the last dim: `big[..., ::2]`), "swap" (`big.transpose(-1, -2)`) and
    "reverse" (all dims reversed). The last three are non-contiguous whenever the
    view has more than one element (and, for the transposes, two dims larger than 1).
    `array_strategy(shape)` overrides how the leaf's data is drawn (e.g. distinct_arrays).
    leaf_ok=False leaves out "leaf" (a 0-d shape has no view, so it is always "leaf").
    """
    shape = tuple(shape)
    kinds = ["leaf"] if leaf_ok or not (views and shape) else []
    if views and len(shape) >= 1:
        kinds.append("step")
    if views and len(shape) >= 2:
        kinds += ["swap", "reverse"]
    kind = draw(st.sampled_from(kinds))
    if kind == "leaf":
        big_shape, take = shape, _identity
    elif kind == "step":
        big_shape, take = shape[:-1] + (2 * shape[-1],), _step_last
    elif kind == "swap":
        big_shape, take = shape[:-2] + (shape[-1], shape[-2]), _swap_last_two
    else:
        big_shape, take = tuple(reversed(shape)), _reverse_dims
    make = array_strategy or (lambda s: arrays(s, elements))
    array = draw(make(big_shape))
    op = Operand(np.array(array, dtype=np.float64, order="C"), take, kind)
    assert op.value().shape == shape
    return op


def noncontiguous(shape, elements=None, array_strategy=None):
    """Like operand(), but never the plain leaf: always a strided slice or a transpose of a larger leaf."""
    return operand(shape, elements, array_strategy, leaf_ok=False)


def operands(shape_strategy=None, elements=None, array_strategy=None):
    """Draw a shape, then an Operand of that shape."""
    shape_strategy = shape_strategy if shape_strategy is not None else shapes()
    return shape_strategy.flatmap(lambda s: operand(s, elements, array_strategy))


def bool_arrays(shape):
    return hnp.arrays(np.bool_, shape)
