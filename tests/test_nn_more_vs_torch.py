"""The wider tg.nn against PyTorch (float64): LeakyReLU/ELU/Softplus, the in-place activations and dropout,
BCELoss/SmoothL1Loss/HuberLoss/KLDivLoss/L1Loss, Conv1d, ConvTranspose2d, Dropout2d, BatchNorm1d on (N, C) and
(N, C, L), and the added nn.init functions.

Each module gets the same inputs and weights as its torch twin (weights copied across by name) and must give
the same outputs, input gradients and parameter gradients (backward from one random projection). Each new
differentiable op also passes a float64 `tg.gradcheck` over hypothesis-drawn shapes, with values kept off
its kinks. Bad arguments must raise clear errors.
"""
import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tinygrad_edu as tg
import tinygrad_edu.nn as nn
import tinygrad_edu.nn.functional as F
from tinygrad_edu.nn import init

from strategies import arrays, away_from, shapes, smooth

torch = pytest.importorskip("torch", exc_type=ImportError,
                            reason="PyTorch is not installed (or fails to import); the comparisons are skipped")
TF = torch.nn.functional

pytestmark = pytest.mark.nn

RTOL, ATOL = 1e-10, 1e-12


# ---- helpers ---------------------------------------------------------------------------------
def tg_leaf(a):
    return tg.tensor(np.array(a, dtype=np.float64), requires_grad=True)


def t_leaf(a):
    return torch.tensor(np.array(a, dtype=np.float64), requires_grad=True)


def close(ours, theirs, rtol=RTOL, atol=ATOL, msg=""):
    a = ours.numpy() if isinstance(ours, tg.Tensor) else np.asarray(ours)
    b = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert a.shape == b.shape, (msg, a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=msg)


def backward_both(out, t_out, seed=0):
    v = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(tg.tensor(v))
    t_out.backward(torch.from_numpy(v))


def module_pair(ours, theirs):
    """float64 copies with our parameters and buffers copied into torch's, by name."""
    ours, theirs = ours.double(), theirs.double()
    t_params = dict(theirs.named_parameters())
    assert sorted(t_params) == sorted(n for n, _ in ours.named_parameters()), "parameter names differ from PyTorch"
    with torch.no_grad():
        for name, p in ours.named_parameters():
            assert tuple(t_params[name].shape) == p.shape, (name, p.shape, tuple(t_params[name].shape))
            t_params[name].copy_(torch.from_numpy(p.numpy()))
        t_buffers = dict(theirs.named_buffers())
        for name, b in ours.named_buffers():
            t_buffers[name].copy_(torch.from_numpy(b.numpy()))
    return ours, theirs


def check_module(ours, theirs, *inputs, seed=0, **kwargs):
    """Forward, input grads and parameter grads of one module pair on the same inputs."""
    ours, theirs = module_pair(ours, theirs)
    xs, txs = [tg_leaf(a) for a in inputs], [t_leaf(a) for a in inputs]
    out, t_out = ours(*xs, **kwargs), theirs(*txs, **kwargs)
    close(out, t_out, msg="forward")
    backward_both(out, t_out, seed)
    t_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        close(p.grad, t_params[name].grad, 1e-9, 1e-11, msg=f"grad of {name}")
    for i, (x, tx) in enumerate(zip(xs, txs)):
        close(x.grad, tx.grad, 1e-9, 1e-11, msg=f"grad of input {i}")
    return ours, theirs


def check_function(ours, theirs, *arrays_, grad_inputs=None, seed=0):
    """ours(*tg leaves) against theirs(*torch leaves): value, then the gradient of every input in grad_inputs."""
    grad_inputs = range(len(arrays_)) if grad_inputs is None else grad_inputs
    xs = [tg_leaf(a) if i in grad_inputs else tg.tensor(np.array(a, dtype=np.float64)) for i, a in enumerate(arrays_)]
    txs = [t_leaf(a) if i in grad_inputs else torch.tensor(np.array(a, dtype=np.float64))
           for i, a in enumerate(arrays_)]
    out, t_out = ours(*xs), theirs(*txs)
    close(out, t_out, msg="forward")
    backward_both(out, t_out, seed)
    for i in grad_inputs:
        close(xs[i].grad, txs[i].grad, 1e-9, 1e-11, msg=f"grad of input {i}")


def gradcheck(fn, *arrays_, **kwargs):
    assert tg.gradcheck(fn, tuple(tg_leaf(a) for a in arrays_), **kwargs)


