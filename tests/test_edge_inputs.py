"""Edge inputs answered as PyTorch answers them (issue 9, items 3 and 4).

Each case is written once against PyTorch's API and run on both libraries: `call(lib)` gets a namespace
with `lib.t` (the tensor library: torch or tinygrad_edu), `lib.nn` and `lib.F`. Where PyTorch returns a
value we must return the same; where it raises, we must raise a clear error of our own that names the
op the user called (never a silent wrong answer, and never numpy's or an inner op's message).
"""
import types
import warnings

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn as tg_nn
import tinygrad_edu.nn.functional as tg_F

torch = pytest.importorskip("torch", exc_type=ImportError,
                            reason="PyTorch is not installed (or fails to import); the comparisons are skipped")

pytestmark = [pytest.mark.errors, pytest.mark.ops]

TORCH = types.SimpleNamespace(t=torch, nn=torch.nn, F=torch.nn.functional)
OURS = types.SimpleNamespace(t=tg, nn=tg_nn, F=tg_F)


def refused(call, error, *words):
    """PyTorch raises on call(lib); we raise `error` whose message holds every one of `words`."""
    with pytest.raises(Exception):
        call(TORCH)
    with pytest.raises(error) as info:
        call(OURS)
    for word in words:
        assert str(word) in str(info.value), f"{word!r} not in the error message: {info.value}"


def values(x):
    """Nested tuples of numpy arrays (for a tensor, or a tuple of tensors, of either library)."""
    if isinstance(x, (tuple, list)):
        return tuple(values(v) for v in x)
    if isinstance(x, torch.Tensor):
        return x.detach().numpy()
    return x.numpy() if isinstance(x, tg.Tensor) else np.asarray(x)


def same(call, rtol=1e-6, atol=1e-7):
    """call(lib) gives PyTorch's values, shapes and dtypes; returns (ours, theirs)."""
    theirs, ours = call(TORCH), call(OURS)
    ours_flat, theirs_flat = _flat(values(ours)), _flat(values(theirs))
    assert len(ours_flat) == len(theirs_flat)
    for a, b in zip(ours_flat, theirs_flat):
        assert a.shape == b.shape, f"shape {a.shape} != PyTorch's {b.shape}"
        assert a.dtype == b.dtype, f"dtype {a.dtype} != PyTorch's {b.dtype}"
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    return ours, theirs


def _flat(v):
    return [a for item in v for a in _flat(item)] if isinstance(v, tuple) else [v]


def with_torch_weights(ours, theirs):
    """Copy a PyTorch module's parameters into ours (same names and layouts)."""
    state = {name: tg.tensor(value.detach().numpy()) for name, value in theirs.state_dict().items()}
    ours.load_state_dict(state)
    return ours


# ==== item 3: silent wrong answers =====================================================================
# ---- recurrent layers refuse inputs and states of another dtype than their weights -------------------
@pytest.mark.parametrize("call, layer", [
    (lambda lib: lib.nn.LSTM(3, 4)(lib.t.ones(2, 1, 3, dtype=lib.t.int64)), "LSTM: input dtype"),
    (lambda lib: lib.nn.LSTM(3, 4)(lib.t.ones(2, 1, 3, dtype=lib.t.float64)), "LSTM: input dtype"),
    (lambda lib: lib.nn.LSTM(3, 4, batch_first=True)(lib.t.ones(1, 2, 3, dtype=lib.t.int64)), "LSTM: input dtype"),
    (lambda lib: lib.nn.LSTM(3, 4)(lib.t.ones(2, 3, dtype=lib.t.int64)), "LSTM: input dtype"),
    (lambda lib: lib.nn.LSTM(3, 4)(lib.t.ones(2, 1, 3), (lib.t.zeros(1, 1, 4, dtype=lib.t.int64),
                                                         lib.t.zeros(1, 1, 4))), "LSTM: h0 dtype"),
    (lambda lib: lib.nn.LSTM(3, 4)(lib.t.ones(2, 1, 3), (lib.t.zeros(1, 1, 4), lib.t.zeros(1, 1, 4,
                                                                                         dtype=lib.t.float64))),
     "LSTM: c0 dtype"),
    (lambda lib: lib.nn.LSTMCell(3, 4)(lib.t.ones(2, 3, dtype=lib.t.int64)), "LSTMCell: input dtype"),
    (lambda lib: lib.nn.LSTMCell(3, 4)(lib.t.ones(2, 3, dtype=lib.t.float64)), "LSTMCell: input dtype"),
    (lambda lib: lib.nn.LSTMCell(3, 4)(lib.t.ones(2, 3), (lib.t.zeros(2, 4, dtype=lib.t.float64),
                                                          lib.t.zeros(2, 4))), "LSTMCell: h0 dtype"),
    (lambda lib: lib.nn.GRU(3, 4)(lib.t.ones(2, 1, 3, dtype=lib.t.int64)), "GRU: input dtype"),
    (lambda lib: lib.nn.RNNCell(3, 4)(lib.t.ones(2, 3, dtype=lib.t.int64)), "RNNCell: input dtype"),
])
def test_recurrent_layers_refuse_another_dtype_than_their_weights(call, layer):
    refused(call, ValueError, layer, "does not match weight dtype")


