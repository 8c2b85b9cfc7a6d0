"""tg.nn modules: the Module machinery (names, state dicts, modes, dtypes, containers), the layers'
parameter layouts and default initialisation, LSTMCell/LSTM/MultiheadAttention against numpy
computations of their definitions, and finite-difference checks of their gradients.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_edu as tg
import tinygrad_edu.nn as nn
import tinygrad_edu.nn.functional as F
from tinygrad_edu.nn import init
from numpy_reference import lstm_step_ref, sigmoid_np, softmax_np

pytestmark = pytest.mark.nn


# ---- helpers ---------------------------------------------------------------------------------
def const(a, dtype=np.float64):
    return tg.tensor(np.array(a, dtype=dtype))


def leaf(a):
    return tg.tensor(np.array(a, dtype=np.float64), requires_grad=True)








def lstm_ref(module, x, h0, c0):
    """x (T, B, I), h0/c0 (layers, B, H): every layer, every step, from the gate equations."""
    p = {n: t.numpy().astype(np.float64) for n, t in module.named_parameters()}
    h_n, c_n = [], []
    for k in range(module.num_layers):
        h, c = h0[k], c0[k]
        outs = []
        for t in range(x.shape[0]):
            h, c = lstm_step_ref(x[t], h, c, p[f"weight_ih_l{k}"], p[f"weight_hh_l{k}"], p.get(f"bias_ih_l{k}"),
                                 p.get(f"bias_hh_l{k}"))
            outs.append(h)
        x = np.stack(outs)
        h_n.append(h)
        c_n.append(c)
    return x, np.stack(h_n), np.stack(c_n)


def mha_ref(module, query, key, value, attn_mask=None, key_padding_mask=None):
    """Sequence-first (L, N, E) inputs; masks in PyTorch's MultiheadAttention convention (bool True = blocked)."""
    p = {n: t.numpy().astype(np.float64) for n, t in module.named_parameters()}
    E, heads = module.embed_dim, module.num_heads
    d = E // heads
    W, b = p["in_proj_weight"], p.get("in_proj_bias", np.zeros(3 * E))
    Q, K, V = query @ W[:E].T + b[:E], key @ W[E:2 * E].T + b[E:2 * E], value @ W[2 * E:].T + b[2 * E:]
    L, N, _ = query.shape
    S = key.shape[0]
    out = np.zeros((L, N, E))
    weights = np.zeros((N, heads, L, S))
    for n in range(N):
        for h in range(heads):
            cols = slice(h * d, (h + 1) * d)
            scores = Q[:, n, cols] @ K[:, n, cols].T / math.sqrt(d)
            if attn_mask is not None:
                m = attn_mask if attn_mask.ndim == 2 else attn_mask[n * heads + h]
                scores = np.where(m, -np.inf, scores) if m.dtype == bool else scores + m
            if key_padding_mask is not None:
                scores = np.where(key_padding_mask[n][None, :], -np.inf, scores)
            prob = softmax_np(scores)
            weights[n, h] = prob
            out[:, n, cols] = prob @ V[:, n, cols]
    out = out @ p["out_proj.weight"].T + p.get("out_proj.bias", 0.0)
    return out, weights.mean(axis=1)


def module_param_gradcheck(module, forward, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Backward through the module's own parameters against central differences that perturb them in place."""
    out = forward()
    v = np.random.default_rng(seed).standard_normal(out.shape)
    module.zero_grad()
    out.backward(tg.tensor(v))
    checked = 0
    for name, p in module.named_parameters():
        analytic = np.zeros(p.shape) if p.grad is None else p.grad.numpy().copy()
        numerical = np.zeros(p.shape)
        for idx in np.ndindex(*p.shape):
            original = p.array[idx].item()
            values = []
            for delta in (eps, -eps):
                p.array[idx] = original + delta
                with tg.no_grad():
                    values.append(float((forward().numpy() * v).sum()))
            p.array[idx] = original
            numerical[idx] = (values[0] - values[1]) / (2 * eps)
        np.testing.assert_allclose(analytic, numerical, rtol=rtol, atol=atol, err_msg=name)
        checked += 1
    assert checked == len(list(module.parameters()))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(5, 4)
        self.lstm = nn.LSTM(4, 4, num_layers=2)
        self.attn = nn.MultiheadAttention(4, 2)
        self.norm = nn.LayerNorm(4)
        self.head = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Dropout(0.5), nn.Linear(3, 2))
        self.bn = nn.BatchNorm1d(2)

    def forward(self, idx):
        x, _ = self.lstm(self.embed(idx))
        x, _ = self.attn(x, x, x)
        y = self.head(self.norm(x))
        return self.bn(y.reshape(-1, 2))


