"""tg.nn.functional: every function's forward against a numpy computation of its definition,
its backward against finite differences (float64 `tg.gradcheck`), and its errors.

The numpy references below are written from the definitions (direct sums over windows,
the softmax formula, the LSTM gate equations step by step, ...), never by calling the
library, so a shared mistake cannot hide. Sizes are tiny: gradcheck runs two forward
passes per input element.
"""
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu.ops.lstm import LSTMLayer

from numpy_reference import lstm_step_ref, sigmoid_np, softmax_np
from strategies import away_from, dims_for, distinct_arrays, operand, shapes, smooth

pytestmark = pytest.mark.nn

RTOL, ATOL = 1e-9, 1e-11


# ---- helpers ---------------------------------------------------------------------------------
def leaf(a):
    """A fresh float64 leaf that requires grad."""
    return tg.tensor(np.array(a, dtype=np.float64), requires_grad=True)


def const(a, dtype=np.float64):
    return tg.tensor(np.array(a, dtype=dtype))


def close(out, expected, rtol=RTOL, atol=ATOL):
    expected = np.asarray(expected, dtype=np.float64)
    assert isinstance(out, tg.Tensor)
    assert out.shape == expected.shape, (out.shape, expected.shape)
    np.testing.assert_allclose(out.numpy(), expected, rtol=rtol, atol=atol)


def gradcheck(fn, *inputs, **kw):
    assert tg.gradcheck(fn, inputs, **kw) is True


def f64(draw, shape, lo=-2.0, hi=2.0):
    return draw(hnp.arrays(np.float64, shape, elements=smooth(lo, hi)))






