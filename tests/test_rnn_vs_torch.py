"""RNNCell, RNN, GRUCell and GRU against PyTorch (float64).

PyTorch's module is made first and its state_dict, converted to numpy, is loaded into ours through
load_state_dict: the same names and layouts must fit. Then both run on the same inputs and must give the
same output and h_n, and, backward from one random projection of both, the same gradients of the input,
of h0 and of every parameter. A float64 gradcheck covers the cells' and the layers' backward on its own,
and every bad argument must raise an error that names the layer and the shapes.

PyTorch is not a dependency of tinygrad_edu: without it this whole module is skipped.
"""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_edu as tg
import tinygrad_edu.nn as nn
import tinygrad_edu.nn.functional as F
from tinygrad_edu.nn.rnn import gru_update, rnn_update

torch = pytest.importorskip("torch", exc_type=ImportError,
                            reason="PyTorch is not installed (or fails to import); the comparisons are skipped")

pytestmark = pytest.mark.nn

RTOL, ATOL = 1e-10, 1e-12          # forward
GRAD_RTOL, GRAD_ATOL = 1e-8, 1e-10  # backward: sums over many steps


# ---- helpers ---------------------------------------------------------------------------------
def pair(ours_cls, theirs_cls, *args, seed=0, **kwargs):
    """Our module with PyTorch's weights, loaded from its state_dict as numpy arrays; both float64."""
    torch.manual_seed(seed)
    theirs = theirs_cls(*args, **kwargs).double()
    ours = ours_cls(*args, **kwargs).double()
    state = {name: value.numpy() for name, value in theirs.state_dict().items()}
    assert list(state) == list(ours.state_dict()), "parameter names or order differ from PyTorch"
    missing, unexpected = ours.load_state_dict(state)
    assert missing == [] and unexpected == []
    return ours, theirs