def test_lstm_cell_converts_an_integer_c0_like_pytorch():
    torch.manual_seed(0)
    theirs = torch.nn.LSTMCell(3, 4)
    ours = with_torch_weights(tg_nn.LSTMCell(3, 4), theirs)
    x, h0, c0 = np.random.default_rng(0).normal(size=(2, 3)), np.zeros((2, 4)), np.arange(8).reshape(2, 4)
    modules = {id(TORCH): theirs, id(OURS): ours}
    same(lambda lib: modules[id(lib)](lib.t.tensor(x, dtype=lib.t.float32),
                                      (lib.t.tensor(h0, dtype=lib.t.float32), lib.t.tensor(c0))), rtol=1e-5)


# ---- LSTMCell: the state must have the batch's shape (no broadcasting of a batch-1 state) ------------
@pytest.mark.parametrize("x_shape, h_shape, c_shape, bad", [
    ((2, 3), (1, 4), (2, 4), "h0"), ((2, 3), (2, 4), (1, 4), "c0"), ((2, 3), (3, 4), (3, 4), "h0"),
    ((2, 3), (2, 5), (2, 5), "h0"), ((2, 3), (4,), (4,), "h0"), ((3,), (1, 4), (1, 4), "h0"),
])
def test_lstm_cell_state_must_fit_the_batch(x_shape, h_shape, c_shape, bad):
    refused(lambda lib: lib.nn.LSTMCell(3, 4)(lib.t.ones(*x_shape), (lib.t.zeros(*h_shape), lib.t.zeros(*c_shape))),
            ValueError, "LSTMCell", f"{bad} must have shape", h_shape if bad == "h0" else c_shape)


@pytest.mark.parametrize("batched", [True, False])
def test_lstm_cell_with_a_fitting_state_is_pytorch(batched):
    torch.manual_seed(0)
    theirs = torch.nn.LSTMCell(3, 4)
    ours = with_torch_weights(tg_nn.LSTMCell(3, 4), theirs)
    rng = np.random.default_rng(1)
    lead = (2,) if batched else ()
    x, h0, c0 = (rng.normal(size=lead + (n,)).astype(np.float32) for n in (3, 4, 4))
    modules = {id(TORCH): theirs, id(OURS): ours}
    same(lambda lib: modules[id(lib)](lib.t.tensor(x), (lib.t.tensor(h0), lib.t.tensor(c0))), rtol=1e-5)


# ---- scaled_dot_product_attention: a mask is bool or float ------------------------------------------
@pytest.mark.parametrize("dtype", ["int64", "bool", "float32"])
def test_sdpa_mask_must_be_bool_or_float(dtype):
    mask = np.array([[1, 0, 1], [1, 1, 0]])

    def call(lib):
        return lib.F.scaled_dot_product_attention(lib.t.ones(1, 2, 4), lib.t.ones(1, 3, 4),
                                                  lib.t.arange(12.0).reshape(1, 3, 4),
                                                  attn_mask=lib.t.tensor(mask).to(getattr(lib.t, dtype)))
    if dtype == "int64":
        refused(call, TypeError, "scaled_dot_product_attention", "attn_mask", "int64")
    else:
        same(call)


