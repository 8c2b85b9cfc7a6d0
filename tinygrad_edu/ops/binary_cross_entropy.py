"""Binary cross-entropy on probabilities, with PyTorch's guards against log(0).

A probability of exactly 0 or 1 is common (a float32 sigmoid saturates), and log(0) = -inf
would make the loss infinite and the gradient NaN. PyTorch clamps each log at -100 in the
loss and the denominator of the gradient at 1e-12; this op does the same.
"""
from ..autograd import Function

_LOG_FLOOR = -100.0
_EPSILON = 9.999999960041972e-13     # PyTorch's 1e-12f: 1e-12 rounded to float32


def _log_or_minus_inf(xp, fn, x, at_pole):
    """fn(x) (a log), and -inf where `at_pole`, without numpy's divide-by-zero warning."""
    return xp.where(at_pole, -xp.inf, fn(xp.where(at_pole, 0.5, x)))


class BinaryCrossEntropy(Function):
    """loss = -[t max(log x, -100) + (1 - t) max(log(1 - x), -100)],  x a probability, t the target.

    Backward (PyTorch's formulas):
        dx = dloss * (x - t) / max(x (1 - x), 1e-12)      finite even at x = 0 or 1
        dt = dloss * (log(1 - x) - log x)                 -logit(x), not clamped: +-inf at x = 0 or 1
    """
    def forward(self, x, t):
        xp = self.xp
        log_x = _log_or_minus_inf(xp, xp.log, x, x == 0)
        log_1mx = _log_or_minus_inf(xp, lambda v: xp.log1p(-v), x, x == 1)
        self.save_for_backward(x, t, log_x, log_1mx)
        return (t - 1) * xp.maximum(log_1mx, _LOG_FLOOR) - t * xp.maximum(log_x, _LOG_FLOOR)

    def backward(self, g):
        x, t, log_x, log_1mx = self.saved
        xp = self.xp
        dx = g * (x - t) / xp.maximum(x * (1 - x), _EPSILON) if self.needs_input_grad[0] else None
        dt = g * (log_1mx - log_x) if self.needs_input_grad[1] else None
        return dx, dt
