"""tg.nn against PyTorch (float64): the same weights copied into the equivalent torch module, by
the same parameter names and layouts, must give the same outputs and the same parameter and
input gradients (backward from one random projection of the output).

PyTorch is not a dependency of tinygrad_edu: without it this whole module is skipped.
"""
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tinygrad_edu as tg
import tinygrad_edu.nn as nn
import tinygrad_edu.nn.functional as F

torch = pytest.importorskip("torch", exc_type=ImportError,
                            reason="PyTorch is not installed (or fails to import); the comparisons are skipped")
TF = torch.nn.functional

pytestmark = pytest.mark.nn

RTOL, ATOL = 1e-9, 1e-11


# ---- helpers ---------------------------------------------------------------------------------
def tg_leaf(a):
    return tg.tensor(np.array(a, dtype=np.float64), requires_grad=True)


def t_leaf(a):
    return torch.tensor(np.array(a, dtype=np.float64), requires_grad=True)


def t_const(a):
    return torch.from_numpy(np.array(a))


def tg_const(a):
    return tg.tensor(np.array(a))


def copy_into_torch(ours, theirs):
    """Copy every parameter and buffer of our module into the torch module of the same names."""
    t_params = dict(theirs.named_parameters())
    assert sorted(t_params) == sorted(n for n, _ in ours.named_parameters()), "parameter names differ from PyTorch"
    t_buffers = dict(theirs.named_buffers())
    with torch.no_grad():
        for name, p in ours.named_parameters():
            assert tuple(t_params[name].shape) == p.shape, (name, p.shape, tuple(t_params[name].shape))
            t_params[name].copy_(torch.from_numpy(p.numpy().astype(np.float64)))
        for name, b in ours.named_buffers():
            t_buffers[name].copy_(torch.from_numpy(b.numpy().astype(np.float64)))


def close(ours, theirs, rtol=RTOL, atol=ATOL, msg=""):
    a = ours.numpy() if isinstance(ours, tg.Tensor) else np.asarray(ours)
    b = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert a.shape == b.shape, (msg, a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=msg)


def backward_both(out, t_out, seed=0):
    """Backward through both graphs from the same random direction."""
    v = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(tg.tensor(v))
    t_out.backward(torch.from_numpy(v))


def compare_param_grads(ours, theirs, rtol=1e-8, atol=1e-10):
    t_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert p.grad is not None and t_params[name].grad is not None, name
        close(p.grad, t_params[name].grad, rtol, atol, msg=name)


def module_pair(ours, theirs):
    ours = ours.double()
    theirs = theirs.double()
    copy_into_torch(ours, theirs)
    return ours, theirs


def check_module(ours, theirs, *inputs, seed=0, rtol=RTOL, atol=ATOL):
    """Forward outputs, parameter grads and input grads of a single-output module."""
    ours, theirs = module_pair(ours, theirs)
    xs, txs = [tg_leaf(a) for a in inputs], [t_leaf(a) for a in inputs]
    out, t_out = ours(*xs), theirs(*txs)
    close(out, t_out, rtol, atol, msg="forward")
    backward_both(out, t_out, seed)
    compare_param_grads(ours, theirs)
    for i, (x, tx) in enumerate(zip(xs, txs)):
        close(x.grad, tx.grad, 1e-8, 1e-10, msg=f"input {i} grad")


# ---- layers ----------------------------------------------------------------------------------
@settings(max_examples=10)
@given(data=st.data())
def test_linear(data):
    n_in, n_out = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5))
    bias = data.draw(st.booleans())
    batch = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2)))
    x = np.random.default_rng(data.draw(st.integers(0, 1000))).standard_normal(batch + (n_in,))
    check_module(nn.Linear(n_in, n_out, bias=bias), torch.nn.Linear(n_in, n_out, bias=bias), x)


@settings(max_examples=15)
@given(data=st.data())
def test_conv2d(data):
    c = data.draw(st.integers(1, 4))
    groups = data.draw(st.sampled_from([g for g in (1, 2, 3, 4) if c % g == 0]))
    o = groups * data.draw(st.integers(1, 2))
    k = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    stride = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    padding = (data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2)))
    dilation = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
    h, w = data.draw(st.integers(3, 7)), data.draw(st.integers(3, 7))
    assume(h + 2 * padding[0] >= dilation[0] * (k[0] - 1) + 1 and w + 2 * padding[1] >= dilation[1] * (k[1] - 1) + 1)
    bias = data.draw(st.booleans())
    x = np.random.default_rng(data.draw(st.integers(0, 1000))).standard_normal((2, c, h, w))
    args = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias)
    check_module(nn.Conv2d(c, o, k, **args), torch.nn.Conv2d(c, o, k, **args), x)


