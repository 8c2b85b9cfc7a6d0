"""The "cuda" device: moving tensors and modules, device errors, and every layer on it.

Without a GPU, the `simulated_cuda` fixture (tests/conftest.py) installs
`CudaBackend(xp=numpy, use_cupy_for=())` as device "cuda": the real CUDA backend
class, routing every hot op (matmul included) to our Numba kernels in kernels/,
which run under Numba's CUDA simulator on numpy arrays. The simulator runs each GPU
thread as a Python thread, so every tensor here holds at most a few dozen elements.

Each layer check builds the same computation on "cpu" and on "cuda" (modules share
one state dict), runs forward and backward with the same upstream gradient, and
compares outputs, input gradients, parameter gradients and buffers.

TestOnRealGpu runs a few of the same checks on a real NVIDIA GPU with CuPy; it is
collected everywhere and skipped, with the reason, where there is none.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu import backends, nn
from tinygrad_edu.backends.cupy_backend import CHOOSABLE

pytestmark = pytest.mark.kernels

DTYPES = [np.float32, np.float64]
TG_DTYPE = {np.float32: tg.float32, np.float64: tg.float64}
TOLERANCE = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


# ---- running one computation on a device ------------------------------------------------------
def normal(rng, *shape, dtype=np.float64):
    return np.asarray(rng.standard_normal(shape)).astype(dtype)


def positive(rng, *shape, dtype=np.float64):
    return np.asarray(0.5 + np.abs(rng.standard_normal(shape))).astype(dtype)


class NoGrad:
    """A floating input that should not require grad (an additive mask, say)."""
    def __init__(self, array):
        self.array = array

    def astype(self, dtype):
        return NoGrad(self.array.astype(dtype))


def _as_tensor(a, device):
    if isinstance(a, NoGrad):
        return tg.tensor(a.array, device=device)
    return tg.tensor(a, device=device, requires_grad=a.dtype.kind == "f")


def _is_float(a):
    return isinstance(a, NoGrad) or a.dtype.kind == "f"


def _outputs(out):
    """The tensors of a forward result (a tensor, or nested tuples holding tensors and Nones)."""
    if isinstance(out, tg.Tensor):
        return [out]
    return [t for part in out if part is not None for t in _outputs(part)]


def run_on(device, forward, arrays, module=None):
    """Forward + backward of `forward(module, *tensors)` on `device`; returns {name: numpy array}.

    Floating arrays become tensors that require grad; integer and bool arrays (targets,
    indices, masks) and NoGrad ones do not. The upstream gradient of every output is
    drawn from a fixed seed, so it is the same on every device. Every output, gradient,
    parameter and buffer must live on `device`.
    """
    inputs = [_as_tensor(a, device) for a in arrays]
    outs = _outputs(forward(module, *inputs))
    rng = np.random.default_rng(1234)
    upstream = [np.asarray(rng.standard_normal(o.shape)).astype(o.numpy().dtype) for o in outs]
    float_outs = [(o, g) for o, g in zip(outs, upstream) if o.requires_grad]
    assert float_outs, "the computation must produce an output that requires grad"
    if len(float_outs) == 1:
        o, g = float_outs[0]
        o.backward(tg.tensor(g, device=device))
    else:
        total = None
        for o, g in float_outs:
            term = (o * tg.tensor(g, device=device)).sum()
            total = term if total is None else total + term
        total.backward()

    results = {}
    for i, o in enumerate(outs):
        assert o.device == device, f"output {i} is on {o.device}, expected {device}"
        results[f"output {i}"] = o.numpy()
    for i, t in enumerate(inputs):
        if t.requires_grad:
            assert t.grad is not None, f"input {i} got no gradient"
            assert t.grad.device == device, f"the gradient of input {i} is on {t.grad.device}"
            results[f"grad of input {i}"] = t.grad.numpy()
    if module is not None:
        for name, p in module.named_parameters():
            assert p.device == device, f"parameter {name} is on {p.device}"
            assert p.grad is not None, f"parameter {name} got no gradient"
            assert p.grad.device == device, f"the gradient of {name} is on {p.grad.device}"
            results[f"grad of {name}"] = p.grad.numpy()
        for name, b in module.named_buffers():
            assert b.device == device, f"buffer {name} is on {b.device}"
            results[f"buffer {name}"] = b.numpy()
    return results


def assert_same_on_cpu_and_cuda(forward, arrays, dtype, make_module=None):
    """Run on "cpu", then on "cuda" with a copy of the CPU module's state dict, and compare everything.

    The module on "cuda" is built from another seed, moved, then loaded with the CPU
    module's state (taken before the forward pass, which updates batch-norm statistics).
    """
    arrays = [a.astype(dtype) if _is_float(a) else a for a in arrays]
    cpu_module = cuda_module = None
    if make_module is not None:
        tg.manual_seed(0)
        cpu_module = make_module().to(dtype=TG_DTYPE[dtype])
        state = {name: t.numpy().copy() for name, t in cpu_module.state_dict().items()}
        tg.manual_seed(1)
        cuda_module = make_module().to("cuda", TG_DTYPE[dtype])
        cuda_module.load_state_dict(state)
        for name, t in cuda_module.state_dict().items():
            assert t.device == "cuda", name
    expected = run_on("cpu", forward, arrays, cpu_module)
    got = run_on("cuda", forward, arrays, cuda_module)
    assert got.keys() == expected.keys()
    for name in expected:
        assert got[name].dtype == expected[name].dtype, name
        np.testing.assert_allclose(got[name], expected[name], err_msg=name, **TOLERANCE[dtype])
    return got


def _bool_mask(rng, *shape):
    """A random bool mask (..., L, S) in which every row keeps at least one True."""
    mask = rng.random(shape) < 0.6
    rows = mask.reshape(-1, shape[-1])
    rows[np.arange(len(rows)), rng.integers(0, shape[-1], len(rows))] = True
    return mask


# ---- the layer cases: (forward, arrays, make_module) from a numpy generator ------------------
def _cases():
    cases = {}

    def case(name, forward, arrays, make_module=None):
        cases[name] = (forward, arrays, make_module)

    r = np.random.default_rng(0)
    call = lambda m, *xs: m(*xs)  # noqa: E731
    # matmul: batched, broadcast batch dims, vectors
    case("matmul batched", lambda m, a, b: a @ b, [normal(r, 2, 3, 4), normal(r, 4, 2)])
    case("matmul broadcast batch", lambda m, a, b: a @ b, [normal(r, 2, 1, 3, 4), normal(r, 2, 4, 2)])
    case("matmul vector @ batch", lambda m, a, b: a @ b, [normal(r, 4), normal(r, 2, 4, 3)])
    case("matmul vector @ vector", lambda m, a, b: a @ b, [normal(r, 5), normal(r, 5)])
    # softmax family
    case("softmax last dim", lambda m, x: F.softmax(x, -1), [normal(r, 2, 3, 4)])
    case("log_softmax dim 1", lambda m, x: F.log_softmax(x, 1), [normal(r, 2, 3, 4)])
    case("Tensor.softmax dim 0", lambda m, x: x.softmax(0), [normal(r, 3, 4)])
    case("Tensor.log_softmax", lambda m, x: x.log_softmax(-1), [normal(r, 3, 4)])
    # cross-entropy
    case("cross_entropy mean, one target ignored",
         lambda m, x, t: F.cross_entropy(x, t), [normal(r, 5, 4), np.array([1, 0, -100, 3, 2])])
    case("cross_entropy ignore_index=2, label_smoothing=0.1, sum",
         lambda m, x, t: F.cross_entropy(x, t, ignore_index=2, label_smoothing=0.1, reduction="sum"),
         [normal(r, 5, 4), np.array([2, 0, 1, 3, 2])])
    case("cross_entropy (N, C, d1, d2) with smoothing, none",
         lambda m, x, t: F.cross_entropy(x, t, reduction="none", label_smoothing=0.2),
         [normal(r, 2, 3, 2, 2), r.integers(0, 3, (2, 2, 2))])
    case("CrossEntropyLoss module", call, [normal(r, 4, 3), np.array([2, 0, 1, 1])],
         lambda: nn.CrossEntropyLoss(label_smoothing=0.05))
    # layers
    case("Linear", call, [normal(r, 2, 3)], lambda: nn.Linear(3, 4))
    case("Linear 3-D input, no bias", call, [normal(r, 2, 2, 3)], lambda: nn.Linear(3, 2, bias=False))
    case("Conv2d stride 2, padding 1, groups 2", call, [normal(r, 2, 2, 4, 4)],
         lambda: nn.Conv2d(2, 4, 3, stride=2, padding=1, groups=2))
    case("Conv2d dilation 2, no bias", call, [normal(r, 1, 2, 4, 4)],
         lambda: nn.Conv2d(2, 3, 2, dilation=2, bias=False))
    case("MaxPool2d 2", call, [normal(r, 2, 2, 4, 4)], lambda: nn.MaxPool2d(2))
    case("MaxPool2d 3, stride 2, padding 1", call, [normal(r, 1, 2, 4, 4)], lambda: nn.MaxPool2d(3, 2, 1))
    case("LSTM batch_first, seq 3", call, [normal(r, 2, 3, 3)], lambda: nn.LSTM(3, 4, batch_first=True))
    case("LSTM with (h0, c0)", lambda m, x, h, c: m(x, (h, c)), [normal(r, 3, 2, 2), normal(r, 1, 2, 3),
                                                                  normal(r, 1, 2, 3)], lambda: nn.LSTM(2, 3))
    case("LSTMCell", lambda m, x, h, c: m(x, (h, c)), [normal(r, 2, 3), normal(r, 2, 4), normal(r, 2, 4)],
         lambda: nn.LSTMCell(3, 4))
    case("LayerNorm", call, [normal(r, 2, 3, 4)], lambda: nn.LayerNorm(4))
    case("BatchNorm2d train", call, [normal(r, 2, 2, 3, 3)], lambda: nn.BatchNorm2d(2))
    case("Embedding, repeated indices", call, [np.array([[0, 2, 2], [4, 0, 1]])], lambda: nn.Embedding(5, 3))
    case("GELU", call, [normal(r, 2, 5)], lambda: nn.GELU())
    case("GELU tanh", call, [normal(r, 2, 5)], lambda: nn.GELU("tanh"))
    # attention
    case("scaled_dot_product_attention causal",
         lambda m, q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
         [normal(r, 2, 4, 3), normal(r, 2, 4, 3), normal(r, 2, 4, 3)])
    case("scaled_dot_product_attention bool mask, L != S",
         lambda m, q, k, v, mask: F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
         [normal(r, 2, 3, 4), normal(r, 2, 5, 4), normal(r, 2, 5, 2), _bool_mask(r, 2, 3, 5)])
    case("scaled_dot_product_attention 2-D bool mask",
         lambda m, q, k, v, mask: F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
         [normal(r, 2, 3, 4), normal(r, 2, 5, 4), normal(r, 2, 5, 2), _bool_mask(r, 3, 5)])
    case("scaled_dot_product_attention (B, H, L, E), float mask, scale",
         lambda m, q, k, v, mask: F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.3),
         [normal(r, 1, 2, 3, 2), normal(r, 1, 2, 3, 2), normal(r, 1, 2, 3, 2), NoGrad(normal(r, 3, 3))])
    case("MultiheadAttention self-attention, fused",
         lambda m, x: m(x, x, x, need_weights=False)[0], [normal(r, 2, 3, 4)],
         lambda: nn.MultiheadAttention(4, 2, batch_first=True))
    case("MultiheadAttention causal, fused",
         lambda m, x: m(x, x, x, need_weights=False, is_causal=True)[0], [normal(r, 2, 3, 4)],
         lambda: nn.MultiheadAttention(4, 2, batch_first=True))
    case("MultiheadAttention key_padding_mask, weights",
         lambda m, q, kv, pad: m(q, kv, kv, key_padding_mask=pad), [normal(r, 3, 1, 4), normal(r, 4, 1, 4),
                                                                     np.array([[False, True, False, True]])],
         lambda: nn.MultiheadAttention(4, 2))
    return cases


CASES = _cases()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(CASES))
def test_layer_matches_cpu(simulated_cuda, name, dtype):
    forward, arrays, make_module = CASES[name]
    assert_same_on_cpu_and_cuda(forward, arrays, dtype, make_module)


# ---- elementwise ops and reductions -----------------------------------------------------------
BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "pow": lambda a, b: a ** b,
    "maximum": lambda a, b: a.maximum(b), "minimum": lambda a, b: a.minimum(b),
}
UNARY = {
    "exp": lambda x: x.exp(), "log": lambda x: x.log(), "sqrt": lambda x: x.sqrt(), "tanh": lambda x: x.tanh(),
    "sigmoid": lambda x: x.sigmoid(), "relu": lambda x: x.relu(), "abs": lambda x: x.abs(), "neg": lambda x: -x,
}
SCALAR = {
    "x * 2.5": lambda x: x * 2.5, "1 - x": lambda x: 1 - x, "x ** 2": lambda x: x ** 2, "2 / x": lambda x: 2 / x,
    "x ** 0.5": lambda x: x ** 0.5,
}


def _binary_operands(rng, name, shape_a, shape_b):
    """Operands with no ties (maximum/minimum), a positive base (pow) and a divisor away from 0 (div)."""
    a = positive(rng, *shape_a) if name == "pow" else normal(rng, *shape_a)
    b = normal(rng, *shape_b)
    if name == "div":
        b = np.sign(b) * (0.5 + np.abs(b))
    return a, b


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_op_with_broadcasting_matches_cpu(simulated_cuda, name, dtype):
    a, b = _binary_operands(np.random.default_rng(1), name, (2, 1, 3), (2, 3))
    assert_same_on_cpu_and_cuda(lambda m, x, y: BINARY[name](x, y), [a, b], dtype)


@settings(max_examples=5, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(sorted(BINARY)),
       shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       seed=st.integers(0, 2**32 - 1))
def test_binary_op_on_drawn_broadcast_shapes_matches_cpu(simulated_cuda, name, shapes, seed):
    # the fixture holds no per-example state: one simulated device serves every example
    a, b = _binary_operands(np.random.default_rng(seed), name, *shapes.input_shapes)
    assert_same_on_cpu_and_cuda(lambda m, x, y: BINARY[name](x, y), [a, b], np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(UNARY) + list(SCALAR))
def test_unary_and_scalar_ops_match_cpu(simulated_cuda, name, dtype):
    rng = np.random.default_rng(2)
    needs_positive = name in ("log", "sqrt", "2 / x", "x ** 0.5")
    x = positive(rng, 2, 3) if needs_positive else normal(rng, 2, 3)
    fn = UNARY.get(name) or SCALAR[name]
    assert_same_on_cpu_and_cuda(lambda m, t: fn(t), [x], dtype)


REDUCTIONS = {
    "sum": lambda x, dim, keep: x.sum(dim, keepdim=keep),
    "mean": lambda x, dim, keep: x.mean(dim, keepdim=keep),
    "amax": lambda x, dim, keep: x.amax(dim, keepdim=keep),
    "amin": lambda x, dim, keep: x.amin(dim, keepdim=keep),
    "max (values, indices)": lambda x, dim, keep: x.max(dim, keepdim=keep) if dim is not None else x.max(),
    "min (values, indices)": lambda x, dim, keep: x.min(dim, keepdim=keep) if dim is not None else x.min(),
}


DIMS = {"all": (None, False), "last": (-1, False), "dim 1 keepdim": (1, True), "(0, 2) keepdim": ((0, 2), True)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, dims", [(name, dims) for name in REDUCTIONS for dims in DIMS
                                        if not ("indices" in name and dims == "(0, 2) keepdim")])
def test_reduction_matches_cpu(simulated_cuda, name, dims, dtype):
    dim, keepdim = DIMS[dims]
    x = normal(np.random.default_rng(3), 2, 3, 4)  # continuous values: no ties for max/min
    got = assert_same_on_cpu_and_cuda(lambda m, t: REDUCTIONS[name](t, dim, keepdim), [x], dtype)
    if "indices" in name and dim is not None:  # the indices are an output too, compared exactly
        assert got["output 1"].dtype == np.int64


# ---- "ours" or "cupy" for each hot op ---------------------------------------------------------
class _Spy:
    """Wraps a kernel module and counts calls of its launchers."""
    def __init__(self, module):
        self.module, self.calls = module, 0

    def __getattr__(self, name):
        target = getattr(self.module, name)

        def counted(*args, **kwargs):
            self.calls += 1
            return target(*args, **kwargs)
        return counted if callable(target) else target


WORKLOADS = {  # op family -> (forward, arrays) that exercises it in forward and backward
    "elementwise": (lambda m, x, y: ((x * y + x.exp()) / y).tanh().relu(), None),
    "reduce": (lambda m, x, y: (x.sum(1), x.amax(0), y.amin()), None),
    "matmul": (lambda m, x, y: x @ y.T, None),
    "softmax": (lambda m, x, y: (F.softmax(x, -1), F.log_softmax(y, -1)), None),
    "cross_entropy": (lambda m, x, t: F.cross_entropy(x, t, label_smoothing=0.1), "ce"),
    "im2col": (lambda m, x, w: F.conv2d(x, w, stride=1, padding=1), "conv"),
    "pool": (lambda m, x: (F.max_pool2d(x, 3, stride=2, padding=1), F.max_pool2d(x, 2)), "pool"),
    "layer_norm": (lambda m, x, y: (F.layer_norm(x, (4,), y[0], y[1]), F.layer_norm(y, (3, 4))), None),
    "lstm_cell": (lambda m, x, h, c, wi, wh: F.lstm_cell(x, h, c, wi, wh), "lstm"),
    "attention": (lambda m, q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), "attention"),
}


def _workload_arrays(kind):
    r = np.random.default_rng(4)
    if kind is None:
        return [normal(r, 3, 4), positive(r, 3, 4)]
    if kind == "ce":
        return [normal(r, 4, 3), np.array([0, 2, 1, 2])]
    if kind == "conv":
        return [normal(r, 1, 2, 3, 3), normal(r, 2, 2, 2, 2)]
    if kind == "lstm":
        return [normal(r, 2, 3), normal(r, 2, 2), normal(r, 2, 2), normal(r, 8, 3), normal(r, 8, 2)]
    if kind == "pool":   # values on a grid of halves: windows with tied maxima (the first one must win)
        return [np.round(normal(r, 2, 2, 5, 5) * 2) / 2]
    return [normal(r, 1, 3, 2), normal(r, 1, 3, 2), normal(r, 1, 3, 2)]


@pytest.mark.parametrize("op", CHOOSABLE)
def test_choose_switches_each_hot_op_between_our_kernel_and_the_fallback(simulated_cuda, monkeypatch, op):
    forward, kind = WORKLOADS[op]
    arrays = _workload_arrays(kind)
    spy = _Spy(simulated_cuda.k[op])
    monkeypatch.setitem(simulated_cuda.k, op, spy)
    assert op not in simulated_cuda.use_cupy
    assert_same_on_cpu_and_cuda(forward, arrays, np.float32)
    assert spy.calls > 0, f"our {op} kernel was not used with 'ours'"

    tg.cuda.choose(op, "cupy")  # the public switch reaches the installed backend
    assert op in simulated_cuda.use_cupy
    spy.calls = 0
    assert_same_on_cpu_and_cuda(forward, arrays, np.float32)  # under xp=numpy, "cupy" is NumpyBackend's code
    assert spy.calls == 0, f"our {op} kernel ran although 'cupy' was chosen"

    simulated_cuda.choose(op, "ours")
    assert op not in simulated_cuda.use_cupy


def test_choose_rejects_unknown_ops_and_implementations(simulated_cuda):
    with pytest.raises(ValueError, match="choose"):
        simulated_cuda.choose("conv", "ours")
    with pytest.raises(ValueError, match="choose"):
        tg.cuda.choose("matmul", "cublas")
    assert simulated_cuda.use_cupy == set()


# ---- device semantics -------------------------------------------------------------------------
def test_to_cpu_and_cuda_move_tensors_and_keep_values(simulated_cuda):
    x = tg.randn(2, 3)
    y = x.to("cuda")
    assert y.device == "cuda" and x.device == "cpu"
    assert y.dtype == tg.float32 and y.shape == (2, 3)
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    assert "device='cuda'" in repr(y)
    assert x.cuda().device == "cuda" and x.to("cuda:0").device == "cuda"
    back = y.cpu()
    assert back.device == "cpu"
    np.testing.assert_array_equal(back.numpy(), x.numpy())
    assert y.to("cuda") is y and y.cuda() is y  # already there: no copy
    z = y.to("cuda", tg.float64)
    assert z.device == "cuda" and z.dtype == tg.float64
    assert y.double().device == "cuda" and y.to(tg.float64).device == "cuda"
    assert y.sum().item() == pytest.approx(float(x.numpy().sum()), rel=1e-5)
    assert y.tolist() == x.tolist()
    assert not y.requires_grad and y.is_leaf


def test_moving_between_devices_copies_the_data(simulated_cuda):
    """As on a real GPU, a copy to or from the device never shares memory with its source."""
    x = tg.zeros(3)
    y = x.to("cuda")
    y.fill_(5.0)
    assert x.tolist() == [0.0, 0.0, 0.0]
    z = y.cpu()
    z.fill_(7.0)
    assert y.tolist() == [5.0, 5.0, 5.0]
    array = y.numpy()
    array[...] = 1.0
    assert y.tolist() == [5.0, 5.0, 5.0]


FACTORIES = {
    "zeros": lambda **kw: tg.zeros(2, 3, **kw), "ones": lambda **kw: tg.ones(2, 3, **kw),
    "full": lambda **kw: tg.full((2, 3), 1.5, **kw), "randn": lambda **kw: tg.randn(2, 3, **kw),
    "rand": lambda **kw: tg.rand(2, 3, **kw), "randint": lambda **kw: tg.randint(0, 5, (2, 3), **kw),
    "arange": lambda **kw: tg.arange(0, 6, **kw), "eye": lambda **kw: tg.eye(3, **kw),
    "linspace": lambda **kw: tg.linspace(0, 1, 5, **kw),
    "tensor": lambda **kw: tg.tensor([[1.0, 2.0], [3.0, 4.0]], **kw),
}


@pytest.mark.parametrize("name", list(FACTORIES))
def test_factories_make_tensors_on_cuda(simulated_cuda, name):
    tg.manual_seed(7)
    on_cpu = FACTORIES[name]()
    tg.manual_seed(7)
    on_cuda = FACTORIES[name](device="cuda")
    assert on_cuda.device == "cuda" and on_cpu.device == "cpu"
    assert on_cuda.dtype == on_cpu.dtype
    np.testing.assert_array_equal(on_cuda.numpy(), on_cpu.numpy())  # random ones too: drawn on the host


def test_like_factories_follow_the_device_and_requires_grad_works_on_cuda(simulated_cuda):
    x = tg.randn(2, 3, device="cuda", dtype=tg.float64)
    for made in (tg.zeros_like(x), tg.ones_like(x), tg.full_like(x, 2.0), tg.randn_like(x), tg.rand_like(x)):
        assert made.device == "cuda" and made.dtype == tg.float64 and made.shape == (2, 3)
    assert tg.zeros_like(x, device="cpu").device == "cpu"
    w = tg.zeros(2, device="cuda:0", requires_grad=True)
    assert w.device == "cuda" and w.requires_grad and w.is_leaf


def test_gradients_of_a_cuda_leaf_live_on_cuda_and_match_the_cpu(simulated_cuda):
    values = np.random.default_rng(5).standard_normal((2, 3)).astype(np.float32)
    grads = {}
    for device in ("cpu", "cuda"):
        x = tg.tensor(values, device=device, requires_grad=True)
        ((x * x).sum() + (x.tanh() * 3).mean()).backward()
        assert x.grad.device == device
        first = x.grad.numpy()
        (x.exp().sum()).backward()  # accumulates, still on the device
        assert x.grad.device == device
        grads[device] = (first, x.grad.numpy())
    expected_first = 2 * values + 3 * (1 - np.tanh(values) ** 2) / values.size
    np.testing.assert_allclose(grads["cuda"][0], expected_first, rtol=1e-5, atol=1e-6)
    for got, want in zip(grads["cuda"], grads["cpu"]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads["cuda"][1], expected_first + np.exp(values), rtol=1e-5, atol=1e-6)


def test_to_device_is_differentiable_both_ways(simulated_cuda):
    values = np.array([[1.0, -2.0, 3.0], [0.5, 0.0, -1.5]], dtype=np.float32)
    x = tg.tensor(values, requires_grad=True)
    y = x.to("cuda")
    assert y.device == "cuda" and y.requires_grad and not y.is_leaf
    (y * y).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), 2 * values, rtol=1e-6)

    x.grad = None
    x.to("cuda").sum().backward()  # the plain x.to("cuda").sum() of the docs
    np.testing.assert_array_equal(x.grad.numpy(), np.ones_like(values))

    w = tg.tensor(values, device="cuda", requires_grad=True)
    (w.cpu() * 3).sum().backward()  # and back: the gradient lands on the cuda leaf
    assert w.grad.device == "cuda"
    np.testing.assert_array_equal(w.grad.numpy(), np.full_like(values, 3.0))

    x.grad = None
    (x.to("cuda", tg.float64) ** 2).sum().backward()  # device and dtype at once
    assert x.grad.device == "cpu" and x.grad.dtype == tg.float32
    np.testing.assert_allclose(x.grad.numpy(), 2 * values, rtol=1e-6)


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.bn = nn.BatchNorm1d(2)
        self.register_buffer("steps", tg.zeros(1, dtype=tg.int64))

    def forward(self, x):
        return self.bn(self.fc(x)).relu()


def test_module_to_cuda_keeps_parameters_and_moves_buffers_and_grads(simulated_cuda):
    tg.manual_seed(0)
    model = _Net()
    params = list(model.parameters())
    model(tg.randn(4, 3)).sum().backward()
    before = {name: t.numpy().copy() for name, t in model.state_dict().items()}
    grad_before = model.fc.weight.grad.numpy().copy()

    assert model.to("cuda") is model
    assert all(a is b for a, b in zip(model.parameters(), params)) and len(list(model.parameters())) == 4
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        assert t.device == "cuda", name
    assert model.steps.dtype == tg.int64
    for name, t in model.state_dict().items():
        assert t.device == "cuda", name
        np.testing.assert_array_equal(t.numpy(), before[name])
    assert model.fc.weight.grad.device == "cuda"
    np.testing.assert_array_equal(model.fc.weight.grad.numpy(), grad_before)

    out = model(tg.randn(4, 3, device="cuda"))
    assert out.device == "cuda"
    out.sum().backward()
    assert all(p.grad.device == "cuda" for p in model.parameters())

    model.to("cuda", tg.float64)
    assert model.fc.weight.dtype == tg.float64 and model.bn.running_mean.dtype == tg.float64
    assert model.steps.dtype == tg.int64 and model.steps.device == "cuda"
    model.cpu()
    assert all(a is b for a, b in zip(model.parameters(), params))
    assert all(t.device == "cpu" for t in list(model.parameters()) + list(model.buffers()))


OPTIMIZERS = {
    "SGD momentum nesterov weight_decay": lambda ps: tg.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True,
                                                                weight_decay=0.01),
    "SGD momentum dampening": lambda ps: tg.optim.SGD(ps, lr=0.05, momentum=0.5, dampening=0.1),
    "Adam": lambda ps: tg.optim.Adam(ps, lr=0.01, weight_decay=0.01),
    "Adam amsgrad": lambda ps: tg.optim.Adam(ps, lr=0.01, amsgrad=True),
    "AdamW": lambda ps: tg.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizers_step_parameters_on_cuda_like_on_cpu(simulated_cuda, name):
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    history = {}
    for device in ("cpu", "cuda"):
        tg.manual_seed(0)
        model = nn.Linear(3, 2).double()
        opt = OPTIMIZERS[name](model.parameters())  # built before the move: parameters keep their identity
        model.to(device)
        inputs, targets = tg.tensor(x, device=device), tg.tensor(y, device=device)
        steps = []
        for _ in range(3):
            opt.zero_grad()
            loss = ((model(inputs) - targets) ** 2).mean()
            loss.backward()
            opt.step()
            steps.append([loss.item()] + [p.numpy().copy() for p in model.parameters()])
        for p in model.parameters():
            assert p.device == device and p.grad.device == device
            for key, value in opt.state[p].items():
                if isinstance(value, tg.Tensor):
                    assert value.device == device, f"optimizer state {key!r} is on {value.device}"
        history[device] = steps
    for got, want in zip(history["cuda"], history["cpu"]):
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert not np.allclose(history["cuda"][0][1], history["cuda"][-1][1])  # the steps did move the weights


@pytest.fixture
def on_both():
    c = tg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    g = tg.tensor([[1.0, 0.0, -1.0], [2.0, 1.0, 0.5]], device="cuda", requires_grad=True)
    return c, g


MIXED = {
    "add": lambda c, g: c + g,
    "add, broadcast shapes": lambda c, g: c[0] + g,
    "mul, cuda first": lambda c, g: g * c,
    "sub, broadcast shapes, cuda first": lambda c, g: g - c[:1],
    "matmul": lambda c, g: c @ g.T,
    "cat": lambda c, g: tg.cat([c, g]),
    "stack": lambda c, g: tg.stack([g, c]),
    "where": lambda c, g: tg.where(c > 2, c, g),
    "masked_fill with a cpu mask": lambda c, g: g.masked_fill(c > 2, 0.0),
    "maximum": lambda c, g: c.maximum(g),
    "linear": lambda c, g: F.linear(c, g),
    "cross_entropy with cpu targets": lambda c, g: F.cross_entropy(g, tg.tensor([0, 2])),
    "Linear on cuda, input on cpu": lambda c, g: nn.Linear(3, 2).to("cuda")(c),
    "backward with a cpu gradient": lambda c, g: (g * 2).backward(tg.ones(2, 3)),
    "less than": lambda c, g: c < g,
    "equal": lambda c, g: c == g,
}


@pytest.mark.parametrize("name", list(MIXED))
def test_mixing_devices_in_one_op_raises_naming_both(simulated_cuda, on_both, name):
    fn = MIXED[name]
    c, g = on_both
    try:
        fn(c, g)
    except RuntimeError as exc:
        message = str(exc)
    else:
        raise AssertionError(f"{name}: mixing cpu and cuda did not raise")
    assert "cpu" in message and "cuda" in message, message


def test_importing_tinygrad_edu_prints_nothing_and_loads_no_gpu_library():
    code = "import tinygrad_edu as tg\ntg.cuda.is_available(); tg.cuda.unavailable_reason()\n"
    done = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == "", (done.stdout, done.stderr)
    plain = subprocess.run([sys.executable, "-c", "import tinygrad_edu; import sys; "
                            "assert 'cupy' not in sys.modules"], capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0 and plain.stdout == "" and plain.stderr == "", (plain.stdout, plain.stderr)


@pytest.mark.skipif(tg.cuda.is_available(), reason="a CUDA device is available on this machine")
def test_without_a_gpu_cuda_is_unavailable_with_a_clear_error(monkeypatch):
    monkeypatch.delitem(backends._backends, "cuda", raising=False)
    assert tg.cuda.is_available() is False
    reason = tg.cuda.unavailable_reason()
    assert isinstance(reason, str) and "CuPy" in reason
    with pytest.raises(RuntimeError, match="CuPy") as info:
        tg.zeros(2, device="cuda")
    assert "cuda" in str(info.value)
    with pytest.raises(RuntimeError, match="CuPy"):
        tg.ones(2).to("cuda")
    with pytest.raises(RuntimeError, match="CuPy"):
        nn.Linear(2, 2).cuda()
    with pytest.raises(RuntimeError, match="CuPy"):
        tg.cuda.choose("matmul", "ours")
    assert "cuda" not in backends._backends  # a failed attempt leaves nothing half-made behind
    assert tg.zeros(2, device="cpu").device == "cpu"


def test_the_simulated_device_is_installed_and_then_restored(monkeypatch):
    from conftest import simulated_cuda_device
    from numba.cuda.simulator import kernelapi

    before = object()
    monkeypatch.setitem(backends._backends, "cuda", before)
    interval, allocate = sys.getswitchinterval(), kernelapi.FakeCUDAShared.array
    with simulated_cuda_device() as backend:
        assert backends.get_backend("cuda") is backend and backend.name == "cuda"
        assert backend.xp is np and not backend.on_gpu and backend.use_cupy == set()
        assert sys.getswitchinterval() == pytest.approx(1e-4)
        assert kernelapi.FakeCUDAShared.array is not allocate  # the thread-safe shared-array allocation
        x = tg.arange(0, 12, device="cuda", dtype=tg.float32)
        assert x.device == "cuda" and x.sum().item() == 66.0
    assert backends._backends["cuda"] is before
    assert sys.getswitchinterval() == interval and kernelapi.FakeCUDAShared.array is allocate
    monkeypatch.delitem(backends._backends, "cuda")
    with simulated_cuda_device():
        pass
    assert "cuda" not in backends._backends


def test_unknown_devices_are_rejected():
    with pytest.raises(ValueError, match="unknown device"):
        tg.zeros(2, device="tpu")
    with pytest.raises(ValueError, match="unknown device"):
        tg.zeros(2).to("cuda:1")


# ---- a real GPU -------------------------------------------------------------------------------
REAL_CASES = ["Linear", "Conv2d stride 2, padding 1, groups 2", "LSTM batch_first, seq 3", "BatchNorm2d train",
              "cross_entropy ignore_index=2, label_smoothing=0.1, sum", "scaled_dot_product_attention causal",
              "scaled_dot_product_attention bool mask, L != S", "MultiheadAttention self-attention, fused",
              "Embedding, repeated indices"]


@pytest.mark.cuda
@pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") == "1",
                    reason="Numba's CUDA simulator is on; set TINYGRAD_EDU_REAL_GPU=1 to use the real GPU")
@pytest.mark.skipif(not tg.cuda.is_available(), reason=tg.cuda.unavailable_reason() or "a GPU is available")
class TestOnRealGpu:
    """The same checks with CuPy arrays on the GPU and our kernels at their default block sizes."""

    @pytest.fixture(autouse=True)
    def real_device(self, monkeypatch):
        monkeypatch.delitem(backends._backends, "cuda", raising=False)  # a fresh CudaBackend() on the GPU
        yield backends.get_backend("cuda")

    def test_tensors_live_in_gpu_memory(self, real_device):
        import cupy
        x = tg.randn(2, 3, device="cuda")
        assert isinstance(x.array, cupy.ndarray) and x.device == "cuda"
        assert real_device.on_gpu and "matmul" in real_device.use_cupy  # cuBLAS is the default matmul
        np.testing.assert_array_equal(x.cpu().numpy(), cupy.asnumpy(x.array))

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("name", REAL_CASES)
    def test_layer_matches_cpu(self, name, dtype):
        forward, arrays, make_module = CASES[name]
        assert_same_on_cpu_and_cuda(forward, arrays, dtype, make_module)

    @pytest.mark.parametrize("implementation", ["ours", "cupy"])
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matmul_with_each_implementation(self, real_device, implementation, dtype):
        real_device.choose("matmul", implementation)
        forward, arrays, _ = CASES["matmul broadcast batch"]
        assert_same_on_cpu_and_cuda(forward, arrays, dtype)