# ---- activations -----------------------------------------------------------------------------
ACTIVATIONS = [
    ("LeakyReLU", (), lambda t: F.leaky_relu(t), lambda t: TF.leaky_relu(t)),
    ("LeakyReLU", (0.2,), lambda t: F.leaky_relu(t, 0.2), lambda t: TF.leaky_relu(t, 0.2)),
    ("LeakyReLU", (-1.5,), lambda t: F.leaky_relu(t, negative_slope=-1.5), lambda t: TF.leaky_relu(t, -1.5)),
    ("ELU", (), lambda t: F.elu(t), lambda t: TF.elu(t)),
    ("ELU", (0.4,), lambda t: F.elu(t, 0.4), lambda t: TF.elu(t, 0.4)),
    ("Softplus", (), lambda t: F.softplus(t), lambda t: TF.softplus(t)),
    ("Softplus", (2.0, 3.0), lambda t: F.softplus(t, beta=2.0, threshold=3.0), lambda t: TF.softplus(t, 2.0, 3.0)),
    ("Softplus", (-0.5,), lambda t: F.softplus(t, -0.5), lambda t: TF.softplus(t, -0.5)),
]


@pytest.mark.parametrize("name, args, ours, theirs", ACTIVATIONS)
def test_activation_modules_and_functions_match_torch(name, args, ours, theirs):
    # wide values (e^-40 tails, the softplus threshold crossed), none at the kink x = 0
    x = np.concatenate([np.linspace(-40, -0.05, 9), np.linspace(0.05, 40, 9), [-3.2, 1.7, 9.99]]).reshape(3, 7)
    check_module(getattr(nn, name)(*args), getattr(torch.nn, name)(*args), x)
    check_function(ours, theirs, x)
    assert repr(getattr(nn, name)(*args)) == repr(getattr(torch.nn, name)(*args))


@pytest.mark.parametrize("name, args, ours, theirs", ACTIVATIONS)
def test_activation_gradient_at_zero_is_torchs(name, args, ours, theirs):
    check_function(ours, theirs, np.zeros(3))


@pytest.mark.gradcheck
@settings(max_examples=15)
@given(x=shapes().flatmap(lambda s: arrays(s, away_from((0.0, 2.5, -2.5), 0.05, -4.0, 4.0))),
       slope=smooth(-2.0, 2.0), alpha=smooth(0.1, 2.0), beta=st.sampled_from([0.5, 1.0, 2.0, -1.0]))
def test_activation_gradcheck(x, slope, alpha, beta):
    gradcheck(lambda t: F.leaky_relu(t, slope), x)
    gradcheck(lambda t: F.elu(t, alpha), x)
    gradcheck(lambda t: F.softplus(t, beta, threshold=5.0), x)     # beta * x = 5 is at least 0.025 away


def test_activations_keep_float32_and_refuse_integers():
    x = tg.tensor([-1.0, 0.5, 30.0])
    for fn in (F.leaky_relu, F.elu, F.softplus):
        assert fn(x).dtype == tg.float32
        with pytest.raises(TypeError, match=f"{fn.__name__}: input must be a floating-point tensor"):
            fn(tg.tensor([1, 2]))


@pytest.mark.parametrize("name, args", [("ReLU", ()), ("LeakyReLU", (0.3,)), ("ELU", (0.7,)),
                                        ("Dropout", (0.0,))])
def test_inplace_activations_change_their_input_and_keep_torchs_gradients(name, args):
    x = np.linspace(-2, 2, 12).reshape(3, 4) + 0.01
    a, ta = tg_leaf(x), t_leaf(x)
    h, th = a * 1.5, ta * 1.5                                   # non-leaf: may be changed in place
    out = getattr(nn, name)(*args, inplace=True)(h)
    t_out = getattr(torch.nn, name)(*args, inplace=True)(th)
    assert out is h or name == "Dropout"                        # dropout with p = 0 returns its input unchanged
    close(h, th)
    backward_both((out * out).sum(), (t_out * t_out).sum())
    close(a.grad, ta.grad)


def test_inplace_functions_match_torch_and_refuse_leaves_that_require_grad():
    x = np.array([-1.0, -0.2, 0.3, 2.0])
    for ours, theirs in [(F.relu_, TF.relu_), (lambda t: F.leaky_relu_(t, 0.1), lambda t: TF.leaky_relu_(t, 0.1)),
                         (lambda t: F.elu_(t, 0.5), lambda t: TF.elu_(t, 0.5))]:
        a, ta = tg_leaf(x), t_leaf(x)
        h, th = a + 0.0, ta + 0.0
        assert ours(h) is h
        theirs(th)
        close(h, th)
        backward_both(h, th)
        close(a.grad, ta.grad)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        F.relu(tg_leaf(x), inplace=True)
    ints = tg.tensor([1, -2])
    assert F.relu(ints, inplace=True) is ints and ints.tolist() == [1, 0]
    assert repr(nn.ReLU(inplace=True)) == repr(torch.nn.ReLU(inplace=True)) and repr(nn.ReLU()) == "ReLU()"