def log_softmax_np(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


erf_np = np.vectorize(math.erf)


# ---- numpy references ------------------------------------------------------------------------
def conv2d_ref(x, w, b, stride, padding, dilation, groups):
    """out[n, o, y, x] = b[o] + sum over (c, i, j) of w[o, c, i, j] * xpad[n, g*cg + c, y*sh + i*dh, x*sw + j*dw]."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xpad = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xpad[:, :, ph:ph + h, pw:pw + wd] = x
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    og = o // groups
    out = np.zeros((n, o, oh, ow))
    for bn in range(n):
        for oc in range(o):
            g = oc // og
            for yy in range(oh):
                for xx in range(ow):
                    total = 0.0 if b is None else b[oc]
                    for ci in range(cg):
                        for i in range(kh):
                            for j in range(kw):
                                total += w[oc, ci, i, j] * xpad[bn, g * cg + ci, yy * sh + i * dh, xx * sw + j * dw]
                    out[bn, oc, yy, xx] = total
    return out


def pool_ref(x, kernel, stride, padding, kind):
    """Max (padding -inf) or mean (zero padding counted) over every window, one output pixel at a time."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    fill = -np.inf if kind == "max" else 0.0
    xpad = np.full((n, c, h + 2 * ph, w + 2 * pw), fill)
    xpad[:, :, ph:ph + h, pw:pw + w] = x
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    out = np.zeros((n, c, oh, ow))
    for yy in range(oh):
        for xx in range(ow):
            window = xpad[:, :, yy * sh:yy * sh + kh, xx * sw:xx * sw + kw]
            out[:, :, yy, xx] = window.max(axis=(2, 3)) if kind == "max" else window.sum(axis=(2, 3)) / (kh * kw)
    return out


def cross_entropy_ref(logits, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """PyTorch's definition: (1-eps) * (-log p[target]) + eps/C * sum_c (-log p[c]); 'mean' over non-ignored."""
    if logits.ndim == 1:
        logits, target = logits[None], np.reshape(target, (1,))
        squeeze = True
    else:
        squeeze = False
    c = logits.shape[1]
    rows = np.moveaxis(logits, 1, -1).reshape(-1, c)
    t = np.asarray(target).reshape(-1)
    logp = log_softmax_np(rows, axis=1)
    valid = t != ignore_index
    nll = np.array([-logp[i, t[i]] if valid[i] else 0.0 for i in range(len(t))])
    smooth_term = -logp.sum(axis=1) / c * valid
    per = (1 - label_smoothing) * nll + label_smoothing * smooth_term
    if reduction == "none":
        return per.reshape(()) if squeeze else per.reshape(np.shape(target))
    if reduction == "sum":
        return per.sum()
    return per.sum() / valid.sum()


def nll_ref(logp, target, ignore_index=-100, reduction="mean"):
    c = logp.shape[1]
    rows = np.moveaxis(logp, 1, -1).reshape(-1, c)
    t = target.reshape(-1)
    valid = t != ignore_index
    per = np.array([-rows[i, t[i]] if valid[i] else 0.0 for i in range(len(t))])
    if reduction == "none":
        return per.reshape(target.shape)
    return per.sum() if reduction == "sum" else per.sum() / valid.sum()


def reduce_ref(values, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](values)


def bce_logits_ref(x, t, weight=None, pos_weight=None):
    """-w [pw t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))], straight from the definition."""
    s = sigmoid_np(x)
    pw = 1.0 if pos_weight is None else pos_weight
    w = 1.0 if weight is None else weight
    return -w * (pw * t * np.log(s) + (1 - t) * np.log(1 - s))


def layer_norm_ref(x, nd, weight, bias, eps=1e-5):
    axes = tuple(range(x.ndim - nd, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def batch_norm_ref(x, mean, var, weight, bias, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def sdpa_ref(q, k, v, mask=None, is_causal=False, scale=None):
    """softmax(Q K^T * scale + mask) V, the mask additive (float) or True = may attend (bool)."""
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = np.matmul(q, np.swapaxes(k, -1, -2)) * scale
    if is_causal:
        L, S = scores.shape[-2:]
        scores = np.where(np.tril(np.ones((L, S), dtype=bool)), scores, -np.inf)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf) if mask.dtype == bool else scores + mask
    return np.matmul(softmax_np(scores, axis=-1), v)




# ---- linear and convolution ------------------------------------------------------------------
@st.composite
def conv_cases(draw):
    n = draw(st.integers(1, 2))
    c = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([g for g in (1, 2, 3) if c % g == 0]))
    o = groups * draw(st.integers(1, 2))
    h, w = draw(st.integers(3, 6)), draw(st.integers(3, 6))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    assume(h + 2 * padding[0] >= dilation[0] * (kh - 1) + 1 and w + 2 * padding[1] >= dilation[1] * (kw - 1) + 1)
    x = f64(draw, (n, c, h, w))
    weight = f64(draw, (o, c // groups, kh, kw))
    bias = f64(draw, (o,)) if draw(st.booleans()) else None
    as_int = draw(st.booleans()) and len({stride[0], stride[1]}) == 1 and padding[0] == padding[1] \
        and dilation[0] == dilation[1]
    return x, weight, bias, stride, padding, dilation, groups, as_int


@settings(max_examples=10)
@given(case=conv_cases())
def test_conv2d_forward_and_gradcheck(case):
    x, w, b, stride, padding, dilation, groups, as_int = case
    args = (stride[0], padding[0], dilation[0]) if as_int else (stride, padding, dilation)
    leaves = [leaf(x), leaf(w)] + ([] if b is None else [leaf(b)])

    def fn(*ts):
        return F.conv2d(ts[0], ts[1], ts[2] if len(ts) == 3 else None, *args, groups=groups)

    close(fn(*leaves), conv2d_ref(x, w, b, stride, padding, dilation, groups))
    gradcheck(fn, *leaves)


def test_conv2d_groups_equal_channels_is_depthwise():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 3, 4, 4)), rng.standard_normal((3, 1, 2, 2))
    out = F.conv2d(const(x), const(w), groups=3).numpy()
    for ch in range(3):  # each channel convolved on its own
        alone = F.conv2d(const(x[:, ch:ch + 1]), const(w[ch:ch + 1])).numpy()
        np.testing.assert_allclose(out[:, ch:ch + 1], alone, rtol=1e-12, atol=1e-12)


@st.composite
def pool_cases(draw):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(2, 5)), draw(st.integers(2, 5)))
    assume(shape[2] + 2 * padding[0] >= kernel[0] and shape[3] + 2 * padding[1] >= kernel[1])
    default_stride = draw(st.booleans())
    return shape, kernel, (kernel if default_stride else stride), padding, default_stride


@settings(max_examples=15)
@given(case=pool_cases(), data=st.data())
def test_max_pool2d_forward_and_gradcheck(case, data):
    shape, kernel, stride, padding, default_stride = case
    x = data.draw(distinct_arrays(shape))  # no ties: the max of every window is unique
    kw = dict(padding=padding) if default_stride else dict(stride=stride, padding=padding)

    def fn(t):
        return F.max_pool2d(t, kernel, **kw)

    close(fn(leaf(x)), pool_ref(x, kernel, stride, padding, "max"))
    gradcheck(fn, leaf(x))


@settings(max_examples=15)
@given(case=pool_cases(), data=st.data())
def test_avg_pool2d_forward_and_gradcheck(case, data):
    shape, kernel, stride, padding, default_stride = case
    x = f64(data.draw, shape)
    kw = dict(padding=padding) if default_stride else dict(stride=stride, padding=padding)

    def fn(t):
        return F.avg_pool2d(t, kernel, **kw)

    close(fn(leaf(x)), pool_ref(x, kernel, stride, padding, "avg"))
    gradcheck(fn, leaf(x))


def test_max_pool2d_gradient_goes_to_the_window_maximum_only():
    x = np.array([[[[1.0, 5.0], [3.0, 2.0]]]])
    t = leaf(x)
    F.max_pool2d(t, 2).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), (x == 5.0).astype(float))