@settings(max_examples=15)
@given(data=st.data())
def test_pooling(data):
    kind = data.draw(st.sampled_from(["max", "avg"]))
    k = data.draw(st.integers(1, 3))
    stride = data.draw(st.none() | st.integers(1, 3))
    padding = data.draw(st.integers(0, k // 2))
    h, w = data.draw(st.integers(2, 6)), data.draw(st.integers(2, 6))
    assume(min(h, w) + 2 * padding >= k)
    # distinct values (a permutation), so the max of every window is unique
    x = np.random.default_rng(data.draw(st.integers(0, 1000))).permutation(2 * 2 * h * w).reshape(2, 2, h, w) * 0.1
    ours = (nn.MaxPool2d if kind == "max" else nn.AvgPool2d)(k, stride, padding)
    theirs = (torch.nn.MaxPool2d if kind == "max" else torch.nn.AvgPool2d)(k, stride, padding)
    check_module(ours, theirs, x)


@pytest.mark.parametrize("cls, shape", [("BatchNorm1d", (5, 3)), ("BatchNorm1d", (4, 3, 2)),
                                        ("BatchNorm2d", (2, 3, 2, 3))])
def test_batchnorm_train_step_then_eval(cls, shape):
    tg.manual_seed(0)
    ours, theirs = module_pair(getattr(nn, cls)(3, momentum=0.2), getattr(torch.nn, cls)(3, momentum=0.2))
    rng = np.random.default_rng(0)
    with torch.no_grad():  # non-trivial affine parameters
        for p, tp in zip(ours.parameters(), theirs.parameters()):
            p.array[...] = rng.standard_normal(p.shape)
            tp.copy_(torch.from_numpy(p.numpy()))
    for step in range(2):  # training: batch statistics, running stats updated
        x = rng.standard_normal(shape) * 2 + 1
        xs, tx = tg_leaf(x), t_leaf(x)
        out, t_out = ours(xs), theirs(tx)
        close(out, t_out, 1e-9, 1e-10, msg="train forward")
        backward_both(out, t_out, seed=step)
        compare_param_grads(ours, theirs)
        close(xs.grad, tx.grad, 1e-8, 1e-10, msg="input grad")
        ours.zero_grad(), theirs.zero_grad()
        close(ours.running_mean, theirs.running_mean, 1e-12, 1e-14, msg="running_mean")
        close(ours.running_var, theirs.running_var, 1e-12, 1e-14, msg="running_var")
    ours.eval(), theirs.eval()
    x = rng.standard_normal(shape)
    xs, tx = tg_leaf(x), t_leaf(x)
    out, t_out = ours(xs), theirs(tx)
    close(out, t_out, msg="eval forward")
    backward_both(out, t_out)
    compare_param_grads(ours, theirs)
    close(xs.grad, tx.grad, 1e-9, 1e-11, msg="eval input grad")


@pytest.mark.parametrize("normalized_shape", [4, (3, 4)])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm(normalized_shape, affine):
    tg.manual_seed(1)
    ours = nn.LayerNorm(normalized_shape, elementwise_affine=affine)
    theirs = torch.nn.LayerNorm(normalized_shape, elementwise_affine=affine)
    if affine:
        for p in ours.parameters():
            tg.nn.init.uniform_(p, -1, 1)
    x = np.random.default_rng(1).standard_normal((2, 3, 4)) * 3
    if affine:
        check_module(ours, theirs, x)
    else:
        ours, theirs = module_pair(ours, theirs)
        xs, tx = tg_leaf(x), t_leaf(x)
        out, t_out = ours(xs), theirs(tx)
        close(out, t_out)
        backward_both(out, t_out)
        close(xs.grad, tx.grad, 1e-8, 1e-10)


def test_embedding():
    tg.manual_seed(2)
    ours, theirs = module_pair(nn.Embedding(6, 3), torch.nn.Embedding(6, 3))
    idx = np.array([[0, 5, 2], [2, 2, 1]])
    out, t_out = ours(tg_const(idx)), theirs(t_const(idx))
    close(out, t_out, 0, 0)
    backward_both(out, t_out)
    compare_param_grads(ours, theirs, 1e-12, 1e-14)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu(approximate):
    x = np.linspace(-6, 6, 60)
    out, t_out = F.gelu(tg_leaf(x), approximate), TF.gelu(t_leaf(x), approximate=approximate)
    close(out, t_out, 1e-12, 1e-14)
    check_module(nn.GELU(approximate), torch.nn.GELU(approximate), x.reshape(3, -1))


# ---- recurrent -------------------------------------------------------------------------------
def test_lstm_cell():
    tg.manual_seed(3)
    ours, theirs = module_pair(nn.LSTMCell(3, 4), torch.nn.LSTMCell(3, 4))
    rng = np.random.default_rng(3)
    x, h0, c0 = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    ins, t_ins = [tg_leaf(a) for a in (x, h0, c0)], [t_leaf(a) for a in (x, h0, c0)]
    h, c = ours(ins[0], (ins[1], ins[2]))
    th, tc = theirs(t_ins[0], (t_ins[1], t_ins[2]))
    close(h, th, msg="h")
    close(c, tc, msg="c")
    backward_both(tg.cat([h, c], -1), torch.cat([th, tc], -1))
    compare_param_grads(ours, theirs)
    for i, (a, b) in enumerate(zip(ins, t_ins)):
        close(a.grad, b.grad, 1e-8, 1e-10, msg=f"input {i}")


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("given_state", [False, True])
def test_lstm_two_layers(batch_first, given_state):
    tg.manual_seed(4)
    ours, theirs = module_pair(nn.LSTM(3, 4, num_layers=2, batch_first=batch_first),
                               torch.nn.LSTM(3, 4, num_layers=2, batch_first=batch_first))
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 5, 3) if batch_first else (5, 2, 3))
    h0, c0 = rng.standard_normal((2, 2, 4)), rng.standard_normal((2, 2, 4))
    ins, t_ins = [tg_leaf(a) for a in (x, h0, c0)], [t_leaf(a) for a in (x, h0, c0)]
    if given_state:
        out, (h, c) = ours(ins[0], (ins[1], ins[2]))
        t_out, (th, tc) = theirs(t_ins[0], (t_ins[1], t_ins[2]))
    else:
        out, (h, c) = ours(ins[0])
        t_out, (th, tc) = theirs(t_ins[0])
    close(out, t_out, msg="output")
    close(h, th, msg="h_n")
    close(c, tc, msg="c_n")
    backward_both(tg.cat([out.reshape(-1), h.reshape(-1), c.reshape(-1)]),
                  torch.cat([t_out.reshape(-1), th.reshape(-1), tc.reshape(-1)]))
    compare_param_grads(ours, theirs)
    for i, (a, b) in enumerate(zip(ins, t_ins) if given_state else [(ins[0], t_ins[0])]):
        close(a.grad, b.grad, 1e-8, 1e-10, msg=f"input {i}")