# ---- dims must be integers ---------------------------------------------------------------------------
FRACTIONAL_DIMS = {
    "sum": lambda lib, d: lib.t.ones(2, 3).sum(dim=d),
    "mean": lambda lib, d: lib.t.ones(2, 3).mean(d),
    "sum over a tuple": lambda lib, d: lib.t.ones(2, 3).sum((0, d)),
    "logsumexp": lambda lib, d: lib.t.ones(2, 3).logsumexp(d),
    "argmax": lambda lib, d: lib.t.ones(2, 3).argmax(d),
    "softmax": lambda lib, d: lib.t.ones(2, 3).softmax(d),
    "F.softmax": lambda lib, d: lib.F.softmax(lib.t.ones(2, 3), d),
    "F.log_softmax": lambda lib, d: lib.F.log_softmax(lib.t.ones(2, 3), d),
    "squeeze": lambda lib, d: lib.t.ones(2, 1).squeeze(d),
    "unsqueeze": lambda lib, d: lib.t.ones(2, 3).unsqueeze(d),
    "transpose": lambda lib, d: lib.t.ones(2, 3).transpose(0, d),
    "permute": lambda lib, d: lib.t.ones(2, 3).permute((d, 0)),
    "flatten": lambda lib, d: lib.t.ones(2, 3).flatten(d),
    "size": lambda lib, d: lib.t.ones(2, 3).size(d),
    "cumsum": lambda lib, d: lib.t.ones(2, 3).cumsum(d),
    "cat": lambda lib, d: lib.t.cat([lib.t.ones(2, 3), lib.t.ones(2, 3)], d),
    "stack": lambda lib, d: lib.t.stack([lib.t.ones(2, 3), lib.t.ones(2, 3)], d),
    "split": lambda lib, d: lib.t.ones(2, 3).split(1, d),
    "chunk": lambda lib, d: lib.t.ones(2, 3).chunk(2, d),
    "narrow": lambda lib, d: lib.t.ones(2, 3).narrow(d, 0, 1),
    "gather": lambda lib, d: lib.t.ones(2, 3).gather(d, lib.t.zeros(2, 3, dtype=lib.t.int64)),
    "topk": lambda lib, d: lib.t.ones(2, 3).topk(1, d),
    "argsort": lambda lib, d: lib.t.ones(2, 3).argsort(d),
}
OP_NAME = {"sum over a tuple": "sum", "F.softmax": "softmax", "F.log_softmax": "log_softmax"}


@pytest.mark.parametrize("dim", [1.5, 1.0, True], ids=["1.5", "1.0", "True"])
@pytest.mark.parametrize("op", list(FRACTIONAL_DIMS))
def test_a_dim_that_is_not_an_int_is_refused(op, dim):
    if op == "sum over a tuple" and dim is True:
        pytest.skip("PyTorch reads True inside a tuple of dims as 1; we refuse a bool dim everywhere")
    refused(lambda lib: FRACTIONAL_DIMS[op](lib, dim), TypeError, OP_NAME.get(op, op), "must be an int", repr(dim))


@pytest.mark.parametrize("dim", [np.int64(1), -1], ids=["numpy int", "python int"])
@pytest.mark.parametrize("op", list(FRACTIONAL_DIMS))
def test_integer_dims_of_any_integer_type_still_work(op, dim):
    same(lambda lib: FRACTIONAL_DIMS[op](lib, dim))


def test_a_0d_integer_tensor_is_a_dim_as_in_pytorch():
    same(lambda lib: lib.t.ones(2, 3).sum(dim=lib.t.tensor(1)))
    refused(lambda lib: lib.t.ones(2, 3).sum(dim=lib.t.tensor(1.0)), TypeError, "sum", "must be an int")