def leaves(*arrays):
    ours = [None if a is None else tg.tensor(a, dtype=tg.float64, requires_grad=True) for a in arrays]
    theirs = [None if a is None else torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    return ours, theirs


def close(ours, theirs, rtol=RTOL, atol=ATOL, msg=""):
    a, b = ours.numpy(), theirs.detach().numpy()
    assert a.shape == b.shape, (msg, a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=msg)


def backward_both(ours, theirs, seed=1):
    """One backward through each graph from the same random direction over all the outputs."""
    out = tg.cat([t.reshape(-1) for t in ours])
    t_out = torch.cat([t.reshape(-1) for t in theirs])
    v = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(tg.tensor(v))
    t_out.backward(torch.from_numpy(v))


def compare_grads(ours, theirs, inputs, t_inputs):
    t_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        close(p.grad, t_params[name].grad, GRAD_RTOL, GRAD_ATOL, msg=f"grad of {name}")
    for i, (x, tx) in enumerate(zip(inputs, t_inputs)):
        if x is not None:
            close(x.grad, tx.grad, GRAD_RTOL, GRAD_ATOL, msg=f"grad of input {i}")


# ---- parameters: names, layouts, initialisation -------------------------------------------------
LAYER_CONFIGS = [dict(), dict(num_layers=2), dict(bidirectional=True), dict(num_layers=3, bidirectional=True),
                 dict(bias=False, num_layers=2, bidirectional=True)]


@pytest.mark.parametrize("kind", ["RNN", "GRU"])
@pytest.mark.parametrize("config", LAYER_CONFIGS, ids=str)
def test_layer_parameters_have_pytorchs_names_shapes_and_order(kind, config):
    ours, theirs = getattr(nn, kind)(3, 5, **config), getattr(torch.nn, kind)(3, 5, **config)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("kind, kwargs", [("RNNCell", {}), ("RNNCell", dict(nonlinearity="relu", bias=False)),
                                          ("GRUCell", {}), ("GRUCell", dict(bias=False))])
def test_cell_parameters_have_pytorchs_names_and_shapes(kind, kwargs):
    ours, theirs = getattr(nn, kind)(3, 5, **kwargs), getattr(torch.nn, kind)(3, 5, **kwargs)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    assert repr(ours) == repr(theirs)
    if kwargs.get("bias") is False:
        assert ours.bias_ih is None and ours.bias_hh is None


@pytest.mark.parametrize("module", [nn.RNNCell(8, 50), nn.GRUCell(8, 50), nn.RNN(8, 50, num_layers=2),
                                    nn.GRU(8, 50, bidirectional=True)], ids=lambda m: type(m).__name__)
def test_initialisation_is_uniform_within_one_over_sqrt_hidden(module):
    bound = 1 / math.sqrt(50)
    values = np.concatenate([p.numpy().ravel() for p in module.parameters()])
    assert all(p.dtype == tg.float32 for p in module.parameters())
    assert np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.95 * bound and abs(values.mean()) < 0.05 * bound   # spread over the range
    assert np.std(values) == pytest.approx(bound / math.sqrt(3), rel=0.05)            # uniform's std: b/sqrt(3)


# ---- cells against PyTorch ----------------------------------------------------------------------
CELLS = [("RNNCell", {}), ("RNNCell", dict(nonlinearity="relu")), ("RNNCell", dict(bias=False)),
         ("GRUCell", {}), ("GRUCell", dict(bias=False))]


@pytest.mark.parametrize("kind, kwargs", CELLS, ids=str)
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("given_state", [True, False])
def test_cell_forward_and_backward_match_pytorch(kind, kwargs, batched, given_state):
    ours, theirs = pair(getattr(nn, kind), getattr(torch.nn, kind), 3, 4, **kwargs)
    rng = np.random.default_rng(0)
    batch = (2,) if batched else ()
    x, h0 = rng.standard_normal(batch + (3,)), rng.standard_normal(batch + (4,)) if given_state else None
    (x_, h_), (tx, th) = leaves(x, h0)
    h, t_h = ours(x_, h_), theirs(tx, th)
    close(h, t_h, msg="h'")
    backward_both([h], [t_h])
    compare_grads(ours, theirs, [x_, h_], [tx, th])


def test_cell_steps_chain_like_pytorch():
    """Three steps of a GRUCell, each fed the previous h: gradients flow through the whole chain."""
    ours, theirs = pair(nn.GRUCell, torch.nn.GRUCell, 2, 3)
    rng = np.random.default_rng(2)
    (x_, h_), (tx, th) = leaves(rng.standard_normal((3, 4, 2)), rng.standard_normal((4, 3)))
    h, t_h = h_, th
    for t in range(3):
        h, t_h = ours(x_[t], h), theirs(tx[t], t_h)
    close(h, t_h)
    backward_both([h], [t_h])
    compare_grads(ours, theirs, [x_, h_], [tx, th])


# ---- sequence layers against PyTorch ------------------------------------------------------------
SEQUENCE_CASES = {
    "one_layer": dict(),
    "two_layers": dict(num_layers=2),
    "batch_first": dict(num_layers=2, batch_first=True),
    "bidirectional": dict(bidirectional=True),
    "two_layers_bidirectional_batch_first": dict(num_layers=2, bidirectional=True, batch_first=True),
    "no_bias": dict(num_layers=2, bias=False, bidirectional=True),
    "relu": dict(num_layers=2, nonlinearity="relu"),
    "relu_bidirectional": dict(nonlinearity="relu", bidirectional=True, batch_first=True),
}


@pytest.mark.parametrize("kind, case", [(kind, case) for kind in ("RNN", "GRU") for case in SEQUENCE_CASES
                                        if kind == "RNN" or "nonlinearity" not in SEQUENCE_CASES[case]])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("given_state", [True, False])
def test_layer_forward_and_backward_match_pytorch(kind, case, batched, given_state):
    config = SEQUENCE_CASES[case]
    ours, theirs = pair(getattr(nn, kind), getattr(torch.nn, kind), 3, 4, **config)
    layers, directions = config.get("num_layers", 1), 2 if config.get("bidirectional") else 1
    rng = np.random.default_rng(3)
    if batched:
        x = rng.standard_normal((2, 5, 3) if config.get("batch_first") else (5, 2, 3))
        h0 = rng.standard_normal((layers * directions, 2, 4))
    else:
        x, h0 = rng.standard_normal((5, 3)), rng.standard_normal((layers * directions, 4))
    (x_, h_), (tx, th) = leaves(x, h0 if given_state else None)
    out, h_n = ours(x_, h_)
    t_out, t_h_n = theirs(tx, th)
    close(out, t_out, msg="output")
    close(h_n, t_h_n, msg="h_n")
    backward_both([out, h_n], [t_out, t_h_n])
    compare_grads(ours, theirs, [x_, h_], [tx, th])


@pytest.mark.parametrize("kind", ["RNN", "GRU"])
def test_float32_layers_match_pytorch(kind):
    torch.manual_seed(0)
    theirs = getattr(torch.nn, kind)(3, 4, num_layers=2, bidirectional=True)
    ours = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True)
    ours.load_state_dict({name: value.numpy() for name, value in theirs.state_dict().items()})
    x = np.random.default_rng(4).standard_normal((6, 2, 3)).astype(np.float32)
    out, h_n = ours(tg.tensor(x))
    t_out, t_h_n = theirs(torch.from_numpy(x))
    assert out.dtype == h_n.dtype == tg.float32
    close(out, t_out, 1e-5, 1e-6)
    close(h_n, t_h_n, 1e-5, 1e-6)


