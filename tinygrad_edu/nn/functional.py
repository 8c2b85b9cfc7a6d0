"""tinygrad_edu.nn.functional (import as F): layers as functions, with PyTorch's signatures.

Each function checks its arguments (so bad input fails here with a clear message)
and then calls one fused op from tinygrad_edu.ops, or composes Tensor ops.
"""
import math
import warnings

from .. import factories
from ..broadcast import broadcast_shape
from ..inplace import update as update_in_place
from ..ops import activation, attention, binary_cross_entropy as bce_ops, conv, conv_transpose
from ..ops import embedding as embedding_ops, linear as linear_ops, loss, lstm, normalization, pool
from ..ops import softmax as softmax_ops
from ..random import generator
from ..shapes import normalize_dim
from ..tensor import Tensor, where

__all__ = ["linear", "conv1d", "conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "relu", "relu_",
           "leaky_relu", "leaky_relu_", "elu", "elu_", "softplus", "gelu", "silu", "tanh", "sigmoid", "softmax",
           "log_softmax", "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "layer_norm", "batch_norm",
           "dropout", "dropout2d", "embedding", "one_hot", "scaled_dot_product_attention", "pad", "lstm_cell"]


def _pair(op, name, value):
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    return pair


def _single(op, name, value):
    single = (value,) if isinstance(value, int) else tuple(value)
    if len(single) != 1 or not isinstance(single[0], int):
        raise TypeError(f"{op}: {name} must be an int or a 1-tuple of ints, got {value!r}")
    return single


def _check_float(op, name, t):
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    if t.array.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be a floating-point tensor, got dtype {t.dtype}")


def _check_same_dtype(op, *tensors):
    kinds = {t.array.dtype for t in tensors if t is not None}
    if len(kinds) > 1:
        raise TypeError(f"{op}: tensors must share one dtype, got {[str(t.dtype) for t in tensors if t is not None]}; "
                        f"convert with .float() or .double()")


# ---- linear and convolution ------------------------------------------------------------------
def linear(input, weight, bias=None):
    """y = x W^T + b;  x (..., in), W (out, in), b (out,)."""
    _check_float("linear", "input", input)
    if weight.ndim != 2 or input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {input.shape} does not fit weight of shape {weight.shape} "
                         f"(expected input (..., {weight.shape[-1] if weight.ndim == 2 else 'in'}) and weight (out, in))")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias of shape {bias.shape} does not match weight of shape {weight.shape}")
    _check_same_dtype("linear", input, weight, bias)
    args = (input, weight) if bias is None else (input, weight, bias)
    return linear_ops.Linear.apply(*args)


