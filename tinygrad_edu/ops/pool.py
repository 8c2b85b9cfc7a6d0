"""Max and average pooling over (kh, kw) windows, via a strided view of the padded input.

The view has shape (N, C, OH, OW, kh, kw) and shares memory with the input: no
Python loop over positions. When windows tile the image exactly (the common
kernel == stride, no padding case) the view is a plain reshape.
"""
from ..autograd import Function


def _windows(xp, x, kernel_size, stride, padding, fill):
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    if ph or pw:
        x = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    n, c, h, w = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    if (kh, kw) == (sh, sw) and h == oh * kh and w == ow * kw:
        return x.reshape(n, c, oh, kh, ow, kw).swapaxes(3, 4)
    s_n, s_c, s_h, s_w = x.strides
    return xp.lib.stride_tricks.as_strided(x, (n, c, oh, ow, kh, kw), (s_n, s_c, s_h * sh, s_w * sw, s_h, s_w))


def _scatter_windows(xp, dwin, x_shape, kernel_size, stride, padding):
    """Add window-shaped gradients (N, C, OH, OW, kh, kw) back onto the input they were read from."""
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    n, c, h, w = x_shape
    oh, ow = dwin.shape[2:4]
    if (kh, kw) == (sh, sw) and not (ph or pw) and h == oh * kh and w == ow * kw:
        return dwin.swapaxes(3, 4).reshape(x_shape)
    dx = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=dwin.dtype)
    for i in range(kh):  # a loop over window offsets, each one whole-array add
        for j in range(kw):
            dx[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += dwin[:, :, :, :, i, j]
    return dx[:, :, ph:ph + h, pw:pw + w]


class MaxPool2d(Function):
    """y = max over each window;  dx = dy routed to the window's (first) maximal element."""
    def forward(self, x, kernel_size=None, stride=None, padding=(0, 0)):
        xp = self.xp
        win = _windows(xp, x, kernel_size, stride, padding, -xp.inf)
        n, c, oh, ow, kh, kw = win.shape
        flat = win.reshape(n, c, oh, ow, kh * kw)
        argmax = flat.argmax(axis=-1)
        self.x_shape, self.params = x.shape, (kernel_size, stride, padding)
        self.save_for_backward(argmax)
        return xp.take_along_axis(flat, argmax[..., None], axis=-1)[..., 0]

    def backward(self, g):
        xp = self.xp
        argmax, = self.saved
        kernel_size = self.params[0]
        onehot = argmax[..., None] == xp.arange(kernel_size[0] * kernel_size[1])
        dwin = (g[..., None] * onehot).reshape(g.shape + tuple(kernel_size))
        return _scatter_windows(xp, dwin, self.x_shape, *self.params)


class AvgPool2d(Function):
    """y = mean over each window (zero padding counted, like PyTorch's default);  dx = dy / (kh*kw) per window."""
    def forward(self, x, kernel_size=None, stride=None, padding=(0, 0)):
        win = _windows(self.xp, x, kernel_size, stride, padding, 0)
        self.x_shape, self.params = x.shape, (kernel_size, stride, padding)
        return win.mean(axis=(-2, -1)).astype(x.dtype, copy=False)

    def backward(self, g):
        kh, kw = self.params[0]
        dwin = self.xp.broadcast_to((g / (kh * kw))[..., None, None], g.shape + (kh, kw))
        return _scatter_windows(self.xp, dwin, self.x_shape, *self.params)
