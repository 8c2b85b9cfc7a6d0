"""The affine map of a Linear layer, fused into one node."""
import math

from ..autograd import Function


class Linear(Function):
    """y = x W^T + b, with x (..., in), W (out, in), b (out,).

    The batch dims of x are flattened into rows first, so each product is one
    2-D matrix multiply (much faster than a stack of small ones). Backward:
        dx = dy W,   dW = dy^T x,   db = sum of dy over the rows.
    """
    def forward(self, x, weight, bias=None):
        x2 = x.reshape(math.prod(x.shape[:-1]), x.shape[-1])  # sizes spelt out: -1 is ambiguous for 0 features
        self.save_for_backward(x2, weight)
        self.x_shape, self.has_bias = x.shape, bias is not None
        # BEGIN SOLUTION mlp-digits  y = x2 W^T (+ b)
        y = self.backend.matmul(x2, weight.T)
        if bias is not None:
            y += bias
        # END SOLUTION
        return y.reshape(x.shape[:-1] + (weight.shape[0],))

    def backward(self, g):
        x2, weight = self.saved
        matmul = self.backend.matmul
        g2 = g.reshape(x2.shape[0], g.shape[-1])
        # BEGIN SOLUTION mlp-digits  dx, dW (and db when there is a bias), each only if needs_input_grad says so
        dx = matmul(g2, weight).reshape(self.x_shape) if self.needs_input_grad[0] else None
        dw = matmul(g2.T, x2) if self.needs_input_grad[1] else None
        if not self.has_bias:
            return dx, dw
        db = g2.sum(axis=0) if self.needs_input_grad[2] else None
        return dx, dw, db
        # END SOLUTION
