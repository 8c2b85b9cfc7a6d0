"""MultiheadAttention and the Transformer family against PyTorch (float64, eval mode so dropout is off).

Each case builds the torch module, moves its parameters off their initial values, and loads its
state_dict into ours: the keys (in order) and shapes must be PyTorch's. Then both run on the same
inputs and masks and must give the same output and, for one random projection of it, the same
gradients of every input and every parameter. A float64 gradcheck, deep copies, the causal mask
helper and the errors for bad arguments are checked too.
"""
import math

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn as nn

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.nn,
              pytest.mark.filterwarnings("ignore::UserWarning")]  # torch: nested tensors, mixed mask types

RTOL, ATOL = 1e-9, 1e-11
GRAD_RTOL, GRAD_ATOL = 1e-8, 1e-10
MASK_KINDS = ["none", "bool", "float", "bool3d", "padding", "causal", "bool_padding"]


# ---- helpers ---------------------------------------------------------------------------------
@pytest.fixture(autouse=True, scope="module")
def _torch_on_one_thread():
    """These tensors are tiny: torch's thread pool only adds overhead (several times the run time on a busy CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def load_from_torch(ours, theirs, seed=0):
    """theirs in float64 eval mode, its parameters moved off their init; ours loads its state_dict (same keys
    in the same order, same shapes) and goes to eval mode too."""
    theirs = theirs.double().eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in theirs.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    ours = ours.double().eval()
    state, t_state = ours.state_dict(), theirs.state_dict()
    assert list(state) == list(t_state), "state_dict keys differ from PyTorch's"
    assert [v.shape for v in state.values()] == [tuple(v.shape) for v in t_state.values()]
    ours.load_state_dict({name: t.numpy() for name, t in t_state.items()})
    return ours, theirs


def close(ours, theirs, rtol=RTOL, atol=ATOL, msg=""):
    a, b = ours.numpy(), theirs.detach().numpy()
    assert a.shape == b.shape, (msg, a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=msg)


def check_against_torch(ours, theirs, inputs, forward, seed=1):
    """forward(module, input tensors, library) must agree: outputs, then input and parameter gradients."""
    ins = [tg.tensor(a, requires_grad=True) for a in inputs]
    t_ins = [torch.tensor(a, requires_grad=True) for a in inputs]
    out, t_out = forward(ours, ins, tg), forward(theirs, t_ins, torch)
    close(out, t_out, msg="output")
    v = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(tg.tensor(v))
    t_out.backward(torch.tensor(v))
    for i, (a, b) in enumerate(zip(ins, t_ins)):
        close(a.grad, b.grad, GRAD_RTOL, GRAD_ATOL, msg=f"gradient of input {i}")
    t_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        close(p.grad, t_params[name].grad, GRAD_RTOL, GRAD_ATOL, msg=f"gradient of {name}")


def make_masks(kind, N, L, S, heads, rng):
    """(attn_mask, key_padding_mask, is_causal) as numpy arrays (or None); bool True = may not attend."""
    attn_mask = key_padding_mask = None
    if kind in ("bool", "bool_padding"):
        attn_mask = rng.random((L, S)) < 0.4
        attn_mask[:, 0] = False  # every query keeps key 0
    elif kind == "float":
        attn_mask = rng.standard_normal((L, S))
    elif kind == "bool3d":
        attn_mask = rng.random((N * heads, L, S)) < 0.4
        attn_mask[..., 0] = False
    elif kind == "causal":
        attn_mask = np.triu(np.full((L, S), -np.inf), 1)
    if kind in ("padding", "bool_padding"):
        key_padding_mask = np.zeros((N, S), dtype=bool)
        key_padding_mask[0, -1] = key_padding_mask[-1, 1] = True
    return attn_mask, key_padding_mask, kind == "causal"


def as_lib(lib, array):
    return None if array is None else lib.tensor(array)


def seq(rng, batch_first, N, L, E):
    return rng.standard_normal((N, L, E) if batch_first else (L, N, E))


# ---- MultiheadAttention ----------------------------------------------------------------------
MHA_CONFIGS = {
    "default": dict(),
    "no_bias": dict(bias=False),
    "kdim_vdim": dict(kdim=3, vdim=5),
    "add_bias_kv": dict(add_bias_kv=True),
    "add_zero_attn": dict(add_zero_attn=True),
    "bias_kv_zero_attn_kdim": dict(add_bias_kv=True, add_zero_attn=True, kdim=5),
}
WEIGHT_MODES = {"averaged": dict(need_weights=True), "per_head": dict(average_attn_weights=False),
                "none": dict(need_weights=False)}


@pytest.mark.parametrize("config", list(MHA_CONFIGS))
@pytest.mark.parametrize("weights", list(WEIGHT_MODES))
@pytest.mark.parametrize("mask_kind", ["none", "float", "bool3d", "bool_padding"])
def test_multihead_attention(config, weights, mask_kind):
    cfg = MHA_CONFIGS[config]
    E, heads, N, L, S = 6, 2, 2, 3, 4
    ours, theirs = load_from_torch(nn.MultiheadAttention(E, heads, **cfg), torch.nn.MultiheadAttention(E, heads, **cfg))
    rng = np.random.default_rng(2)
    q = rng.standard_normal((L, N, E))
    k = rng.standard_normal((S, N, cfg.get("kdim", E)))
    v = rng.standard_normal((S, N, cfg.get("vdim", E)))
    attn_mask, kpm, _ = make_masks(mask_kind, N, L, S, heads, rng)

    def forward(m, ins, lib):
        out, w = m(*ins, key_padding_mask=as_lib(lib, kpm), attn_mask=as_lib(lib, attn_mask), **WEIGHT_MODES[weights])
        if weights == "none":
            assert w is None
            return out
        expected = (N, L) if weights == "averaged" else (N, heads, L)
        extra = int(cfg.get("add_bias_kv", False)) + int(cfg.get("add_zero_attn", False))
        assert tuple(w.shape) == expected + (S + extra,)
        return lib.cat([out.reshape(-1), w.reshape(-1)])

    check_against_torch(ours, theirs, [q, k, v], forward)


@pytest.mark.parametrize("weights", list(WEIGHT_MODES))
@pytest.mark.parametrize("mask_kind", ["none", "causal", "bool3d", "padding"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_self_attention_unbatched(weights, mask_kind, batch_first):
    """Unbatched (L, E) input, whatever batch_first says; masks (L, L), (heads, L, L), key_padding_mask (L,)."""
    E, heads, L = 4, 2, 3
    ours, theirs = load_from_torch(nn.MultiheadAttention(E, heads, batch_first=batch_first),
                                   torch.nn.MultiheadAttention(E, heads, batch_first=batch_first))
    rng = np.random.default_rng(3)
    attn_mask, kpm, is_causal = make_masks(mask_kind, 1, L, L, heads, rng)
    kpm = None if kpm is None else kpm[0]

    def forward(m, ins, lib):
        x = ins[0]
        out, w = m(x, x, x, key_padding_mask=as_lib(lib, kpm), attn_mask=as_lib(lib, attn_mask), is_causal=is_causal,
                   **WEIGHT_MODES[weights])
        assert tuple(out.shape) == (L, E)
        return out if w is None else lib.cat([out.reshape(-1), w.reshape(-1)])

    check_against_torch(ours, theirs, [rng.standard_normal((L, E))], forward)


@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_attention_is_causal_without_mask_equals_torch_with_the_causal_mask(need_weights):
    """PyTorch wants attn_mask with is_causal=True; ours also accepts is_causal alone and masks causally."""
    ours, theirs = load_from_torch(nn.MultiheadAttention(4, 2), torch.nn.MultiheadAttention(4, 2))
    causal = np.triu(np.full((3, 3), -np.inf), 1)
    x = np.random.default_rng(4).standard_normal((3, 2, 4))

    def forward(m, ins, lib):
        mask = None if lib is tg else lib.tensor(causal)
        return m(ins[0], ins[0], ins[0], attn_mask=mask, is_causal=True, need_weights=need_weights)[0]

    check_against_torch(ours, theirs, [x], forward)


def test_multihead_attention_dropout_one_drops_every_weight_in_training_only():
    ours, theirs = load_from_torch(nn.MultiheadAttention(4, 2, dropout=1.0),
                                   torch.nn.MultiheadAttention(4, 2, dropout=1.0))
    ours.train()
    theirs.train()
    x = np.random.default_rng(5).standard_normal((3, 2, 4))
    for need_weights in (True, False):
        out, w = ours(tg.tensor(x), tg.tensor(x), tg.tensor(x), need_weights=need_weights)
        t_out, t_w = theirs(*[torch.tensor(x)] * 3, need_weights=need_weights)
        close(out, t_out, msg="output")  # out_proj.bias everywhere
        if need_weights:
            close(w, t_w, msg="weights after dropout")
            assert not w.numpy().any()
    ours.eval()
    out, w = ours(tg.tensor(x), tg.tensor(x), tg.tensor(x))
    np.testing.assert_allclose(w.numpy().sum(-1), np.ones((2, 3)), rtol=1e-12)


def test_multihead_attention_parameters_follow_pytorch():
    mha = nn.MultiheadAttention(6, 3, kdim=2, vdim=5, add_bias_kv=True)
    t_mha = torch.nn.MultiheadAttention(6, 3, kdim=2, vdim=5, add_bias_kv=True)
    assert [(n, p.shape) for n, p in mha.named_parameters()] == [(n, tuple(p.shape)) for n, p in
                                                                 t_mha.named_parameters()]
    assert mha.in_proj_weight is None and mha.q_proj_weight.shape == (6, 6)
    assert type(mha.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
    np.testing.assert_array_equal(mha.in_proj_bias.numpy(), np.zeros(18))
    same = nn.MultiheadAttention(6, 3, kdim=6, vdim=6)
    assert same._qkv_same_embed_dim and same.q_proj_weight is None
    t_same = torch.nn.MultiheadAttention(6, 3)
    assert [n for n, _ in same.named_parameters()] == [n for n, _ in t_same.named_parameters()]


# ---- the layers and the model ----------------------------------------------------------------
@pytest.mark.parametrize("mask_kind", MASK_KINDS)
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_encoder_layer(mask_kind, activation, norm_first, batch_first):
    E, heads, N, L = 6, 2, 2, 4
    kw = dict(dim_feedforward=10, activation=activation, norm_first=norm_first, batch_first=batch_first)
    ours, theirs = load_from_torch(nn.TransformerEncoderLayer(E, heads, **kw),
                                   torch.nn.TransformerEncoderLayer(E, heads, **kw))
    rng = np.random.default_rng(6)
    attn_mask, kpm, is_causal = make_masks(mask_kind, N, L, L, heads, rng)

    def forward(m, ins, lib):
        return m(ins[0], src_mask=as_lib(lib, attn_mask), src_key_padding_mask=as_lib(lib, kpm), is_causal=is_causal)

    check_against_torch(ours, theirs, [seq(rng, batch_first, N, L, E)], forward)


DECODER_MASKS = [("none", "none"), ("causal", "padding"), ("bool", "float"), ("float", "bool3d"),
                 ("bool_padding", "bool_padding"), ("padding", "bool")]


@pytest.mark.parametrize("masks", DECODER_MASKS, ids=["-".join(m) for m in DECODER_MASKS])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_decoder_layer(masks, norm_first, batch_first):
    E, heads, N, T, S = 6, 3, 2, 3, 4
    activation = "gelu" if norm_first else "relu"
    kw = dict(dim_feedforward=8, activation=activation, norm_first=norm_first, batch_first=batch_first)
    ours, theirs = load_from_torch(nn.TransformerDecoderLayer(E, heads, **kw),
                                   torch.nn.TransformerDecoderLayer(E, heads, **kw))
    rng = np.random.default_rng(7)
    tgt_mask, tgt_kpm, tgt_causal = make_masks(masks[0], N, T, T, heads, rng)
    mem_mask, mem_kpm, _ = make_masks(masks[1], N, T, S, heads, rng)

    def forward(m, ins, lib):
        return m(ins[0], ins[1], tgt_mask=as_lib(lib, tgt_mask), memory_mask=as_lib(lib, mem_mask),
                 tgt_key_padding_mask=as_lib(lib, tgt_kpm), memory_key_padding_mask=as_lib(lib, mem_kpm),
                 tgt_is_causal=tgt_causal)

    check_against_torch(ours, theirs, [seq(rng, batch_first, N, T, E), seq(rng, batch_first, N, S, E)], forward)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_encoder_and_decoder_stacks(norm_first, batch_first):
    E, heads, N, L = 4, 2, 2, 3
    kw = dict(dim_feedforward=6, norm_first=norm_first, batch_first=batch_first)
    enc, t_enc = load_from_torch(nn.TransformerEncoder(nn.TransformerEncoderLayer(E, heads, **kw), 2, nn.LayerNorm(E)),
                                 torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(E, heads, **kw), 2,
                                                             torch.nn.LayerNorm(E), enable_nested_tensor=False))
    dec, t_dec = load_from_torch(nn.TransformerDecoder(nn.TransformerDecoderLayer(E, heads, **kw), 2),
                                 torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(E, heads, **kw), 2))
    assert list(enc.state_dict())[:2] == ["layers.0.self_attn.in_proj_weight", "layers.0.self_attn.in_proj_bias"]
    rng = np.random.default_rng(8)
    causal = np.triu(np.full((L, L), -np.inf), 1)
    _, kpm, _ = make_masks("padding", N, L, L, heads, rng)

    def encode(m, ins, lib):  # ours: is_causal alone; PyTorch: is_causal with the mask it needs
        mask = None if lib is tg else lib.tensor(causal)
        return m(ins[0], mask=mask, src_key_padding_mask=lib.tensor(kpm), is_causal=True)

    def decode(m, ins, lib):
        return m(ins[0], ins[1], tgt_mask=lib.tensor(causal), memory_key_padding_mask=lib.tensor(kpm))

    x, memory = seq(rng, batch_first, N, L, E), seq(rng, batch_first, N, L, E)
    check_against_torch(enc, t_enc, [x], encode)
    check_against_torch(dec, t_dec, [x, memory], decode)


@pytest.mark.parametrize("options", [dict(), dict(batch_first=True, norm_first=True, activation="gelu"),
                                     dict(bias=False, layer_norm_eps=1e-3)], ids=["default", "pre_norm", "no_bias"])
def test_transformer(options):
    E, heads, N, S, T = 8, 2, 2, 5, 4
    kw = dict(d_model=E, nhead=heads, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=12, **options)
    ours, theirs = load_from_torch(nn.Transformer(**kw), torch.nn.Transformer(**kw))
    rng = np.random.default_rng(9)
    batch_first = options.get("batch_first", False)
    src_mask, src_kpm, _ = make_masks("bool_padding", N, S, S, heads, rng)
    mem_mask = make_masks("float", N, T, S, heads, rng)[0]
    tgt_kpm = make_masks("padding", N, T, T, heads, rng)[1]
    tgt_mask = np.triu(np.full((T, T), -np.inf), 1)

    def forward(m, ins, lib):
        return m(ins[0], ins[1], src_mask=lib.tensor(src_mask), tgt_mask=lib.tensor(tgt_mask),
                 memory_mask=lib.tensor(mem_mask), src_key_padding_mask=lib.tensor(src_kpm),
                 tgt_key_padding_mask=lib.tensor(tgt_kpm), memory_key_padding_mask=lib.tensor(src_kpm),
                 tgt_is_causal=True)

    check_against_torch(ours, theirs, [seq(rng, batch_first, N, S, E), seq(rng, batch_first, N, T, E)], forward)


def test_transformer_unbatched_with_a_function_as_activation():
    kw = dict(d_model=4, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=6)
    ours, theirs = load_from_torch(nn.Transformer(activation=nn.functional.silu, **kw),
                                   torch.nn.Transformer(activation=torch.nn.functional.silu, **kw))
    rng = np.random.default_rng(10)
    check_against_torch(ours, theirs, [rng.standard_normal((5, 4)), rng.standard_normal((3, 4))],
                        lambda m, ins, lib: m(ins[0], ins[1]))


def test_module_activation_is_a_submodule_of_each_copy():
    ours, theirs = load_from_torch(nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2, 6, activation=nn.GELU()), 2),
                                   torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(
                                       4, 2, 6, activation=torch.nn.GELU()), 2, enable_nested_tensor=False))
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert ours.layers[0].activation is not ours.layers[1].activation
    check_against_torch(ours, theirs, [np.random.default_rng(13).standard_normal((3, 2, 4))],
                        lambda m, ins, lib: m(ins[0]))
    # PyTorch's TransformerDecoderLayer.__setstate__ swaps a module activation for relu when the layer is
    # deep-copied (TransformerDecoder's clones); ours keeps it, as PyTorch's encoder layers do.
    decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(4, 2, 6, activation=nn.GELU()), 2)
    assert all(isinstance(layer.activation, nn.GELU) for layer in decoder.layers)


def test_transformer_initialisation_and_structure():
    tg.manual_seed(0)
    model = nn.Transformer(d_model=16, nhead=4, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=32)
    assert [(n, p.shape) for n, p in model.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in torch.nn.Transformer(16, 4, 2, 1, 32).named_parameters()]
    for name, p in model.named_parameters():
        if p.ndim > 1:  # Xavier-uniform, as PyTorch's Transformer._reset_parameters
            fan_out, fan_in = p.shape
            assert np.abs(p.numpy()).max() <= math.sqrt(6 / (fan_in + fan_out)), name
    np.testing.assert_array_equal(model.encoder.layers[1].self_attn.in_proj_bias.numpy(), np.zeros(48))
    assert model.encoder.norm is not None and model.decoder.num_layers == 1 and model.d_model == 16


def test_generate_square_subsequent_mask_matches_torch():
    mask = nn.Transformer.generate_square_subsequent_mask(4)
    t_mask = torch.nn.Transformer.generate_square_subsequent_mask(4)
    assert mask.dtype == tg.float32
    np.testing.assert_array_equal(mask.numpy(), t_mask.numpy())
    assert nn.Transformer.generate_square_subsequent_mask(2, dtype=tg.float64).dtype == tg.float64


def test_stacked_layers_are_independent_deep_copies():
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=6)
    encoder = nn.TransformerEncoder(layer, 3)
    firsts = [m.self_attn.in_proj_weight for m in encoder.layers]
    assert len({id(p) for p in firsts}) == 3 and all(p is not layer.self_attn.in_proj_weight for p in firsts)
    for p in firsts[1:]:  # clones start equal (as in PyTorch) ...
        np.testing.assert_array_equal(p.numpy(), firsts[0].numpy())
    with tg.no_grad():
        firsts[0].fill_(1.0)  # ... and change apart
    assert not np.any(firsts[1].numpy() == 1.0) and not np.any(layer.self_attn.in_proj_weight.numpy() == 1.0)
    assert len(list(encoder.parameters())) == 3 * len(list(layer.parameters()))
    out = encoder.double()(tg.randn(3, 2, 4, dtype=tg.float64))
    out.sum().backward()
    assert all(p.grad is not None for p in encoder.parameters()) and layer.linear1.weight.grad is None


@pytest.mark.gradcheck
@pytest.mark.parametrize("norm_first, activation", [(False, "relu"), (True, "gelu")])
def test_transformer_encoder_gradcheck(norm_first, activation):
    tg.manual_seed(11)
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=6, activation=activation, norm_first=norm_first)
    encoder = nn.TransformerEncoder(layer, 1).double().eval()
    kpm = tg.tensor(np.array([[False, False, True], [False, True, False]]))
    mask = tg.tensor(np.random.default_rng(11).standard_normal((3, 3)))
    x = tg.tensor(np.random.default_rng(12).standard_normal((3, 2, 4)), requires_grad=True)
    assert tg.gradcheck(lambda x: encoder(x, mask=mask, src_key_padding_mask=kpm), (x,))


# ---- errors ----------------------------------------------------------------------------------
def test_multihead_attention_errors():
    mha = nn.MultiheadAttention(4, 2)
    x = tg.randn(3, 2, 4)
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(5, 2)
    with pytest.raises(ValueError, match="greater than 0"):
        nn.MultiheadAttention(0, 2)
    with pytest.raises(ValueError, match="unbatched 2D or batched 3D"):
        mha(tg.randn(1, 3, 2, 4), x, x)
    with pytest.raises(ValueError, match="expected key and value to be 3-D"):
        mha(x, tg.randn(3, 4), x)
    with pytest.raises(ValueError, match="embedding dimension of 4, but got 5"):
        mha(tg.randn(3, 2, 5), x, x)
    with pytest.raises(ValueError, match="kdim=4"):
        mha(x, tg.randn(3, 2, 3), x)
    with pytest.raises(ValueError, match="batch size 2 but key and value have batch size 1"):
        mha(x, tg.randn(3, 1, 4), tg.randn(3, 1, 4))
    with pytest.raises(ValueError, match=r"key_padding_mask shape of \(2, 3\), but got \(2, 4\)"):
        mha(x, x, x, key_padding_mask=tg.zeros(2, 4, dtype=tg.bool))
    with pytest.raises(ValueError, match="key_padding_mask to be None or 2-D"):
        mha(x, x, x, key_padding_mask=tg.zeros(3, dtype=tg.bool))
    with pytest.raises(RuntimeError, match=r"2D attn_mask is \(3, 4\), but should be \(3, 3\)"):
        mha(x, x, x, attn_mask=tg.zeros(3, 4))
    with pytest.raises(RuntimeError, match=r"3D attn_mask is \(2, 3, 3\), but should be \(4, 3, 3\)"):
        mha(x, x, x, attn_mask=tg.zeros(2, 3, 3))
    with pytest.raises(TypeError, match="only bool and floating types of attn_mask"):
        mha(x, x, x, attn_mask=tg.zeros(3, 3, dtype=tg.int64))


def test_transformer_errors():
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(4, 2, activation="tanh")
    with pytest.raises(TypeError, match="callable"):
        nn.TransformerDecoderLayer(4, 2, activation=3)
    model = nn.Transformer(d_model=4, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=4)
    with pytest.raises(RuntimeError, match="batch number of src and tgt must be equal"):
        model(tg.randn(3, 2, 4), tg.randn(3, 1, 4))
    with pytest.raises(RuntimeError, match="feature number of src and tgt must be equal to d_model"):
        model(tg.randn(3, 2, 4), tg.randn(3, 2, 5))
