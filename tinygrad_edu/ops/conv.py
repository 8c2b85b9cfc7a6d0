"""2-D convolution as im2col + one matrix product.

im2col copies every receptive field of the (padded) input into a column, so the
convolution becomes  out = W_flat @ cols,  with W_flat (out_channels, C*kh*kw) and
cols (N, C*kh*kw, OH*OW). Groups split the channels into independent convolutions.

That is the plain version below, one product per image. On the CPU, Conv2d first tries
backends/cpu_conv.py: the columns of a chunk of images as ONE matrix, so each pass (y, dW,
dx) is one large GEMM per chunk, with compiled im2col/col2im loops, and the input is saved
(its columns too only when the whole batch is one chunk). It returns None where it does not
apply (other devices, other dtypes, a student copy), and the plain version runs.
"""
from ..autograd import Function


class Conv2d(Function):
    """y = W * x + b (cross-correlation, NCHW, weight (O, C/groups, kh, kw)).

    Backward:
        dW    = sum over the batch of  dy_flat @ cols^T
        dcols = W_flat^T @ dy_flat,  then  dx = col2im(dcols)  (the adjoint of im2col)
        db    = sum of dy over batch and space
    """
    def forward(self, x, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        b = self.backend
        n, c, h, w = x.shape
        o, cg, kh, kw = weight.shape
        geometry = ((kh, kw), stride, padding, dilation)
        self.x_shape, self.geometry, self.groups, self.has_bias = x.shape, geometry, groups, bias is not None
        from ..backends import cpu_conv      # (here: importing tinygrad_edu does not import Numba)
        fast = cpu_conv.conv2d_forward(b, x, weight, bias, geometry, groups)     # chunks of images, one GEMM each
        self.compiled = fast is not None
        if self.compiled:
            y, x_contiguous, cols = fast
            self.save_for_backward(x_contiguous, cols, weight)
            return y
        cols = b.im2col(x, *geometry)                                   # (N, C*kh*kw, L)
        length = cols.shape[-1]
        cols = cols.reshape(n, groups, cg * kh * kw, length)
        w_flat = weight.reshape(groups, o // groups, cg * kh * kw)
        y = b.matmul(w_flat, cols)                                      # (N, G, O/G, L)
        oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
        y = y.reshape(n, o, oh, length // oh)
        if bias is not None:
            y += bias.reshape(1, o, 1, 1)
        self.save_for_backward(cols, weight)
        return y

    def backward(self, g):
        if self.compiled:
            from ..backends import cpu_conv
            x, cols, weight = self.saved
            return cpu_conv.conv2d_backward(g, x, cols, weight, self.geometry, self.groups, self.needs_input_grad,
                                            self.has_bias)
        cols, weight = self.saved
        b, xp = self.backend, self.xp
        n, o = g.shape[:2]
        groups = self.groups
        g_flat = g.reshape(n, groups, o // groups, -1)                   # (N, G, O/G, L)
        # BEGIN SOLUTION conv2d  dx through col2im, dW summed over the batch, db; each only if needs_input_grad says so
        dx = dw = db = None
        if self.needs_input_grad[0]:
            w_flat = weight.reshape(groups, o // groups, -1)
            dcols = b.matmul(xp.swapaxes(w_flat, -1, -2), g_flat)       # (N, G, C/G*kh*kw, L)
            dx = b.col2im(dcols.reshape(n, -1, dcols.shape[-1]), self.x_shape, *self.geometry)
        if self.needs_input_grad[1]:
            dw = b.matmul(g_flat, xp.swapaxes(cols, -1, -2)).sum(axis=0).reshape(weight.shape)
        if self.has_bias and self.needs_input_grad[2]:
            db = g.sum(axis=(0, 2, 3))
        return (dx, dw, db) if self.has_bias else (dx, dw)
        # END SOLUTION