@given(data=st.data())
def test_linear_broadcasts_batch_dims(data):
    batch = data.draw(shapes(0, 2))
    n_in, n_out = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    x = data.draw(operand(batch + (n_in,)))  # the input may be a non-contiguous view
    w = f64(data.draw, (n_out, n_in))
    b = f64(data.draw, (n_out,)) if data.draw(st.booleans()) else None
    leaves = [x.leaf(), leaf(w)] + ([] if b is None else [leaf(b)])

    def fn(xl, wl, bl=None):
        return F.linear(x.take(xl), wl, bl)

    expected = x.value() @ w.T + (0 if b is None else b)
    close(fn(*leaves), expected)
    gradcheck(fn, *leaves)


# ---- activations -----------------------------------------------------------------------------
ACTIVATIONS = {
    "relu": (F.relu, lambda x: np.maximum(x, 0), away_from((0.0,))),
    "gelu": (F.gelu, lambda x: x * 0.5 * (1 + erf_np(x / math.sqrt(2))), smooth(-4, 4)),
    "gelu_tanh": (lambda t: F.gelu(t, approximate="tanh"),
                  lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))), smooth(-4, 4)),
    "silu": (F.silu, lambda x: x * sigmoid_np(x), smooth(-4, 4)),
    "tanh": (F.tanh, np.tanh, smooth()),
    "sigmoid": (F.sigmoid, sigmoid_np, smooth(-4, 4)),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@given(data=st.data())
def test_activation_forward_and_gradcheck(name, data):
    fn, ref, elements = ACTIVATIONS[name]
    x = data.draw(operand(data.draw(shapes()), elements))
    close(fn(x.take(x.leaf())), ref(x.value()))
    gradcheck(lambda t: fn(x.take(t)), x.leaf())


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="gelu"):
        F.gelu(const([1.0]), approximate="fast")


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@given(data=st.data())
def test_softmax_family_any_dim(name, data):
    shape = data.draw(shapes())
    dim = data.draw(dims_for(shape, allow_none=False, allow_tuple=False))
    x = data.draw(operand(shape))
    fn = getattr(F, name)
    ref = softmax_np if name == "softmax" else log_softmax_np
    axis = dim % len(shape) if shape else None
    expected = ref(x.value(), axis) if shape else ref(x.value().reshape(1)).reshape(())
    out = fn(x.take(x.leaf()), dim)
    close(out, expected)
    if name == "softmax":
        np.testing.assert_allclose(out.numpy().sum(axis=axis), np.ones(np.shape(out.numpy().sum(axis=axis))))
    gradcheck(lambda t: fn(x.take(t), dim), x.leaf())


def test_softmax_family_is_stable_for_huge_logits():
    x = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4 + 1.0, -1e4 + 2.0], [1e4, 1e4, 1e4]])
    for dtype in (np.float32, np.float64):
        t = tg.tensor(x.astype(dtype), requires_grad=True)
        p = F.softmax(t, -1)
        lp = F.log_softmax(t, -1)
        assert np.isfinite(p.numpy()).all() and np.isfinite(lp.numpy()).all()
        # the shifted formula, written out: log p = (x - max) - log sum exp(x - max)
        shifted = x - x.max(axis=1, keepdims=True)
        expected_lp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        np.testing.assert_allclose(lp.numpy(), expected_lp, rtol=1e-6, atol=1e-3 if dtype == np.float32 else 1e-9)
        np.testing.assert_allclose(p.numpy(), np.exp(expected_lp), rtol=1e-6, atol=1e-7)
        (p * const(np.arange(9.0).reshape(3, 3), dtype)).sum().backward()
        assert np.isfinite(t.grad.numpy()).all()
        t.grad = None
        lp.sum().backward()
        assert np.isfinite(t.grad.numpy()).all()


