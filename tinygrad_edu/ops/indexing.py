"""`x[index]` for basic (ints, slices, None, Ellipsis) and advanced (integer/bool array) indices."""
from ..autograd import Function
from ..broadcast import unbroadcast


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

    def view(self, array):
        """x[index] of another array shaped like x (a view for basic indices; used when the view is changed in
        place)."""
        return array[self.index]


class SetItem(Function):
    """y = x with y[index] = v (v broadcast to the indexed shape);
    dx = dy with zeros at the indexed places (those values of x were overwritten), dv = dy[index] summed back
    to v's shape. With an advanced index that repeats a place, the last write wins, as in numpy and PyTorch.
    """
    def forward(self, x, v, index=None, advanced=False):
        self.index, self.v_shape = index, v.shape
        y = x.copy()
        y[index] = v
        return y

    def backward(self, g):
        dx = dv = None
        if self.needs_input_grad[0]:
            dx = g.copy()
            dx[self.index] = 0
        if self.needs_input_grad[1]:
            dv = unbroadcast(g[self.index], self.v_shape)
        return dx, dv


def _integer_index(index):
    """`index` with every bool mask replaced by the integer index arrays of its True elements."""
    out = []
    for part in index:
        if getattr(part, "dtype", None) is not None and part.dtype.kind == "b" and part.ndim > 0:
            out.extend(part.nonzero())
        else:
            out.append(part)
    return tuple(out)
