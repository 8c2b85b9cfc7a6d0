"""2-D transposed convolution: the adjoint of Conv2d, as one matrix product and col2im.

Conv2d reads every receptive field of its input into a column (im2col) and multiplies:
y = W_flat @ cols. A transposed convolution runs that map backwards. Each input pixel's
C_in values become one column  W_flat^T @ x_pixel  of C_out*kh*kw values, and col2im adds
every column entry into the output position a convolution would have read it from, so
overlapping windows add up. conv_transpose2d(y, W) is exactly the gradient of conv2d(x, W)
with respect to x, which is why it maps a small image to a larger one; "stride" spaces the
input pixels out over the output.

The output geometry, per spatial dim (input size H, kernel k, stride s, dilation d):
the columns fill a frame of size  F = (H - 1) s + d (k - 1) + 1,  and the output is
frame[padding : padding + H_out],  H_out = F - 2 padding + output_padding,  with zeros
where output_padding runs past the end of the frame.
"""
from ..autograd import Function


def _frame_window(xp, frame, start, size):
    """frame[:, :, start : start + size] in both spatial dims, zero where the window runs past the frame's end."""
    if all(start[a] + size[a] <= frame.shape[2 + a] for a in (0, 1)):
        return frame[:, :, start[0]:start[0] + size[0], start[1]:start[1] + size[1]]
    out = xp.zeros(frame.shape[:2] + tuple(size), dtype=frame.dtype)
    h, w = (min(size[a], frame.shape[2 + a] - start[a]) for a in (0, 1))
    out[:, :, :h, :w] = frame[:, :, start[0]:start[0] + h, start[1]:start[1] + w]
    return out


def _frame_window_backward(xp, g, frame_shape, start):
    """The adjoint of _frame_window: g placed back into a zero frame (the part past the frame's end dropped)."""
    d_frame = xp.zeros(frame_shape, dtype=g.dtype)
    h, w = (min(g.shape[2 + a], frame_shape[2 + a] - start[a]) for a in (0, 1))
    d_frame[:, :, start[0]:start[0] + h, start[1]:start[1] + w] = g[:, :, :h, :w]
    return d_frame


class ConvTranspose2d(Function):
    """y = window(col2im(W^T x)) + b  (NCHW, weight (C_in, C_out/groups, kh, kw)).

    Per group g, with x_g the (C_in/G, H*W) input pixels and W_g the (C_in/G, C_out/G*kh*kw) weights:
        cols_g = W_g^T @ x_g,   frame = col2im(cols),   y = frame[padding : padding + out] (+ b per channel)
    Backward (col2im's adjoint is im2col, and a window's adjoint puts dy back into a zero frame):
        dcols = im2col(dframe)
        dx_g = W_g @ dcols_g,   dW_g = sum over the batch of  x_g @ dcols_g^T,   db = sum of dy over batch and space
    """
    def forward(self, x, weight, bias=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), dilation=(1, 1),
                groups=1):
        b, xp = self.backend, self.xp
        n, c_in, h, w = x.shape
        _, og, kh, kw = weight.shape
        x_g = x.reshape(n, groups, c_in // groups, h * w)
        w_g = weight.reshape(groups, c_in // groups, og * kh * kw)
        cols = b.matmul(xp.swapaxes(w_g, -1, -2), x_g)                   # (N, G, C_out/G*kh*kw, H*W)
        frame_shape = (n, groups * og) + tuple(
            (size - 1) * stride[a] + dilation[a] * (k - 1) + 1 for a, (size, k) in enumerate(((h, kh), (w, kw))))
        geometry = ((kh, kw), stride, (0, 0), dilation)
        frame = b.col2im(cols.reshape(n, groups * og * kh * kw, h * w), frame_shape, *geometry)
        out_hw = tuple(frame_shape[2 + a] - 2 * padding[a] + output_padding[a] for a in (0, 1))
        y = _frame_window(xp, frame, padding, out_hw)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
        self.save_for_backward(x_g, w_g)
        self.x_shape, self.w_shape, self.frame_shape, self.geometry = x.shape, weight.shape, frame_shape, geometry
        self.padding, self.has_bias = padding, bias is not None
        return y

    def backward(self, g):
        x_g, w_g = self.saved
        b, xp = self.backend, self.xp
        n, groups, cg, length = x_g.shape
        d_frame = _frame_window_backward(xp, g, self.frame_shape, self.padding)
        dcols = b.im2col(d_frame, *self.geometry).reshape(n, groups, -1, length)   # (N, G, C_out/G*kh*kw, H*W)
        dx = b.matmul(w_g, dcols).reshape(self.x_shape) if self.needs_input_grad[0] else None
        dw = b.matmul(x_g, xp.swapaxes(dcols, -1, -2)).sum(axis=0).reshape(self.w_shape) if self.needs_input_grad[1] \
            else None
        if not self.has_bias:
            return dx, dw
        return dx, dw, (g.sum(axis=(0, 2, 3)) if self.needs_input_grad[2] else None)
