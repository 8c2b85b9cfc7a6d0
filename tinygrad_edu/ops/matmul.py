"""Matrix product with numpy.matmul's broadcasting of batch dimensions."""
from ..autograd import Function
from ..broadcast import unbroadcast


class MatMul(Function):
    """C = A @ B;  dA = dC @ B^T,  dB = A^T @ dC  (batch dims summed back to each input's shape).

    A 1-D operand is treated as a row (left) or column (right) matrix, as numpy does,
    and the gradient is reshaped back to 1-D at the end.
    """
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return self.backend.matmul(a, b)

    def backward(self, g):
        a, b = self.saved
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if b.ndim == 1:  # the column axis first: for 1-D @ 1-D, g is 0-d and becomes (1,) then (1, 1)
            g = self.xp.expand_dims(g, -1)
        if a.ndim == 1:
            g = self.xp.expand_dims(g, -2)
        # BEGIN SOLUTION matmul-backward  da = g @ b^T and db = a^T @ g, each unbroadcast to its input's shape (a2, b2 are 2-D views)
        da = db = None
        if self.needs_input_grad[0]:
            da = unbroadcast(self.backend.matmul(g, self.xp.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape)
        if self.needs_input_grad[1]:
            db = unbroadcast(self.backend.matmul(self.xp.swapaxes(a2, -1, -2), g), b2.shape).reshape(b.shape)
        return da, db
        # END SOLUTION