# ---- names and traversal ---------------------------------------------------------------------
def test_named_parameters_follow_pytorch_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    expected = (["embed.weight"]
                + [f"lstm.{w}_l{k}" for k in range(2) for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                + ["attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight", "attn.out_proj.bias",
                   "norm.weight", "norm.bias", "head.0.weight", "head.0.bias", "head.3.weight", "head.3.bias",
                   "bn.weight", "bn.bias"])
    assert names == expected
    assert [id(p) for p in net.parameters()] == [id(p) for _, p in net.named_parameters()]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert [n for n, _ in net.named_buffers()] == ["bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]
    assert list(net.state_dict()) == expected[:-2] + ["bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
                                                      "bn.num_batches_tracked"]


def test_shared_parameter_is_listed_once():
    lin = nn.Linear(3, 3)
    seq = nn.Sequential(lin, nn.Tanh(), lin)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]


def test_named_modules_and_children():
    seq = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), nn.Linear(2, 1)))
    assert [n for n, _ in seq.named_modules()] == ["", "0", "1", "1.0", "1.1"]
    assert len(list(seq.children())) == 2


def test_assigning_before_super_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(tg.zeros(2))

    with pytest.raises(RuntimeError, match="super"):
        Bad()


# ---- state dicts -----------------------------------------------------------------------------
def test_state_dict_round_trip():
    tg.manual_seed(0)
    a = Net().double()
    tg.manual_seed(1)
    b = Net().double()
    idx = const([[0, 1], [4, 2], [3, 3]], np.int64)
    a.eval(), b.eval()
    a.bn.running_mean.array[...] = np.arange(2.0)  # buffers travel too
    assert not np.allclose(a(idx).numpy(), b(idx).numpy())
    result = b.load_state_dict(a.state_dict())
    assert result == ([], [])
    np.testing.assert_array_equal(a(idx).numpy(), b(idx).numpy())
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert na == nb
        np.testing.assert_array_equal(pa.numpy(), pb.numpy())
    # values are copied, not aliased
    a.head[0].weight.array[...] += 1.0
    assert not np.allclose(a.head[0].weight.numpy(), b.head[0].weight.numpy())


def test_state_dict_entries_are_detached_and_share_data():
    lin = nn.Linear(2, 2)
    sd = lin.state_dict()
    assert not sd["weight"].requires_grad and sd["weight"].grad_fn is None
    lin.weight.array[...] = 7.0
    np.testing.assert_array_equal(sd["weight"].numpy(), np.full((2, 2), 7.0, np.float32))


def test_load_state_dict_accepts_numpy_arrays():
    lin = nn.Linear(3, 2)
    w, b = np.arange(6.0).reshape(2, 3), np.array([1.0, -1.0])
    lin.load_state_dict({"weight": w, "bias": b})
    np.testing.assert_array_equal(lin.weight.numpy(), w.astype(np.float32))
    assert lin.weight.dtype == tg.float32  # the model keeps its own dtype
    np.testing.assert_array_equal(lin.bias.numpy(), b.astype(np.float32))


def test_load_state_dict_strict_errors():
    lin = nn.Linear(3, 2)
    sd = lin.state_dict()
    missing = {"weight": sd["weight"]}
    with pytest.raises(KeyError) as e:
        lin.load_state_dict(missing)
    assert "bias" in str(e.value)
    extra = dict(sd, extra=tg.zeros(1))
    with pytest.raises(KeyError) as e:
        lin.load_state_dict(extra)
    assert "extra" in str(e.value)
    assert lin.load_state_dict(missing, strict=False) == (["bias"], [])
    assert lin.load_state_dict(extra, strict=False) == ([], ["extra"])
    with pytest.raises(ValueError, match="weight") as e:
        lin.load_state_dict({"weight": tg.zeros(3, 2), "bias": sd["bias"]})
    assert "(3, 2)" in str(e.value) and "(2, 3)" in str(e.value)


# ---- modes, gradients, dtypes, devices -------------------------------------------------------
def test_train_eval_propagate_to_every_submodule():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.train(False)
    assert not any(m.training for m in net.modules())


def test_dropout_switches_with_train_and_eval():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    x = const(np.ones((50, 4)), np.float32)
    tg.manual_seed(0)
    out_train = model(x).numpy()
    model.eval()
    out_eval = model(x).numpy()
    clean = model[0](x).numpy()
    np.testing.assert_array_equal(out_eval, clean)
    dropped = out_train == 0
    assert 0.3 < dropped.mean() < 0.7
    np.testing.assert_allclose(out_train[~dropped], 2 * clean[~dropped], rtol=1e-6)


