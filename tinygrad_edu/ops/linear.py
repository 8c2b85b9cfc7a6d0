"""The affine map of a Linear layer, fused into one node."""
from ..autograd import Function


class Linear(Function):
    """y = x W^T + b, with x (..., in), W (out, in), b (out,).

    Backward, with the batch dims of x flattened into rows:
        dx = dy W,   dW = dy^T x,   db = sum of dy over the rows.
    """
    def forward(self, x, weight, bias=None):
        self.save_for_backward(x, weight)
        self.has_bias = bias is not None
        y = self.backend.matmul(x, weight.T)
        if bias is not None:
            y += bias
        return y

    def backward(self, g):
        x, weight = self.saved
        matmul = self.backend.matmul
        g2 = g.reshape(-1, g.shape[-1])
        dx = matmul(g, weight) if self.needs_input_grad[0] else None
        dw = matmul(g2.T, x.reshape(-1, x.shape[-1])) if self.needs_input_grad[1] else None
        if not self.has_bias:
            return dx, dw
        db = g2.sum(axis=0) if self.needs_input_grad[2] else None
        return dx, dw, db
