"""`x[index]` for basic (ints, slices, None, Ellipsis) and advanced (integer/bool array) indices."""
from ..autograd import Function


class GetItem(Function):
    """y = x[index];  dx = zeros like x with dy *added* at the indexed places.

    Basic indexing picks every element at most once, so dy can be written in place.
    Advanced indexing can pick an element several times (x[[0, 0]]): those
    contributions must accumulate, which `backend.index_add` does. A bool mask is
    handed to it as the integer indices of its True elements (mask.nonzero(), which
    selects the same elements): a scatter-add would read the mask itself as indices 0 and 1.
    """
    def forward(self, x, index=None, advanced=False):
        self.shape, self.index, self.advanced = x.shape, index, advanced
        return x[index]

    def backward(self, g):
        dx = self.xp.zeros(self.shape, dtype=g.dtype)
        if self.advanced:
            self.backend.index_add(dx, _integer_index(self.index), g)
        else:
            dx[self.index] = g
        return dx


def _integer_index(index):
    """`index` with every bool mask replaced by the integer index arrays of its True elements."""
    out = []
    for part in index:
        if getattr(part, "dtype", None) is not None and part.dtype.kind == "b" and part.ndim > 0:
            out.extend(part.nonzero())
        else:
            out.append(part)
    return tuple(out)