def test_batchnorm_switches_with_train_and_eval():
    rng = np.random.default_rng(0)
    bn = nn.BatchNorm1d(3).double()
    x = rng.standard_normal((6, 3)) * 3 + 2
    out = bn(const(x)).numpy()
    np.testing.assert_allclose(out, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-10)
    rm, rv = bn.running_mean.numpy().copy(), bn.running_var.numpy().copy()
    np.testing.assert_allclose(rm, 0.1 * x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(rv, 0.9 + 0.1 * x.var(0, ddof=1), rtol=1e-12)
    bn.eval()
    out = bn(const(x)).numpy()
    np.testing.assert_allclose(out, (x - rm) / np.sqrt(rv + 1e-5), rtol=1e-10)
    np.testing.assert_array_equal(bn.running_mean.numpy(), rm)  # eval does not update the stats
    np.testing.assert_array_equal(bn.running_var.numpy(), rv)


def test_batchnorm_without_running_stats_always_uses_the_batch():
    bn = nn.BatchNorm2d(2, track_running_stats=False, affine=False).double().eval()
    x = np.random.default_rng(1).standard_normal((2, 2, 2, 2))
    mean, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(bn(const(x)).numpy(), (x - mean) / np.sqrt(var + 1e-5), rtol=1e-10)
    assert list(bn.parameters()) == [] and list(bn.state_dict()) == []


def test_batchnorm_rejects_wrong_rank():
    with pytest.raises(ValueError, match="BatchNorm2d"):
        nn.BatchNorm2d(3)(tg.zeros(2, 3))


def test_zero_grad():
    lin = nn.Linear(3, 2)
    lin(tg.ones(4, 3)).sum().backward()
    assert all(p.grad is not None for p in lin.parameters())
    lin.zero_grad(set_to_none=False)
    for p in lin.parameters():
        np.testing.assert_array_equal(p.grad.numpy(), np.zeros(p.shape))
    lin(tg.ones(4, 3)).sum().backward()
    np.testing.assert_allclose(lin.bias.grad.numpy(), [4.0, 4.0])  # accumulated onto zeros, not onto old grads
    lin.zero_grad()
    assert all(p.grad is None for p in lin.parameters())


def test_double_and_float_keep_parameter_identity():
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    params = list(net.parameters())
    values = [p.numpy().copy() for p in params]
    net(tg.ones(4, 3)).sum().backward()
    assert net.double() is net
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    assert all(p.dtype == tg.float64 and p.grad.dtype == tg.float64 for p in params)
    assert all(b.dtype == tg.float64 for b in net.buffers() if b.dtype != tg.int64)  # counters stay int64
    for p, v in zip(params, values):
        np.testing.assert_array_equal(p.numpy(), v.astype(np.float64))
    assert net(tg.ones(4, 3, dtype=tg.float64)).dtype == tg.float64
    net.float()
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    assert all(p.dtype == tg.float32 and p.requires_grad for p in params)
    assert all(b.dtype == tg.float32 for b in net.buffers() if b.dtype != tg.int64)


def test_to_cpu_keeps_identity():
    lin = nn.Linear(2, 2)
    params = list(lin.parameters())
    assert lin.to("cpu") is lin and lin.cpu() is lin
    assert [id(p) for p in lin.parameters()] == [id(p) for p in params]
    assert all(p.device == "cpu" for p in params)


def test_mixing_dtypes_is_a_clear_error():
    lin = nn.Linear(2, 2)  # float32
    with pytest.raises(TypeError, match="linear"):
        lin(tg.ones(3, 2, dtype=tg.float64))


# ---- containers ------------------------------------------------------------------------------
def test_sequential_indexing_len_iteration():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3
    assert seq[0] is layers[0] and seq[-1] is layers[2]
    assert list(seq) == layers
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and list(head) == layers[:2]
    x = tg.randn(4, 2)
    np.testing.assert_allclose(seq(x).numpy(), layers[2](layers[1](layers[0](x))).numpy(), rtol=1e-6)
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and [n for n, _ in seq.named_modules()][1:] == ["0", "1", "2", "3"]
    named = nn.Sequential({"fc": nn.Linear(2, 2), "act": nn.Tanh()})
    assert [n for n, _ in named.named_parameters()] == ["fc.weight", "fc.bias"]


def test_module_list_registers_parameters():
    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])

    s = Stack()
    assert len(s.layers) == 3
    assert [n for n, _ in s.named_parameters()] == [f"layers.{i}.{w}" for i in range(3) for w in ("weight", "bias")]
    assert s.layers[-1] is list(s.layers)[2]
    assert isinstance(s.layers[1:], nn.ModuleList) and len(s.layers[1:]) == 2
    s.layers.extend([nn.Linear(2, 1)]).append(nn.ReLU())
    assert len(s.layers) == 5 and len(list(s.parameters())) == 8


# ---- default initialisation ------------------------------------------------------------------
def _check_uniform(values, bound):
    values = np.asarray(values, dtype=np.float64).ravel()
    n = values.size
    assert np.all(np.abs(values) <= bound * (1 + 1e-6))
    assert np.abs(values).max() > 0.8 * bound  # really spread over the whole interval
    assert abs(values.mean()) < 4 * bound / math.sqrt(3 * n)  # mean 0, 4 standard errors
    assert abs(values.var() / (bound ** 2 / 3) - 1) < 0.15  # variance of U(-b, b) is b^2 / 3