@pytest.mark.parametrize("kind", ["RNN", "GRU"])
def test_empty_batch_gives_empty_outputs_like_pytorch(kind):
    ours, theirs = pair(getattr(nn, kind), getattr(torch.nn, kind), 3, 4, bidirectional=True)
    out, h_n = ours(tg.zeros(5, 0, 3, dtype=tg.float64))
    t_out, t_h_n = theirs(torch.zeros(5, 0, 3, dtype=torch.float64))
    assert out.shape == tuple(t_out.shape) and h_n.shape == tuple(t_h_n.shape)


# ---- dropout between layers -----------------------------------------------------------------
@pytest.mark.parametrize("kind", ["RNN", "GRU"])
def test_dropout_one_zeroes_what_the_second_layer_sees_like_pytorch(kind):
    """p=1 drops every element (deterministically), so training mode can be compared exactly."""
    ours, theirs = pair(getattr(nn, kind), getattr(torch.nn, kind), 3, 4, num_layers=2, dropout=1.0,
                        bidirectional=True)
    x = np.random.default_rng(5).standard_normal((4, 2, 3))
    (x_,), (tx,) = leaves(x)
    out, h_n = ours(x_)
    t_out, t_h_n = theirs(tx)
    close(out, t_out)
    close(h_n, t_h_n)
    backward_both([out, h_n], [t_out, t_h_n])
    compare_grads(ours, theirs, [x_], [tx])


@pytest.mark.parametrize("kind", ["RNN", "GRU"])
def test_dropout_acts_only_in_training_and_only_between_layers(kind):
    ours, theirs = pair(getattr(nn, kind), getattr(torch.nn, kind), 3, 4, num_layers=2, dropout=0.5)
    x = tg.tensor(np.random.default_rng(6).standard_normal((4, 2, 3)))
    ours.eval(), theirs.eval()
    out, h_n = ours(x)
    t_out, t_h_n = theirs(torch.from_numpy(x.numpy()))
    close(out, t_out)
    close(h_n, t_h_n)
    ours.train()
    tg.manual_seed(0)
    dropped, dropped_h = ours(x)
    assert not np.allclose(dropped.numpy(), out.numpy())                 # the second layer saw a masked input
    np.testing.assert_allclose(dropped_h[0].numpy(), h_n[0].numpy())     # the first layer's state is untouched
    single = getattr(nn, kind)(3, 4, dropout=0.0).double()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        single(x)                                                        # no warning without dropout


@pytest.mark.parametrize("kind", ["RNN", "GRU"])
def test_dropout_with_one_layer_warns_like_pytorch(kind):
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        getattr(nn, kind)(3, 4, dropout=0.5)


# ---- gradcheck ------------------------------------------------------------------------------
@settings(max_examples=10)
@given(batch=st.integers(1, 3), n_in=st.integers(1, 3), hidden=st.integers(1, 3), bias=st.booleans(),
       nonlinearity=st.sampled_from(["tanh", "relu"]), seed=st.integers(0, 1000))