# ---- losses ----------------------------------------------------------------------------------
@st.composite
def classification_cases(draw, allow_smoothing=True):
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    extra = draw(st.lists(st.integers(1, 2), max_size=2).map(tuple))
    ignore_index = draw(st.sampled_from([-100, 0, -1]))
    logits = f64(draw, (n, c) + extra, -3, 3)
    target = draw(hnp.arrays(np.int64, (n,) + extra, elements=st.integers(0, c - 1)))
    ignored = draw(hnp.arrays(np.bool_, target.shape))
    target = np.where(ignored, ignore_index, target).astype(np.int64)
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    if reduction == "mean":
        assume((target != ignore_index).any())  # PyTorch's mean over zero targets is nan
    smoothing = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0])) if allow_smoothing else 0.0
    return logits, target, ignore_index, reduction, smoothing


@settings(max_examples=30)
@given(case=classification_cases())
def test_cross_entropy_forward_and_gradcheck(case):
    logits, target, ignore_index, reduction, smoothing = case
    tgt = const(target, np.int64)

    def fn(t):
        return F.cross_entropy(t, tgt, ignore_index=ignore_index, reduction=reduction, label_smoothing=smoothing)

    close(fn(leaf(logits)), cross_entropy_ref(logits, target, ignore_index, reduction, smoothing))
    gradcheck(fn, leaf(logits))


def test_cross_entropy_single_unbatched_row():
    logits = np.array([0.3, -1.0, 2.0])
    for smoothing in (0.0, 0.2):
        out = F.cross_entropy(leaf(logits), const(2, np.int64), label_smoothing=smoothing)
        close(out, cross_entropy_ref(logits, np.array(2), label_smoothing=smoothing))
        gradcheck(lambda t: F.cross_entropy(t, const(2, np.int64), label_smoothing=smoothing), leaf(logits))


def test_cross_entropy_ignored_rows_get_no_gradient():
    logits = leaf(np.random.default_rng(1).standard_normal((4, 3)))
    F.cross_entropy(logits, const([0, -100, 2, -100], np.int64), label_smoothing=0.3).backward()
    g = logits.grad.numpy()
    assert np.all(g[[1, 3]] == 0) and np.all(g[[0, 2]] != 0)


def test_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, -1e4], [-1e4, -1e4, -1e4]])
    target = np.array([1, 1, 2])
    for smoothing in (0.0, 0.1):
        t = leaf(logits)
        out = F.cross_entropy(t, const(target, np.int64), reduction="none", label_smoothing=smoothing)
        assert np.isfinite(out.numpy()).all()
        # closed form: row 0 -log p[1] = 1e4, the smoothing term averages 0, 1e4, 2e4; row 1 is 0 and
        # 1e4, 2e4; row 2 is uniform: log 3
        expected = cross_entropy_ref(logits, target, reduction="none", label_smoothing=smoothing)
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
        np.testing.assert_allclose(expected, [(1 - smoothing) * 1e4 + smoothing * 1e4,
                                              smoothing * 1e4, math.log(3)], rtol=1e-12)
        out.sum().backward()
        assert np.isfinite(t.grad.numpy()).all()


@settings(max_examples=20)
@given(case=classification_cases(allow_smoothing=False))
def test_nll_loss_forward_and_gradcheck(case):
    logp, target, ignore_index, reduction, _ = case
    tgt = const(target, np.int64)

    def fn(t):
        return F.nll_loss(t, tgt, ignore_index=ignore_index, reduction=reduction)

    close(fn(leaf(logp)), nll_ref(logp, target, ignore_index, reduction))
    gradcheck(fn, leaf(logp))


def test_nll_loss_of_log_softmax_is_cross_entropy():
    rng = np.random.default_rng(2)
    logits, target = rng.standard_normal((4, 5)), const([0, 4, 2, 2], np.int64)
    a = F.nll_loss(F.log_softmax(const(logits), 1), target)
    b = F.cross_entropy(const(logits), target)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
@given(data=st.data())
def test_regression_losses(name, data):
    shape = data.draw(shapes())
    x = f64(data.draw, shape)
    y = data.draw(hnp.arrays(np.float64, shape, elements=smooth()))
    if name == "l1_loss":  # keep away from the kink of |x - y|
        y = x + data.draw(hnp.arrays(np.float64, shape, elements=away_from((0.0,), 0.1)))
    reduction = data.draw(st.sampled_from(["mean", "sum", "none"]))
    diff = x - y
    expected = reduce_ref(diff ** 2 if name == "mse_loss" else np.abs(diff), reduction)
    fn = getattr(F, name)
    close(fn(leaf(x), leaf(y), reduction=reduction), expected)
    gradcheck(lambda a, b: fn(a, b, reduction=reduction), leaf(x), leaf(y))


