"""Activation functions beyond the plain elementwise maps, each one fused node."""
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


class LeakyReLU(Function):
    """y = x where x > 0, else slope * x;  dx = dy where x > 0, else dy * slope (x = 0 included, as in PyTorch)."""
    def forward(self, x, negative_slope=0.01):
        positive = x > 0
        self.save_for_backward(positive)
        self.negative_slope = negative_slope
        return self.xp.where(positive, x, x * negative_slope)

    def backward(self, g):
        positive, = self.saved
        return self.xp.where(positive, g, g * self.negative_slope)


class ELU(Function):
    """y = x where x > 0, else alpha (e^x - 1);  dx = dy where x > 0, else dy * alpha e^x (x = 0 included).

    alpha e^x is recomputed from x rather than taken as y + alpha: for very negative x that
    sum cancels to a few correct digits.
    """
    def forward(self, x, alpha=1.0):
        xp = self.xp
        self.save_for_backward(x)
        self.alpha = alpha
        return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0)))   # minimum: no overflow in the unused branch

    def backward(self, g):
        x, = self.saved
        xp = self.xp
        return xp.where(x > 0, g, g * (self.alpha * xp.exp(xp.minimum(x, 0))))


class Softplus(Function):
    """y = log(1 + e^(beta x)) / beta, and y = x where beta x > threshold (the two agree there to float precision);
    dx = dy * sigmoid(beta x), and dx = dy where beta x > threshold.

    log(1 + e^z) is computed as max(z, 0) + log(1 + e^-|z|), and sigmoid(z) from e^-|z|: neither overflows.
    """
    def forward(self, x, beta=1.0, threshold=20.0):
        xp = self.xp
        z = x * beta
        linear = z > threshold
        self.save_for_backward(z, linear)
        y = (xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))) / beta
        return xp.where(linear, x, y)

    def backward(self, g):
        z, linear = self.saved
        xp = self.xp
        e = xp.exp(-xp.abs(z))
        sigmoid = xp.where(z >= 0, 1 / (1 + e), e / (1 + e))
        return xp.where(linear, g, g * sigmoid)