def test_linear_default_init():
    tg.manual_seed(0)
    lin = nn.Linear(64, 96)
    assert lin.weight.shape == (96, 64) and lin.bias.shape == (96,)
    assert lin.weight.dtype == tg.float32
    _check_uniform(lin.weight.numpy(), 1 / math.sqrt(64))
    bias = lin.bias.numpy()
    assert np.all(np.abs(bias) <= 1 / math.sqrt(64)) and np.abs(bias).max() > 0.5 / math.sqrt(64)
    assert nn.Linear(3, 2, bias=False).bias is None
    assert len(list(nn.Linear(3, 2, bias=False).parameters())) == 1


@pytest.mark.parametrize("groups", [1, 2])
def test_conv2d_default_init(groups):
    tg.manual_seed(1)
    conv = nn.Conv2d(4, 64, 3, groups=groups)
    fan_in = 4 // groups * 9
    assert conv.weight.shape == (64, 4 // groups, 3, 3) and conv.bias.shape == (64,)
    _check_uniform(conv.weight.numpy(), 1 / math.sqrt(fan_in))
    assert np.all(np.abs(conv.bias.numpy()) <= 1 / math.sqrt(fan_in))


def test_conv2d_module_matches_functional():
    tg.manual_seed(2)
    conv = nn.Conv2d(2, 4, (2, 3), stride=2, padding=1, dilation=1, groups=2).double()
    x = tg.randn(1, 2, 5, 5, dtype=tg.float64)
    expected = F.conv2d(x, conv.weight, conv.bias, stride=2, padding=1, groups=2)
    np.testing.assert_array_equal(conv(x).numpy(), expected.numpy())
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2d(3, 4, 3, groups=2)


def test_lstm_default_init():
    tg.manual_seed(3)
    H = 20
    lstm = nn.LSTM(10, H, num_layers=2)
    for name, p in lstm.named_parameters():
        if p.ndim == 2:
            _check_uniform(p.numpy(), 1 / math.sqrt(H))
        else:  # 80 values: only the bound is a sharp check
            assert np.all(np.abs(p.numpy()) <= 1 / math.sqrt(H) * (1 + 1e-6)), name
    cell = nn.LSTMCell(10, H)
    _check_uniform(np.concatenate([p.numpy().ravel() for p in cell.parameters()]), 1 / math.sqrt(H))


def test_embedding_default_init_is_standard_normal():
    tg.manual_seed(4)
    emb = nn.Embedding(100, 50)
    w = emb.weight.numpy().astype(np.float64)
    assert w.shape == (100, 50)
    assert abs(w.mean()) < 4 / math.sqrt(w.size)
    assert abs(w.std() - 1) < 0.05
    assert abs((w > 0).mean() - 0.5) < 0.03  # symmetric


def test_norm_layers_default_init():
    ln = nn.LayerNorm((2, 3))
    np.testing.assert_array_equal(ln.weight.numpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(ln.bias.numpy(), np.zeros((2, 3)))
    assert nn.LayerNorm(4, elementwise_affine=False).weight is None
    bn = nn.BatchNorm2d(3)
    np.testing.assert_array_equal(bn.weight.numpy(), np.ones(3))
    np.testing.assert_array_equal(bn.bias.numpy(), np.zeros(3))
    np.testing.assert_array_equal(bn.running_mean.numpy(), np.zeros(3))
    np.testing.assert_array_equal(bn.running_var.numpy(), np.ones(3))


def test_multihead_attention_parameters_and_init():
    tg.manual_seed(5)
    E = 32
    mha = nn.MultiheadAttention(E, 4)
    shapes = {n: p.shape for n, p in mha.named_parameters()}
    assert shapes == {"in_proj_weight": (3 * E, E), "in_proj_bias": (3 * E,), "out_proj.weight": (E, E),
                      "out_proj.bias": (E,)}
    _check_uniform(mha.in_proj_weight.numpy(), math.sqrt(6 / (E + 3 * E)))  # xavier over (3E, E)
    _check_uniform(mha.out_proj.weight.numpy(), 1 / math.sqrt(E))
    np.testing.assert_array_equal(mha.in_proj_bias.numpy(), np.zeros(3 * E))
    np.testing.assert_array_equal(mha.out_proj.bias.numpy(), np.zeros(E))
    no_bias = nn.MultiheadAttention(E, 4, bias=False)
    assert [n for n, _ in no_bias.named_parameters()] == ["in_proj_weight", "out_proj.weight"]
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(6, 4)


def test_same_seed_same_initialisation():
    tg.manual_seed(11)
    a = Net()
    tg.manual_seed(11)
    b = Net()
    for (_, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(pa.numpy(), pb.numpy())
    c = Net()
    assert not np.array_equal(a.head[0].weight.numpy(), c.head[0].weight.numpy())


# ---- nn.init ---------------------------------------------------------------------------------
def test_init_uniform_normal_constant():
    tg.manual_seed(6)
    t = tg.zeros(200, 100)
    assert init.uniform_(t, -0.5, 1.5) is t
    v = t.numpy().astype(np.float64)
    assert v.min() >= -0.5 and v.max() <= 1.5 and v.min() < -0.45 and v.max() > 1.45
    assert abs(v.mean() - 0.5) < 0.02 and abs(v.var() - 4 / 12) < 0.02
    init.normal_(t, 2.0, 0.5)
    v = t.numpy().astype(np.float64)
    assert abs(v.mean() - 2.0) < 0.01 and abs(v.std() - 0.5) < 0.01
    np.testing.assert_array_equal(init.zeros_(t).numpy(), np.zeros((200, 100)))
    np.testing.assert_array_equal(init.ones_(t).numpy(), np.ones((200, 100)))
    np.testing.assert_array_equal(init.constant_(t, 3.5).numpy(), np.full((200, 100), 3.5))


def test_init_calculate_gain():
    assert init.calculate_gain("linear") == 1.0
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / (1 + 0.2 ** 2)))
    with pytest.raises(ValueError, match="nonlinearity"):
        init.calculate_gain("swishy")


def test_init_xavier_and_kaiming_bounds():
    tg.manual_seed(7)
    t = tg.zeros(60, 40, 2, 2)  # fan_in 160, fan_out 240
    init.xavier_uniform_(t, gain=2.0)
    _check_uniform(t.numpy(), 2.0 * math.sqrt(6 / (160 + 240)))
    init.kaiming_uniform_(t, nonlinearity="relu")
    _check_uniform(t.numpy(), math.sqrt(2) * math.sqrt(3 / 160))
    init.kaiming_uniform_(t, a=math.sqrt(5))  # nn.Linear's default: bound 1/sqrt(fan_in)
    _check_uniform(t.numpy(), 1 / math.sqrt(160))
    init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu")
    _check_uniform(t.numpy(), math.sqrt(2) * math.sqrt(3 / 240))
    init.xavier_normal_(t)
    assert abs(t.numpy().std() / math.sqrt(2 / 400) - 1) < 0.05
    init.kaiming_normal_(t, nonlinearity="relu")
    assert abs(t.numpy().std() / math.sqrt(2 / 160) - 1) < 0.05
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_uniform_(t, mode="fan_avg")
    with pytest.raises(ValueError, match="fan"):
        init.xavier_uniform_(tg.zeros(5))


# ---- LSTMCell and LSTM -----------------------------------------------------------------------
def test_lstm_cell_parameter_shapes():
    cell = nn.LSTMCell(3, 5)
    assert {n: p.shape for n, p in cell.named_parameters()} == {
        "weight_ih": (20, 3), "weight_hh": (20, 5), "bias_ih": (20,), "bias_hh": (20,)}
    assert [n for n, _ in nn.LSTMCell(3, 5, bias=False).named_parameters()] == ["weight_ih", "weight_hh"]


def test_lstm_cell_gate_order_is_i_f_g_o():
    """With zero weights the gate pre-activations are the biases: put a different value in each block."""
    cell = nn.LSTMCell(2, 1).double()
    for p in cell.parameters():
        p.array[...] = 0.0
    a_i, a_f, a_g, a_o = 0.3, -1.2, 0.8, 2.0
    cell.bias_ih.array[...] = [a_i, a_f, a_g, a_o]
    c0 = 0.7
    h, c = cell(const([[1.0, -1.0]]), (const([[0.0]]), const([[c0]])))
    c_expected = sigmoid_np(a_f) * c0 + sigmoid_np(a_i) * np.tanh(a_g)
    np.testing.assert_allclose(c.numpy(), [[c_expected]], rtol=1e-12)
    np.testing.assert_allclose(h.numpy(), [[sigmoid_np(a_o) * np.tanh(c_expected)]], rtol=1e-12)


def test_lstm_cell_forward_batched_unbatched_and_default_state():
    tg.manual_seed(8)
    cell = nn.LSTMCell(3, 2).double()
    p = [t.numpy() for t in cell.parameters()]
    rng = np.random.default_rng(8)
    x, h0, c0 = rng.standard_normal((4, 3)), rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    h, c = cell(const(x), (const(h0), const(c0)))
    h_ref, c_ref = lstm_step_ref(x, h0, c0, *p)
    np.testing.assert_allclose(h.numpy(), h_ref, rtol=1e-12)
    np.testing.assert_allclose(c.numpy(), c_ref, rtol=1e-12)
    h, c = cell(const(x))  # zero state by default
    h_ref, c_ref = lstm_step_ref(x, np.zeros((4, 2)), np.zeros((4, 2)), *p)
    np.testing.assert_allclose(h.numpy(), h_ref, rtol=1e-12)
    h1, c1 = cell(const(x[1]), (const(h0[1]), const(c0[1])))  # unbatched
    h_ref, c_ref = lstm_step_ref(x[1], h0[1], c0[1], *p)
    assert h1.shape == (2,) and c1.shape == (2,)
    np.testing.assert_allclose(h1.numpy(), h_ref, rtol=1e-12)
    np.testing.assert_allclose(c1.numpy(), c_ref, rtol=1e-12)
    with pytest.raises(ValueError, match="LSTMCell"):
        cell(const(np.zeros((4, 2))))


def test_lstm_parameter_shapes():
    lstm = nn.LSTM(3, 5, num_layers=2)
    shapes = {n: p.shape for n, p in lstm.named_parameters()}
    assert shapes == {"weight_ih_l0": (20, 3), "weight_hh_l0": (20, 5), "bias_ih_l0": (20,), "bias_hh_l0": (20,),
                      "weight_ih_l1": (20, 5), "weight_hh_l1": (20, 5), "bias_ih_l1": (20,), "bias_hh_l1": (20,)}
    assert [n for n, _ in nn.LSTM(3, 5, bias=False).named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]


@settings(max_examples=10)
@given(layers=st.integers(1, 2), T=st.integers(1, 4), B=st.integers(1, 3), bias=st.booleans(),
       given_state=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_lstm_forward_matches_the_gate_equations(layers, T, B, bias, given_state, seed):
    tg.manual_seed(seed)
    lstm = nn.LSTM(3, 2, num_layers=layers, bias=bias).double()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, 3))
    h0, c0 = (rng.standard_normal((layers, B, 2)) if given_state else np.zeros((layers, B, 2)) for _ in range(2))
    out, (h_n, c_n) = lstm(const(x), (const(h0), const(c0)) if given_state else None)
    out_ref, h_ref, c_ref = lstm_ref(lstm, x, h0, c0)
    assert out.shape == (T, B, 2) and h_n.shape == (layers, B, 2) and c_n.shape == (layers, B, 2)
    np.testing.assert_allclose(out.numpy(), out_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h_n.numpy(), h_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c_n.numpy(), c_ref, rtol=1e-10, atol=1e-12)