# ---- losses ----------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weight_shape", [None, (4,), (3, 4)])
def test_bce_loss_matches_torch(reduction, weight_shape):
    rng = np.random.default_rng(1)
    x = rng.uniform(0.02, 0.98, (3, 4))
    x[0, :2] = 0.0, 1.0                                         # saturated probabilities: logs clamped at -100
    t = rng.uniform(0, 1, (3, 4))
    w = None if weight_shape is None else rng.uniform(0.5, 2, weight_shape)
    ours = nn.BCELoss(None if w is None else tg.tensor(w), reduction=reduction)
    theirs = torch.nn.BCELoss(None if w is None else torch.tensor(w), reduction=reduction)
    check_function(ours, theirs, x, t)                          # gradients of input and target (+-inf at 0 and 1)
    check_function(lambda a, b: F.binary_cross_entropy(a, b, None if w is None else tg.tensor(w), reduction),
                   lambda a, b: TF.binary_cross_entropy(a, b, None if w is None else torch.tensor(w),
                                                        reduction=reduction), x, t, grad_inputs=[0])
    if w is not None:
        assert [n for n, _ in ours.named_buffers()] == ["weight"]


@pytest.mark.gradcheck
@settings(max_examples=15)
@given(data=st.data(), shape=shapes(max_rank=3))
def test_bce_gradcheck(data, shape):
    x = data.draw(arrays(shape, smooth(0.05, 0.95)))
    t = data.draw(arrays(shape, smooth(0.0, 1.0)))
    gradcheck(lambda a, b: F.binary_cross_entropy(a, b, reduction="none"), x, t)


@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0, 0.0])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_smooth_l1_loss_matches_torch(beta, reduction):
    rng = np.random.default_rng(2)
    x, t = rng.standard_normal((4, 5)) * 2, rng.standard_normal((4, 5))
    check_function(nn.SmoothL1Loss(reduction=reduction, beta=beta),
                   torch.nn.SmoothL1Loss(reduction=reduction, beta=beta), x, t)
    check_function(lambda a, b: F.smooth_l1_loss(a, b, reduction, beta),
                   lambda a, b: TF.smooth_l1_loss(a, b, reduction=reduction, beta=beta), x, t)


@pytest.mark.parametrize("delta", [1.0, 0.3, 2.5])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_huber_loss_matches_torch(delta, reduction):
    rng = np.random.default_rng(3)
    x, t, w = rng.standard_normal((4, 5)) * 2, rng.standard_normal((4, 5)), rng.uniform(0, 2, (4, 5))
    check_function(nn.HuberLoss(reduction=reduction, delta=delta),
                   torch.nn.HuberLoss(reduction=reduction, delta=delta), x, t)
    check_function(lambda a, b: F.huber_loss(a, b, reduction, delta, weight=tg.tensor(w)),
                   lambda a, b: TF.huber_loss(a, b, reduction=reduction, delta=delta, weight=torch.tensor(w)), x, t)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_l1_loss_module_matches_torch(reduction):
    rng = np.random.default_rng(4)
    check_function(nn.L1Loss(reduction), torch.nn.L1Loss(reduction=reduction),
                   rng.standard_normal((3, 4)), rng.standard_normal((3, 4)))


@pytest.mark.gradcheck
@settings(max_examples=15)
@given(data=st.data(), shape=shapes(max_rank=3), beta=st.sampled_from([0.5, 1.0, 0.0]))
def test_smooth_l1_and_huber_gradcheck(data, shape, beta):
    t = data.draw(arrays(shape, smooth(-1.0, 1.0)))
    # |input - target| kept off 0 (L1's kink, beta = 0) and off beta (where the second derivative jumps)
    d = data.draw(arrays(shape, away_from((0.0, 0.5, -0.5, 1.0, -1.0), 0.05, -2.0, 2.0)))
    gradcheck(lambda a, b: F.smooth_l1_loss(a, b, "none", beta), t + d, t)
    gradcheck(lambda a, b: F.huber_loss(a, b, "sum", delta=beta or 1.0), t + d, t)


