"""Layer and batch normalisation, each one fused node.

Both compute  xhat = (x - mean) / sqrt(var + eps)  over some axes (the last dims for
LayerNorm, all but the channel dim for BatchNorm), then  y = xhat * weight + bias.
With m the number of elements averaged over and dxhat = dy * weight:
    dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var + eps)
    dweight = sum(dy * xhat),  dbias = sum(dy)   (over the normalised-over axes)
"""
import math

from ..autograd import Function


def _normalize(xp, x, axes, eps):
    """xhat and 1/std over `axes` (biased variance, as both layers use when normalising).

    The centred copy of x becomes xhat in place: large temporaries are the slow part here.
    """
    xhat = x - x.mean(axis=axes, keepdims=True)
    rstd = 1 / xp.sqrt((xhat * xhat).mean(axis=axes, keepdims=True) + eps)
    xhat *= rstd
    return xhat, rstd


def _normalize_backward(dxhat, xhat, rstd, axes):
    """(dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / std, with as few temporaries as possible."""
    # BEGIN SOLUTION batchnorm-backward  the formula in this module's docstring
    projection = (dxhat * xhat).mean(axis=axes, keepdims=True)
    dx = dxhat - dxhat.mean(axis=axes, keepdims=True)
    dx -= xhat * projection
    dx *= rstd
    return dx
    # END SOLUTION


class LayerNorm(Function):
    """Normalise over the last `ndim` axes; weight and bias have those axes' shape (or are absent).

    Inputs are (x), (x, weight) or (x, weight, bias): a bias comes with a weight. The normalised
    axes are flattened into one, so the work is rows of length N (the backend's hot ops
    `layer_norm` / `layer_norm_backward`, one fused kernel per pass on the GPU).
    """
    def forward(self, x, weight=None, bias=None, ndim=1, eps=1e-5):
        self.x_shape, self.param_shape = x.shape, x.shape[x.ndim - ndim:]
        rows, n = math.prod(x.shape[:x.ndim - ndim]), math.prod(self.param_shape)
        flat = lambda p: None if p is None else p.reshape(n)
        y, xhat, rstd = self.backend.layer_norm(x.reshape(rows, n), flat(weight), flat(bias), eps)
        self.has_weight, self.has_bias = weight is not None, bias is not None
        self.save_for_backward(xhat, rstd, flat(weight))
        return y.reshape(x.shape)

    def backward(self, g):
        xhat, rstd, weight = self.saved
        dx, dweight, dbias = self.backend.layer_norm_backward(g.reshape(xhat.shape), xhat, rstd, weight)
        grads = [dx.reshape(self.x_shape) if self.needs_input_grad[0] else None]
        if self.has_weight:
            grads.append(dweight.reshape(self.param_shape) if self.needs_input_grad[1] else None)
        if self.has_bias:
            grads.append(dbias.reshape(self.param_shape) if self.needs_input_grad[2] else None)
        return tuple(grads)


class BatchNormTrain(Function):
    """Training-mode batch norm: each channel (axis 1) normalised by this batch's statistics.

    mean and var are biased, over every axis but the channel's (m values each). The running
    statistics, when given (arrays of shape (C,)), are updated in place as PyTorch does:
        running_mean = (1 - momentum) running_mean + momentum mean
        running_var  = (1 - momentum) running_var  + momentum var * m / (m - 1)   (unbiased)
    """
    def forward(self, x, weight=None, bias=None, running_mean=None, running_var=None, momentum=0.1, eps=1e-5):
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        count = x.size // x.shape[1]
        mean = x.mean(axis=axes, keepdims=True)
        var = x.var(axis=axes, keepdims=True)
        if running_mean is not None:
            running_mean[...] = (1 - momentum) * running_mean + momentum * mean.reshape(-1)
        if running_var is not None:
            running_var[...] = (1 - momentum) * running_var + momentum * (var.reshape(-1) * (count / (count - 1)))
        rstd = 1 / self.xp.sqrt(var + eps)
        xhat = (x - mean) * rstd
        self.axes, self.shape, self.has_weight, self.has_bias = axes, shape, weight is not None, bias is not None
        self.save_for_backward(xhat, rstd, weight)
        y = xhat
        if weight is not None:
            y = y * weight.reshape(shape)
        if bias is not None:
            y = y + bias.reshape(shape)
        return y

    def backward(self, g):
        # BEGIN SOLUTION batchnorm-backward  (dx, dweight, dbias) for the inputs this node has, None where not needed
        xhat, rstd, weight = self.saved
        dxhat = g if weight is None else g * weight.reshape(self.shape)
        grads = [_normalize_backward(dxhat, xhat, rstd, self.axes) if self.needs_input_grad[0] else None]
        if self.has_weight:
            grads.append((g * xhat).sum(axis=self.axes) if self.needs_input_grad[1] else None)
        if self.has_bias:
            grads.append(g.sum(axis=self.axes) if self.needs_input_grad[-1] else None)
        return tuple(grads)
        # END SOLUTION