def test_lstm_batch_first_and_unbatched():
    tg.manual_seed(9)
    lstm = nn.LSTM(3, 2, num_layers=2).double()
    bf = nn.LSTM(3, 2, num_layers=2, batch_first=True).double()
    bf.load_state_dict(lstm.state_dict())
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 3, 3))  # (T, B, in)
    h0, c0 = rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 3, 2))
    out, (h, c) = lstm(const(x), (const(h0), const(c0)))
    out_bf, (h_bf, c_bf) = bf(const(x.transpose(1, 0, 2)), (const(h0), const(c0)))
    assert out_bf.shape == (3, 4, 2)
    np.testing.assert_allclose(out_bf.numpy(), out.numpy().transpose(1, 0, 2), rtol=1e-12)
    np.testing.assert_allclose(h_bf.numpy(), h.numpy(), rtol=1e-12)  # h_n is never batch first
    np.testing.assert_allclose(c_bf.numpy(), c.numpy(), rtol=1e-12)
    out_u, (h_u, c_u) = lstm(const(x[:, 1]), (const(h0[:, 1]), const(c0[:, 1])))  # unbatched (T, in)
    assert out_u.shape == (4, 2) and h_u.shape == (2, 2) and c_u.shape == (2, 2)
    np.testing.assert_allclose(out_u.numpy(), out.numpy()[:, 1], rtol=1e-12)
    np.testing.assert_allclose(h_u.numpy(), h.numpy()[:, 1], rtol=1e-12)
    np.testing.assert_allclose(c_u.numpy(), c.numpy()[:, 1], rtol=1e-12)
    with pytest.raises(ValueError, match="h0"):
        lstm(const(x), (const(h0[:1]), const(c0[:1])))
    with pytest.raises(ValueError, match="LSTM"):
        lstm(const(np.zeros((4, 3, 5))))