@given(data=st.data())
def test_binary_cross_entropy_with_logits(data):
    shape = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    x = f64(data.draw, shape, -3, 3)
    t = data.draw(hnp.arrays(np.float64, shape, elements=smooth(0.0, 1.0)))
    pos_weight = data.draw(st.none() | hnp.arrays(np.float64, (shape[1],), elements=smooth(0.2, 3.0)))
    weight = data.draw(st.none() | hnp.arrays(np.float64, data.draw(st.sampled_from([shape, (shape[1],)])),
                                               elements=smooth(0.2, 2.0)))
    reduction = data.draw(st.sampled_from(["mean", "sum", "none"]))
    pw = None if pos_weight is None else const(pos_weight)
    expected = reduce_ref(bce_logits_ref(x, t, weight, pos_weight), reduction)
    leaves = [leaf(x), leaf(t)] + ([] if weight is None else [leaf(weight)])

    def fn(xl, tl, wl=None):
        return F.binary_cross_entropy_with_logits(xl, tl, weight=wl, reduction=reduction, pos_weight=pw)

    close(fn(*leaves), expected)
    gradcheck(fn, *leaves)  # through the logits, the (soft) targets and the weight


def test_binary_cross_entropy_with_logits_is_stable_for_huge_logits():
    x = np.array([1e4, -1e4, 1e4, -1e4, 50.0])
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    out = F.binary_cross_entropy_with_logits(leaf(x), const(t), reduction="none")
    # the right label at huge confidence costs ~0; the wrong one costs |x|
    np.testing.assert_allclose(out.numpy(), [0.0, 0.0, 1e4, 1e4, math.log1p(math.exp(-50.0))], rtol=1e-12,
                               atol=1e-300)


# ---- normalisation ---------------------------------------------------------------------------
@settings(max_examples=20)
@given(data=st.data())
def test_layer_norm_forward_and_gradcheck(data):
    norm_shape = data.draw(shapes(1, 2))
    batch = data.draw(shapes(0, 2))
    x = data.draw(distinct_arrays(batch + norm_shape))  # every group has a clear spread
    affine = data.draw(st.sampled_from(["none", "weight", "both", "bias"]))
    w = f64(data.draw, norm_shape) if affine in ("weight", "both") else None
    b = f64(data.draw, norm_shape) if affine in ("bias", "both") else None
    as_int = len(norm_shape) == 1 and data.draw(st.booleans())
    ns = norm_shape[0] if as_int else norm_shape
    names = ["x"] + [n for n, a in (("w", w), ("b", b)) if a is not None]
    leaves = [leaf(x)] + [leaf(a) for a in (w, b) if a is not None]

    def fn(*ts):
        kw = dict(zip(names, ts))
        return F.layer_norm(kw["x"], ns, kw.get("w"), kw.get("b"))

    out = fn(*leaves)
    close(out, layer_norm_ref(x, len(norm_shape), w, b), rtol=1e-9, atol=1e-10)
    gradcheck(fn, *leaves)


def _bn_shape(data):
    n, c = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    spatial = data.draw(st.sampled_from([(), (2,), (2, 2), (1, 3)]))
    assume(n * int(np.prod(spatial, dtype=int)) > 1)
    return (n, c) + spatial


@settings(max_examples=20)
@given(data=st.data())
def test_batch_norm_training_forward_and_gradcheck(data):
    shape = _bn_shape(data)
    c = shape[1]
    x = data.draw(distinct_arrays(shape))
    w = f64(data.draw, (c,)) if data.draw(st.booleans()) else None
    b = f64(data.draw, (c,)) if data.draw(st.booleans()) else None
    names = ["x"] + [n for n, a in (("w", w), ("b", b)) if a is not None]
    leaves = [leaf(x)] + [leaf(a) for a in (w, b) if a is not None]

    def fn(*ts):
        kw = dict(zip(names, ts))
        return F.batch_norm(kw["x"], None, None, kw.get("w"), kw.get("b"), training=True)

    axes = (0,) + tuple(range(2, x.ndim))
    close(fn(*leaves), batch_norm_ref(x, x.mean(axis=axes), x.var(axis=axes), w, b), rtol=1e-9, atol=1e-10)
    gradcheck(fn, *leaves)


