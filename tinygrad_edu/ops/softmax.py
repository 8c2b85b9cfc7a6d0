"""Softmax and log-softmax along the last axis (callers move other dims last)."""
from ..autograd import Function


class Softmax(Function):
    """y_i = e^{x_i} / sum_j e^{x_j}  (shifted by max x, so large logits do not overflow);
    dx = y * (dy - sum(dy * y))."""
    def forward(self, x):
        y = self.backend.softmax(x)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        y, = self.saved
        return self.backend.softmax_backward(y, g)


class LogSoftmax(Function):
    """y_i = x_i - logsumexp(x);  dx = dy - softmax(x) * sum(dy) = dy - e^y * sum(dy)."""
    def forward(self, x):
        y = self.backend.log_softmax(x)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        y, = self.saved
        return self.backend.log_softmax_backward(y, g)