def test_lstm_module_gradcheck_through_input_and_state():
    tg.manual_seed(10)
    lstm = nn.LSTM(2, 2, num_layers=2, batch_first=True).double()
    rng = np.random.default_rng(10)
    x, h0, c0 = rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 2, 2)), rng.standard_normal((2, 2, 2))

    def fn(x, h0, c0):
        out, (h, c) = lstm(x, (h0, c0))
        return tg.cat([out.reshape(-1), h.reshape(-1), c.reshape(-1)])

    assert tg.gradcheck(fn, (leaf(x), leaf(h0), leaf(c0)))


def test_lstm_module_parameter_gradients():
    tg.manual_seed(11)
    lstm = nn.LSTM(2, 2, num_layers=2).double()
    x = const(np.random.default_rng(11).standard_normal((3, 2, 2)))

    def forward():
        out, (h, c) = lstm(x)
        return tg.cat([out.reshape(-1), c.reshape(-1)])

    module_param_gradcheck(lstm, forward)


def test_lstm_parameters_through_functional_ops_gradcheck():
    """The parameters passed explicitly to a functional LSTM (F.lstm_cell over time), which must
    agree with the module."""
    tg.manual_seed(12)
    lstm = nn.LSTM(2, 2).double()
    x = np.random.default_rng(12).standard_normal((3, 2, 2))

    def functional_lstm(w_ih, w_hh, b_ih, b_hh):
        h = c = tg.zeros(2, 2, dtype=tg.float64)
        outs = []
        for t in range(3):
            h, c = F.lstm_cell(const(x[t]), h, c, w_ih, w_hh, b_ih, b_hh)
            outs.append(h)
        return tg.stack(outs)

    params = [leaf(p.numpy()) for p in lstm.parameters()]
    np.testing.assert_allclose(functional_lstm(*params).numpy(), lstm(const(x))[0].numpy(), rtol=1e-12)
    assert tg.gradcheck(functional_lstm, params)