@settings(max_examples=15)
@given(data=st.data())
def test_batch_norm_eval_uses_running_stats(data):
    shape = _bn_shape(data)
    c = shape[1]
    x = f64(data.draw, shape)
    rm = f64(data.draw, (c,))
    rv = data.draw(hnp.arrays(np.float64, (c,), elements=smooth(0.3, 2.0)))
    w, b = f64(data.draw, (c,)), f64(data.draw, (c,))
    rm_t, rv_t = const(rm), const(rv)

    def fn(xl, wl, bl):
        return F.batch_norm(xl, rm_t, rv_t, wl, bl, training=False)

    close(fn(leaf(x), leaf(w), leaf(b)), batch_norm_ref(x, rm, rv, w, b))
    gradcheck(fn, leaf(x), leaf(w), leaf(b))
    np.testing.assert_array_equal(rm_t.numpy(), rm)  # eval never touches the running stats
    np.testing.assert_array_equal(rv_t.numpy(), rv)


def test_batch_norm_updates_running_stats_like_pytorch():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 2)) * 2 + 1
    rm0, rv0 = rng.standard_normal(3), rng.uniform(0.5, 2.0, 3)
    rm, rv = const(rm0), const(rv0)
    momentum = 0.3
    F.batch_norm(const(x), rm, rv, training=True, momentum=momentum)
    batch_mean = x.mean(axis=(0, 2))
    batch_var_unbiased = x.var(axis=(0, 2), ddof=1)  # PyTorch keeps the unbiased variance in running_var
    np.testing.assert_allclose(rm.numpy(), (1 - momentum) * rm0 + momentum * batch_mean, rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), (1 - momentum) * rv0 + momentum * batch_var_unbiased, rtol=1e-12)


def test_batch_norm_rejects_one_value_per_channel_in_training():
    with pytest.raises(ValueError, match="batch_norm"):
        F.batch_norm(const(np.ones((1, 3))), None, None, training=True)


# ---- dropout, embedding, one_hot -------------------------------------------------------------
@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_training_zeroes_about_p_and_rescales(p):
    tg.manual_seed(0)
    x = np.random.default_rng(4).uniform(1.0, 2.0, (200, 100))
    out = F.dropout(const(x), p, training=True).numpy()
    dropped = out == 0
    n = dropped.size
    assert abs(dropped.mean() - p) < 4 * math.sqrt(p * (1 - p) / n)  # 4 standard deviations
    np.testing.assert_allclose(out[~dropped], x[~dropped] / (1 - p), rtol=1e-12)


def test_dropout_eval_and_edge_probabilities():
    x = const(np.random.default_rng(5).uniform(1.0, 2.0, (5, 4)))
    np.testing.assert_array_equal(F.dropout(x, 0.5, training=False).numpy(), x.numpy())
    np.testing.assert_array_equal(F.dropout(x, 0.0, training=True).numpy(), x.numpy())
    np.testing.assert_array_equal(F.dropout(x, 1.0, training=True).numpy(), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="dropout"):
        F.dropout(x, 1.5)


def test_dropout_masks_are_reproducible_with_manual_seed():
    x = const(np.ones((8, 16)))
    tg.manual_seed(123)
    a = F.dropout(x, 0.5).numpy()
    b = F.dropout(x, 0.5).numpy()
    tg.manual_seed(123)
    a2 = F.dropout(x, 0.5).numpy()
    b2 = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_array_equal(b, b2)
    assert not np.array_equal(a, b)  # successive masks differ


def test_dropout_gradient_uses_the_same_mask():
    tg.manual_seed(7)
    x = leaf(np.random.default_rng(6).uniform(1.0, 2.0, (6, 6)))
    out = F.dropout(x, 0.4)
    out.sum().backward()
    kept = out.numpy() != 0
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.6, rtol=1e-12)


@given(data=st.data())
def test_embedding_forward_and_gradcheck(data):
    num, dim = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 3))
    idx = data.draw(hnp.arrays(np.int64, data.draw(shapes(0, 2)), elements=st.integers(0, num - 1)))
    w = f64(data.draw, (num, dim))
    idx_t = const(idx, np.int64)
    close(F.embedding(idx_t, leaf(w)), w[idx])
    gradcheck(lambda t: F.embedding(idx_t, t), leaf(w))


def test_embedding_repeated_indices_accumulate():
    w = leaf(np.arange(8.0).reshape(4, 2))
    F.embedding(const([[1, 3, 1], [1, 0, 3]], np.int64), w).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.array([[1, 1], [3, 3], [0, 0], [2, 2]], dtype=float))


@given(idx=hnp.arrays(np.int64, shapes(0, 3), elements=st.integers(0, 4)), extra=st.integers(0, 2))
def test_one_hot(idx, extra):
    out = F.one_hot(const(idx, np.int64), 5 + extra)
    assert out.dtype == tg.int64 and out.shape == idx.shape + (5 + extra,)
    np.testing.assert_array_equal(out.numpy(), np.eye(5 + extra, dtype=np.int64)[idx])
    if idx.size:
        inferred = F.one_hot(const(idx, np.int64))
        assert inferred.shape == idx.shape + (int(idx.max()) + 1,)
        np.testing.assert_array_equal(inferred.numpy(), np.eye(int(idx.max()) + 1, dtype=np.int64)[idx])


