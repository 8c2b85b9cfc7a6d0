"""Two-input elementwise ops with broadcasting.

The forward broadcasts like numpy; each backward computes the gradient at the
broadcast shape and `unbroadcast`s it back to each input's own shape.
"""
from ..autograd import Function
from ..broadcast import unbroadcast


class Add(Function):
    """z = a + b;  da = dz,  db = dz  (each summed back to its input's shape)."""
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return self.backend.add(a, b)

    def backward(self, g):
        sa, sb = self.shapes
        return unbroadcast(g, sa), unbroadcast(g, sb)


class Sub(Function):
    """z = a - b;  da = dz,  db = -dz."""
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return self.backend.sub(a, b)

    def backward(self, g):
        sa, sb = self.shapes
        return unbroadcast(g, sa), unbroadcast(-g, sb) if self.needs_input_grad[1] else None


class Mul(Function):
    """z = a * b;  da = dz * b,  db = dz * a."""
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return self.backend.mul(a, b)

    def backward(self, g):
        a, b = self.saved
        da = unbroadcast(g * b, a.shape) if self.needs_input_grad[0] else None
        db = unbroadcast(g * a, b.shape) if self.needs_input_grad[1] else None
        return da, db


class Div(Function):
    """z = a / b;  da = dz / b,  db = -dz * a / b^2 = -dz * z / b."""
    def forward(self, a, b):
        z = self.backend.div(a, b)
        self.save_for_backward(a, b, z)
        return z

    def backward(self, g):
        a, b, z = self.saved
        da = unbroadcast(g / b, a.shape) if self.needs_input_grad[0] else None
        db = unbroadcast(-g * z / b, b.shape) if self.needs_input_grad[1] else None
        return da, db


class Pow(Function):
    """z = a ** b;  da = dz * b * a^(b-1),  db = dz * z * ln(a)."""
    def forward(self, a, b):
        z = self.backend.pow(a, b)
        self.save_for_backward(a, b, z)
        return z

    def backward(self, g):
        a, b, z = self.saved
        da = unbroadcast(g * b * a ** (b - 1), a.shape) if self.needs_input_grad[0] else None
        db = unbroadcast(g * z * self.xp.log(a), b.shape) if self.needs_input_grad[1] else None
        return da, db


class Maximum(Function):
    """z = max(a, b);  the gradient goes to the larger input, split evenly on ties (as in PyTorch)."""
    pick = "maximum"

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return getattr(self.backend, self.pick)(a, b)

    def backward(self, g):
        a, b = self.saved
        a_wins = (a > b) if self.pick == "maximum" else (a < b)
        share_a = (a_wins + 0.5 * (a == b)).astype(g.dtype)
        da = unbroadcast(g * share_a, a.shape) if self.needs_input_grad[0] else None
        db = unbroadcast(g * (1 - share_a), b.shape) if self.needs_input_grad[1] else None
        return da, db


class Minimum(Maximum):
    """z = min(a, b);  the gradient goes to the smaller input, split evenly on ties."""
    pick = "minimum"


class Where(Function):
    """z = cond ? a : b;  da = dz where cond, db = dz elsewhere. `cond` gets no gradient."""
    def forward(self, cond, a, b):
        self.save_for_backward(cond)
        self.shapes = a.shape, b.shape
        return self.xp.where(cond, a, b)

    def backward(self, g):
        cond, = self.saved
        sa, sb = self.shapes
        zero = g.dtype.type(0)
        da = unbroadcast(self.xp.where(cond, g, zero), sa) if self.needs_input_grad[1] else None
        db = unbroadcast(self.xp.where(cond, zero, g), sb) if self.needs_input_grad[2] else None
        return None, da, db
