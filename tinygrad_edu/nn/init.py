"""Initialisers (in place, under no_grad), with PyTorch's names and formulas.

All randomness comes from the library's generator, so `tg.manual_seed` fixes it; the random
initialisers also take `generator=` (a numpy.random.Generator, as Tensor.normal_ does), which is
used instead.
"""
import math
import statistics
import warnings

from .. import random as library_random


def _fill(tensor, values):
    """Write `values` (an array of the tensor's shape, or a flat sequence of its numel values) into tensor."""
    tensor.array[...] = tensor._backend.asarray(values, dtype=tensor.array.dtype).reshape(tensor.shape)
    return tensor


def _rng(generator, op):
    """The generator to draw from: the one passed in, else the library's."""
    if generator is None:
        return library_random.generator()
    if not hasattr(generator, "standard_normal"):
        raise TypeError(f"{op}: generator must be a numpy.random.Generator (e.g. numpy.random.default_rng(0)), got "
                        f"{type(generator).__name__}")
    return generator


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for an activation: the factor that keeps activations' variance stable."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                        "conv_transpose3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor):
    """fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive field (weights (out, in, *kernel))."""
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dims, got shape {tensor.shape}")
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    return _fill(tensor, _rng(generator, "uniform_").uniform(a, b, tensor.shape))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    return _fill(tensor, _rng(generator, "normal_").normal(mean, std, tensor.shape))


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """N(mean, std^2) conditioned on lying in [a, b] (a and b are values, not multiples of std).

    Rejection sampling: draw from N(mean, std^2), keep the draws that fall in [a, b], draw again for the
    rest. Each round keeps a fraction P(a <= x <= b) of its draws, so when [a, b] holds under 1% of the
    normal's mass (narrow, or far out in a tail) each value is instead the inverse normal CDF of a uniform
    draw between cdf(a) and cdf(b) (PyTorch's method for every case; here one Python call per element).
    Both give exactly the truncated normal distribution.
    """
    if not std > 0:
        raise ValueError(f"trunc_normal_: std must be positive, got {std}")
    if not a < b:
        raise ValueError(f"trunc_normal_: expected a < b, got a={a}, b={b}")
    rng = _rng(generator, "trunc_normal_")
    lo, hi = (a - mean) / std, (b - mean) / std               # the interval in standard units
    n = tensor.numel()
    if _normal_mass(lo, hi) >= 0.01:
        values = rng.normal(mean, std, n)
        outside = (values < a) | (values > b)
        while outside.any():
            values[outside] = rng.normal(mean, std, int(outside.sum()))
            outside = (values < a) | (values > b)
    else:
        values = [min(max(mean + std * z, a), b) for z in _truncated_standard_normals(rng, lo, hi, n)]
    return _fill(tensor, values)


def _normal_cdf(z):
    """P(Z <= z) for a standard normal Z, through erfc: accurate far into the lower tail."""
    return 0.5 * math.erfc(-z / math.sqrt(2))


def _normal_mass(lo, hi):
    """P(lo <= Z <= hi), computed in the tail where the interval lies (no 1 - 1 cancellation)."""
    return _normal_cdf(-lo) - _normal_cdf(-hi) if lo > 0 else _normal_cdf(hi) - _normal_cdf(lo)


def _truncated_standard_normals(rng, lo, hi, n):
    """n draws of Z ~ N(0, 1) given lo <= Z <= hi, by inverting the CDF: Z = cdf^-1(U), U uniform on
    [cdf(lo), cdf(hi)]. An interval above 0 is mirrored below it first, where the CDF's values are tiny and
    exact rather than within rounding of 1."""
    sign = 1.0
    if lo > 0:
        sign, lo, hi = -1.0, -hi, -lo
    p_lo, p_hi = _normal_cdf(lo), _normal_cdf(hi)
    if p_hi <= 0.0:               # so far out that the CDF underflows: all the mass sits at the bound nearest 0
        return [sign * hi] * n
    tiny = 5e-324                 # the smallest float: cdf^-1 needs p > 0 (and returns about -38.5 there)
    inverse = statistics.NormalDist().inv_cdf
    return [sign * inverse(max(p_lo + u * (p_hi - p_lo), tiny)) for u in rng.random(n).tolist()]


def constant_(tensor, val):
    tensor.array[...] = val
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0)


def ones_(tensor):
    return constant_(tensor, 1)


def eye_(tensor):
    """The identity matrix (ones on the diagonal of a 2-D tensor, also a non-square one)."""
    if tensor.ndim != 2:
        raise ValueError(f"eye_: only tensors with 2 dimensions are supported, got shape {tensor.shape}")
    return _fill(tensor, tensor._backend.xp.eye(*tensor.shape))


def dirac_(tensor, groups=1):
    """A convolution weight (out, in, *kernel) that passes its input through: in each of `groups` groups,
    output channel d reads input channel d at the kernel's centre (for d < min(out/groups, in)); 0 elsewhere."""
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"dirac_: only tensors with 3, 4, or 5 dimensions are supported, got shape {tensor.shape}")
    if groups < 1 or tensor.shape[0] % groups:
        raise ValueError(f"dirac_: dim 0 ({tensor.shape[0]}) must be divisible by groups ({groups})")
    out_per_group = tensor.shape[0] // groups
    centre = tuple(k // 2 for k in tensor.shape[2:])
    tensor.array[...] = 0
    for g in range(groups):
        for d in range(min(out_per_group, tensor.shape[1])):
            tensor.array[(g * out_per_group + d, d) + centre] = 1
    return tensor


def orthogonal_(tensor, gain=1, generator=None):
    """A (semi-)orthogonal matrix times gain: the tensor viewed as (shape[0], rest) has orthonormal rows or
    columns, whichever are fewer. It is Q of the QR decomposition of a Gaussian matrix, with each column's
    sign set by R's diagonal so that Q is uniformly distributed (Haar), as PyTorch does."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dimensions are supported, got shape "
                         f"{tensor.shape}")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    xp = tensor._backend.xp
    gaussian = _rng(generator, "orthogonal_").standard_normal((rows, cols))
    flat = tensor._backend.asarray(gaussian.T if rows < cols else gaussian)     # tall: QR gives orthonormal columns
    q, r = xp.linalg.qr(flat)
    q = q * xp.sign(xp.diagonal(r))
    return _fill(tensor, (q.T if rows < cols else q) * gain)


def sparse_(tensor, sparsity, std=0.01, generator=None):
    """A 2-D tensor drawn from N(0, std^2) with ceil(sparsity * rows) zeros, at random rows, in every column."""
    if tensor.ndim != 2:
        raise ValueError(f"sparse_: only tensors with 2 dimensions are supported, got shape {tensor.shape}")
    rng = _rng(generator, "sparse_")
    rows, cols = tensor.shape
    values = rng.normal(0.0, std, (rows, cols))
    rank_in_column = rng.random((rows, cols)).argsort(axis=0).argsort(axis=0)   # a random permutation per column
    values[rank_in_column < math.ceil(sparsity * rows)] = 0
    return _fill(tensor, values)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _kaiming_std(tensor, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def _no_elements(tensor):
    """A tensor with no elements has no fan to scale by: as in PyTorch, kaiming init leaves it alone, warning."""
    if tensor.numel() == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", UserWarning, stacklevel=3)
        return True
    return False


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """U(-b, b), b = gain * sqrt(3 / fan). With a = sqrt(5) this is nn.Linear's default, b = 1/sqrt(fan_in)."""
    if _no_elements(tensor):
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    if _no_elements(tensor):
        return tensor
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)
