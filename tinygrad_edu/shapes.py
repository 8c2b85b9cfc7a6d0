"""Argument checking for shape-taking ops, so bad input fails at the call with a clear message."""
import operator


def sizes_from_args(op, args):
    """Accept f(2, 3), f((2, 3)) or f([2, 3]); return a tuple of ints."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    try:
        sizes = tuple(int(a) for a in args)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: expected sizes as ints or one tuple of ints, got {args!r}") from None
    if any(isinstance(a, float) and not float(a).is_integer() for a in args):
        raise TypeError(f"{op}: sizes must be integers, got {args!r}")
    return sizes


def as_int(op, value, name="dim"):
    """An integer argument (a dim, a chunk count) as a Python int. Like PyTorch, only integers count: a Python or
    numpy int, or a one-element integer tensor; a float (1.5, and 1.0 too) or a bool is a TypeError, never
    silently truncated."""
    if not isinstance(value, bool):
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise TypeError(f"{op}: {name} must be an int, got {value!r} of type {type(value).__name__}")


def normalize_dim(op, dim, ndim, shape=None):
    """A dim in [-ndim, ndim) as a non-negative int, else IndexError naming the op and shape.

    A 0-d tensor accepts dim 0 and -1 (PyTorch treats it as having one dim for this check), and gets 0."""
    d = as_int(op, dim)
    lo, hi = -max(ndim, 1), max(ndim, 1) - 1
    if not lo <= d <= hi:
        where = f"a tensor of shape {tuple(shape)}" if shape is not None else f"a {ndim}-d tensor"
        raise IndexError(f"{op}: dim {dim} is out of range for {where} (expected a dim in [{lo}, {hi}])")
    return d % ndim if ndim else 0


def normalize_dims(op, dim, shape):
    """None (all dims) or a sorted tuple of distinct non-negative dims."""
    if dim is None:
        return None
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    out = tuple(sorted({normalize_dim(op, d, len(shape), shape) for d in dims}))
    if len(out) != len(dims):
        raise ValueError(f"{op}: dim {dim} repeats a dimension")
    if len(shape) == 0:
        return None
    return out


def infer_reshape(op, old_shape, new_shape):
    """Resolve one -1 in `new_shape` and check the element count is unchanged."""
    numel = 1
    for s in old_shape:
        numel *= s
    known, unknown = 1, None
    for i, s in enumerate(new_shape):
        if s == -1:
            if unknown is not None:
                raise ValueError(f"{op}: only one dimension can be -1, got shape {new_shape}")
            unknown = i
        elif s < 0:
            raise ValueError(f"{op}: invalid size {s} in shape {new_shape}")
        else:
            known *= s
    if unknown is not None:
        if known == 0 or numel % known:
            raise ValueError(f"{op}: cannot reshape a tensor of shape {tuple(old_shape)} ({numel} elements) "
                             f"into shape {new_shape}")
        new_shape = new_shape[:unknown] + (numel // known,) + new_shape[unknown + 1:]
    elif known != numel:
        raise ValueError(f"{op}: cannot reshape a tensor of shape {tuple(old_shape)} ({numel} elements) "
                         f"into shape {new_shape} ({known} elements)")
    return new_shape


def window_slices(kernel_size, stride, out_hw):
    """For each window offset (i, j), the strided slice of an (N, C, H, W) array that holds element
    (i, j) of every pooling/convolution window at once, shaped (N, C, OH, OW)."""
    (kh, kw), (sh, sw), (oh, ow) = kernel_size, stride, out_hw
    for i in range(kh):
        for j in range(kw):
            yield (slice(None), slice(None), slice(i, i + sh * (oh - 1) + 1, sh), slice(j, j + sw * (ow - 1) + 1, sw))
