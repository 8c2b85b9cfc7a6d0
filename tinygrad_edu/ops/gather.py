"""Picking and placing elements along one dimension: gather, scatter, and the running sum.

`gather(x, dim, index)` reads, for every position p of `index`, the element of x at p
with coordinate `dim` replaced by index[p]:  out[i][j][k] = x[i][index[i][j][k]][k]
for dim = 1. `along(index, dim)` builds that coordinate tuple once: an arange for
every other dim (broadcast), `index` for `dim`; numpy's fancy indexing does the rest.
"""
from ..autograd import Function


def along(xp, index, dim):
    """The fancy index that visits every position of `index`, with `index`'s values as coordinate `dim`."""
    coords = []
    for d, n in enumerate(index.shape):
        shape = [1] * index.ndim
        shape[d] = n
        coords.append(index if d == dim else xp.arange(n).reshape(shape))
    return tuple(coords)


class Gather(Function):
    """y = x[along(index, dim)];  dx = zeros with dy *added* at those places (an index may repeat)."""
    def forward(self, x, index=None, dim=0):
        self.shape, self.where = x.shape, along(self.xp, index, dim)
        return x[self.where]

    def backward(self, g):
        dx = self.xp.zeros(self.shape, dtype=g.dtype)
        self.backend.index_add(dx, self.where, g)
        return dx


class Scatter(Function):
    """y = x with y[along(index, dim)] = src (src read at the positions of index; where an index repeats, the
    last write wins);  dx = dy with those places zeroed, dsrc = dy at those places, zero elsewhere."""
    def forward(self, x, src, index=None, dim=0):
        self.where, self.src_shape = along(self.xp, index, dim), src.shape
        self.own = tuple(self.xp.arange(n).reshape([n if d == i else 1 for d in range(index.ndim)])
                         for i, n in enumerate(index.shape))   # the positions of index, in src
        y = x.copy()
        y[self.where] = src[self.own]
        return y

    def backward(self, g):
        dx = dsrc = None
        if self.needs_input_grad[0]:
            dx = g.copy()
            dx[self.where] = 0
        if self.needs_input_grad[1]:
            dsrc = self.xp.zeros(self.src_shape, dtype=g.dtype)
            dsrc[self.own] = g[self.where]
        return dx, dsrc


class Cumsum(Function):
    """y_i = x_0 + ... + x_i along `dim`;  dx_i = dy_i + ... + dy_last (a running sum from the other end)."""
    def forward(self, x, dim=0):
        self.dim = dim
        return self.xp.cumsum(x, axis=dim)

    def backward(self, g):
        xp = self.xp
        return xp.flip(xp.cumsum(xp.flip(g, axis=self.dim), axis=self.dim), axis=self.dim)
