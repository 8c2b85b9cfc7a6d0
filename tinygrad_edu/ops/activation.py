"""Smooth activation functions, each one fused node."""
import math

from ..autograd import Function

_INV_SQRT_2 = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


class GELU(Function):
    """Gaussian error linear unit.

    exact:  y = x * Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2;   dx = dy * (Phi(x) + x * phi(x)), phi the normal pdf
    tanh:   y = x/2 * (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3);
            dx = dy * (1/2 (1 + t) + x/2 (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)),  t = tanh(u)
    """
    def forward(self, x, approximate="none"):
        self.approximate = approximate
        if approximate == "tanh":
            y, t = self.backend.gelu_tanh(x)
            self.save_for_backward(x, t)
            return y
        cdf = 0.5 * (1 + self.backend.erf(x * _INV_SQRT_2))
        self.save_for_backward(x, cdf)
        return x * cdf

    def backward(self, g):
        x, saved = self.saved
        if self.approximate == "tanh":
            return self.backend.gelu_tanh_backward(x, saved, g)
        pdf = self.xp.exp(-0.5 * x * x) * _INV_SQRT_2PI
        return g * (saved + x * pdf)


class SiLU(Function):
    """y = x * sigmoid(x);  dx = dy * s * (1 + x (1 - s)),  s = sigmoid(x)."""
    def forward(self, x):
        xp = self.xp
        e = xp.exp(-xp.abs(x))
        s = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        self.save_for_backward(x, s)
        return x * s

    def backward(self, g):
        x, s = self.saved
        return g * s * (1 + x * (1 - s))
