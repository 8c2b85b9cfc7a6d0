"""Reductions over `axis` (None = all axes, or a tuple of axes), optionally keeping dims.

Backward of a reduction: put the reduced axes back as size-1 axes (`_keep`) and
broadcast the gradient over them, weighted by how each input element entered the result.
"""
from ..autograd import Function
from .gather import along


def _keep(g, input_shape, axis, keepdim):
    """Reshape an output gradient so it broadcasts against the input (reduced axes as size 1)."""
    if keepdim or axis is None and g.ndim == len(input_shape):
        return g
    if axis is None:
        return g.reshape((1,) * len(input_shape))
    shape = list(input_shape)
    for a in axis:
        shape[a] = 1
    return g.reshape(shape)


class Sum(Function):
    """y = sum of x over axis;  dx = dy broadcast back over the summed axes."""
    def forward(self, x, axis=None, keepdim=False):
        self.shape, self.axis, self.keepdim = x.shape, axis, keepdim
        return self.backend.sum(x, axis, keepdim)

    def backward(self, g):
        return self.xp.broadcast_to(_keep(g, self.shape, self.axis, self.keepdim), self.shape)


class Max(Function):
    """y = max of x over axis;  dx = dy split evenly between the elements equal to y (ties), else 0.

    NaN, as in PyTorch: a NaN in x makes y NaN. For amax no element equals NaN, so that slice's
    gradient is 0/0 = NaN; x.max() over all elements (`nan_is_max`) counts its NaNs as the
    maximal elements instead, and they share dy.
    """
    reduce = "max"

    def forward(self, x, axis=None, keepdim=False, nan_is_max=False):
        y = getattr(self.backend, self.reduce)(x, axis, keepdim)
        self.axis, self.keepdim, self.nan_is_max = axis, keepdim, nan_is_max
        self.save_for_backward(x, y)
        return y

    def backward(self, g):
        x, y = self.saved
        y = _keep(y, x.shape, self.axis, self.keepdim)
        hit = x == y
        if self.nan_is_max:
            hit |= self.xp.isnan(x) & self.xp.isnan(y)
        share = hit / hit.sum(axis=self.axis, keepdims=True)
        return (_keep(g, x.shape, self.axis, self.keepdim) * share).astype(g.dtype, copy=False)


class Min(Max):
    """y = min of x over axis;  dx = dy split evenly between the minimal elements, else 0 (NaN as in Max)."""
    reduce = "min"


class TakeAlongDim(Function):
    """y = x at `indices` along `axis` (x.max(dim) and x.min(dim), given the argmax/argmin);  dx = dy at
    those indices, 0 elsewhere.

    As in PyTorch, the one element the returned index names gets all of dy: the first of tied
    maxima, or the first NaN (a NaN is the max and the min of its slice), never a share each.
    """
    def forward(self, x, indices=None, axis=0, keepdim=False):
        xp = self.xp
        self.shape, self.axis, self.keepdim = x.shape, axis, keepdim
        self.where = along(xp, indices if keepdim else xp.expand_dims(indices, axis), axis)
        y = x[self.where]
        return y if keepdim else y.squeeze(axis)

    def backward(self, g):
        xp = self.xp
        dx = xp.zeros(self.shape, dtype=g.dtype)
        dx[self.where] = g if self.keepdim else xp.expand_dims(g, self.axis)
        return dx


class LogSumExp(Function):
    """y = log sum_i e^{x_i} (computed as m + log sum e^{x_i - m}, m = max x);  dx = dy * e^{x - y} = dy * softmax(x).

    Over an empty dim the sum is 0, so y = log 0 = -inf (as in PyTorch)."""
    def forward(self, x, axis=None, keepdim=False):
        xp = self.xp
        if x.size == 0:  # wherever y has an element, it sums no terms: log 0 = -inf (and max would fail)
            y = xp.full(tuple(1 if axis is None or i in axis else s for i, s in enumerate(x.shape)), -xp.inf, x.dtype)
        else:
            m = x.max(axis=axis, keepdims=True)
            m = xp.where(xp.isfinite(m), m, 0)
            y = xp.log(xp.exp(x - m).sum(axis=axis, keepdims=True)) + m
        self.axis, self.keepdim = axis, keepdim
        self.save_for_backward(x, y)
        return y if keepdim else y.reshape(_reduced_shape(x.shape, axis))

    def backward(self, g):
        x, y = self.saved
        return _keep(g, x.shape, self.axis, self.keepdim) * self.xp.exp(x - y)


def _reduced_shape(shape, axis):
    if axis is None:
        return ()
    return tuple(s for i, s in enumerate(shape) if i not in axis)