@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum", "none"])
def test_kl_div_matches_torch(reduction, log_target):
    rng = np.random.default_rng(5)
    log_q = np.log(rng.dirichlet(np.ones(4), 3))
    p = rng.dirichlet(np.ones(4), 3)
    target = np.log(p) if log_target else p
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                         # 'mean' warns, in both libraries
        check_function(nn.KLDivLoss(reduction=reduction, log_target=log_target),
                       torch.nn.KLDivLoss(reduction=reduction, log_target=log_target), log_q, target)
        check_function(lambda a, b: F.kl_div(a, b, reduction, log_target),
                       lambda a, b: TF.kl_div(a, b, reduction=reduction, log_target=log_target), log_q, target)


def test_kl_div_zero_targets_batchmean_of_a_scalar_and_warnings():
    log_q = np.log(np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]))
    p = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])              # 0 log 0 = 0
    check_function(lambda a, b: F.kl_div(a, b, "batchmean"), lambda a, b: TF.kl_div(a, b, reduction="batchmean"),
                   log_q, p, grad_inputs=[0])
    check_function(lambda a, b: F.kl_div(a, b, "batchmean"), lambda a, b: TF.kl_div(a, b, reduction="batchmean"),
                   np.array(-1.0), np.array(0.5))                 # a 0-d input: batchmean is the sum
    x, t = tg.tensor(log_q), tg.tensor(p)
    with pytest.warns(UserWarning, match="'batchmean'"):
        F.kl_div(x, t)
    with pytest.warns(UserWarning, match="'batchmean'"):
        TF.kl_div(torch.tensor(log_q), torch.tensor(p))          # PyTorch warns about 'mean' too
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for reduction in ("batchmean", "sum", "none"):
            F.kl_div(x, t, reduction=reduction)
            nn.KLDivLoss(reduction=reduction)(x, t)


@pytest.mark.gradcheck
@settings(max_examples=15)
@given(data=st.data(), shape=shapes(max_rank=3), log_target=st.booleans(),
       reduction=st.sampled_from(["sum", "batchmean", "none"]))
def test_kl_div_gradcheck(data, shape, log_target, reduction):
    x = data.draw(arrays(shape, smooth(-3.0, 0.0)))
    t = data.draw(arrays(shape, smooth(-3.0, 0.0) if log_target else smooth(0.05, 1.0)))
    gradcheck(lambda a, b: F.kl_div(a, b, reduction, log_target), x, t)