@pytest.mark.parametrize("call, op", [
    (lambda lib: lib.t.ones(3).split(1.0), "split_size"),
    (lambda lib: lib.t.ones(3).split([1.0, 2]), "section size"),
    (lambda lib: lib.t.ones(3).chunk(1.5), "chunks"),
    (lambda lib: lib.t.ones(3).narrow(0, 0.5, 1), "start"),
    (lambda lib: lib.F.layer_norm(lib.t.ones(2, 3), 3.0), "normalized_shape"),
])
def test_other_integer_arguments_are_not_truncated(call, op):
    refused(call, TypeError, op, "must be an int")


# ---- dims are range-checked on 0-d and 1-D tensors too -----------------------------------------------
OUT_OF_RANGE = [
    ("transpose", lambda lib: lib.t.ones(3).transpose(0, 5), (3,)),
    ("transpose", lambda lib: lib.t.ones(()).transpose(0, 5), ()),
    ("transpose", lambda lib: lib.t.ones(()).transpose(1, 0), ()),
    ("flatten", lambda lib: lib.t.ones(()).flatten(0, 1), ()),
    ("argsort", lambda lib: lib.t.ones(()).argsort(1), ()),
    ("argsort", lambda lib: lib.t.ones(()).sort(1), ()),
    ("softmax", lambda lib: lib.F.softmax(lib.t.ones(()), 1), ()),
    ("log_softmax", lambda lib: lib.F.log_softmax(lib.t.ones(()), -2), ()),
    ("topk", lambda lib: lib.t.ones(()).topk(1, 1), ()),
    ("cumsum", lambda lib: lib.t.ones(()).cumsum(1), ()),
    ("gather", lambda lib: lib.t.ones(()).gather(1, lib.t.tensor(0)), ()),
]


@pytest.mark.parametrize("op, call, shape", OUT_OF_RANGE, ids=[f"{op}-{i}" for i, (op, _, _) in
                                                              enumerate(OUT_OF_RANGE)])
def test_dims_out_of_range_are_refused_on_0d_and_1d_tensors(op, call, shape):
    refused(call, IndexError, op, "out of range", f"shape {shape}")


@pytest.mark.parametrize("call", [
    lambda lib: lib.t.ones(3).transpose(0, -1),
    lambda lib: lib.t.ones(()).transpose(0, -1),
    lambda lib: lib.t.ones(()).flatten(0, -1),
    lambda lib: lib.t.tensor(2.0).sort(0).values,
    lambda lib: lib.F.softmax(lib.t.tensor(2.0), -1),
    lambda lib: lib.t.tensor(2.0).topk(1, 0).values,
    lambda lib: lib.t.tensor(2.0).cumsum(-1),
    lambda lib: lib.t.tensor(3.0).gather(0, lib.t.tensor(0)),
    lambda lib: lib.t.tensor(3.0).scatter(0, lib.t.tensor(0), lib.t.tensor(5.0)),
    lambda lib: lib.t.tensor(3.0).scatter(-1, lib.t.tensor(0), value=5.0),
])
def test_dims_in_range_of_0d_and_1d_tensors_still_work(call):
    same(call)


# ---- layer_norm, bool matmul, pooling strides -----------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda lib: lib.F.layer_norm(lib.t.ones(2, 3), ()),
    lambda lib: lib.F.layer_norm(lib.t.ones(2, 3), [], lib.t.ones(()), lib.t.zeros(())),
    lambda lib: lib.nn.LayerNorm(())(lib.t.ones(2, 3)),
])
def test_layer_norm_over_no_dims_is_refused(call):
    refused(call, ValueError, "layer_norm", "normalized_shape")


@pytest.mark.parametrize("a, b", [("bool", "bool"), ("bool", "int64"), ("float32", "bool")])
@pytest.mark.parametrize("b_shape", [(2, 2), (2,)])
def test_matmul_of_bool_tensors_is_refused(a, b, b_shape):
    refused(lambda lib: lib.t.ones(2, 2, dtype=getattr(lib.t, a)) @ lib.t.ones(*b_shape, dtype=getattr(lib.t, b)),
            TypeError, "matmul", "bool")


def test_matmul_of_int_tensors_still_works():
    same(lambda lib: lib.t.arange(4).reshape(2, 2) @ lib.t.arange(4).reshape(2, 2))


