"""Broadcasting, and its reverse, in one place.

Forward: two shapes broadcast when, aligned from the right, each pair of sizes is
equal or one of them is 1. Backward: an input that was broadcast was *copied*
along the new or size-1 axes, so its gradient is the *sum* of the output gradient
over exactly those axes (`unbroadcast`).
"""


def broadcast_shape(op, *shapes):
    """The shape that `shapes` broadcast to, or a ValueError naming `op` and the shapes."""
    ndim = max(len(s) for s in shapes)
    out = [1] * ndim
    for shape in shapes:
        offset = ndim - len(shape)
        for i, size in enumerate(shape):
            j = offset + i
            if out[j] == 1:
                out[j] = size
            elif size != 1 and size != out[j]:
                shown = " and ".join(str(tuple(s)) for s in shapes)
                raise ValueError(
                    f"{op}: shapes {shown} cannot be broadcast together "
                    f"(dimension {j - ndim} has sizes {out[j]} and {size}; each pair must be equal or 1)")
    return tuple(out)


def unbroadcast(grad, shape):
    """Sum `grad` down to `shape`: the backward of broadcasting an array of `shape` up to grad.shape."""
    # BEGIN SOLUTION unbroadcast  sum grad over the leading axes broadcasting added and the axes where shape has size 1
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, size in enumerate(shape) if size == 1 and grad.shape[extra + i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)
    # END SOLUTION