def test_loss_errors():
    x, t = tg.tensor([[0.2, 0.7]]), tg.tensor([[0.0, 1.0]])
    with pytest.raises(RuntimeError, match=r"binary_cross_entropy: all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(tg.tensor([[0.2, 1.5]]), t)
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(tg.tensor([[0.2, float("nan")]]), t)
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input shape \(1, 2\) and target shape \(2,\)"):
        F.binary_cross_entropy(x, tg.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: weight of shape \(3,\) must broadcast"):
        F.binary_cross_entropy(x, t, weight=tg.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="reduction must be"):
        F.binary_cross_entropy(x, t, reduction="avg")
    with pytest.raises(RuntimeError, match="smooth_l1_loss: beta must be >= 0"):
        F.smooth_l1_loss(x, t, beta=-1.0)
    with pytest.raises(RuntimeError, match="huber_loss: delta must be > 0"):
        F.huber_loss(x, t, delta=0.0)
    with pytest.raises(ValueError, match=r"huber_loss: weight of shape \(2,\) must have the input's shape"):
        F.huber_loss(x, t, weight=tg.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="kl_div: reduction must be 'mean', 'batchmean', 'sum' or 'none'"):
        F.kl_div(x, t, reduction="batch")
    with pytest.raises(ValueError, match="kl_div: input shape"):
        F.kl_div(x, tg.tensor([0.5]), reduction="sum")
    with pytest.raises(TypeError, match="smooth_l1_loss: input must be a floating-point tensor"):
        F.smooth_l1_loss(tg.tensor([1, 2]), tg.tensor([1, 2]))


# ---- Conv1d ----------------------------------------------------------------------------------
CONV1D = [dict(), dict(stride=2), dict(padding=2), dict(dilation=2, padding=1), dict(groups=2, stride=2, padding=1),
          dict(bias=False, kernel_size=1)]


@pytest.mark.parametrize("options", CONV1D)
def test_conv1d_matches_torch(options):
    tg.manual_seed(0)
    options = dict(options)
    k = options.pop("kernel_size", 3)
    ours, theirs = nn.Conv1d(4, 6, k, **options), torch.nn.Conv1d(4, 6, k, **options)
    x = np.random.default_rng(0).standard_normal((2, 4, 9))
    check_module(ours, theirs, x)
    check_module(ours, theirs, x[0])                            # unbatched (C, L)
    assert repr(ours) == repr(theirs)
    assert ours.weight.shape == tuple(theirs.weight.shape)


@pytest.mark.gradcheck
@settings(max_examples=10)
@given(data=st.data())
def test_conv1d_gradcheck(data):
    groups = data.draw(st.sampled_from([1, 2]))
    c, o = groups * data.draw(st.integers(1, 2)), groups * data.draw(st.integers(1, 2))
    k, stride, padding, dilation = (data.draw(st.integers(lo, hi)) for lo, hi in ((1, 3), (1, 2), (0, 2), (1, 2)))
    length = data.draw(st.integers(1, 6))
    assume(length + 2 * padding >= dilation * (k - 1) + 1)
    x = data.draw(arrays((2, c, length)))
    w, b = data.draw(arrays((o, c // groups, k))), data.draw(arrays((o,)))
    gradcheck(lambda x_, w_, b_: F.conv1d(x_, w_, b_, stride, padding, dilation, groups), x, w, b)


# ---- ConvTranspose2d ---------------------------------------------------------------------------
CONV_T = [
    dict(),
    dict(stride=2),
    dict(stride=2, padding=1),
    dict(stride=2, padding=1, output_padding=1),
    dict(stride=(2, 3), padding=(0, 1), output_padding=(1, 2)),
    dict(stride=1, dilation=2, padding=2, output_padding=1),     # output_padding < dilation, reaching past the frame
    dict(groups=2, stride=2, output_padding=1),
    dict(groups=2, dilation=(2, 1), padding=(1, 0), bias=False),
    dict(kernel_size=(1, 2), stride=(3, 1), padding=(0, 1)),
]


@pytest.mark.parametrize("options", CONV_T)
def test_conv_transpose2d_matches_torch(options):
    tg.manual_seed(1)
    options = dict(options)
    k = options.pop("kernel_size", 3)
    ours, theirs = nn.ConvTranspose2d(4, 6, k, **options), torch.nn.ConvTranspose2d(4, 6, k, **options)
    assert ours.weight.shape == tuple(theirs.weight.shape) == (4, 6 // options.get("groups", 1)) + ours.kernel_size
    assert repr(ours) == repr(theirs)
    x = np.random.default_rng(1).standard_normal((2, 4, 3, 5))
    check_module(ours, theirs, x)
    check_module(ours, theirs, x[1])                            # unbatched (C, H, W)
    a, ta = tg_leaf(x), t_leaf(x)                               # the functional form
    args = dict(stride=ours.stride, padding=ours.padding, output_padding=ours.output_padding, groups=ours.groups,
                dilation=ours.dilation)
    close(F.conv_transpose2d(a, ours.weight, ours.bias, **args), TF.conv_transpose2d(ta, theirs.weight, theirs.bias,
                                                                                      **args))


def test_conv_transpose2d_output_size_and_float32():
    tg.manual_seed(2)
    ours, theirs = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1), torch.nn.ConvTranspose2d(2, 3, 3, stride=2,
                                                                                               padding=1)
    x = np.random.default_rng(2).standard_normal((1, 2, 4, 5))
    for size in [(7, 9), (8, 10), [1, 3, 8, 9]]:
        check_module(ours, theirs, x, output_size=size)
    with pytest.raises(ValueError, match=r"requested an output size of \(9, 9\), but valid sizes range from "
                                         r"\(7, 9\) to \(8, 10\)"):
        ours(tg.tensor(x), output_size=(9, 9))
    with pytest.raises(ValueError, match="output_size must have 2 or 4 elements"):
        ours(tg.tensor(x), output_size=(8,))
    y = nn.ConvTranspose2d(2, 3, 3, stride=2)(tg.randn(1, 2, 4, 4))
    assert y.dtype == tg.float32 and y.shape == (1, 3, 9, 9)


def test_conv_transpose2d_is_the_gradient_of_conv2d():
    rng = np.random.default_rng(3)
    x, w, g = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((6, 2, 3, 3)), None
    a = tg_leaf(x)
    y = F.conv2d(a, tg.tensor(w), stride=2, padding=1, groups=2)
    g = rng.standard_normal(y.shape)
    y.backward(tg.tensor(g))
    # conv2d's input shape (7, 6) needs output_padding (0, 1) to be reached from its output (4, 3)
    back = F.conv_transpose2d(tg.tensor(g), tg.tensor(w), stride=2, padding=1, output_padding=(0, 1), groups=2)
    close(back, a.grad.numpy(), 1e-12, 1e-12)


@pytest.mark.gradcheck
@settings(max_examples=15)
@given(data=st.data())
def test_conv_transpose2d_gradcheck(data):
    groups = data.draw(st.sampled_from([1, 2]))
    c, og = groups * data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))
    kh, kw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 2))
    stride = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 2)))
    dilation = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
    padding = (data.draw(st.integers(0, 2)), data.draw(st.integers(0, 1)))
    output_padding = tuple(data.draw(st.integers(0, max(stride[a], dilation[a]) - 1)) for a in (0, 1))
    h, w = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    out = [(size - 1) * stride[a] - 2 * padding[a] + dilation[a] * (k - 1) + output_padding[a] + 1
           for a, (size, k) in enumerate(((h, kh), (w, kw)))]
    assume(min(out) >= 1)
    x = data.draw(arrays((2, c, h, w)))
    weight, bias = data.draw(arrays((c, og, kh, kw))), data.draw(arrays((og * groups,)))
    options = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    gradcheck(lambda x_, w_, b_: F.conv_transpose2d(x_, w_, b_, **options), x, weight, bias)
    check_function(lambda x_, w_, b_: F.conv_transpose2d(x_, w_, b_, **options),
                   lambda x_, w_, b_: TF.conv_transpose2d(x_, w_, b_, **options), x, weight, bias)