def test_gradcheck_rnn_cell(batch, n_in, hidden, bias, nonlinearity, seed):
    rng = np.random.default_rng(seed)
    x, h, w_ih, w_hh = (rng.standard_normal(s) for s in [(batch, n_in), (batch, hidden), (hidden, n_in),
                                                          (hidden, hidden)])
    args = [x, h, w_ih, w_hh] + ([rng.standard_normal(hidden), rng.standard_normal(hidden)] if bias else [])
    tensors = tuple(tg.tensor(a, requires_grad=True) for a in args)

    def step(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
        return rnn_update(F.linear(x, w_ih, b_ih), h, w_hh, b_hh, nonlinearity)
    assert tg.gradcheck(step, tensors)
    cell = nn.RNNCell(n_in, hidden, bias=bias, nonlinearity=nonlinearity).double()
    assert tg.gradcheck(lambda x, h: cell(x, h), tensors[:2])


@settings(max_examples=10)
@given(batch=st.integers(1, 3), n_in=st.integers(1, 3), hidden=st.integers(1, 3), bias=st.booleans(),
       seed=st.integers(0, 1000))
def test_gradcheck_gru_cell(batch, n_in, hidden, bias, seed):
    rng = np.random.default_rng(seed)
    x, h, w_ih, w_hh = (rng.standard_normal(s) for s in [(batch, n_in), (batch, hidden), (3 * hidden, n_in),
                                                          (3 * hidden, hidden)])
    args = [x, h, w_ih, w_hh] + ([rng.standard_normal(3 * hidden), rng.standard_normal(3 * hidden)] if bias else [])
    tensors = tuple(tg.tensor(a, requires_grad=True) for a in args)

    def step(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
        return gru_update(F.linear(x, w_ih, b_ih), h, w_hh, b_hh)
    assert tg.gradcheck(step, tensors)
    cell = nn.GRUCell(n_in, hidden, bias=bias).double()
    assert tg.gradcheck(lambda x, h: cell(x, h), tensors[:2])
    assert tg.gradcheck(lambda x: cell(x[0]), (tg.tensor(x, requires_grad=True),))   # unbatched, hx zeros


@pytest.mark.parametrize("kind", ["RNN", "GRU"])
def test_gradcheck_two_layer_bidirectional_layer(kind):
    module = getattr(nn, kind)(2, 3, num_layers=2, bidirectional=True, batch_first=True).double()
    rng = np.random.default_rng(7)
    x = tg.tensor(rng.standard_normal((2, 4, 2)), requires_grad=True)
    h0 = tg.tensor(rng.standard_normal((4, 2, 3)), requires_grad=True)

    def run(x, h0):
        out, h_n = module(x, h0)
        return tg.cat([out.reshape(-1), h_n.reshape(-1)])
    assert tg.gradcheck(run, (x, h0))


# ---- flatten_parameters -------------------------------------------------------------------------
@pytest.mark.parametrize("module", [nn.LSTM(2, 3), nn.RNN(2, 3), nn.GRU(2, 3)], ids=lambda m: type(m).__name__)
def test_flatten_parameters_is_a_harmless_no_op(module):
    x = tg.randn(4, 1, 2)
    before = module(x)[0].numpy()
    params = [p.numpy().copy() for p in module.parameters()]
    assert module.flatten_parameters() is None
    np.testing.assert_array_equal(module(x)[0].numpy(), before)
    for p, q in zip(module.parameters(), params):
        np.testing.assert_array_equal(p.numpy(), q)


# ---- errors ---------------------------------------------------------------------------------
LAYER_ERRORS = [
    ((5, 2, 3, 1), None, "Expected input to be 2D or 3D, got 4D tensor instead"),
    ((5, 2, 7), None, "input.size(-1) must be equal to input_size. Expected 3, got 7"),
    ((0, 2, 3), None, "Expected sequence length to be larger than 0"),
    ((5, 2, 3), (2, 4), "For batched 3-D input, hx should also be 3-D but got 2-D tensor"),
    ((5, 3), (2, 1, 4), "For unbatched 2-D input, hx should also be 2-D but got 3-D tensor"),
    ((5, 2, 3), (2, 3, 4), "Expected hidden size (2, 2, 4), got (2, 3, 4)"),
    ((5, 2, 3), (1, 2, 4), "Expected hidden size (2, 2, 4), got (1, 2, 4)"),
    ((5, 3), (2, 5), "Expected hidden size (2, 4), got (2, 5)"),
]


@pytest.mark.errors
@pytest.mark.parametrize("kind", ["RNN", "GRU"])
@pytest.mark.parametrize("x_shape, h_shape, message", LAYER_ERRORS, ids=lambda v: str(v))
def test_layer_rejects_bad_shapes_naming_the_layer_and_shapes(kind, x_shape, h_shape, message):
    module = getattr(nn, kind)(3, 4, bidirectional=True)
    hx = None if h_shape is None else tg.zeros(*h_shape)
    with pytest.raises(ValueError) as info:
        module(tg.zeros(*x_shape), hx)
    assert str(info.value).startswith(f"{kind}: ") and message in str(info.value)
    assert str(x_shape) in str(info.value)


CELL_ERRORS = [
    ((2, 2, 3), None, "Expected input to be 1D or 2D, got 3D instead"),
    ((2, 7), None, "input has inconsistent input_size: got 7 expected 3"),
    ((2, 3), (2, 5), "hidden0 has inconsistent hidden_size: got 5, expected 4"),
    ((2, 3), (3, 4), "Input batch size 2 doesn't match hidden0 batch size 3"),
    ((3,), (2, 4), "Expected hidden to be 1D like the input"),
    ((2, 3), (1, 2, 4), "Expected hidden to be 2D like the input"),
]


@pytest.mark.errors
@pytest.mark.parametrize("kind", ["RNNCell", "GRUCell"])
@pytest.mark.parametrize("x_shape, h_shape, message", CELL_ERRORS, ids=lambda v: str(v))
def test_cell_rejects_bad_shapes_naming_the_layer_and_shapes(kind, x_shape, h_shape, message):
    cell = getattr(nn, kind)(3, 4)
    hx = None if h_shape is None else tg.zeros(*h_shape)
    with pytest.raises(ValueError) as info:
        cell(tg.zeros(*x_shape), hx)
    assert str(info.value).startswith(f"{kind}: ") and message in str(info.value)
    assert str(x_shape if h_shape is None else h_shape) in str(info.value)


@pytest.mark.errors
@pytest.mark.parametrize("module", [nn.RNNCell(3, 4), nn.GRUCell(3, 4), nn.RNN(3, 4), nn.GRU(3, 4)],
                         ids=lambda m: type(m).__name__)
def test_dtype_mismatch_and_non_tensors_are_refused(module):
    name = type(module).__name__
    x = np.zeros((2, 3) if name.endswith("Cell") else (5, 2, 3))
    with pytest.raises(ValueError, match=f"{name}: input dtype \\(tinygrad_edu.float64\\) does not match weight "
                                         f"dtype \\(tinygrad_edu.float32\\)"):
        module(tg.tensor(x, dtype=tg.float64))
    with pytest.raises(ValueError, match=f"{name}: input dtype \\(tinygrad_edu.int64\\)"):
        module(tg.tensor(x.astype(np.int64)))
    with pytest.raises(TypeError, match=f"{name}: input must be a Tensor, got ndarray"):
        module(x)
    h = tg.zeros(2, 4, dtype=tg.float64) if name.endswith("Cell") else tg.zeros(1, 2, 4, dtype=tg.float64)
    with pytest.raises(ValueError, match=f"{name}: hx dtype"):
        module(tg.tensor(x, dtype=tg.float32), h)


@pytest.mark.errors
def test_bad_constructor_arguments_are_refused_like_pytorch():
    with pytest.raises(ValueError, match="RNN: Unknown nonlinearity 'gelu'. Select from 'tanh' or 'relu'."):
        nn.RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="RNNCell: Unknown nonlinearity 'gelu'"):
        nn.RNNCell(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="GRU: hidden_size must be greater than zero"):
        nn.GRU(3, 0)
    with pytest.raises(ValueError, match="RNN: num_layers must be greater than zero"):
        nn.RNN(3, 4, num_layers=0)
    with pytest.raises(TypeError, match="GRUCell: hidden_size should be of type int, got: float"):
        nn.GRUCell(3, 4.0)
    for dropout in (-0.1, 1.5, True, "0.5"):
        with pytest.raises(ValueError, match="GRU: dropout should be a number in range \\[0, 1\\]"):
            nn.GRU(3, 4, num_layers=2, dropout=dropout)