POOL_ARGS = {"negative stride": dict(kernel_size=2, stride=-1), "a negative stride in a pair": dict(kernel_size=2,
                                                                                                    stride=(1, -1)),
             "stride 0": dict(kernel_size=2, stride=0), "kernel 0": dict(kernel_size=0),
             "negative kernel": dict(kernel_size=-1), "negative padding": dict(kernel_size=2, padding=-1)}


@pytest.mark.parametrize("pool", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("case", list(POOL_ARGS))
def test_pooling_refuses_non_positive_kernels_and_strides_and_negative_padding(pool, case):
    refused(lambda lib: getattr(lib.F, pool)(lib.t.ones(1, 1, 4, 4), **POOL_ARGS[case]), ValueError, pool,
            "kernel_size and stride must be >= 1 and padding >= 0")


def test_pooling_modules_refuse_stride_0():
    refused(lambda lib: lib.nn.MaxPool2d(2, stride=0)(lib.t.ones(1, 1, 4, 4)), ValueError, "max_pool2d", "stride")
    refused(lambda lib: lib.nn.AvgPool2d(2, stride=0)(lib.t.ones(1, 1, 4, 4)), ValueError, "avg_pool2d", "stride")


# ==== item 4: empty tensors and bad layer parameters ===================================================
# ---- reductions and normalisations over a size-0 dim --------------------------------------------------
@pytest.mark.parametrize("op", ["argmax", "argmin"])
@pytest.mark.parametrize("shape, dim", [((2, 0), 1), ((2, 0), -1), ((0,), 0), ((2, 0), None)])
def test_argmax_over_an_empty_dim_is_refused(op, shape, dim):
    refused(lambda lib: getattr(lib.t.ones(*shape), op)(dim), IndexError, op, f"shape {shape}")


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_argmax_over_a_full_dim_of_an_empty_tensor_is_empty(op, keepdim):
    same(lambda lib: getattr(lib.t.ones(2, 0), op)(0, keepdim=keepdim))


@pytest.mark.parametrize("shape, dim, keepdim", [((2, 0), 1, False), ((2, 0), -1, True), ((2, 0), (0, 1), False),
                                                 ((2, 0), 0, False), ((0,), 0, False), ((3, 0, 2), 1, True)])
def test_logsumexp_over_an_empty_dim_is_minus_inf(shape, dim, keepdim):
    def call(lib):
        x = lib.t.ones(*shape, requires_grad=True)
        y = x.logsumexp(dim, keepdim=keepdim)
        y.sum().backward()
        return y, x.grad
    same(call)


@pytest.mark.parametrize("op", ["F.softmax", "F.log_softmax", "softmax", "log_softmax"])
@pytest.mark.parametrize("shape, dim", [((2, 0), 1), ((2, 0), 0), ((0,), 0), ((0, 3), -1), ((2, 0, 3), 1)])
def test_softmax_over_an_empty_tensor_is_empty(op, shape, dim):
    def call(lib):
        x = lib.t.ones(*shape, requires_grad=True)
        fn = getattr(lib.F, op[2:]) if op.startswith("F.") else getattr(lib.t.Tensor, op)
        y = fn(x, dim)
        y.sum().backward()
        return y, x.grad
    same(call)


SDPA_EMPTY = {
    "no keys": ((1, 2, 4), (1, 0, 4), (1, 0, 4), {}),
    "no keys, causal": ((1, 2, 4), (1, 0, 4), (1, 0, 4), dict(is_causal=True)),
    "no keys, batched heads": ((2, 3, 2, 4), (2, 3, 0, 4), (2, 3, 0, 5), {}),
    "no queries": ((1, 0, 4), (1, 3, 4), (1, 3, 4), {}),
    "no batch": ((0, 2, 4), (0, 3, 4), (0, 3, 4), {}),
    "no features": ((1, 2, 0), (1, 3, 0), (1, 3, 2), {}),
    "no features, causal": ((1, 2, 0), (1, 3, 0), (1, 3, 2), dict(is_causal=True)),
    "no value features": ((1, 2, 4), (1, 3, 4), (1, 3, 0), {}),
}


@pytest.mark.parametrize("case", list(SDPA_EMPTY))
def test_sdpa_over_empty_dims_is_pytorch(case):
    shapes, kwargs = SDPA_EMPTY[case][:3], SDPA_EMPTY[case][3]
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=s).astype(np.float32) for s in shapes]

    def call(lib):
        q, k, v = (lib.t.tensor(a, requires_grad=True) for a in arrays)
        out = lib.F.scaled_dot_product_attention(q, k, v, **kwargs)
        out.sum().backward()
        return out, q.grad, k.grad, v.grad
    same(call, rtol=1e-5, atol=1e-6)


