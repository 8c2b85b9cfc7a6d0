"""Ops that move data without arithmetic. Their backward moves the gradient back the same way."""
from ..autograd import Function
from ..broadcast import unbroadcast


class Reshape(Function):
    """y = x viewed with a new shape;  dx = dy reshaped to x's shape."""
    def forward(self, x, shape=None):
        self.shape, self.new_shape = x.shape, shape
        return x.reshape(shape)

    def backward(self, g):
        return g.reshape(self.shape)

    def view(self, array):
        """The same view of another array shaped like x (used when the view is changed in place)."""
        return array.reshape(self.new_shape)


class Permute(Function):
    """y = x with axes reordered by `dims`;  dx = dy with the inverse order applied."""
    def forward(self, x, dims=None):
        self.dims, self.inverse = dims, tuple(sorted(range(len(dims)), key=dims.__getitem__))
        return x.transpose(dims)

    def backward(self, g):
        return g.transpose(self.inverse)

    def view(self, array):
        return array.transpose(self.dims)


class Expand(Function):
    """y = x broadcast (without copying) to `shape`;  dx = dy summed over the broadcast axes."""
    def forward(self, x, shape=None):
        self.shape = x.shape
        return self.xp.broadcast_to(x, shape)

    def backward(self, g):
        return unbroadcast(g, self.shape)


class Repeat(Function):
    """y = x tiled `reps` times along each axis;  dx = the sum of dy over all tiles.

    dy is reshaped to (r0, s0, r1, s1, ...) so the tiles of each axis get an axis of
    their own, then summed over the r axes.
    """
    def forward(self, x, reps=None):
        self.in_shape = x.shape
        self.padded = (1,) * (len(reps) - x.ndim) + x.shape
        self.reps = reps
        return self.xp.tile(x.reshape(self.padded), reps)

    def backward(self, g):
        interleaved = []
        for r, s in zip(self.reps, self.padded):
            interleaved += [r, s]
        g = g.reshape(interleaved).sum(axis=tuple(range(0, 2 * len(self.reps), 2)))
        return g.reshape(self.in_shape)


class Pad(Function):
    """y = x with constant borders;  dx = the interior of dy (the borders had no input)."""
    def forward(self, x, pad_width=None, value=0.0):
        self.interior = tuple(slice(lo, lo + n) for (lo, _), n in zip(pad_width, x.shape))
        return self.xp.pad(x, pad_width, mode="constant", constant_values=value)

    def backward(self, g):
        return g[self.interior]


class Cat(Function):
    """y = the inputs joined along `axis`;  each input's gradient is its own slab of dy."""
    def forward(self, *arrays, axis=0):
        self.axis = axis
        self.bounds = []
        start = 0
        for a in arrays:
            self.bounds.append((start, start + a.shape[axis]))
            start += a.shape[axis]
        return self.xp.concatenate(arrays, axis=axis)

    def backward(self, g):
        index = [slice(None)] * g.ndim
        grads = []
        for lo, hi in self.bounds:
            index[self.axis] = slice(lo, hi)
            grads.append(g[tuple(index)])
        return tuple(grads)