def test_one_hot_errors():
    with pytest.raises(IndexError, match="one_hot"):
        F.one_hot(const([0, 3], np.int64), 3)
    with pytest.raises(TypeError, match="one_hot"):
        F.one_hot(const([0.0, 1.0]), 3)


@given(data=st.data())
def test_pad_constant(data):
    shape = data.draw(shapes(1, 3))
    pads = data.draw(st.lists(st.integers(0, 2), min_size=2, max_size=2 * len(shape)).filter(lambda p: len(p) % 2 == 0))
    value = data.draw(smooth())
    x = f64(data.draw, shape)
    width = [(0, 0)] * len(shape)
    for i in range(len(pads) // 2):
        width[len(shape) - 1 - i] = (pads[2 * i], pads[2 * i + 1])
    close(F.pad(leaf(x), pads, value=value), np.pad(x, width, constant_values=value))
    gradcheck(lambda t: F.pad(t, pads, value=value), leaf(x))


# ---- attention -------------------------------------------------------------------------------
@st.composite
def attention_cases(draw):
    lead = draw(shapes(0, 2, 1, 2))
    L, S, E, Ev = (draw(st.integers(1, 3)) for _ in range(4))
    q, k, v = f64(draw, lead + (L, E)), f64(draw, lead + (S, E)), f64(draw, lead + (S, Ev))
    kind = draw(st.sampled_from(["none", "bool", "float", "causal"]))
    mask = None
    if kind in ("bool", "float"):
        drop = draw(st.integers(0, len(lead)))
        mshape = tuple(1 if draw(st.booleans()) else s for s in lead[drop:]) + (L, S)
        if kind == "float":
            mask = f64(draw, mshape)
        else:
            mask = draw(hnp.arrays(np.bool_, mshape))
            col = draw(st.integers(0, S - 1))  # no fully masked row (PyTorch gives nan there)
            mask = mask | (~mask.any(axis=-1, keepdims=True) & (np.arange(S) == col))
    scale = draw(st.none() | smooth(0.2, 1.5))
    return q, k, v, mask, kind == "causal", scale


@settings(max_examples=20)
@given(case=attention_cases())
def test_scaled_dot_product_attention_forward_and_gradcheck(case):
    q, k, v, mask, causal, scale = case
    m = None if mask is None else const(mask, mask.dtype)

    def fn(ql, kl, vl):
        return F.scaled_dot_product_attention(ql, kl, vl, attn_mask=m, is_causal=causal, scale=scale)

    close(fn(leaf(q), leaf(k), leaf(v)), sdpa_ref(q, k, v, mask, causal, scale))
    gradcheck(fn, leaf(q), leaf(k), leaf(v))


def test_scaled_dot_product_attention_causal_row_zero_sees_only_key_zero():
    rng = np.random.default_rng(8)
    q, k, v = rng.standard_normal((4, 2)), rng.standard_normal((4, 2)), rng.standard_normal((4, 3))
    out = F.scaled_dot_product_attention(const(q), const(k), const(v), is_causal=True).numpy()
    np.testing.assert_allclose(out[0], v[0], rtol=1e-12)


# ---- recurrent -------------------------------------------------------------------------------
@settings(max_examples=15)
@given(data=st.data())
def test_lstm_cell_forward_and_gradcheck(data):
    B, I, H = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3)), data.draw(st.integers(1, 2))
    arrays = [f64(data.draw, s) for s in [(B, I), (B, H), (B, H), (4 * H, I), (4 * H, H)]]
    bias = data.draw(st.booleans())
    if bias:
        arrays += [f64(data.draw, (4 * H,)), f64(data.draw, (4 * H,))]

    def fn(*ts):
        h, c = F.lstm_cell(*ts)
        return tg.cat([h, c], dim=-1)

    full = arrays if bias else arrays + [None, None]
    h_ref, c_ref = lstm_step_ref(*full)
    h, c = F.lstm_cell(*[leaf(a) for a in arrays])
    close(h, h_ref)
    close(c, c_ref)
    gradcheck(fn, *[leaf(a) for a in arrays])