def test_sdpa_with_no_features_and_a_mask_is_pytorch():
    mask = np.array([[True, False, True], [False, False, True]])
    same(lambda lib: lib.F.scaled_dot_product_attention(lib.t.ones(1, 2, 0), lib.t.ones(1, 3, 0),
                                                        lib.t.arange(3.0).reshape(1, 3, 1),
                                                        attn_mask=lib.t.tensor(mask)))


# ---- linear with 0 features ------------------------------------------------------------------------------
@pytest.mark.parametrize("x_shape, w_shape, bias", [((2, 0), (3, 0), True), ((2, 0), (3, 0), False),
                                                    ((0,), (3, 0), True), ((4, 2, 0), (3, 0), True),
                                                    ((2, 3), (0, 3), True), ((2, 3), (0, 3), False),
                                                    ((0, 3), (2, 3), True)])
def test_linear_with_0_features_is_pytorch(x_shape, w_shape, bias):
    rng = np.random.default_rng(0)
    x, w, b = (rng.normal(size=s).astype(np.float32) for s in (x_shape, w_shape, w_shape[:1]))

    def call(lib):
        leaves = [lib.t.tensor(a, requires_grad=True) for a in ((x, w, b) if bias else (x, w))]
        y = lib.F.linear(*leaves)
        y.sum().backward()
        return (y,) + tuple(t.grad for t in leaves)
    same(call)


@pytest.mark.parametrize("n_in, n_out", [(0, 3), (3, 0)])
def test_linear_layer_with_0_features_is_pytorch(n_in, n_out):
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        layer = tg_nn.Linear(n_in, n_out)
    out = layer(tg.ones(2, n_in))
    assert out.shape == (2, n_out)
    np.testing.assert_array_equal(out.numpy(), 0.0)  # bias U(-0, 0) with no inputs, as PyTorch's


# ---- recurrent layers: batch 0, length 0 and bad sizes --------------------------------------------------
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_lstm_over_an_empty_batch_is_pytorch(batch_first, num_layers):
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(3, 4, num_layers=num_layers, batch_first=batch_first)
    ours = with_torch_weights(tg_nn.LSTM(3, 4, num_layers=num_layers, batch_first=batch_first), theirs)
    modules = {id(TORCH): theirs, id(OURS): ours}

    def call(lib):
        x = lib.t.ones(*((0, 5, 3) if batch_first else (5, 0, 3)), requires_grad=True)
        out, (h, c) = modules[id(lib)](x)
        (out.sum() + h.sum() + c.sum()).backward()
        return out, h, c, x.grad
    same(call)


