"""Max and average pooling over (kh, kw) windows.

Window offset (i, j) of every output position is one strided slice of the (padded)
input:  x[:, :, i : i + sh*OH : sh, j : j + sw*OW : sw]  has shape (N, C, OH, OW)
and holds element (i, j) of every window at once. So pooling is a loop over the
kh*kw offsets, each step one whole-array operation: no loop over positions, and no
copy of the windows.
"""
from ..autograd import Function


def _offsets(kernel_size, stride, out_hw):
    """Yield the strided slice (as an index tuple) that picks window element (i, j) for every output."""
    (kh, kw), (sh, sw), (oh, ow) = kernel_size, stride, out_hw
    for i in range(kh):
        for j in range(kw):
            yield (slice(None), slice(None), slice(i, i + sh * (oh - 1) + 1, sh), slice(j, j + sw * (ow - 1) + 1, sw))


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

    Padding counts as -inf, so it is never the maximum.
    """
    def forward(self, x, kernel_size=None, stride=None, padding=(0, 0)):
        xp = self.xp
        padded = _pad(xp, x, padding, -xp.inf)
        out_hw = _out_hw(padded.shape, kernel_size, stride)
        y = None
        for window in _offsets(kernel_size, stride, out_hw):
            y = padded[window].copy() if y is None else xp.maximum(y, padded[window], out=y)
        self.params = (kernel_size, stride, padding)
        self.save_for_backward(padded, y)
        return y

    def backward(self, g):
        padded, y = self.saved
        xp = self.xp
        kernel_size, stride, padding = self.params
        overlapping = kernel_size[0] > stride[0] or kernel_size[1] > stride[1]
        dx = xp.zeros(padded.shape, dtype=g.dtype)
        taken = xp.zeros(y.shape, dtype=bool)     # windows whose maximum already got the gradient
        hit = xp.empty(y.shape, dtype=bool)
        for window in _offsets(kernel_size, stride, y.shape[2:]):
            xp.equal(padded[window], y, out=hit)
            xp.greater(hit, taken, out=hit)       # hit and not taken: only the first maximum of a window
            taken |= hit
            if overlapping:
                dx[window] += g * hit
            else:                                 # windows do not overlap: each input element once
                xp.multiply(g, hit, out=dx[window])
        return _unpad(dx, padding)


class AvgPool2d(Function):
    """y = mean over each window (zero padding counted, PyTorch's default);  dx = dy / (kh*kw) into every element."""
    def forward(self, x, kernel_size=None, stride=None, padding=(0, 0)):
        padded = _pad(self.xp, x, padding, 0)
        out_hw = _out_hw(padded.shape, kernel_size, stride)
        total = None
        for window in _offsets(kernel_size, stride, out_hw):
            total = padded[window].copy() if total is None else self.xp.add(total, padded[window], out=total)
        self.padded_shape, self.params = padded.shape, (kernel_size, stride, padding)
        return total / (kernel_size[0] * kernel_size[1])

    def backward(self, g):
        kernel_size, stride, padding = self.params
        share = g / (kernel_size[0] * kernel_size[1])
        dx = self.xp.zeros(self.padded_shape, dtype=g.dtype)
        for window in _offsets(kernel_size, stride, g.shape[2:]):
            dx[window] += share
        return _unpad(dx, padding)
