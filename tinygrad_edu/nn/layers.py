"""Stateless and simple layers: Linear, convolutions, pooling, Flatten, activations, dropout, Embedding, Identity."""
import math

from .. import factories
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter


def _empty(*shape):
    return Parameter(factories.zeros(*shape))


def _check_groups(layer, in_channels, out_channels, groups):
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{layer}: groups must be a positive integer, got {groups!r}")
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"{layer}: in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                         f"divisible by groups ({groups})")


def _reset_conv_parameters(conv):
    """PyTorch's convolution init: weight U(-b, b) with b = 1/sqrt(fan_in) (kaiming_uniform_ with a = sqrt(5)),
    and the bias U(-b, b) too. fan_in = weight.shape[1] * kernel size (for a transposed conv: out/groups * k)."""
    init.kaiming_uniform_(conv.weight, a=math.sqrt(5))
    if conv.bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(conv.weight)
        bound = 1 / math.sqrt(fan_in) if fan_in else 0
        init.uniform_(conv.bias, -bound, bound)


def _conv_repr(conv):
    """PyTorch's summary of a convolution: arguments that differ from their defaults."""
    dims = len(conv.kernel_size)
    text = f"{conv.in_channels}, {conv.out_channels}, kernel_size={conv.kernel_size}, stride={conv.stride}"
    for name, default in (("padding", 0), ("dilation", 1), ("output_padding", 0)):
        value = getattr(conv, name, (default,) * dims)
        if value != (default,) * dims:
            text += f", {name}={value}"
    if conv.groups != 1:
        text += f", groups={conv.groups}"
    return text + (", bias=False" if conv.bias is None else "")


class Identity(Module):
    def forward(self, x):
        return x


class Linear(Module):
    """y = x W^T + b with weight (out_features, in_features); both initialised U(-1/sqrt(in), 1/sqrt(in))."""
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = _empty(out_features, in_features)
        self.bias = _empty(out_features) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Conv2d(Module):
    """2-D convolution; weight (out, in/groups, kh, kw) initialised like PyTorch (bound 1/sqrt(fan_in))."""
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True):
        super().__init__()
        _check_groups("Conv2d", in_channels, out_channels, groups)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = F._pair("Conv2d", "kernel_size", kernel_size)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.weight = _empty(out_channels, in_channels // groups, *self.kernel_size)
        self.bias = _empty(out_channels) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        _reset_conv_parameters(self)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}")


class Conv1d(Module):
    """1-D convolution over (N, C, L); weight (out, in/groups, k), initialised like PyTorch (bound 1/sqrt(fan_in))."""
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True):
        super().__init__()
        _check_groups("Conv1d", in_channels, out_channels, groups)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.padding, self.dilation = (
            F._single("Conv1d", name, value) for name, value in
            (("kernel_size", kernel_size), ("stride", stride), ("padding", padding), ("dilation", dilation)))
        self.weight = _empty(out_channels, in_channels // groups, *self.kernel_size)
        self.bias = _empty(out_channels) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        _reset_conv_parameters(self)

    def forward(self, x):
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        return _conv_repr(self)


class ConvTranspose2d(Module):
    """2-D transposed convolution (the gradient of Conv2d with respect to its input; it upsamples by `stride`).

    Weight (in, out/groups, kh, kw), the transpose of Conv2d's layout, initialised like PyTorch
    (bound 1/sqrt(fan_in), fan_in = out/groups * kh * kw). Output size per spatial dim:
        (H - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1.
    `forward(x, output_size)` picks the output_padding that gives that size, as in PyTorch.
    """
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1):
        super().__init__()
        _check_groups("ConvTranspose2d", in_channels, out_channels, groups)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.padding, self.output_padding, self.dilation = (
            F._pair("ConvTranspose2d", name, value) for name, value in
            (("kernel_size", kernel_size), ("stride", stride), ("padding", padding),
             ("output_padding", output_padding), ("dilation", dilation)))
        self.weight = _empty(in_channels, out_channels // groups, *self.kernel_size)
        self.bias = _empty(out_channels) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        _reset_conv_parameters(self)

    def forward(self, x, output_size=None):
        output_padding = self.output_padding if output_size is None else self._output_padding(x, output_size)
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, output_padding, self.groups,
                                  self.dilation)

    def _output_padding(self, x, output_size):
        """The output_padding that makes the output's spatial size `output_size` (its last two entries)."""
        output_size = tuple(output_size)
        if len(output_size) not in (2, x.ndim):
            raise ValueError(f"ConvTranspose2d: for {x.ndim}-D input, output_size must have 2 or {x.ndim} elements "
                             f"(got {len(output_size)})")
        smallest = tuple((x.shape[x.ndim - 2 + a] - 1) * self.stride[a] - 2 * self.padding[a]
                         + self.dilation[a] * (self.kernel_size[a] - 1) + 1 for a in (0, 1))
        largest = tuple(smallest[a] + self.stride[a] - 1 for a in (0, 1))
        wanted = output_size[-2:]
        if not all(smallest[a] <= wanted[a] <= largest[a] for a in (0, 1)):
            raise ValueError(f"ConvTranspose2d: requested an output size of {wanted}, but valid sizes range from "
                             f"{smallest} to {largest} (for an input of spatial size {x.shape[-2:]})")
        return tuple(wanted[a] - smallest[a] for a in (0, 1))

    def extra_repr(self):
        return _conv_repr(self)


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, padding={self.padding}"


class AvgPool2d(MaxPool2d):
    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)


def _inplace_repr(module):
    return ", inplace=True" if module.inplace else ""


class ReLU(Module):
    """max(x, 0). inplace=True writes the result into x's own memory and returns x, as in PyTorch."""
    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu(x, self.inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """x where x > 0, else negative_slope * x. inplace=True changes x itself (see ReLU)."""
    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}{_inplace_repr(self)}"


class ELU(Module):
    """x where x > 0, else alpha (e^x - 1). inplace=True changes x itself (see ReLU)."""
    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x):
        return F.elu(x, self.alpha, self.inplace)

    def extra_repr(self):
        return f"alpha={self.alpha}{_inplace_repr(self)}"


class Softplus(Module):
    """log(1 + e^(beta x)) / beta, and x where beta x > threshold."""
    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Tanh(Module):
    def forward(self, x):
        return x.tanh()


class Sigmoid(Module):
    def forward(self, x):
        return x.sigmoid()


class GELU(Module):
    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate='{self.approximate}'"


class SiLU(Module):
    def forward(self, x):
        return F.silu(x)


class Softmax(Module):
    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)


class LogSoftmax(Softmax):
    def forward(self, x):
        return F.log_softmax(x, self.dim)


class Dropout(Module):
    """Zeroes elements with probability p while training (scaling the rest by 1/(1-p)); identity in eval.
    inplace=True changes x itself (see ReLU)."""
    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    """Zeroes whole channels (each map x[n, c]) with probability p while training, scaling the rest by 1/(1-p);
    identity in eval. Input (N, C, H, W); see F.dropout2d for other shapes."""
    def forward(self, x):
        return F.dropout2d(x, self.p, self.training, self.inplace)


class Embedding(Module):
    """A lookup table (num_embeddings, embedding_dim) initialised N(0, 1)."""
    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = _empty(num_embeddings, embedding_dim)
        init.normal_(self.weight)

    def forward(self, idx):
        return F.embedding(idx, self.weight)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"