def _check_groups_and_kernel(op, groups, weight, kernel_size):
    """groups must be a positive int and every kernel size (the weight's trailing dims) at least 1."""
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive integer, got {groups!r}")
    if min(kernel_size) < 1:
        raise ValueError(f"{op}: kernel size must be greater than zero, got kernel {kernel_size} (weight of shape "
                         f"{weight.shape})")


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation over (N, C, L) input (or unbatched (C, L)) with weight (out, in/groups, k).

    It is conv2d on images of height 1: the input becomes (N, C, 1, L) and the weight (out, in/groups, 1, k).
    """
    _check_float("conv1d", "input", input)
    if input.ndim == 2:                       # unbatched (C, L), as PyTorch accepts
        return conv1d(input.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0)
    if input.ndim != 3 or weight.ndim != 3:
        raise ValueError(f"conv1d: expected 3-D input (N, C, L) and weight (O, C/groups, k), got shapes "
                         f"{input.shape} and {weight.shape}")
    n, c, length = input.shape
    o, cg, k = weight.shape
    _check_groups_and_kernel("conv1d", groups, weight, (k,))
    if c % groups or o % groups or c // groups != cg:
        raise ValueError(f"conv1d: input has {c} channels and groups={groups}, so weight must be "
                         f"({o}, {c // groups}, k) with out channels divisible by groups; got weight {weight.shape}")
    if bias is not None and bias.shape != (o,):
        raise ValueError(f"conv1d: bias of shape {bias.shape} does not match {o} output channels")
    (s,), (p,), (d,) = (_single("conv1d", "stride", stride), _single("conv1d", "padding", padding),
                        _single("conv1d", "dilation", dilation))
    if s < 1 or d < 1 or p < 0:
        raise ValueError(f"conv1d: stride and dilation must be >= 1 and padding >= 0, got stride {stride}, "
                         f"padding {padding}, dilation {dilation}")
    if length + 2 * p < d * (k - 1) + 1:
        raise ValueError(f"conv1d: kernel {k} (dilation {d}) is longer than the padded input {length + 2 * p} of "
                         f"input shape {input.shape}")
    _check_same_dtype("conv1d", input, weight, bias)
    args = (input.unsqueeze(2), weight.unsqueeze(2)) + (() if bias is None else (bias,))
    return conv.Conv2d.apply(*args, stride=(1, s), padding=(0, p), dilation=(1, d), groups=groups).squeeze(2)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation over NCHW input with weight (out, in/groups, kh, kw)."""
    _check_float("conv2d", "input", input)
    if input.ndim != 4 or weight.ndim != 4:
        raise ValueError(f"conv2d: expected 4-D input (N, C, H, W) and weight (O, C/groups, kh, kw), got shapes "
                         f"{input.shape} and {weight.shape}")
    n, c, h, w = input.shape
    o, cg, kh, kw = weight.shape
    _check_groups_and_kernel("conv2d", groups, weight, (kh, kw))
    if c % groups or o % groups or c // groups != cg:
        raise ValueError(f"conv2d: input has {c} channels and groups={groups}, so weight must be "
                         f"({o}, {c // groups}, kh, kw) with out channels divisible by groups; got weight "
                         f"{weight.shape}")
    if bias is not None and bias.shape != (o,):
        raise ValueError(f"conv2d: bias of shape {bias.shape} does not match {o} output channels")
    stride, padding, dilation = (_pair("conv2d", "stride", stride), _pair("conv2d", "padding", padding),
                                 _pair("conv2d", "dilation", dilation))
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(f"conv2d: stride and dilation must be >= 1 and padding >= 0, got stride {stride}, "
                         f"padding {padding}, dilation {dilation}")
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"conv2d: kernel {kh}x{kw} (dilation {dilation}) is larger than the padded input "
                         f"{h + 2 * padding[0]}x{w + 2 * padding[1]} of input shape {input.shape}")
    _check_same_dtype("conv2d", input, weight, bias)
    args = (input, weight) if bias is None else (input, weight, bias)
    return conv.Conv2d.apply(*args, stride=stride, padding=padding, dilation=dilation, groups=groups)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The transpose of conv2d (its gradient with respect to the input) over NCHW input (or unbatched CHW),
    with weight (in, out/groups, kh, kw); see ops/conv_transpose.py. Each output size is
        (H - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1.
    """
    _check_float("conv_transpose2d", "input", input)
    if input.ndim == 3:                       # unbatched (C, H, W), as PyTorch accepts
        return conv_transpose2d(input.unsqueeze(0), weight, bias, stride, padding, output_padding, groups,
                                dilation).squeeze(0)
    if input.ndim != 4 or weight.ndim != 4:
        raise ValueError(f"conv_transpose2d: expected 4-D input (N, C_in, H, W) and weight (C_in, C_out/groups, kh, "
                         f"kw), got shapes {input.shape} and {weight.shape}")
    c, (c_in, og, kh, kw) = input.shape[1], weight.shape
    _check_groups_and_kernel("conv_transpose2d", groups, weight, (kh, kw))
    if c != c_in or c % groups:
        raise ValueError(f"conv_transpose2d: weight of shape {weight.shape} (in_channels, out_channels/groups, kh, "
                         f"kw) needs an input with {c_in} channels, divisible by groups={groups}; got input "
                         f"{input.shape}")
    if bias is not None and bias.shape != (og * groups,):
        raise ValueError(f"conv_transpose2d: bias of shape {bias.shape} does not match {og * groups} output channels")
    stride, padding, output_padding, dilation = (
        _pair("conv_transpose2d", name, v) for name, v in
        (("stride", stride), ("padding", padding), ("output_padding", output_padding), ("dilation", dilation)))
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0 or min(output_padding) < 0:
        raise ValueError(f"conv_transpose2d: stride and dilation must be >= 1, padding and output_padding >= 0; got "
                         f"stride {stride}, padding {padding}, output_padding {output_padding}, dilation {dilation}")
    if any(output_padding[a] >= stride[a] and output_padding[a] >= dilation[a] for a in (0, 1)):
        raise ValueError(f"conv_transpose2d: output_padding must be smaller than either stride or dilation, got "
                         f"output_padding {output_padding}, stride {stride}, dilation {dilation}")
    out_hw = tuple((input.shape[2 + a] - 1) * stride[a] - 2 * padding[a] + dilation[a] * (k - 1) + output_padding[a]
                   + 1 for a, k in enumerate((kh, kw)))
    if min(out_hw) < 1:
        raise ValueError(f"conv_transpose2d: input of shape {input.shape} with kernel {kh}x{kw}, stride {stride}, "
                         f"padding {padding}, dilation {dilation} gives an output of size {out_hw}: too small")
    _check_same_dtype("conv_transpose2d", input, weight, bias)
    args = (input, weight) if bias is None else (input, weight, bias)
    return conv_transpose.ConvTranspose2d.apply(*args, stride=stride, padding=padding, output_padding=output_padding,
                                                dilation=dilation, groups=groups)


def _pool_args(op, input, kernel_size, stride, padding):
    _check_float(op, "input", input)
    if input.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {input.shape}")
    kernel_size = _pair(op, "kernel_size", kernel_size)
    stride = kernel_size if stride is None else _pair(op, "stride", stride)
    padding = _pair(op, "padding", padding)
    if min(kernel_size) < 1 or min(stride) < 1 or min(padding) < 0:
        raise ValueError(f"{op}: kernel_size and stride must be >= 1 and padding >= 0, got kernel_size {kernel_size}, "
                         f"stride {stride}, padding {padding}")
    if padding[0] > kernel_size[0] // 2 or padding[1] > kernel_size[1] // 2:
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel size {kernel_size}")
    if input.shape[2] + 2 * padding[0] < kernel_size[0] or input.shape[3] + 2 * padding[1] < kernel_size[1]:
        raise ValueError(f"{op}: kernel {kernel_size} is larger than the padded input of shape {input.shape}")
    return dict(kernel_size=kernel_size, stride=stride, padding=padding)


def max_pool2d(input, kernel_size, stride=None, padding=0):
    """Max over (kh, kw) windows; stride defaults to the kernel size."""
    return pool.MaxPool2d.apply(input, **_pool_args("max_pool2d", input, kernel_size, stride, padding))


def avg_pool2d(input, kernel_size, stride=None, padding=0):
    """Mean over (kh, kw) windows, zero padding included in the count (PyTorch's default)."""
    return pool.AvgPool2d.apply(input, **_pool_args("avg_pool2d", input, kernel_size, stride, padding))


# ---- activations -----------------------------------------------------------------------------
def _maybe_in_place(op, input, inplace, compute):
    """compute(input); with inplace=True its values are written into input's own memory and input is returned,
    as PyTorch does. Autograd follows the change (inplace.py): as in PyTorch, a leaf that requires grad refuses."""
    return update_in_place(input, op, compute) if inplace else compute(input)


def relu(input, inplace=False):
    return _maybe_in_place("relu_", input, inplace, lambda x: x.relu())


def relu_(input):
    return relu(input, inplace=True)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x where x > 0, else negative_slope * x."""
    _check_float("leaky_relu", "input", input)
    return _maybe_in_place("leaky_relu_", input, inplace,
                           lambda x: activation.LeakyReLU.apply(x, negative_slope=negative_slope))


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, inplace=True)


def elu(input, alpha=1.0, inplace=False):
    """x where x > 0, else alpha (e^x - 1)."""
    _check_float("elu", "input", input)
    return _maybe_in_place("elu_", input, inplace, lambda x: activation.ELU.apply(x, alpha=alpha))


def elu_(input, alpha=1.0):
    return elu(input, alpha, inplace=True)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + e^(beta x)) / beta, a smooth ReLU; x itself where beta x > threshold."""
    _check_float("softplus", "input", input)
    return activation.Softplus.apply(input, beta=beta, threshold=threshold)


def tanh(input):
    return input.tanh()


def sigmoid(input):
    return input.sigmoid()


def gelu(input, approximate="none"):
    """x * Phi(x) (approximate='none'), or its tanh approximation (approximate='tanh')."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    _check_float("gelu", "input", input)
    return activation.GELU.apply(input, approximate=approximate)


def silu(input):
    _check_float("silu", "input", input)
    return activation.SiLU.apply(input)


def _along_last(fn, input, dim, op):
    """Apply a last-axis op along `dim` by moving that dim last and back."""
    _check_float(op, "input", input)
    d = normalize_dim(op, dim, input.ndim, input.shape)
    if input.ndim == 0:
        return fn(input.reshape(1)).reshape(())
    if input.numel() == 0:  # nothing to normalise: the result is empty too (PyTorch's answer)
        return input.clone()
    if d == input.ndim - 1:
        return fn(input)
    return fn(input.transpose(d, -1)).transpose(d, -1)


def softmax(input, dim):
    """exp(x) / sum(exp(x)) along dim, computed with the max subtracted first."""
    return _along_last(softmax_ops.Softmax.apply, input, dim, "softmax")


def log_softmax(input, dim):
    return _along_last(softmax_ops.LogSoftmax.apply, input, dim, "log_softmax")


# ---- losses ----------------------------------------------------------------------------------
def _reduce(op, loss_values, reduction):
    if reduction == "mean":
        if loss_values.array.dtype.kind != "f":
            raise TypeError(f"{op}: reduction='mean' needs floating-point input, got dtype {loss_values.dtype}; "
                            f"convert with .float() first")
        return loss_values.mean()
    if reduction == "sum":
        return loss_values.sum()
    if reduction == "none":
        return loss_values
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _class_dim_last(op, input, target):
    """(N, C, d1, ...) logits and (N, d1, ...) targets -> (M, C) and (M,)."""
    if not isinstance(target, Tensor) or target.array.dtype.kind != "i":
        raise TypeError(f"{op}: target must be an int64 tensor of class indices, got "
                        f"{getattr(target, 'dtype', type(target).__name__)}")
    if input.ndim == 0:
        raise ValueError(f"{op}: expected input with 1 or more dims, (C,) or (N, C, ...), got a 0-d tensor")
    if input.ndim == 1:
        input = input.unsqueeze(0)
        if target.ndim > 1 or target.numel() != 1:
            raise ValueError(f"{op}: logits of shape {input.shape[1:]} need one target (0-d, or of shape (1,)), got "
                             f"shape {target.shape}")
        target = target.reshape(1)
    expected = (input.shape[0],) + input.shape[2:]
    if target.shape != expected:
        raise ValueError(f"{op}: logits of shape {input.shape} need targets of shape {expected}, got {target.shape}")
    c = input.shape[1]
    if input.ndim > 2:
        input = input.permute(0, *range(2, input.ndim), 1)
    return input.reshape(target.numel(), c), target.reshape(-1)  # sizes spelt out: -1 is ambiguous when c = 0


def _check_targets(op, target, c, ignore_index, input_shape):
    """Raise IndexError for a target outside [0, c) that is not ignore_index.

    On the CPU this runs at once. On a GPU, reading the targets back would make Python wait
    for the device in every step, so the backend runs it at the next read from the device
    (`check_later`; until then the kernels give such rows NaN, never reading out of bounds).
    """
    def check():
        t = target.numpy()
        bad = (t != ignore_index) & ((t < 0) | (t >= c))
        if bad.any():
            raise IndexError(f"{op}: target value {int(t[bad][0])} is out of range for {c} classes "
                             f"(input of shape {input_shape}, ignore_index={ignore_index})")
    target._backend.check_later(check)


def cross_entropy(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy between logits (N, C[, d1, ...]) and class indices (N[, d1, ...]).

    'mean' averages over the targets that are not ignore_index, like PyTorch.
    """
    _check_float("cross_entropy", "input", input)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    out_shape = target.shape if isinstance(target, Tensor) else None
    logits, flat_target = _class_dim_last("cross_entropy", input, target)
    _check_targets("cross_entropy", flat_target, logits.shape[1], ignore_index, input.shape)
    if logits.shape[1] == 0:  # no classes: every target is ignore_index (checked above), and an ignored loss is 0
        per_item = logits.sum(1)
    else:
        if reduction == "mean":   # the mean over the targets that are not ignored, fused into the op
            return loss.CrossEntropy.apply(logits, flat_target, ignore_index=ignore_index,
                                           label_smoothing=float(label_smoothing), mean=True)
        per_item = loss.CrossEntropy.apply(logits, flat_target, ignore_index=ignore_index,
                                           label_smoothing=float(label_smoothing))
    if reduction == "mean":
        count = int((flat_target.array != ignore_index).sum())
        return per_item.sum() / count if count else per_item.sum() * float("nan")
    if reduction == "none":
        return per_item.reshape(out_shape)
    return _reduce("cross_entropy", per_item, reduction)


def nll_loss(input, target, ignore_index=-100, reduction="mean"):
    """-input[n, target[n]] for log-probabilities input (N, C[, d1, ...]); 'mean' skips ignored targets."""
    _check_float("nll_loss", "input", input)
    out_shape = target.shape if isinstance(target, Tensor) else None
    log_probs, flat_target = _class_dim_last("nll_loss", input, target)
    _check_targets("nll_loss", flat_target, log_probs.shape[1], ignore_index, input.shape)
    if log_probs.shape[1] == 0:  # no classes: every target is ignore_index (checked above), and an ignored loss is 0
        picked = log_probs.sum(1)
        if reduction == "mean":
            return picked.sum() * float("nan")                   # no target counted: 0/0, as PyTorch
    elif reduction == "mean":  # the mean over the targets that are not ignored, its count kept on the device
        return loss.NLLLoss.apply(log_probs, flat_target, ignore_index=ignore_index, mean=True)
    else:
        picked = loss.NLLLoss.apply(log_probs, flat_target, ignore_index=ignore_index)
    if reduction == "none":
        return picked.reshape(out_shape)
    return _reduce("nll_loss", picked, reduction)


def _check_same_shape(op, input, target):
    if not isinstance(target, Tensor):
        raise TypeError(f"{op}: target must be a Tensor, got {type(target).__name__}")
    if input.shape != target.shape:
        raise ValueError(f"{op}: input shape {input.shape} and target shape {target.shape} must be equal "
                         f"(broadcasting here is almost always a bug)")


def mse_loss(input, target, reduction="mean"):
    """mean((input - target)^2)."""
    _check_same_shape("mse_loss", input, target)
    diff = input - target
    return _reduce("mse_loss", diff * diff, reduction)


def l1_loss(input, target, reduction="mean"):
    _check_same_shape("l1_loss", input, target)
    return _reduce("l1_loss", (input - target).abs(), reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta  (d = input - target); beta = 0 gives the L1 loss.

    The gradient is d / beta inside and sign(d) outside: continuous, unlike the L1 loss's at 0.
    """
    _check_float("smooth_l1_loss", "input", input)
    _check_same_shape("smooth_l1_loss", input, target)
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss: beta must be >= 0 (negative values are not supported), got {beta}")
    if beta == 0:
        return l1_loss(input, target, reduction)
    diff = input - target
    size = diff.abs()
    return _reduce("smooth_l1_loss", where(size < beta, diff * diff * (0.5 / beta), size - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta)  (d = input - target);
    it is delta * smooth_l1_loss(beta=delta).

    `weight`, shaped like input, multiplies each element's loss before the reduction.
    """
    _check_float("huber_loss", "input", input)
    _check_same_shape("huber_loss", input, target)
    if not delta > 0:
        raise RuntimeError(f"huber_loss: delta must be > 0 (non-positive values are not supported), got {delta}")
    if weight is not None and tuple(weight.shape) != input.shape:
        raise ValueError(f"huber_loss: weight of shape {tuple(weight.shape)} must have the input's shape {input.shape}")
    diff = input - target
    size = diff.abs()
    values = where(size < delta, diff * diff * 0.5, (size - 0.5 * delta) * delta)
    return _reduce("huber_loss", values if weight is None else values * weight, reduction)


def _broadcasts_to(shape, target_shape):
    try:
        return broadcast_shape("", shape, target_shape) == tuple(target_shape)
    except ValueError:
        return False


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """-weight [t log x + (1 - t) log(1 - x)] for probabilities x; each log clamped at -100, as PyTorch does.

    `weight` broadcasts to the input's shape (a per-class weight (C,) for input (N, C), say).
    """
    op = "binary_cross_entropy"
    _check_float(op, "input", input)
    _check_same_shape(op, input, target)
    x = input.array
    if x.size and not bool(((x >= 0) & (x <= 1)).all()):
        raise RuntimeError(f"{op}: all elements of input should be between 0 and 1 (probabilities; for logits use "
                           f"binary_cross_entropy_with_logits), got values from {float(x.min())} to "
                           f"{float(x.max())} in input of shape {input.shape}")
    if weight is not None and not _broadcasts_to(weight.shape, input.shape):
        raise ValueError(f"{op}: weight of shape {weight.shape} must broadcast to the input's shape {input.shape}")
    if target.array.dtype != input.array.dtype:
        target = target.to(dtype=input.dtype)
    values = bce_ops.BinaryCrossEntropy.apply(input, target)
    return _reduce(op, values if weight is None else values * weight, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """Sigmoid + binary cross-entropy in one numerically stable op."""
    _check_float("binary_cross_entropy_with_logits", "input", input)
    _check_same_shape("binary_cross_entropy_with_logits", input, target)
    if target.array.dtype != input.array.dtype:
        target = target.to(dtype=input.dtype)
    pw = None if pos_weight is None else pos_weight.array
    values = loss.BCEWithLogits.apply(input, target, pos_weight=pw)
    if weight is not None:
        values = values * weight
    return _reduce("binary_cross_entropy_with_logits", values, reduction)


def kl_div(input, target, reduction="mean", log_target=False):
    """KL(target || q) pointwise, with input = log q:  t (log t - input), 0 where t = 0;
    or, with log_target=True (target = log t),  e^target (target - input).

    reduction: 'mean' averages over every element, 'batchmean' sums and divides by the batch size
    input.shape[0] (the true KL divergence per sample), 'sum', 'none'. Like PyTorch, 'mean' (the default)
    warns that it is not the KL divergence; the others do not.
    """
    _check_float("kl_div", "input", input)
    _check_same_shape("kl_div", input, target)
    if reduction not in ("mean", "batchmean", "sum", "none"):
        raise ValueError(f"kl_div: reduction must be 'mean', 'batchmean', 'sum' or 'none', got {reduction!r}")
    if reduction == "mean":
        warnings.warn("kl_div: reduction='mean' divides the total loss by both the batch size and the support size; "
                      "'batchmean' divides only by the batch size, and matches the math definition of KL "
                      "divergence (PyTorch warns the same)", UserWarning, stacklevel=2)
    if log_target:
        values = target.exp() * (target - input)
    else:
        zero = target == 0
        values = where(zero, 0.0, target * where(zero, 1.0, target).log()) - target * input
    if reduction == "batchmean":
        return values.sum() / input.shape[0] if input.ndim else values.sum()
    return _reduce("kl_div", values, reduction)


# ---- normalisation, dropout, embedding -------------------------------------------------------
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing dims `normalized_shape`, then scale by weight and shift by bias."""
    _check_float("layer_norm", "input", input)
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    if not isinstance(normalized_shape, (tuple, list)) or not all(isinstance(s, int) for s in normalized_shape):
        raise TypeError(f"layer_norm: normalized_shape must be an int or a tuple of ints, got {normalized_shape!r}")
    normalized_shape = tuple(normalized_shape)
    if not normalized_shape:
        raise ValueError("layer_norm: normalized_shape must name at least one dim to normalise over, got ()")
    if input.shape[input.ndim - len(normalized_shape):] != normalized_shape:
        raise ValueError(f"layer_norm: input of shape {input.shape} does not end in normalized_shape "
                         f"{normalized_shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.shape != normalized_shape:
            raise ValueError(f"layer_norm: {name} of shape {t.shape} must have shape {normalized_shape}")
    if weight is None and bias is not None:
        weight = factories.ones(*normalized_shape, dtype=input.dtype, device=input.device)
    args = [input] + [t for t in (weight, bias) if t is not None]
    return normalization.LayerNorm.apply(*args, ndim=len(normalized_shape), eps=eps)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5):
    """Normalise each channel (dim 1) by batch statistics (training) or the running ones (eval).

    In training the running statistics are updated in place:
        running = (1 - momentum) * running + momentum * batch   (the variance unbiased), like PyTorch.
    """
    _check_float("batch_norm", "input", input)
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected input (N, C, ...), got shape {input.shape}")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and t.shape != (c,):
            raise ValueError(f"batch_norm: {name} of shape {t.shape} must have shape ({c},) for input {input.shape}")
    shape = (1, c) + (1,) * (input.ndim - 2)
    if training:
        count = input.numel() // c
        if count <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input "
                             f"shape {input.shape}")
        if weight is None and bias is not None:
            weight = factories.ones(c, dtype=input.dtype, device=input.device)
        args = [input] + [t for t in (weight, bias) if t is not None]
        return normalization.BatchNormTrain.apply(
            *args, running_mean=None if running_mean is None else running_mean.array,
            running_var=None if running_var is None else running_var.array, momentum=momentum, eps=eps)
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: eval mode needs running_mean and running_var")
    scale = (running_var + eps).sqrt().reshape(shape)
    out = (input - running_mean.reshape(shape)) / scale
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def _drop(input, p, mask_shape):
    """input * mask, the mask (mask_shape, broadcast over input) 0 with probability p and 1/(1-p) elsewhere."""
    if p == 1.0:
        return input * 0.0
    keep = generator().random(mask_shape) >= p
    mask = input._backend.asarray(keep.astype(input.array.dtype) / (1 - p), dtype=input.array.dtype)
    return input * Tensor._wrap(mask, input._backend, False, None)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1/(1-p) (identity when not training)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    return _maybe_in_place("dropout_", input, inplace, lambda x: _drop(x, p, x.shape))


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels: each map input[n, c] with probability p, the others scaled by 1/(1-p) (identity when
    not training). Neighbouring pixels of a feature map are strongly correlated, so dropping single pixels
    barely regularises a convolution; dropping whole maps does.

    As in PyTorch, a 3-D input is taken as (N, C, L), not as one unbatched (C, H, W) image, and inputs that
    are not 3-D or 4-D are dropped per input[n, c] too; both with PyTorch's warnings.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout2d: p must be in [0, 1], got {p}")
    if input.ndim < 2:
        raise ValueError(f"dropout2d: expected an input with at least 2 dims (N, C, ...), got shape {input.shape}")
    if input.ndim not in (3, 4):
        warnings.warn(f"dropout2d: received a {input.ndim}-D input (shape {input.shape}); dropout2d is meant for "
                      f"(N, C, H, W) or (C, H, W) inputs. Use dropout for other shapes", UserWarning, stacklevel=2)
    if input.ndim == 3:
        warnings.warn(f"dropout2d: received a 3-D input (shape {input.shape}) and, like PyTorch, treats it as "
                      f"(N, C, L), dropping whole channels of each sample; for one unbatched (C, H, W) image, add "
                      f"a batch dim first", UserWarning, stacklevel=2)
    if not training or p == 0.0:
        return input
    mask_shape = input.shape[:2] + (1,) * (input.ndim - 2)
    return _maybe_in_place("dropout2d_", input, inplace, lambda x: _drop(x, p, mask_shape))


def embedding(input, weight):
    """Rows of weight (num, dim) picked by the int64 indices in `input` -> input.shape + (dim,)."""
    if not isinstance(input, Tensor) or input.array.dtype.kind != "i":
        raise TypeError(f"embedding: indices must be an int64 tensor, got {getattr(input, 'dtype', type(input))}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, dim), got shape {weight.shape}")
    if input.numel():
        def check():   # now on the CPU; on a GPU at the next read from the device (see _check_targets)
            indices = input.numpy()
            lo, hi = int(indices.min()), int(indices.max())
            if lo < 0 or hi >= weight.shape[0]:
                raise IndexError(f"embedding: index {hi if hi >= weight.shape[0] else lo} (in indices of shape "
                                 f"{input.shape}) is out of range for {weight.shape[0]} embeddings (weight of shape "
                                 f"{weight.shape})")
        input._backend.check_later(check)
    return embedding_ops.Embedding.apply(weight, input)


def one_hot(tensor, num_classes=-1):
    """int64 (..., num_classes) with a 1 at each index."""
    if tensor.array.dtype.kind != "i":
        raise TypeError(f"one_hot: expected an int64 tensor, got {tensor.dtype}")
    xp = tensor._backend.xp
    if num_classes < 0:
        num_classes = int(tensor.array.max()) + 1
    if tensor.numel() and (int(tensor.array.min()) < 0 or int(tensor.array.max()) >= num_classes):
        raise IndexError(f"one_hot: class values must be in [0, {num_classes})")
    return Tensor._wrap((tensor.array[..., None] == xp.arange(num_classes)).astype(xp.int64), tensor._backend,
                        False, None)


def pad(input, pad, mode="constant", value=0.0):
    if mode != "constant":
        raise NotImplementedError(f"pad: only mode='constant' is implemented, got {mode!r}")
    return input.pad(pad, value)


# ---- attention and recurrent cells -----------------------------------------------------------
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """softmax(Q K^T / sqrt(E) + mask) V over shapes (..., L, E), (..., S, E), (..., S, Ev).

    attn_mask: a bool tensor (True = may attend) or a float tensor added to the scores,
    broadcastable to (..., L, S). is_causal: query i attends keys j <= i.
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        _check_float("scaled_dot_product_attention", name, t)
        if t.ndim < 2:
            raise ValueError(f"scaled_dot_product_attention: {name} must be at least 2-D (..., len, dim), "
                             f"got shape {t.shape}")
    _check_same_dtype("scaled_dot_product_attention", query, key, value)
    lead = query.shape[:-2]
    L, E = query.shape[-2:]
    S = key.shape[-2]
    if key.shape[:-2] != lead or value.shape[:-2] != lead or key.shape[-1] != E or value.shape[-2] != S:
        raise ValueError(f"scaled_dot_product_attention: shapes query {query.shape}, key {key.shape}, value "
                         f"{value.shape} do not fit (..., L, E), (..., S, E), (..., S, Ev)")
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: pass either attn_mask or is_causal=True, not both")
    if dropout_p:
        raise NotImplementedError("scaled_dot_product_attention: dropout_p > 0 is not implemented")
    if attn_mask is not None and attn_mask.array.dtype.kind not in "bf":
        raise TypeError(f"scaled_dot_product_attention: attn_mask must be bool (True = may attend) or float (added "
                        f"to the scores), got dtype {attn_mask.dtype}")
    if scale is None:  # with E = 0 every score q.k is an empty sum, 0, whatever the scale
        scale = 1.0 / math.sqrt(E) if E else 1.0
    scale = float(scale)
    batch = 1
    for s in lead:
        batch *= s
    mask = None
    if attn_mask is not None:
        mask = _additive_mask(attn_mask, lead + (L, S), query)
        mask = mask.reshape(-1, L, S) if mask.ndim > 2 else mask
    if S == 0:  # no keys: each softmax row is empty, and a weighted sum of no values is 0 (PyTorch's answer)
        return query @ key.transpose(-2, -1) @ value
    q, k, v = (t.reshape(batch, t.shape[-2], t.shape[-1]) for t in (query, key, value))
    out = attention.ScaledDotProductAttention.apply(q, k, v, scale=scale, causal=bool(is_causal), mask=mask)
    return out.reshape(lead + (L, value.shape[-1]))


def _additive_mask(attn_mask, full_shape, like):
    """A bool mask (True = attend) or a float mask, as an additive float array broadcast to full_shape."""
    from ..broadcast import broadcast_shape
    if broadcast_shape("scaled_dot_product_attention (attn_mask)", attn_mask.shape, full_shape) != full_shape:
        raise ValueError(f"scaled_dot_product_attention: attn_mask of shape {attn_mask.shape} does not broadcast to "
                         f"{full_shape}")
    xp = like._backend.xp
    m = attn_mask.array
    if m.dtype.kind == "b":
        m = xp.where(m, 0.0, -xp.inf)
    m = m.astype(like.array.dtype)
    target = full_shape if m.ndim > 2 else full_shape[-2:]
    return xp.array(xp.broadcast_to(m, target))  # a writable, contiguous copy (kernels take plain arrays)


def lstm_cell(input, hx, cx, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One LSTM step (PyTorch gate order i, f, g, o) -> (h', c')."""
    gates = linear(input, weight_ih, bias_ih) + linear(hx, weight_hh, bias_hh)
    hc = lstm.LSTMCell.apply(gates, cx)
    hidden = cx.shape[-1]
    return hc[..., :hidden], hc[..., hidden:]
