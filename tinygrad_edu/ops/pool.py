"""Max and average pooling over (kh, kw) windows.

Window offset (i, j) of every output position is one strided slice of the (padded)
input:  x[:, :, i : i + sh*OH : sh, j : j + sw*OW : sw]  has shape (N, C, OH, OW)
and holds element (i, j) of every window at once. So pooling is a loop over the
kh*kw offsets, each step one whole-array operation: no loop over positions, and no
copy of the windows. Max pooling is a backend hot op (`max_pool2d`).

On the CPU, MaxPool2d first tries backends/cpu_conv.py: one compiled pass that pools and
records where each window's maximum was, so that backward is a scatter through those
indices. It returns None where it does not apply, and the plain version runs.
"""
from ..autograd import Function
from ..shapes import window_slices


def _pad(xp, x, padding, fill):
    ph, pw = padding
    if not (ph or pw):
        return x
    return xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)


def _out_hw(padded_shape, kernel_size, stride):
    return tuple((padded_shape[2 + a] - kernel_size[a]) // stride[a] + 1 for a in (0, 1))


def _unpad(dx, padding):
    ph, pw = padding
    return dx[:, :, ph:dx.shape[2] - ph, pw:dx.shape[3] - pw] if (ph or pw) else dx


class MaxPool2d(Function):
    """y = max over each window;  dx = dy routed to each window's first maximal element (as in PyTorch).

    Padding counts as -inf, so it is never the maximum. Forward and backward are the
    backend's hot ops `max_pool2d` / `max_pool2d_backward`; backward finds each
    window's maximum again by comparing the saved input with y. (On the CPU: the
    forward records each maximum's index, and backward scatters through it.)
    """
    def forward(self, x, kernel_size=None, stride=None, padding=(0, 0)):
        from ..backends import cpu_conv      # (here: importing tinygrad_edu does not import Numba)
        fast = cpu_conv.max_pool2d_forward(self.backend, x, kernel_size, stride, padding)
        self.params, self.x_shape, self.with_argmax = (kernel_size, stride, padding), x.shape, fast is not None
        if self.with_argmax:                   # y, and where each window's maximum was
            y, argmax = fast
            self.save_for_backward(argmax)
            return y
        padded = _pad(self.xp, x, padding, -self.xp.inf)
        y = self.backend.max_pool2d(padded, kernel_size, stride, _out_hw(padded.shape, kernel_size, stride))
        self.save_for_backward(padded, y)
        return y

    def backward(self, g):
        if self.with_argmax:
            from ..backends import cpu_conv
            (argmax,) = self.saved
            return cpu_conv.max_pool2d_backward(g, argmax, self.x_shape)
        padded, y = self.saved
        kernel_size, stride, padding = self.params
        return _unpad(self.backend.max_pool2d_backward(g, padded, y, kernel_size, stride), padding)


class AvgPool2d(Function):
    """y = mean over each window (zero padding counted, PyTorch's default);  dx = dy / (kh*kw) into every element."""
    def forward(self, x, kernel_size=None, stride=None, padding=(0, 0)):
        padded = _pad(self.xp, x, padding, 0)
        out_hw = _out_hw(padded.shape, kernel_size, stride)
        total = None
        for window in window_slices(kernel_size, stride, out_hw):
            total = padded[window].copy() if total is None else self.xp.add(total, padded[window], out=total)
        self.padded_shape, self.params = padded.shape, (kernel_size, stride, padding)
        return total / (kernel_size[0] * kernel_size[1])

    def backward(self, g):
        kernel_size, stride, padding = self.params
        share = g / (kernel_size[0] * kernel_size[1])
        dx = self.xp.zeros(self.padded_shape, dtype=g.dtype)
        for window in window_slices(kernel_size, stride, g.shape[2:]):
            dx[window] += share
        return _unpad(dx, padding)