@settings(max_examples=10)
@given(data=st.data())
def test_lstm_layer_op_forward_and_gradcheck(data):
    T, B, I, H = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)),
                  data.draw(st.integers(1, 2)))
    arrays = [f64(data.draw, s) for s in [(T, B, I), (B, H), (B, H), (4 * H, I), (4 * H, H)]]
    bias = data.draw(st.booleans())
    if bias:
        arrays += [f64(data.draw, (4 * H,)), f64(data.draw, (4 * H,))]
    x, h, c = arrays[:3]
    params = arrays[3:] if bias else arrays[3:] + [None, None]
    expected = []
    for t in range(T):  # the gate equations, one step at a time
        h, c = lstm_step_ref(x[t], h, c, *params)
        expected.append(np.concatenate([h, c], axis=-1))
    close(LSTMLayer.apply(*[leaf(a) for a in arrays]), np.stack(expected))
    gradcheck(LSTMLayer.apply, *[leaf(a) for a in arrays])


# ---- errors ----------------------------------------------------------------------------------
def _message(excinfo):
    return str(excinfo.value)


def test_conv2d_channel_mismatch():
    with pytest.raises(ValueError, match="conv2d") as e:
        F.conv2d(const(np.zeros((1, 3, 5, 5))), const(np.zeros((4, 2, 3, 3))))
    assert "(4, 2, 3, 3)" in _message(e) and "3 channels" in _message(e)


def test_conv2d_kernel_larger_than_input():
    with pytest.raises(ValueError, match="conv2d"):
        F.conv2d(const(np.zeros((1, 1, 2, 2))), const(np.zeros((1, 1, 3, 3))))


def test_linear_shape_mismatch():
    with pytest.raises(ValueError, match="linear") as e:
        F.linear(const(np.zeros((2, 3))), const(np.zeros((4, 5))))
    assert "(2, 3)" in _message(e) and "(4, 5)" in _message(e)


def test_cross_entropy_target_out_of_range():
    with pytest.raises(IndexError, match="cross_entropy") as e:
        F.cross_entropy(const(np.zeros((2, 3))), const([0, 3], np.int64))
    assert "target value 3" in _message(e) and "(2, 3)" in _message(e)
    with pytest.raises(IndexError, match="cross_entropy"):
        F.cross_entropy(const(np.zeros((2, 3))), const([-1, 0], np.int64))
    with pytest.raises(IndexError, match="nll_loss") as e:
        F.nll_loss(const(np.zeros((2, 3, 2))), const([[0, 1], [5, 2]], np.int64))
    assert "target value 5" in _message(e) and "(2, 3, 2)" in _message(e)


def test_cross_entropy_float_targets():
    with pytest.raises(TypeError, match="cross_entropy") as e:
        F.cross_entropy(const(np.zeros((2, 3))), const([0.0, 1.0]))
    assert "float64" in _message(e)


def test_cross_entropy_target_shape_mismatch():
    with pytest.raises(ValueError, match="cross_entropy") as e:
        F.cross_entropy(const(np.zeros((2, 3))), const([0, 1, 2], np.int64))
    assert "(2, 3)" in _message(e) and "(3,)" in _message(e)


def test_mse_loss_shape_mismatch():
    with pytest.raises(ValueError, match="mse_loss") as e:
        F.mse_loss(const(np.zeros((3, 1))), const(np.zeros((3,))))
    assert "(3, 1)" in _message(e) and "(3,)" in _message(e)


def test_layer_norm_wrong_normalized_shape():
    with pytest.raises(ValueError, match="layer_norm") as e:
        F.layer_norm(const(np.zeros((2, 3, 4))), (3,))
    assert "(2, 3, 4)" in _message(e) and "(3,)" in _message(e)


def test_sdpa_shape_mismatch():
    with pytest.raises(ValueError, match="scaled_dot_product_attention") as e:
        F.scaled_dot_product_attention(const(np.zeros((2, 3, 4))), const(np.zeros((2, 5, 3))),
                                       const(np.zeros((2, 5, 4))))
    assert "(2, 3, 4)" in _message(e) and "(2, 5, 3)" in _message(e)


def test_sdpa_mask_that_does_not_broadcast():
    q = const(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="attn_mask"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=const(np.zeros((3, 3, 3))))


def test_embedding_index_out_of_range():
    with pytest.raises(IndexError, match="embedding") as e:
        F.embedding(const([0, 7], np.int64), const(np.zeros((4, 2))))
    assert "index 7" in _message(e) and "(2,)" in _message(e) and "(4, 2)" in _message(e)
    with pytest.raises(TypeError, match="embedding"):
        F.embedding(const([0.0, 1.0]), const(np.zeros((4, 2))))


def test_losses_reject_unknown_reduction():
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(const([1.0]), const([2.0]), reduction="avg")