def test_conv_init_matches_torchs_bounds():
    tg.manual_seed(8)
    for ours, theirs in [(nn.Conv1d(4, 6, 3, groups=2), torch.nn.Conv1d(4, 6, 3, groups=2)),
                         (nn.ConvTranspose2d(4, 6, (3, 2), groups=2),
                          torch.nn.ConvTranspose2d(4, 6, (3, 2), groups=2))]:
        bound = 1 / math.sqrt(theirs.weight.shape[1] * math.prod(theirs.weight.shape[2:]))   # 1/sqrt(fan_in)
        assert ours.weight.shape == tuple(theirs.weight.shape) and ours.bias.shape == tuple(theirs.bias.shape)
        for p in (ours.weight, ours.bias):
            assert np.abs(p.numpy()).max() <= bound and p.numpy().std() > bound / 4


def test_conv_errors():
    x1, w1 = tg.randn(2, 4, 5), tg.randn(6, 2, 3)
    with pytest.raises(ValueError, match=r"conv1d: input has 4 channels and groups=1, so weight must be \(6, 4, k\)"):
        F.conv1d(x1, w1)
    with pytest.raises(ValueError, match="conv1d: kernel 7 .* is longer than the padded input 5"):
        F.conv1d(x1, tg.randn(6, 4, 7))
    with pytest.raises(ValueError, match="conv1d: expected 3-D input"):
        F.conv1d(tg.randn(2, 4, 5, 5), w1)
    with pytest.raises(TypeError, match="conv1d: stride must be an int or a 1-tuple"):
        F.conv1d(x1, tg.randn(6, 4, 3), stride=(1, 1))
    with pytest.raises(ValueError, match=r"Conv1d: in_channels \(4\) and out_channels \(6\) must be divisible by "
                                         r"groups \(4\)"):
        nn.Conv1d(4, 6, 3, groups=4)
    x, w = tg.randn(1, 4, 3, 3), tg.randn(4, 3, 3, 3)
    with pytest.raises(ValueError, match=r"conv_transpose2d: weight of shape \(4, 3, 3, 3\) .* needs an input with 4 "
                                         r"channels"):
        F.conv_transpose2d(tg.randn(1, 3, 3, 3), w)
    with pytest.raises(ValueError, match="output_padding must be smaller than either stride or dilation"):
        F.conv_transpose2d(x, w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"bias of shape \(4,\) does not match 3 output channels"):
        F.conv_transpose2d(x, w, tg.randn(4))
    with pytest.raises(ValueError, match="gives an output of size"):
        F.conv_transpose2d(tg.randn(1, 4, 1, 1), tg.randn(4, 3, 1, 1), padding=1)
    with pytest.raises(TypeError, match="conv_transpose2d: tensors must share one dtype"):
        F.conv_transpose2d(x.double(), w)
    with pytest.raises(ValueError, match=r"ConvTranspose2d: in_channels \(3\) and out_channels \(4\) must be "
                                         r"divisible by groups \(2\)"):
        nn.ConvTranspose2d(3, 4, 3, groups=2)


