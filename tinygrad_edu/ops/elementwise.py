"""Unary elementwise ops. For y = f(x) the backward is dL/dx = dL/dy * f'(x)."""
from ..autograd import Function


class Neg(Function):
    """y = -x;  dx = -dy."""
    def forward(self, x):
        return self.backend.neg(x)

    def backward(self, g):
        return -g


class Exp(Function):
    """y = e^x;  dx = dy * y  (the output is saved, not the input)."""
    def forward(self, x):
        y = self.backend.exp(x)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        y, = self.saved
        return g * y


class Log(Function):
    """y = ln x;  dx = dy / x."""
    def forward(self, x):
        self.save_for_backward(x)
        return self.backend.log(x)

    def backward(self, g):
        x, = self.saved
        return g / x


class Sqrt(Function):
    """y = sqrt(x);  dx = dy / (2 y)."""
    def forward(self, x):
        y = self.backend.sqrt(x)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        y, = self.saved
        return g / (2 * y)


class Tanh(Function):
    """y = tanh x;  dx = dy * (1 - y^2)."""
    def forward(self, x):
        y = self.backend.tanh(x)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        y, = self.saved
        return g * (1 - y * y)


class Sigmoid(Function):
    """y = 1 / (1 + e^-x);  dx = dy * y * (1 - y).

    The backend computes it from e^-|x| so that neither half of the formula overflows for large |x|.
    """
    def forward(self, x):
        y = self.backend.sigmoid(x)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        y, = self.saved
        return g * y * (1 - y)


class Relu(Function):
    """y = max(x, 0);  dx = dy where x > 0, else 0."""
    def forward(self, x):
        y = self.backend.relu(x)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        y, = self.saved
        return self.backend.relu_backward(y, g)


class Abs(Function):
    """y = |x|;  dx = dy * sign(x)  (0 at x = 0, like PyTorch)."""
    def forward(self, x):
        self.save_for_backward(x)
        return self.backend.abs(x)

    def backward(self, g):
        x, = self.saved
        return g * self.xp.sign(x)


class Clamp(Function):
    """y = min(max(x, low), high);  dx = dy where low <= x <= high, else 0."""
    def forward(self, x, low=None, high=None):
        self.save_for_backward(x)
        self.low, self.high = low, high
        return self.xp.clip(x, low, high)

    def backward(self, g):
        x, = self.saved
        inside = True
        if self.low is not None:
            inside = x >= self.low
        if self.high is not None:
            inside = inside & (x <= self.high)
        return g * inside


class Cast(Function):
    """y = x converted to another dtype;  dx = dy converted back to x's dtype."""
    def forward(self, x, dtype=None):
        self.input_dtype = x.dtype
        return x.astype(dtype)

    def backward(self, g):
        return g.astype(self.input_dtype)
