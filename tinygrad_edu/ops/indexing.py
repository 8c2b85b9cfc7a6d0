"""`x[index]` for basic (ints, slices, None, Ellipsis) and advanced (integer/bool array) indices."""
from ..autograd import Function


class GetItem(Function):
    """y = x[index];  dx = zeros like x with dy *added* at the indexed places.

    Basic indexing picks every element at most once, so dy can be written in place.
    Advanced indexing can pick an element several times (x[[0, 0]]): those
    contributions must accumulate, which `backend.index_add` does.
    """
    def forward(self, x, index=None, advanced=False):
        self.shape, self.index, self.advanced = x.shape, index, advanced
        return x[index]

    def backward(self, g):
        dx = self.xp.zeros(self.shape, dtype=g.dtype)
        if self.advanced:
            self.backend.index_add(dx, self.index, g)
        else:
            dx[self.index] = g
        return dx
