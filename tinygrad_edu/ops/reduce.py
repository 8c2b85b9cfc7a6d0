"""Reductions over `axis` (None = all axes, or a tuple of axes), optionally keeping dims.

Backward of a reduction: put the reduced axes back as size-1 axes (`_keep`) and
broadcast the gradient over them, weighted by how each input element entered the result.
"""
from ..autograd import Function


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
    """y = max of x over axis;  dx = dy at the maximal elements (split evenly between ties), else 0."""
    reduce = "max"

    def forward(self, x, axis=None, keepdim=False):
        y = getattr(self.backend, self.reduce)(x, axis, keepdim)
        self.axis, self.keepdim = axis, keepdim
        self.save_for_backward(x, y)
        return y

    def backward(self, g):
        x, y = self.saved
        hit = x == _keep(y, x.shape, self.axis, self.keepdim)
        share = hit / hit.sum(axis=self.axis, keepdims=True)
        return (_keep(g, x.shape, self.axis, self.keepdim) * share).astype(g.dtype, copy=False)


class Min(Max):
    """y = min of x over axis;  dx = dy at the minimal elements (split evenly between ties), else 0."""
    reduce = "min"


class LogSumExp(Function):
    """y = log sum_i e^{x_i} (computed as m + log sum e^{x_i - m}, m = max x);  dx = dy * e^{x - y} = dy * softmax(x)."""
    def forward(self, x, axis=None, keepdim=False):
        xp = self.xp
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