# ---- Dropout2d and in-place Dropout ------------------------------------------------------------
def test_dropout2d_zeroes_whole_channels_and_scales_the_rest():
    tg.manual_seed(3)
    x = tg_leaf(np.random.default_rng(4).uniform(1, 2, (40, 25, 3, 2)))
    drop = nn.Dropout2d(0.4)
    y = drop(x)
    ratio = (y.numpy() / x.numpy()).reshape(40, 25, -1)
    dropped = (ratio == 0).all(axis=-1)
    assert np.all(dropped | np.isclose(ratio, 1 / 0.6).all(axis=-1))             # whole maps, one factor each
    assert 0.3 < dropped.mean() < 0.5
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), y.numpy() / x.numpy())                # dy/dx is the mask
    drop.eval()
    assert drop(x) is x
    assert repr(drop) == repr(torch.nn.Dropout2d(0.4))
    assert F.dropout2d(x, 0.0) is x and np.all(F.dropout2d(x, 1.0).numpy() == 0)


def test_dropout2d_other_shapes_warn_like_torch_and_bad_p_raises():
    tg.manual_seed(4)
    x = tg.ones(30, 20, 4)
    with pytest.warns(UserWarning, match=r"3-D input .* \(N, C, L\)"):
        y = F.dropout2d(x, 0.5)
    with pytest.warns(UserWarning, match="3D input"):
        TF.dropout2d(torch.ones(3, 2, 4), 0.5)
    values = y.numpy()
    assert np.all((values == values[..., :1]))                                     # one mask entry per (n, c)
    with pytest.warns(UserWarning, match="2-D input"):
        F.dropout2d(tg.ones(3, 4), 0.5)
    with pytest.raises(ValueError, match=r"dropout2d: p must be in \[0, 1\], got 1.5"):
        F.dropout2d(x, 1.5)
    with pytest.raises(ValueError, match=r"Dropout2d: p must be in \[0, 1\]"):
        nn.Dropout2d(-0.1)
    with pytest.raises(ValueError, match="dropout2d: expected an input with at least 2 dims"):
        F.dropout2d(tg.ones(3), 0.5)


def test_inplace_dropout_writes_into_its_input():
    tg.manual_seed(5)
    a = tg_leaf(np.ones((50, 40)))
    h = a * 2.0
    out = nn.Dropout(0.5, inplace=True)(h)
    assert out is h and set(np.unique(h.numpy())) <= {0.0, 4.0}
    h.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), h.numpy())                         # d(2 * mask * a)/da = 2 * mask
    h2 = a.reshape(5, 10, 4, 10) * 1.0
    assert F.dropout2d(h2, 0.5, inplace=True) is h2
    assert all(len(set(np.unique(m))) == 1 for m in h2.numpy().reshape(50, 40))     # whole maps: 0 or 2
    assert repr(nn.Dropout(0.2, inplace=True)) == repr(torch.nn.Dropout(0.2, inplace=True))


# ---- BatchNorm1d on (N, C) and (N, C, L) --------------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm1d_2d_and_3d_inputs(shape, affine):
    tg.manual_seed(6)
    ours, theirs = nn.BatchNorm1d(3, affine=affine), torch.nn.BatchNorm1d(3, affine=affine)
    x = np.random.default_rng(6).standard_normal(shape) * 3 + 1
    ours, theirs = check_module(ours, theirs, x)
    close(ours.running_mean, theirs.running_mean)
    close(ours.running_var, theirs.running_var)
    ours.eval(), theirs.eval()
    check_module(ours, theirs, x)
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected a 2 or 3-D input, got shape \(2, 3, 4, 4\)"):
        ours(tg.randn(2, 3, 4, 4))


# ---- nn.init -----------------------------------------------------------------------------------
def _truncated_mean_and_std(mean, std, a, b):
    """The mean and standard deviation of N(mean, std^2) truncated to [a, b] (the textbook formulas)."""
    lo, hi = (a - mean) / std, (b - mean) / std
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)                 # noqa: E731
    cdf = lambda z: 0.5 * math.erfc(-z / math.sqrt(2))                             # noqa: E731
    mass = cdf(-lo) - cdf(-hi) if lo > 0 else cdf(hi) - cdf(lo)
    shift = (pdf(lo) - pdf(hi)) / mass
    variance = 1 + (lo * pdf(lo) - hi * pdf(hi)) / mass - shift * shift
    return mean + std * shift, std * math.sqrt(variance)


@pytest.mark.parametrize("mean, std, a, b", [(0.0, 1.0, -2.0, 2.0), (0.0, 0.02, -2.0, 2.0), (1.0, 2.0, 0.0, 1.5),
                                             (0.0, 1.0, 3.0, 3.5), (0.0, 1.0, -6.0, -4.0), (0.0, 1.0, 0.0, 0.005)])