def test_lstm_unbatched():
    tg.manual_seed(5)
    ours, theirs = module_pair(nn.LSTM(2, 3), torch.nn.LSTM(2, 3))
    x = np.random.default_rng(5).standard_normal((4, 2))
    out, (h, c) = ours(tg_const(x))
    t_out, (th, tc) = theirs(t_const(x))
    close(out, t_out)
    close(h, th)
    close(c, tc)


# ---- attention -------------------------------------------------------------------------------
MHA_CASES = {
    "self": dict(cross=False, kpm=False, mask=None),
    "self_bool_mask": dict(cross=False, kpm=False, mask="bool"),
    "self_causal_float_mask_padding": dict(cross=False, kpm=True, mask="causal_float"),
    "cross_padding": dict(cross=True, kpm=True, mask=None),
    "cross_bool_mask_padding": dict(cross=True, kpm=True, mask="bool"),
    "cross_float_mask": dict(cross=True, kpm=False, mask="float"),
    "cross_float_mask_padding": dict(cross=True, kpm=True, mask="float"),
    "cross_3d_bool_mask": dict(cross=True, kpm=False, mask="bool3d"),
}


@pytest.mark.parametrize("case", list(MHA_CASES))
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_attention(case, batch_first, need_weights):
    cfg = MHA_CASES[case]
    tg.manual_seed(6)
    E, heads, N, L = 6, 2, 2, 3
    S = 4 if cfg["cross"] else L
    ours, theirs = module_pair(nn.MultiheadAttention(E, heads, batch_first=batch_first),
                               torch.nn.MultiheadAttention(E, heads, batch_first=batch_first))
    with torch.no_grad():  # non-zero biases, so their gradients mean something
        for name in ("in_proj_bias", "out_proj.bias"):
            p = dict(ours.named_parameters())[name]
            p.array[...] = np.random.default_rng(7).uniform(-0.5, 0.5, p.shape)
            dict(theirs.named_parameters())[name].copy_(torch.from_numpy(p.numpy()))
    rng = np.random.default_rng(8)
    shape = lambda n: (N, n, E) if batch_first else (n, N, E)  # noqa: E731
    q = rng.standard_normal(shape(L))
    k = rng.standard_normal(shape(S)) if cfg["cross"] else q
    v = rng.standard_normal(shape(S)) if cfg["cross"] else q
    mask = None
    if cfg["mask"] == "bool":
        mask = rng.random((L, S)) < 0.4
        mask[:, 0] = False  # True = blocked; key 0 stays visible from every query
    elif cfg["mask"] == "bool3d":
        mask = rng.random((N * heads, L, S)) < 0.4
        mask[..., -1] = False
    elif cfg["mask"] == "float":
        mask = rng.standard_normal((L, S))
    elif cfg["mask"] == "causal_float":
        mask = np.where(np.tril(np.ones((L, S), dtype=bool)), 0.0, -np.inf)
    kpm = None
    if cfg["kpm"]:
        kpm = np.zeros((N, S), dtype=bool)
        kpm[0, -1] = kpm[1, 1] = True
    if cfg["cross"]:
        ins, t_ins = [tg_leaf(a) for a in (q, k, v)], [t_leaf(a) for a in (q, k, v)]
        args, t_args = ins, t_ins
    else:
        ins, t_ins = [tg_leaf(q)], [t_leaf(q)]
        args, t_args = ins * 3, t_ins * 3
    kw = dict(need_weights=need_weights)
    out, w = ours(*args, key_padding_mask=None if kpm is None else tg_const(kpm),
                  attn_mask=None if mask is None else tg_const(mask), **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about mixing bool padding and float attn masks
        t_out, t_w = theirs(*t_args, key_padding_mask=None if kpm is None else t_const(kpm),
                            attn_mask=None if mask is None else t_const(mask), **kw)
    close(out, t_out, 1e-9, 1e-11, msg="output")
    if need_weights:
        close(w, t_w, 1e-9, 1e-11, msg="averaged attention weights")
        backward_both(tg.cat([out.reshape(-1), w.reshape(-1)]), torch.cat([t_out.reshape(-1), t_w.reshape(-1)]))
    else:
        assert w is None and t_w is None
        backward_both(out, t_out)
    compare_param_grads(ours, theirs)
    for i, (a, b) in enumerate(zip(ins, t_ins)):
        close(a.grad, b.grad, 1e-8, 1e-10, msg=f"input {i}")


def test_multihead_attention_is_causal_matches_torch_causal_mask():
    tg.manual_seed(9)
    ours, theirs = module_pair(nn.MultiheadAttention(4, 2), torch.nn.MultiheadAttention(4, 2))
    x = np.random.default_rng(9).standard_normal((3, 2, 4))
    causal = torch.nn.Transformer.generate_square_subsequent_mask(3, dtype=torch.float64)
    for need_weights in (True, False):
        out, _ = ours(tg_const(x), tg_const(x), tg_const(x), is_causal=True, need_weights=need_weights)
        t_out, _ = theirs(t_const(x), t_const(x), t_const(x), attn_mask=causal, is_causal=True,
                          need_weights=need_weights)
        close(out, t_out)


@pytest.mark.parametrize("mask_kind", ["none", "causal", "bool", "float", "bool_broadcast"])
@pytest.mark.parametrize("lengths", [(3, 3), (2, 4), (4, 2)])
def test_scaled_dot_product_attention(mask_kind, lengths):
    L, S = lengths
    rng = np.random.default_rng(10)
    q, k, v = rng.standard_normal((2, 2, L, 3)), rng.standard_normal((2, 2, S, 3)), rng.standard_normal((2, 2, S, 5))
    mask = None
    if mask_kind == "bool":
        mask = rng.random((2, 2, L, S)) < 0.6  # True = may attend
        mask[..., 0] = True
    elif mask_kind == "bool_broadcast":
        mask = rng.random((2, 1, L, S)) < 0.6
        mask[..., -1] = True
    elif mask_kind == "float":
        mask = rng.standard_normal((L, S))
    ins, t_ins = [tg_leaf(a) for a in (q, k, v)], [t_leaf(a) for a in (q, k, v)]
    causal = mask_kind == "causal"
    out = F.scaled_dot_product_attention(*ins, attn_mask=None if mask is None else tg_const(mask), is_causal=causal)
    t_out = TF.scaled_dot_product_attention(*t_ins, attn_mask=None if mask is None else t_const(mask),
                                            is_causal=causal)
    close(out, t_out)
    backward_both(out, t_out)
    for i, (a, b) in enumerate(zip(ins, t_ins)):
        close(a.grad, b.grad, 1e-8, 1e-10, msg=f"input {i}")


def test_scaled_dot_product_attention_custom_scale():
    rng = np.random.default_rng(11)
    q, k, v = (rng.standard_normal((3, 4)) for _ in range(3))
    out = F.scaled_dot_product_attention(tg_const(q), tg_const(k), tg_const(v), scale=0.3)
    close(out, TF.scaled_dot_product_attention(t_const(q), t_const(k), t_const(v), scale=0.3))


# ---- losses ----------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("extra_dims", [(), (2,), (2, 3)])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.15])
def test_cross_entropy(reduction, extra_dims, label_smoothing):
    rng = np.random.default_rng(12)
    logits = rng.standard_normal((4, 5) + extra_dims) * 3
    target = rng.integers(0, 5, (4,) + extra_dims)
    target.reshape(-1)[::3] = 3 if reduction == "sum" else -100  # some ignored (the index 3 is ignored below)
    ignore_index = 3 if reduction == "sum" else -100
    x, tx = tg_leaf(logits), t_leaf(logits)
    out = F.cross_entropy(x, tg_const(target), ignore_index=ignore_index, reduction=reduction,
                          label_smoothing=label_smoothing)
    t_out = TF.cross_entropy(tx, t_const(target), ignore_index=ignore_index, reduction=reduction,
                             label_smoothing=label_smoothing)
    close(out, t_out)
    backward_both(out, t_out)
    close(x.grad, tx.grad, 1e-9, 1e-12)


def test_nll_loss():
    rng = np.random.default_rng(13)
    logp = rng.standard_normal((4, 3, 2))
    target = np.array([[0, 2], [1, -100], [2, 2], [-100, 0]])
    x, tx = tg_leaf(logp), t_leaf(logp)
    out, t_out = F.nll_loss(x, tg_const(target)), TF.nll_loss(tx, t_const(target))
    close(out, t_out)
    backward_both(out, t_out)
    close(x.grad, tx.grad)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_with_logits(reduction, weighted):
    rng = np.random.default_rng(14)
    logits, target = rng.standard_normal((4, 3)) * 3, rng.random((4, 3))
    pos_weight, weight = rng.uniform(0.2, 3.0, 3), (rng.uniform(0.2, 2.0, (4, 3)) if weighted else None)
    ins, t_ins = [tg_leaf(logits), tg_leaf(target)], [t_leaf(logits), t_leaf(target)]
    # (torch does not differentiate with respect to `weight`, so it is a constant here)
    out = F.binary_cross_entropy_with_logits(ins[0], ins[1], weight=tg_const(weight) if weighted else None,
                                             reduction=reduction, pos_weight=tg_const(pos_weight))
    t_out = TF.binary_cross_entropy_with_logits(t_ins[0], t_ins[1], weight=t_const(weight) if weighted else None,
                                                reduction=reduction, pos_weight=t_const(pos_weight))
    close(out, t_out)
    backward_both(out, t_out)
    for i, (a, b) in enumerate(zip(ins, t_ins)):  # the logits and the soft targets
        close(a.grad, b.grad, 1e-9, 1e-12, msg=f"input {i}")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction):
    rng = np.random.default_rng(15)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    ins, t_ins = [tg_leaf(a), tg_leaf(b)], [t_leaf(a), t_leaf(b)]
    out, t_out = F.mse_loss(*ins, reduction=reduction), TF.mse_loss(*t_ins, reduction=reduction)
    close(out, t_out)
    backward_both(out, t_out)
    for x, tx in zip(ins, t_ins):
        close(x.grad, tx.grad)


@pytest.mark.parametrize("kernel, stride, padding", [(2, 2, 0), (3, 1, 1), (3, 2, 1), (2, 1, 0)])
def test_max_pool2d_ties_route_the_gradient_like_torch(kernel, stride, padding):
    """With ties the gradient goes to the first maximal element of each window (row-major), as in PyTorch."""
    x = np.random.default_rng(16).integers(0, 3, (2, 2, 5, 5)).astype(np.float64)
    x[0, 0] = 1.0  # a whole channel of ties
    ours, theirs = tg_leaf(x), t_leaf(x)
    out, t_out = F.max_pool2d(ours, kernel, stride, padding), TF.max_pool2d(theirs, kernel, stride, padding)
    close(out, t_out, 0, 0)
    backward_both(out, t_out)
    close(ours.grad, theirs.grad, 1e-12, 1e-12)