# ---- MultiheadAttention ----------------------------------------------------------------------
def test_multihead_self_attention_matches_definition():
    tg.manual_seed(13)
    mha = nn.MultiheadAttention(4, 2).double()
    init.uniform_(mha.in_proj_bias, -0.5, 0.5)
    init.uniform_(mha.out_proj.bias, -0.5, 0.5)
    x = np.random.default_rng(13).standard_normal((3, 2, 4))  # (L, N, E)
    out, w = mha(const(x), const(x), const(x))
    out_ref, w_ref = mha_ref(mha, x, x, x)
    np.testing.assert_allclose(out.numpy(), out_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w.numpy(), w_ref, rtol=1e-10, atol=1e-12)
    out2, w2 = mha(const(x), const(x), const(x), need_weights=False)  # the fused path agrees
    assert w2 is None
    np.testing.assert_allclose(out2.numpy(), out_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mask_kind", ["none", "bool", "float", "bool3d"])
@pytest.mark.parametrize("padding", [False, True])
@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_cross_attention_with_masks(mask_kind, padding, need_weights):
    tg.manual_seed(14)
    mha = nn.MultiheadAttention(4, 2, batch_first=True).double()
    init.uniform_(mha.in_proj_bias, -0.5, 0.5)
    rng = np.random.default_rng(14)
    N, L, S = 2, 3, 4
    q, kv = rng.standard_normal((N, L, 4)), rng.standard_normal((N, S, 4))
    attn_mask = None
    if mask_kind == "bool":
        attn_mask = np.array([[False, True, False, True], [True, False, False, False], [False, False, True, True]])
    elif mask_kind == "float":
        attn_mask = rng.standard_normal((L, S))
    elif mask_kind == "bool3d":
        attn_mask = rng.random((N * 2, L, S)) < 0.4
        attn_mask[..., 1] = False  # every row keeps key 1
    kpm = np.array([[False, False, True, False], [True, False, False, True]]) if padding else None
    out, w = mha(const(q), const(kv), const(kv), key_padding_mask=None if kpm is None else const(kpm, bool),
                 attn_mask=None if attn_mask is None else const(attn_mask, attn_mask.dtype), need_weights=need_weights)
    out_ref, w_ref = mha_ref(mha, q.transpose(1, 0, 2), kv.transpose(1, 0, 2), kv.transpose(1, 0, 2), attn_mask, kpm)
    np.testing.assert_allclose(out.numpy(), out_ref.transpose(1, 0, 2), rtol=1e-10, atol=1e-12)
    if need_weights:
        np.testing.assert_allclose(w.numpy(), w_ref, rtol=1e-10, atol=1e-12)
    else:
        assert w is None


@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_attention_is_causal(need_weights):
    tg.manual_seed(15)
    mha = nn.MultiheadAttention(4, 2).double()
    x = np.random.default_rng(15).standard_normal((3, 1, 4))
    out, _ = mha(const(x), const(x), const(x), is_causal=True, need_weights=need_weights)
    blocked = ~np.tril(np.ones((3, 3), dtype=bool))
    out_ref, _ = mha_ref(mha, x, x, x, blocked)
    np.testing.assert_allclose(out.numpy(), out_ref, rtol=1e-10, atol=1e-12)


def test_multihead_attention_unbatched_and_unaveraged_weights():
    tg.manual_seed(16)
    mha = nn.MultiheadAttention(4, 2).double()
    x = np.random.default_rng(16).standard_normal((3, 1, 4))
    out, w = mha(const(x), const(x), const(x), average_attn_weights=False)
    assert w.shape == (1, 2, 3, 3)
    np.testing.assert_allclose(w.numpy().sum(-1), np.ones((1, 2, 3)), rtol=1e-12)
    out_u, w_u = mha(const(x[:, 0]), const(x[:, 0]), const(x[:, 0]))
    assert out_u.shape == (3, 4) and w_u.shape == (3, 3)
    np.testing.assert_allclose(out_u.numpy(), out.numpy()[:, 0], rtol=1e-12)
    np.testing.assert_allclose(w_u.numpy(), w.numpy()[0].mean(0), rtol=1e-12)
    with pytest.raises(ValueError, match="key_padding_mask"):
        mha(const(x), const(x), const(x), key_padding_mask=const(np.zeros((1, 5)), bool))


def test_multihead_attention_gradcheck_through_inputs():
    tg.manual_seed(17)
    mha = nn.MultiheadAttention(4, 2, batch_first=True).double()
    rng = np.random.default_rng(17)
    q, kv = rng.standard_normal((1, 2, 4)), rng.standard_normal((1, 3, 4))
    kpm = const([[False, True, False]], bool)

    def fn(q, k, v):
        out, w = mha(q, k, v, key_padding_mask=kpm)
        return tg.cat([out.reshape(-1), w.reshape(-1)])

    assert tg.gradcheck(fn, (leaf(q), leaf(kv), leaf(kv + 0.5)))


def test_multihead_attention_parameter_gradients():
    tg.manual_seed(18)
    mha = nn.MultiheadAttention(4, 2).double()
    init.uniform_(mha.in_proj_bias, -0.5, 0.5)
    rng = np.random.default_rng(18)
    q, kv = const(rng.standard_normal((2, 1, 4))), const(rng.standard_normal((3, 1, 4)))
    mask = const(rng.standard_normal((2, 3)))

    def forward():
        return mha(q, kv, kv, attn_mask=mask)[0]

    module_param_gradcheck(mha, forward)


def test_multihead_attention_parameters_through_functional_ops_gradcheck():
    """MultiheadAttention written with F.linear and F.scaled_dot_product_attention, the parameters passed
    explicitly: it must agree with the module, and its parameter gradients with finite differences."""
    tg.manual_seed(19)
    mha = nn.MultiheadAttention(4, 2, batch_first=True).double()
    init.uniform_(mha.in_proj_bias, -0.5, 0.5)
    x = const(np.random.default_rng(19).standard_normal((1, 3, 4)))

    def functional_mha(w_in, b_in, w_out, b_out):
        q, k, v = F.linear(x, w_in, b_in).chunk(3, dim=-1)
        q, k, v = (t.reshape(1, 3, 2, 2).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return F.linear(out.transpose(1, 2).reshape(1, 3, 4), w_out, b_out)

    params = [leaf(p.numpy()) for p in mha.parameters()]
    expected = mha(x, x, x, is_causal=True, need_weights=False)[0]
    np.testing.assert_allclose(functional_mha(*params).numpy(), expected.numpy(), rtol=1e-12)
    assert tg.gradcheck(functional_mha, params)


# ---- simple layers and loss modules ----------------------------------------------------------
def test_simple_layers_match_functional():
    x = tg.randn(2, 3, 4, 4, dtype=tg.float64)
    pairs = [
        (nn.ReLU(), F.relu(x)), (nn.Tanh(), F.tanh(x)), (nn.Sigmoid(), F.sigmoid(x)), (nn.SiLU(), F.silu(x)),
        (nn.GELU(), F.gelu(x)), (nn.GELU("tanh"), F.gelu(x, approximate="tanh")), (nn.Identity(), x),
        (nn.Softmax(1), F.softmax(x, 1)), (nn.LogSoftmax(), F.log_softmax(x, -1)),
        (nn.MaxPool2d(2), F.max_pool2d(x, 2)), (nn.AvgPool2d(3, 1, 1), F.avg_pool2d(x, 3, 1, 1)),
        (nn.Flatten(), x.reshape(2, -1)), (nn.Flatten(0, 1), x.reshape(6, 4, 4)),
    ]
    for module, expected in pairs:
        out = module(x)
        assert out.shape == expected.shape, module
        np.testing.assert_array_equal(out.numpy(), expected.numpy(), err_msg=repr(module))
    assert list(nn.ReLU().parameters()) == []


def test_loss_modules_match_functional():
    rng = np.random.default_rng(20)
    logits, target = const(rng.standard_normal((4, 3))), const([0, 2, -1, 1], np.int64)
    ce = nn.CrossEntropyLoss(ignore_index=-1, reduction="sum", label_smoothing=0.2)
    np.testing.assert_array_equal(ce(logits, target).numpy(),
                                  F.cross_entropy(logits, target, -1, "sum", 0.2).numpy())
    logp = F.log_softmax(logits, 1)
    np.testing.assert_array_equal(nn.NLLLoss(ignore_index=-1)(logp, target).numpy(),
                                  F.nll_loss(logp, target, ignore_index=-1).numpy())
    y = const(rng.standard_normal((4, 3)))
    np.testing.assert_array_equal(nn.MSELoss(reduction="none")(logits, y).numpy(),
                                  F.mse_loss(logits, y, reduction="none").numpy())
    t, pw = const(rng.random((4, 3))), const([1.0, 2.0, 0.5])
    np.testing.assert_array_equal(nn.BCEWithLogitsLoss(pos_weight=pw)(logits, t).numpy(),
                                  F.binary_cross_entropy_with_logits(logits, t, pos_weight=pw).numpy())


def test_embedding_module():
    tg.manual_seed(21)
    emb = nn.Embedding(5, 3).double()
    idx = const([[0, 4], [4, 2]], np.int64)
    out = emb(idx)
    np.testing.assert_array_equal(out.numpy(), emb.weight.numpy()[idx.numpy()])
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy()[:, 0], [1, 0, 1, 0, 2])


def test_module_repr_names_children():
    text = repr(nn.Sequential(nn.Linear(2, 3), nn.ReLU()))
    assert "(0): Linear(in_features=2, out_features=3, bias=True)" in text and "(1): ReLU()" in text