def test_trunc_normal_stays_in_bounds_with_the_truncated_mean(mean, std, a, b):
    t = tg.zeros(4000, dtype=tg.float64)
    assert init.trunc_normal_(t, mean, std, a, b) is t
    values = t.numpy()
    assert values.min() >= a and values.max() <= b
    expected_mean, expected_std = _truncated_mean_and_std(mean, std, a, b)
    assert abs(values.mean() - expected_mean) < 0.1 * expected_std
    assert abs(values.std() - expected_std) < 0.1 * expected_std


def test_init_generators_make_draws_reproducible():
    for fn, args in [(init.uniform_, (-1.0, 1.0)), (init.normal_, (0.0, 2.0)), (init.trunc_normal_, ()),
                     (init.orthogonal_, ()), (init.sparse_, (0.3,)), (init.xavier_uniform_, ()),
                     (init.xavier_normal_, ()), (init.kaiming_uniform_, ()), (init.kaiming_normal_, ())]:
        first, second, library = tg.zeros(5, 4), tg.zeros(5, 4), tg.zeros(5, 4)
        fn(first, *args, generator=np.random.default_rng(7))
        fn(second, *args, generator=np.random.default_rng(7))
        tg.manual_seed(7)
        fn(library, *args)
        assert first.tolist() == second.tolist(), fn.__name__
        assert np.any(first.numpy() != 0), fn.__name__
    with pytest.raises(TypeError, match="normal_: generator must be a numpy.random.Generator"):
        init.normal_(tg.zeros(2), generator=torch.Generator())


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 2, 3, 3), (4, 4)])
def test_orthogonal_gives_orthonormal_rows_or_columns(shape):
    t = init.orthogonal_(tg.zeros(*shape, dtype=tg.float64), gain=1.5)
    flat = t.numpy().reshape(shape[0], -1)
    gram = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
    np.testing.assert_allclose(gram, 1.5 ** 2 * np.eye(len(gram)), atol=1e-12)


@pytest.mark.parametrize("shape, groups", [((3, 5), None), ((5, 3), None), ((4, 2, 3), 1), ((6, 3, 3, 3), 3),
                                           ((4, 6, 3, 2, 3), 2), ((2, 4, 5), 2)])
def test_eye_and_dirac_match_torch(shape, groups):
    ours, theirs = tg.randn(*shape), torch.randn(*shape)
    if groups is None:
        init.eye_(ours), torch.nn.init.eye_(theirs)
    else:
        init.dirac_(ours, groups), torch.nn.init.dirac_(theirs, groups)
    assert ours.tolist() == theirs.tolist()


def test_sparse_zeroes_the_same_count_per_column_as_torch():
    ours = init.sparse_(tg.zeros(10, 6), 0.25, std=0.5)
    theirs = torch.nn.init.sparse_(torch.zeros(10, 6), 0.25, std=0.5)
    assert ((ours.numpy() == 0).sum(axis=0) == (theirs.numpy() == 0).sum(axis=0)).all()


def test_init_errors_and_gains():
    with pytest.raises(ValueError, match=r"orthogonal_: only tensors with 2 or more dimensions are supported"):
        init.orthogonal_(tg.zeros(3))
    with pytest.raises(ValueError, match="eye_: only tensors with 2 dimensions are supported"):
        init.eye_(tg.zeros(2, 2, 2))
    with pytest.raises(ValueError, match="dirac_: only tensors with 3, 4, or 5 dimensions are supported"):
        init.dirac_(tg.zeros(2, 2))
    with pytest.raises(ValueError, match=r"dirac_: dim 0 \(3\) must be divisible by groups \(2\)"):
        init.dirac_(tg.zeros(3, 2, 3), groups=2)
    with pytest.raises(ValueError, match="sparse_: only tensors with 2 dimensions are supported"):
        init.sparse_(tg.zeros(2, 2, 2), 0.5)
    with pytest.raises(ValueError, match="trunc_normal_: expected a < b"):
        init.trunc_normal_(tg.zeros(2), a=1.0, b=-1.0)
    with pytest.raises(ValueError, match="trunc_normal_: std must be positive"):
        init.trunc_normal_(tg.zeros(2), std=0.0)
    for name in ("conv1d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"):
        assert init.calculate_gain(name) == torch.nn.init.calculate_gain(name) == 1
    empty = tg.zeros(0, 3)
    assert init.orthogonal_(empty) is empty