@pytest.mark.parametrize("layer", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("shape", [(0, 2, 3), (0, 3)])
def test_recurrent_layers_over_an_empty_sequence_are_refused(layer, shape):
    refused(lambda lib: getattr(lib.nn, layer)(3, 4)(lib.t.ones(*shape)), ValueError, layer, "sequence length")


@pytest.mark.parametrize("kwargs, message", [
    (dict(hidden_size=0), "hidden_size must be greater than zero"),
    (dict(hidden_size=4, num_layers=0), "num_layers must be greater than zero"),
    (dict(hidden_size=4.0), "hidden_size should be of type int"),
])
def test_lstm_refuses_bad_sizes(kwargs, message):
    refused(lambda lib: lib.nn.LSTM(3, **kwargs), (ValueError, TypeError), "LSTM", message)


def test_lstm_cell_with_hidden_size_0_is_pytorch():
    theirs, ours = (lib.nn.LSTMCell(3, 0)(lib.t.ones(2, 3)) for lib in (TORCH, OURS))
    assert [tuple(t.shape) for t in theirs] == [t.shape for t in ours] == [(2, 0), (2, 0)]


# ---- cross_entropy and nll_loss with 0 classes, or a 0-d input -------------------------------------------
@pytest.mark.parametrize("op", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("input_shape, target_shape", [((2, 0), (2,)), ((2, 0, 3), (2, 3))])
def test_a_target_with_0_classes_is_out_of_range(op, input_shape, target_shape):
    refused(lambda lib: getattr(lib.F, op)(lib.t.ones(*input_shape), lib.t.zeros(*target_shape, dtype=lib.t.int64)),
            IndexError, op, "out of range for 0 classes")


@pytest.mark.parametrize("op", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("n", [0, 2])
def test_0_classes_with_every_target_ignored_is_pytorch(op, reduction, n):
    def call(lib):
        x = lib.t.ones(n, 0, requires_grad=True)
        loss = getattr(lib.F, op)(x, lib.t.full((n,), -100, dtype=lib.t.int64), reduction=reduction)
        loss.sum().backward()
        return loss, x.grad
    same(call)


@pytest.mark.parametrize("op", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("target_shape", [(), (1,)])
def test_class_losses_refuse_a_0d_input(op, target_shape):
    refused(lambda lib: getattr(lib.F, op)(lib.t.tensor(1.0), lib.t.zeros(target_shape, dtype=lib.t.int64)),
            ValueError, op, "0-d")


@pytest.mark.parametrize("op", ["cross_entropy", "nll_loss"])
def test_class_losses_on_one_unbatched_row_are_still_pytorch(op):
    same(lambda lib: getattr(lib.F, op)(lib.t.tensor([0.5, -1.0, 2.0]), lib.t.tensor(2)))
    same(lambda lib: getattr(lib.F, op)(lib.t.tensor([0.5, -1.0, 2.0]), lib.t.tensor([1])))
    refused(lambda lib: getattr(lib.F, op)(lib.t.tensor([0.5, -1.0, 2.0]), lib.t.tensor([1, 0])), ValueError, op,
            "one target")


@pytest.mark.parametrize("op", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
                                "binary_cross_entropy_with_logits"])
def test_pointwise_losses_on_0d_tensors_are_pytorch(op):
    same(lambda lib: getattr(lib.F, op)(lib.t.tensor(0.25), lib.t.tensor(1.0)))


@pytest.mark.parametrize("op", ["mse_loss", "l1_loss"])
def test_losses_on_integer_tensors_name_the_loss_not_mean(op):
    refused(lambda lib: getattr(lib.F, op)(lib.t.ones(3, dtype=lib.t.int64), lib.t.ones(3, dtype=lib.t.int64)),
            TypeError, op)


# ---- convolutions: groups, kernel size, stride, padding -------------------------------------------------
CONVS = {
    "conv1d": lambda lib, weight_shape, **kw: lib.F.conv1d(lib.t.ones(1, 2, 4), lib.t.ones(*weight_shape), **kw),
    "conv2d": lambda lib, weight_shape, **kw: lib.F.conv2d(lib.t.ones(1, 2, 4, 4), lib.t.ones(*weight_shape), **kw),
    "conv_transpose2d": lambda lib, weight_shape, **kw: lib.F.conv_transpose2d(lib.t.ones(1, 2, 4, 4),
                                                                               lib.t.ones(*weight_shape), **kw),
}
WEIGHT = {"conv1d": (2, 2, 3), "conv2d": (2, 2, 3, 3), "conv_transpose2d": (2, 2, 3, 3)}


@pytest.mark.parametrize("op", list(CONVS))
@pytest.mark.parametrize("groups", [0, -1])
def test_convolution_refuses_non_positive_groups(op, groups):
    refused(lambda lib: CONVS[op](lib, WEIGHT[op], groups=groups), ValueError, op, "groups must be a positive integer")


@pytest.mark.parametrize("op", list(CONVS))
def test_convolution_refuses_a_kernel_of_size_0(op):
    weight = WEIGHT[op][:2] + (0,) * (len(WEIGHT[op]) - 2)
    refused(lambda lib: CONVS[op](lib, weight), ValueError, op, "kernel size must be greater than zero", weight)


@pytest.mark.parametrize("op", list(CONVS))
@pytest.mark.parametrize("kwargs", [dict(stride=0), dict(stride=-1), dict(padding=-1)], ids=str)
def test_convolution_refuses_stride_0_and_negative_padding(op, kwargs):
    refused(lambda lib: CONVS[op](lib, WEIGHT[op], **kwargs), ValueError, op, list(kwargs)[0])


@pytest.mark.parametrize("layer", ["Conv1d", "Conv2d", "ConvTranspose2d"])
def test_convolution_layers_refuse_groups_0(layer):
    refused(lambda lib: getattr(lib.nn, layer)(2, 2, 3, groups=0), ValueError, layer,
            "groups must be a positive integer")


@pytest.mark.parametrize("layer, x_shape", [("Conv1d", (1, 2, 4)), ("Conv2d", (1, 2, 4, 4)),
                                            ("ConvTranspose2d", (1, 2, 4, 4))])
def test_convolution_layers_with_kernel_0_build_like_pytorch_and_refuse_to_run(layer, x_shape):
    with pytest.warns(UserWarning, match="zero-element"):
        module = getattr(tg_nn, layer)(2, 2, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        getattr(torch.nn, layer)(2, 2, 0)  # builds in PyTorch too (with the same warning)
    op = {"Conv1d": "conv1d", "Conv2d": "conv2d", "ConvTranspose2d": "conv_transpose2d"}[layer]
    with pytest.raises(ValueError, match=f"{op}: kernel size must be greater than zero"):
        module(tg.ones(*x_shape))


# ---- chunk, split, cat, size, narrow on 0-d tensors; and on empty dims ----------------------------------
@pytest.mark.parametrize("call, error, op", [
    (lambda lib: lib.t.ones(()).chunk(2), RuntimeError, "chunk"),
    (lambda lib: lib.t.ones(()).split(1), RuntimeError, "split"),
    (lambda lib: lib.t.ones(()).narrow(0, 0, 1), RuntimeError, "narrow"),
    (lambda lib: lib.t.cat([lib.t.ones(()), lib.t.ones(())]), RuntimeError, "cat"),
    (lambda lib: lib.t.cat([lib.t.ones(2), lib.t.ones(())]), RuntimeError, "cat"),
    (lambda lib: lib.t.ones(()).size(-1), IndexError, "size"),
    (lambda lib: lib.t.ones(()).size(0), IndexError, "size"),
])
def test_0d_tensors_have_no_dim_to_chunk_split_cat_or_size(call, error, op):
    refused(call, error, op, "0-d")


@pytest.mark.parametrize("call", [
    lambda lib: lib.t.ones(0).chunk(3),
    lambda lib: lib.t.ones(0).chunk(1),
    lambda lib: lib.t.ones(2, 0).chunk(2, 1),
    lambda lib: lib.t.ones(0).split(2),
    lambda lib: lib.t.ones(0).split(0),
    lambda lib: lib.t.ones(0).split([0, 0]),
    lambda lib: lib.t.ones(5).chunk(2),
    lambda lib: lib.t.ones(5).split([2, 0, 3]),
])
def test_chunk_and_split_of_empty_dims_are_pytorch(call):
    theirs, ours = call(TORCH), call(OURS)
    assert [tuple(t.shape) for t in theirs] == [t.shape for t in ours]


def test_split_size_0_is_refused_for_a_dim_that_is_not_empty():
    refused(lambda lib: lib.t.ones(3).split(0), ValueError, "split", "split_size")
    refused(lambda lib: lib.t.ones(3).split([4, -1]), ValueError, "split", "sections")


def test_size_of_a_0d_tensor_is_its_empty_shape():
    same(lambda lib: lib.t.zeros(lib.t.ones(()).size()))
